"""Exponential backoff with full jitter, for retries against Consul and Docker."""

from __future__ import annotations

import random
from dataclasses import dataclass, field


@dataclass
class Backoff:
    base: float = 0.05
    cap: float = 5.0
    factor: float = 2.0
    rng: random.Random = field(default_factory=random.Random)
    attempt: int = 0

    def next_delay(self) -> float:
        """Delay before the next retry: uniform in [ceiling/2, ceiling], ceiling growing to `cap`."""
        ceiling = min(self.cap, self.base * (self.factor**self.attempt))
        self.attempt += 1
        return ceiling / 2 + self.rng.random() * ceiling / 2

    def reset(self) -> None:
        self.attempt = 0
