"""Exponential backoff with full jitter, for retries against Consul and Docker."""

from __future__ import annotations

import random
from dataclasses import dataclass, field


@dataclass
class Backoff:
    """Retry delays growing from `base` by `factor` per failure up to `cap`, for as long as failures last.

    The attempt counter stops growing once the ceiling reaches `cap`: `factor ** attempt` on a float raises
    OverflowError at attempt ~1024 (about an hour of 5 s retries), which used to end every retry loop for good
    after a long outage."""

    base: float = 0.05
    cap: float = 5.0
    factor: float = 2.0
    rng: random.Random = field(default_factory=random.Random)
    attempt: int = 0

    def __post_init__(self) -> None:
        if not (0 < self.base <= self.cap) or self.factor < 1:
            raise ValueError(f"backoff needs 0 < base <= cap and factor >= 1, got base={self.base} cap={self.cap} "
                             f"factor={self.factor}")

    def next_delay(self) -> float:
        """Delay before the next retry: uniform in [ceiling/2, ceiling], ceiling growing to `cap`."""
        ceiling = min(self.cap, self.base * (self.factor**self.attempt))
        if ceiling < self.cap and self.factor > 1:
            self.attempt += 1
        return ceiling / 2 + self.rng.random() * ceiling / 2

    def reset(self) -> None:
        self.attempt = 0
