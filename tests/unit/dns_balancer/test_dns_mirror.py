"""Mirror: the catalog feed on an in-memory Consul -> zone -> answers. The first sync makes the zone ready;
a change re-encodes only the services it moved."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from dns_balancer.mirror import Mirror, ZonePublisher
from dns_balancer.wire import Responder
from dns_balancer.zone import ZoneConfig
from tests.support.dnsb_helpers import ask
from tests.support.fake_consul import FakeConsul


async def until(predicate: object, timeout: float = 5.0) -> None:
    async with asyncio.timeout(timeout):
        while not predicate():  # type: ignore[operator]
            await asyncio.sleep(0.005)


@asynccontextmanager
async def running(consul: FakeConsul) -> AsyncIterator[tuple[Mirror, ZonePublisher, Responder]]:
    responder = Responder()
    publisher = ZonePublisher(responder, ZoneConfig())
    mirror = Mirror(consul, publisher)  # type: ignore[arg-type]
    task = asyncio.create_task(mirror.run())
    try:
        await asyncio.wait_for(mirror.synced.wait(), 10)
        await until(lambda: responder.ready)
        yield mirror, publisher, responder
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


async def test_sync_then_one_change_updates_only_its_service() -> None:
    consul = FakeConsul(services=40)
    async with running(consul) as (mirror, publisher, responder):
        assert len(ask(responder, "svc7.service.consul").answer[0]) == 2
        assert responder.zone.instances == 80 and publisher.rebuilds == 1
        parts = dict(responder.zone.parts)
        consul.set_status("svc7-1", "critical")
        await consul.bump()
        await until(lambda: len(ask(responder, "svc7.service.consul").answer[0]) == 1)
        assert publisher.rebuilds == 1 and publisher.updates >= 1
        assert responder.zone.parts["svc8"] is parts["svc8"]
        assert mirror.snapshot.services["svc7"][1].status == "critical"


async def test_a_service_that_goes_gets_nxdomain() -> None:
    consul = FakeConsul(services=3)
    async with running(consul) as (_, _, responder):
        del consul.entries["svc1"]
        consul.index += 1
        await consul.bump()
        await until(lambda: ask(responder, "svc1.service.consul").rcode() == 3)
        assert ask(responder, "svc2.service.consul").answer
