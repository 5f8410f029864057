"""Other datacenters in DNS, on an in-memory WAN: mirrored on first demand, the first question held for the real
answer (never a guess, never blocking anything else), unknown datacenters NXDOMAIN, idle mirrors stopped, a
partitioned datacenter served from its last good data and named in its own reachability."""

from __future__ import annotations

import asyncio

import dns.rcode
import dns.rdatatype

from dns_balancer.elsewhere import parse
from tests.support.dnsb_multidc import in_table, is_hold, stack, until
from tests.support.fake_consul import FakeConsul, FakeWan


def two_dcs() -> FakeWan:
    dc1, dc2 = FakeConsul(services=0, datacenter="dc1"), FakeConsul(services=0, nodes=2, datacenter="dc2")
    dc1.add("web", "web-a", "n0", address="198.19.1.10")
    dc2.add("web", "web-b", "n0", address="198.19.2.10", tags=("v1",))
    dc2.add("web", "web-c", "n1", address="198.19.2.11", tags=("v2",))
    dc2.add("api", "api-b", "n1", address="198.19.2.20")
    return FakeWan(dc1=dc1, dc2=dc2)


def test_parse_finds_the_kind_from_the_right_as_consul_does() -> None:
    apex = 1  # "consul"
    assert parse(("web", "service", "dc2", "consul"), apex) == ("service", ("web",), "dc2")
    assert parse(("v1", "web", "service", "consul"), apex) == ("service", ("v1", "web"), None)
    assert parse(("node", "service", "consul"), apex) == ("service", ("node",), None)  # a service named "node"
    assert parse(("web", "service", "dc2", "dc", "consul"), apex) == ("service", ("web",), "dc2")
    assert parse(("_webq", "_tcp", "query", "consul"), apex) == ("query", ("_webq", "_tcp"), None)
    assert parse(("web", "service", "a", "b", "consul"), apex) is None
    assert parse(("www", "consul"), apex) is None


async def test_first_question_is_held_then_answered_from_the_mirror() -> None:
    async with stack(two_dcs()) as s:
        assert await s.addresses("web.service.consul") == ["198.19.1.10"]
        assert is_hold(s.answer_now("web.service.dc2.consul"))  # nothing known of dc2 yet: no guess
        assert await s.addresses("web.service.dc2.consul") == ["198.19.2.10", "198.19.2.11"]
        assert in_table(s, "web.service.dc2.consul")  # dc2's parts lent to the local table: the fast path
        assert await s.addresses("v1.web.service.dc2.consul") == ["198.19.2.10"]
        srv = await s.ask("_web._tcp.service.dc2.consul", "SRV")
        assert sorted(rd.port for rrset in srv.answer for rd in rrset) == [80, 80]
        assert {str(r.name) for r in srv.additional} == {"c613020a.addr.dc2.consul.", "c613020b.addr.dc2.consul."}
        assert (await s.ask("nope.service.dc2.consul")).rcode() == dns.rcode.NXDOMAIN
        nodata = await s.ask("api.service.dc2.consul", "AAAA")
        assert (nodata.rcode(), nodata.answer) == (dns.rcode.NOERROR, [])
        assert (await s.ask("web.service.consul")).rcode() == dns.rcode.NOERROR  # the local zone never had dc2's
        assert (await s.ask("api.service.consul")).rcode() == dns.rcode.NXDOMAIN
        site = s.remote.sites["dc2"]
        assert site.first_sync is not None and s.forwarder.held_results["answered"] >= 1


async def test_a_held_question_blocks_nothing_else_and_times_out_as_servfail() -> None:
    fake = two_dcs()
    fake.down.add("dc2")
    async with stack(fake, wait=0.5) as s:
        held = asyncio.create_task(s.ask("web.service.dc2.consul"))
        for _ in range(20):  # meanwhile the local names are answered at once, and the loop turns
            assert isinstance(s.answer_now("web.service.consul"), bytes)
            await asyncio.sleep(0.01)
        assert not held.done()
        msg = await held
        assert msg.rcode() == dns.rcode.SERVFAIL and s.forwarder.held_results["timed_out"] == 1
        assert not s.remote.sites["dc2"].reachability.reachable and s.local_reach.reachable
        fake.down.clear()  # dc2 answers again: the next question gets its real answer
        assert await s.addresses("web.service.dc2.consul") == ["198.19.2.10", "198.19.2.11"]


async def test_unknown_datacenter_is_nxdomain_without_polling_on_every_name() -> None:
    async with stack(two_dcs()) as s:
        await s.ask("web.service.dc2.consul")
        reads = s.wan.datacenter_reads
        for k in range(50):
            assert (await s.ask(f"web.service.x{k}.consul")).rcode() == dns.rcode.NXDOMAIN
            await asyncio.sleep(0.005)  # the poll task gets its turns
        assert s.wan.datacenter_reads - reads <= 1  # random datacenter names cannot make us poll faster
        assert "x1" not in s.remote.sites


async def test_a_datacenter_asked_through_the_fast_path_stays_and_stops_only_after_idle_silence() -> None:
    async with stack(two_dcs(), idle=1.0) as s:  # lent for 0.5 s at a time, then taken back to see who asks
        await s.addresses("web.service.dc2.consul")
        loop = asyncio.get_running_loop()
        t0 = loop.time()
        fast = 0
        while loop.time() - t0 < 2.5:  # asked all along: the mirror stays, mostly from the fast path
            fast += in_table(s, "web.service.dc2.consul")
            assert await s.addresses("web.service.dc2.consul") == ["198.19.2.10", "198.19.2.11"]
            await asyncio.sleep(0.05)
        assert s.remote.stats["stopped"] == 0 and fast > 30
        last = loop.time()
        await until(lambda: "dc2" not in s.remote.sites, 5)
        assert 1.0 <= loop.time() - last <= 2.0  # silence of at least idle (at most idle + period + a reap)
        assert not in_table(s, "web.service.dc2.consul")


async def test_an_idle_datacenter_is_stopped_and_mirrored_again_on_demand() -> None:
    async with stack(two_dcs(), idle=1.0) as s:
        await s.addresses("web.service.dc2.consul")
        await until(lambda: "dc2" not in s.remote.sites, 5)
        assert s.remote.stats["stopped"] == 1
        assert is_hold(s.answer_now("web.service.dc2.consul"))
        assert await s.addresses("web.service.dc2.consul") == ["198.19.2.10", "198.19.2.11"]
        assert s.remote.stats["started"] == 2


async def test_a_partitioned_datacenter_keeps_its_last_good_answers() -> None:
    fake = two_dcs()
    async with stack(fake) as s:
        await s.addresses("web.service.dc2.consul")
        site = s.remote.sites["dc2"]
        fake.down.add("dc2")
        await until(lambda: not site.reachability.reachable)
        assert await s.addresses("web.service.dc2.consul") == ["198.19.2.10", "198.19.2.11"]
        assert s.local_reach.reachable and not s.responder.stale  # local answers are not stale for it
        fake.down.clear()
        fake.dcs["dc2"].set_status("web-c", "critical")
        await fake.dcs["dc2"].bump()
        await until(lambda: site.reachability.reachable)
        await until(lambda: len(dns_answers(s.answer_now("web.service.dc2.consul"))) == 1)


def dns_answers(reply: object) -> list[str]:
    import dns.message

    assert isinstance(reply, bytes)
    msg = dns.message.from_wire(reply)
    return [rd.address for rrset in msg.answer for rd in rrset if rrset.rdtype == dns.rdatatype.A]


async def test_a_new_local_zone_voids_what_was_lent_and_the_next_question_lends_again() -> None:
    from dns_balancer.zone import ZoneConfig, build_zone

    async with stack(two_dcs()) as s:
        await s.addresses("web.service.dc2.consul")
        assert in_table(s, "web.service.dc2.consul")
        s.responder.set_zone(build_zone(s.mirror.snapshot, ZoneConfig(ttl=0)))  # as a config change rebuilds it
        assert not in_table(s, "web.service.dc2.consul") and s.remote.leases.lent("dc:dc2") == frozenset()
        assert await s.addresses("web.service.dc2.consul") == ["198.19.2.10", "198.19.2.11"]
        assert in_table(s, "web.service.dc2.consul")
        assert await s.addresses("web.service.consul") == ["198.19.1.10"]


async def test_no_more_than_max_sites_mirrors_the_rest_servfail_until_one_goes_idle() -> None:
    fake = two_dcs()
    fake.dcs["dc3"] = FakeConsul(services=1, datacenter="dc3")
    async with stack(fake, max_sites=1, idle=1.0) as s:
        assert await s.addresses("web.service.dc2.consul") == ["198.19.2.10", "198.19.2.11"]
        assert (await s.ask("svc0.service.dc3.consul")).rcode() == dns.rcode.SERVFAIL  # not a guess either
        assert list(s.remote.sites) == ["dc2"] and await s.addresses("web.service.consul") == ["198.19.1.10"]
        await until(lambda: not s.remote.sites, 5)
        assert len(await s.addresses("svc0.service.dc3.consul")) == 2
