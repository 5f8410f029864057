"""Names the local zone does not hold: which of them belong to another datacenter or a prepared query, and the
forwarder that answers a held question once its data is there.

`parse` reads a name the way Consul's DNS does: the rightmost label that names a kind (`service`, `node`, `addr`,
`query`) splits it into what is asked and where (`web.service.dc2.consul`: service web in dc2; the `dc2.dc`
form too). `Router` (the Responder's `Elsewhere`) sends another datacenter's names to `RemoteDatacenters`,
query names to `PreparedAnswers`, and leaves the rest (the local datacenter's misses) to the zone as before.

`HoldingForwarder` is the server's forwarder: a `Hold` (see pending.py) is awaited here, off the hot path and
bounded (`max_held` at once, `wait` seconds in all), then answered again by the Responder; on timeout the
client gets SERVFAIL. Any other Forward goes to the recursors as before."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Sequence

from dns_balancer.forward import Forwarder
from dns_balancer.pending import Pending
from dns_balancer.queries import PreparedAnswers
from dns_balancer.records import NXDOMAIN, SERVFAIL, Answer
from dns_balancer.remote import RemoteDatacenters
from dns_balancer.wire import Forward, Hold, Responder
from dns_balancer.zone import Apex

log = logging.getLogger("dns_balancer.elsewhere")

KINDS = frozenset(("service", "node", "addr", "query"))
ROUNDS = 4  # a held question may wait for the datacenter list, then a datacenter, then a query's evaluation


def parse(labels: tuple[str, ...], apex_len: int) -> tuple[str, tuple[str, ...], str | None] | None:
    """(kind, the labels before it, datacenter or None) of an in-zone name; None when no label names a kind or
    what follows it is not a datacenter (`dc2` or `dc2.dc`)."""
    rel = labels[: len(labels) - apex_len]
    for i in range(len(rel) - 1, -1, -1):
        if rel[i] in KINDS:
            suffix = rel[i + 1 :]
            if not suffix:
                return rel[i], rel[:i], None
            if len(suffix) == 1 or (len(suffix) == 2 and suffix[1] == "dc"):
                return rel[i], rel[:i], suffix[0]
            return None
    return None


class Router:
    """The Responder's `Elsewhere`: another datacenter's names and prepared query names."""

    def __init__(self, remote: RemoteDatacenters, queries: PreparedAnswers, local: Callable[[], str | None]) -> None:
        self.remote = remote
        self.queries = queries
        self.local = local
        self._warned: set[str] = set()

    def lookup(self, labels: tuple[str, ...], apex: Apex, key: bytes) -> Answer | Pending | int | None:
        parsed = parse(labels, len(apex.labels))
        if parsed is None:
            return None
        kind, parts, dc = parsed
        local = self.local()
        if local is None:  # before the first sync: the zone's own rule (SERVFAIL) applies
            return None
        if kind == "query":
            if dc is None or dc == local.lower():
                return self.queries.lookup(parts, key)
            return self._remote_query(dc)
        if dc is None or dc == local.lower():
            return None
        return self.remote.lookup(dc, key)

    def _remote_query(self, dc: str) -> Pending | int:
        """Another datacenter's prepared queries are that datacenter's own (never replicated): not served."""
        self.remote.ensure_running()
        if self.remote.known is None:
            return Pending(self.remote.wait_known)
        if dc not in (d.lower() for d in self.remote.known):
            return NXDOMAIN
        if dc not in self._warned:
            self._warned.add(dc)
            log.warning("prepared queries of datacenter %s (<name>.query.%s.<domain>) are not served: SERVFAIL", dc, dc)
        return SERVFAIL


class HoldingForwarder(Forwarder):
    """The recursors' forwarder, which also answers held questions (`Hold`) once their data is there."""

    def __init__(self, recursors: Sequence[tuple[str, int]], timeout: float = 2.0, max_inflight: int = 512, *,
                 responder: Responder | None = None, wait: float = 3.0, max_held: int = 1024) -> None:
        super().__init__(recursors, timeout, max_inflight)
        self.responder = responder
        self.wait = wait
        self.max_held = max_held
        self.held = 0
        self.held_results = {"answered": 0, "timed_out": 0, "over_limit": 0}

    async def resolve(self, query: bytes, forward: Forward, tcp: bool = False) -> bytes:
        if not isinstance(forward, Hold):
            return await super().resolve(query, forward, tcp)
        if self.held >= self.max_held or self.responder is None:
            self.held_results["over_limit"] += 1
            return _servfail(query, forward)
        self.held += 1
        try:
            async with asyncio.timeout(self.wait):
                return await self._answer(query, forward)
        except TimeoutError:
            self.held_results["timed_out"] += 1
            return _servfail(query, forward)
        finally:
            self.held -= 1

    async def _answer(self, query: bytes, hold: Hold) -> bytes:
        assert self.responder is not None
        for _ in range(ROUNDS):
            if not await hold.pending.ready():
                break
            reply = self.responder.answer(query, hold.tcp, hold.recurse)
            if isinstance(reply, bytes):
                self.held_results["answered"] += 1
                return reply
            if not isinstance(reply, Hold):  # nothing else can come of a name that was held: be safe
                break
            hold = reply
        self.held_results["timed_out"] += 1
        return _servfail(query, hold)


def _servfail(query: bytes, hold: Forward) -> bytes:
    recurse = isinstance(hold, Hold) and hold.recurse
    flags = bytes((0x84 | (query[2] & 0x01), (0x80 if recurse else 0) | SERVFAIL))  # QR AA, RD echoed
    return query[:2] + flags + b"\x00\x01\x00\x00\x00\x00\x00\x00" + query[12 : hold.question_end]
