"""Registrations Consul did not take, and when to try each again.

A refusal for good (400: the definition itself is wrong, e.g. `-ip 0.0.0.0`) is retried with a growing delay and
reported once per change of the definition or of Consul's reason: re-sending it every poll only fills the log
and the agent's. A passing refusal (403 until a policy grants the right, 429, the agent unreachable) is due
again at the next poll and reported each time, as before."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any


def fingerprint(definition: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(definition, sort_keys=True).encode()).hexdigest()[:16]


@dataclass(frozen=True)
class Refusal:
    fingerprint: str
    reason: str
    for_good: bool
    attempts: int
    next_at: float


class RefusalBook:
    """Per service ID, the last refusal. Delays: `base`, doubling, at most `cap` (for-good refusals only)."""

    def __init__(self, base: float, cap: float) -> None:
        self.base, self.cap = base, cap
        self._by_id: dict[str, Refusal] = {}

    def __contains__(self, sid: object) -> bool:
        return sid in self._by_id

    def refused(self, sid: str, fp: str, reason: str, *, for_good: bool, now: float) -> bool:
        """Record a refusal; True when it is news (first, or the definition or the reason changed)."""
        last = self._by_id.get(sid)
        same = last is not None and last.fingerprint == fp and last.reason == reason
        attempts = last.attempts + 1 if same and last is not None else 1
        delay = min(self.cap, self.base * 2 ** (attempts - 1)) if for_good else 0.0
        self._by_id[sid] = Refusal(fp, reason, for_good, attempts, now + delay)
        return not same or not for_good

    def accepted(self, sid: str) -> bool:
        """Forget it; True when it had been refused (worth saying that it is in now)."""
        return self._by_id.pop(sid, None) is not None

    def forget(self, sid: str) -> None:
        self._by_id.pop(sid, None)

    def due(self, sid: str, fp: str, now: float) -> bool:
        """Whether to send this definition now: always when it changed or was never refused."""
        last = self._by_id.get(sid)
        return last is None or last.fingerprint != fp or now >= last.next_at
