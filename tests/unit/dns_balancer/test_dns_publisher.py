"""ZonePublisher: snapshots in, zones out, builds coalesced and off the loop."""

from __future__ import annotations

import asyncio

from dns_balancer.mirror import ZonePublisher
from dns_balancer.wire import Responder
from dns_balancer.zone import ZoneConfig
from tests.support.dnsb_helpers import ask, inst, snapshot


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
    assert publisher.rebuilds + publisher.updates <= 2 and responder.zone.instances == 4


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


async def test_a_change_swaps_only_its_services_parts_in_place():
    responder = Responder()
    publisher = ZonePublisher(responder, ZoneConfig())
    services = {f"s{k}": (inst(k, service=f"s{k}"),) for k in range(50)}
    first = snapshot(services)
    publisher.publish(first)
    await settle(publisher)
    zone = responder.zone
    parts = dict(zone.parts)
    assert publisher.rebuilds == 1 and zone.instances == 50
    changed = first.with_services({"s3": (inst(3, service="s3"), inst(60, service="s3")), "s4": None}, 12)
    publisher.publish(changed, {"s3", "s4"}, nodes_changed=False)
    await settle(publisher)
    assert responder.zone is zone and publisher.rebuilds == 1 and publisher.updates == 1  # no whole build
    assert all(zone.parts[n] is parts[n] for n in parts if n not in ("s3", "s4", "\0apex"))
    assert "s4" not in zone.parts and zone.instances == 50
    assert ask(responder, "s3.service.consul").answer and ask(responder, "s4.service.consul").rcode() == 3
    # the SOA serial follows the catalog's index
    assert ask(responder, "consul", "SOA").answer[0][0].serial == 12


async def test_shared_addr_names_stay_while_one_service_still_uses_them():
    responder = Responder()
    publisher = ZonePublisher(responder, ZoneConfig())
    # two services with an instance at the same address, not the node's: both publish <hex>.addr.dc1.consul
    a, b = inst(1, service="a", address="127.0.0.50"), inst(2, service="b", address="127.0.0.50")
    base = snapshot({"a": (a,), "b": (b,)})
    publisher.publish(base)
    await settle(publisher)
    assert ask(responder, "7f000032.addr.dc1.consul").answer
    publisher.publish(base.with_services({"a": None}), {"a"}, nodes_changed=False)
    await settle(publisher)
    assert ask(responder, "7f000032.addr.dc1.consul").answer  # b still points its SRV target there
    publisher.publish(base.with_services({"a": None, "b": None}), {"b"}, nodes_changed=False)
    await settle(publisher)
    assert ask(responder, "7f000032.addr.dc1.consul").rcode() == 3
    zone = responder.zone  # no encoded answer outlives the parts that answer its name
    assert all(key[:-2] in zone.owners for key in zone.table) and zone.hot.keys() <= zone.owners.keys()


async def test_a_failed_update_is_not_lost_the_whole_zone_is_built_again(monkeypatch):
    from concurrent.futures import ThreadPoolExecutor

    from dns_balancer import mirror

    real_plan = mirror.plan

    class FailsOnce(ThreadPoolExecutor):
        """Runs builds in a thread; once armed, the next incremental update raises (as any bug in `plan` would),
        whether it is planned here or on the loop."""

        armed = False

    def plan(*args, **kwargs):  # type: ignore[no-untyped-def]
        if executor.armed:
            executor.armed = False
            raise RuntimeError("plan tripped")
        return real_plan(*args, **kwargs)

    monkeypatch.setattr(mirror, "plan", plan)
    monkeypatch.setattr(mirror, "RETRY_AFTER", 0.05)
    responder = Responder()
    executor = FailsOnce(1)
    publisher = ZonePublisher(responder, ZoneConfig(), executor)
    base = snapshot({"web": (inst(0), inst(1))})
    publisher.publish(base)
    await settle(publisher)
    executor.armed = True
    publisher.publish(base.with_services({"web": (inst(0),)}, 10), {"web"}, nodes_changed=False)
    await settle(publisher)
    assert publisher.failures == 1 and not executor.armed
    # the change the failed update carried is served, by a whole zone built again
    assert [rd.address for rd in ask(responder, "web.service.consul").answer[0]] == ["127.0.0.2"]
    assert publisher.rebuilds == 2 and not publisher.rebuild_next
    # and updates are incremental again afterwards
    publisher.publish(base.with_services({"web": (inst(1),)}, 11), {"web"}, nodes_changed=False)
    await settle(publisher)
    executor.shutdown()
    assert publisher.updates == 1 and [rd.address for rd in ask(responder, "web.service.consul").answer[0]] == [
        "127.0.0.3"]


async def test_a_small_update_is_planned_on_the_loop_a_large_one_in_the_worker(monkeypatch):
    from concurrent.futures import ThreadPoolExecutor

    from dns_balancer import mirror

    class Counting(ThreadPoolExecutor):
        submitted = 0

        def submit(self, fn, /, *args, **kwargs):  # type: ignore[no-untyped-def, override]
            self.submitted += 1
            return super().submit(fn, *args, **kwargs)

    executor = Counting(1)
    responder = Responder()
    publisher = ZonePublisher(responder, ZoneConfig(), executor)
    small = tuple(inst(i) for i in range(mirror.INLINE_INSTANCES))
    big = tuple(inst(i, service="big") for i in range(mirror.INLINE_INSTANCES + 2))
    base = snapshot({"web": small, "big": big})
    publisher.publish(base)
    await settle(publisher)
    assert executor.submitted == 1 and publisher.rebuilds == 1  # the first zone: a worker
    publisher.publish(base.with_services({"web": small[1:]}, 10), {"web"}, nodes_changed=False)
    await settle(publisher)
    assert executor.submitted == 1 and publisher.updates == 1  # on the loop
    assert len(ask(responder, "web.service.consul", "SRV", tcp=True).answer[0]) == mirror.INLINE_INSTANCES - 1
    publisher.publish(base.with_services({"big": big[1:]}, 11), {"big"}, nodes_changed=False)
    await settle(publisher)
    assert executor.submitted == 2 and publisher.updates == 2  # in the worker
    publisher.publish(base.with_services({"web": small}, 12), {"web"}, nodes_changed=True)
    await settle(publisher)
    executor.shutdown()
    assert executor.submitted == 3  # a node change may touch every service: a worker
