"""dns-balancer's answer path with other datacenters and prepared queries, wired as daemon.serve wires it, on an
in-memory WAN (tests.support.fake_consul.FakeWan): for the unit tests of remote.py, queries.py, elsewhere.py."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

import dns.message
import dns.rcode

from dns_balancer.elsewhere import HoldingForwarder, Router
from dns_balancer.leases import Leases
from dns_balancer.mirror import Mirror, ZonePublisher
from dns_balancer.queries import PreparedAnswers
from dns_balancer.remote import RemoteDatacenters
from dns_balancer.wire import Forward, Hold, Responder
from dns_balancer.zone import ZoneConfig
from portside.consul import Reachability
from portside.supervise import Supervisor
from tests.support.fake_consul import FakeConsul, FakeWan


@dataclass
class Stack:
    wan: FakeWan
    responder: Responder
    forwarder: HoldingForwarder
    remote: RemoteDatacenters
    queries: PreparedAnswers
    mirror: Mirror
    local_reach: Reachability

    def answer_now(self, name: str, rdtype: str = "A") -> bytes | Forward | None:
        """What the answer path gives at once (bytes, or a Hold for the server to await)."""
        return self.responder.answer(dns.message.make_query(name, rdtype).to_wire())

    async def ask(self, name: str, rdtype: str = "A") -> dns.message.Message:
        """As the server does: a Hold is awaited through the forwarder, off the answer path."""
        wire = dns.message.make_query(name, rdtype).to_wire()
        reply = self.responder.answer(wire)
        if isinstance(reply, Forward):
            reply = await self.forwarder.resolve(wire, reply)
        assert isinstance(reply, bytes)
        return dns.message.from_wire(reply)

    async def addresses(self, name: str) -> list[str]:
        msg = await self.ask(name)
        assert msg.rcode() == dns.rcode.NOERROR, (name, dns.rcode.to_text(msg.rcode()))
        return sorted(rd.address for rrset in msg.answer for rd in rrset)


def in_table(s: Stack, name: str, rdtype: str = "A") -> bool:
    """Whether the fast path answers `name` now: its answer is in the local zone's table, or a part there answers
    it (encoded on its first query, Zone.lookup)."""
    key = dns.message.make_query(name, rdtype).to_wire()[12:-2].lower()
    zone = s.responder.zone
    return key in zone.table or key[:-2] in zone.owners


def is_hold(reply: object) -> bool:
    return isinstance(reply, Hold)


def wan(**dcs: FakeConsul) -> FakeWan:
    return FakeWan(**dcs)


@asynccontextmanager
async def stack(fake: FakeWan, *, idle: float = 300.0, wait: float = 2.0, max_sites: int = 4,
                ) -> AsyncIterator[Stack]:
    config = ZoneConfig(ttl=0)
    reach = Reachability()
    responder = Responder()
    forwarder = HoldingForwarder((), responder=responder, wait=wait)
    publisher = ZonePublisher(responder, config)
    mirror = Mirror(fake, publisher, observer=reach)  # type: ignore[arg-type]
    tasks = Supervisor()

    def local() -> str | None:
        return responder.zone.datacenter if mirror.synced.is_set() else None

    leases = Leases(responder, idle / 2)
    remote = RemoteDatacenters(fake, config, None, tasks, leases, idle=idle, wait=wait,  # type: ignore[arg-type]
                               max_sites=max_sites)
    queries = PreparedAnswers(fake, mirror.feed, remote, config, None, tasks, leases,  # type: ignore[arg-type]
                              local=local, idle=idle, wait=wait)
    responder.elsewhere = Router(remote, queries, local)
    tasks.start("mirror", mirror.run)
    try:
        await asyncio.wait_for(mirror.synced.wait(), 10)
        async with asyncio.timeout(10):
            while not responder.ready:
                await asyncio.sleep(0.005)
        yield Stack(fake, responder, forwarder, remote, queries, mirror, reach)
    finally:
        await tasks.close()


async def until(predicate: object, timeout: float = 5.0) -> None:
    async with asyncio.timeout(timeout):
        while not predicate():  # type: ignore[operator]
            await asyncio.sleep(0.005)
