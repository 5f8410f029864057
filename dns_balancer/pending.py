"""What the answer path may be told about names its zone does not hold: other datacenters, prepared queries.

`Responder.answer()` asks an `Elsewhere` only after its table missed, on the careful path (never the fast path).
When the data for a name is on its way (a datacenter or a prepared query asked for the first time), the answer
is a `Pending`: the Responder turns it into a `wire.Hold`, which the server hands to a task like a forwarded
query; the task awaits `ready()` (bounded) and answers again, so the first query gets the real answer, not a
guess, and nothing else waits for it."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Protocol

from dns_balancer.records import Answer
from dns_balancer.zone import Apex


@dataclass(frozen=True, slots=True)
class Pending:
    """`ready()` resolves once the data is there (True) or has not come in time (False)."""

    ready: Callable[[], Awaitable[bool]]


class Elsewhere(Protocol):
    """`lookup(lowercased labels, the apex they are under, the table key)`: an Answer, a Pending, an rcode
    (NXDOMAIN, NOERROR for NODATA, SERVFAIL), or None (not its name: answered as before)."""

    def lookup(self, labels: tuple[str, ...], apex: Apex, key: bytes) -> Answer | Pending | int | None: ...
