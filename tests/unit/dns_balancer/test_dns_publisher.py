"""ZonePublisher: snapshots in, zones out, builds coalesced and off the loop."""

from __future__ import annotations

import asyncio

from dns_balancer.daemon import ZonePublisher
from dns_balancer.wire import Responder
from dns_balancer.zone import ZoneConfig
from tests.support.dnsb_helpers import inst, snapshot


async def settle(publisher: ZonePublisher) -> None:
    for _ in range(200):
        await asyncio.sleep(0.005)
        if not publisher.busy:
            return
    raise AssertionError("publisher never settled")


async def test_changes_in_one_loop_turn_make_one_build():
    responder = Responder()
    publisher = ZonePublisher(responder, ZoneConfig())
    for n in range(1, 6):
        publisher.publish(snapshot({"web": tuple(inst(i) for i in range(n))}))
    await settle(publisher)
    assert publisher.rebuilds == 1
    assert responder.zone is publisher.zone and responder.ready
    assert responder.zone.instances == 5  # the newest snapshot won


async def test_changes_during_a_build_make_one_more_build_with_the_newest():
    responder = Responder()
    publisher = ZonePublisher(responder, ZoneConfig())
    publisher.publish(snapshot({"web": (inst(0),)}))
    await asyncio.sleep(0)  # the first build starts
    for n in range(2, 5):
        publisher.publish(snapshot({"web": tuple(inst(i) for i in range(n))}))
    await settle(publisher)
    assert publisher.rebuilds <= 2 and responder.zone.instances == 4


async def test_not_ready_until_synced():
    responder = Responder()
    publisher = ZonePublisher(responder, ZoneConfig())
    synced = False
    publisher.synced = lambda: synced
    publisher.publish(snapshot({"web": (inst(0),)}))
    await settle(publisher)
    assert not responder.ready
    synced = True
    publisher.publish(snapshot({"web": (inst(0),)}))
    await settle(publisher)
    assert responder.ready
