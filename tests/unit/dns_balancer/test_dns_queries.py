"""Prepared queries over DNS, on an in-memory WAN: answered from the mirrored catalogs, failing over to the next
datacenter as soon as the local instances fail and back when they recover; names, TTL, SRV targets; what is not
evaluated is SERVFAIL, never a guess."""

from __future__ import annotations

from typing import Any

import dns.rcode

from dns_balancer.queries import Inputs, evaluate
from dns_balancer.zone import ZoneConfig
from portside.catalog import Catalog, Instance
from portside.prepared import decode_definitions
from tests.support.dnsb_multidc import in_table, is_hold, stack, until
from tests.support.fake_consul import FakeConsul, FakeWan


def definition(name: str, ttl: str = "", template: bool = False, **service: Any) -> dict[str, Any]:
    return {"ID": f"id-{name}", "Name": name, "Template": {"Type": "name_prefix_match" if template else ""},
            "Service": {"Service": "web", **service}, "DNS": {"TTL": ttl}}


QUERIES = [
    definition("webq", OnlyPassing=True, Tags=["!canary"], Failover={"NearestN": 1}),
    definition("webdc", ttl="7s", Failover={"Datacenters": ["dc2", "nope"]}),
    definition("local-only"),
    definition("geo-", template=True),
    definition("mesh", Connect=True),
]


def wan() -> FakeWan:
    dc1, dc2 = FakeConsul(services=0, datacenter="dc1"), FakeConsul(services=0, nodes=2, datacenter="dc2")
    dc1.add("web", "a1", "n0", address="198.19.1.10")
    dc1.add("web", "a2", "n1", address="198.19.1.11", tags=("canary",))
    dc2.add("web", "b1", "n0", address="198.19.2.10")
    fake = FakeWan(dc1=dc1, dc2=dc2)
    fake.queries = QUERIES
    return fake


async def test_local_answer_then_failover_then_back() -> None:
    fake = wan()
    dc1 = fake.dcs["dc1"]
    async with stack(fake) as s:
        assert is_hold(s.answer_now("webq.query.consul"))  # nothing evaluated yet: held, not guessed
        assert await s.addresses("webq.query.consul") == ["198.19.1.10"]  # the canary is left out
        assert in_table(s, "webq.query.consul")  # lent to the local table: the fast path answers from now on
        await until(lambda: "dc2" in s.remote.sites and s.remote.sites["dc2"].ready.is_set())  # mirrored ahead
        dc1.set_status("a1", "warning")  # OnlyPassing: warning is not enough
        await dc1.bump()
        await until(lambda: s.queries.built.entries["webq"].result.datacenter == "dc2")  # type: ignore[union-attr]
        assert await s.addresses("webq.query.consul") == ["198.19.2.10"]
        srv = await s.ask("webq.query.consul", "SRV")
        assert [str(rd.target) for rrset in srv.answer for rd in rrset] == ["c613020a.addr.dc2.consul."]
        dc1.set_status("a1", "passing")
        await dc1.bump()
        await until(lambda: s.queries.built.entries["webq"].result.datacenter == "dc1")  # type: ignore[union-attr]
        assert await s.addresses("webq.query.consul") == ["198.19.1.10"]


async def test_names_ttl_and_what_is_not_served() -> None:
    async with stack(wan()) as s:
        webdc = await s.ask("webdc.query.consul")
        assert [rrset.ttl for rrset in webdc.answer] == [7]  # the query's DNS.TTL
        assert await s.addresses("webdc.query.dc1.consul") == ["198.19.1.10", "198.19.1.11"]
        srv = await s.ask("_webdc._tcp.query.consul", "SRV")
        assert len(srv.answer[0]) == 2
        assert (await s.ask("nothing.query.consul")).rcode() == dns.rcode.NXDOMAIN
        assert (await s.ask("geo-web.query.consul")).rcode() == dns.rcode.SERVFAIL  # a template could answer it
        assert (await s.ask("mesh.query.consul")).rcode() == dns.rcode.SERVFAIL  # Connect: not evaluated
        assert (await s.ask("webq.query.dc2.consul")).rcode() == dns.rcode.SERVFAIL  # dc2's own queries
        assert (await s.ask("webq.query.nope.consul")).rcode() == dns.rcode.NXDOMAIN


async def test_no_instance_anywhere_is_nxdomain_and_new_definitions_apply() -> None:
    fake = wan()
    fake.dcs["dc1"].set_status("a1", "critical")
    fake.dcs["dc1"].set_status("a2", "critical")
    async with stack(fake) as s:
        assert (await s.ask("local-only.query.consul")).rcode() == dns.rcode.NXDOMAIN
        await fake.set_queries([*QUERIES[:2], definition("local-only", Failover={"Datacenters": ["dc2"]})])
        await until(lambda: s.queries.built.entries["local-only"].failover == ("dc2",))
        assert await s.addresses("local-only.query.consul") == ["198.19.2.10"]


async def test_a_partitioned_failover_datacenter_is_skipped_as_consul_skips_it() -> None:
    fake = wan()
    async with stack(fake) as s:
        assert await s.addresses("webdc.query.consul") == ["198.19.1.10", "198.19.1.11"]
        await until(lambda: "dc2" in s.remote.sites and s.remote.sites["dc2"].ready.is_set())
        fake.down.add("dc2")
        await until(lambda: not s.remote.sites["dc2"].reachability.reachable)
        for sid in ("a1", "a2"):
            fake.dcs["dc1"].set_status(sid, "critical")
        await fake.dcs["dc1"].bump()
        await until(lambda: s.queries.built.entries["webdc"].result.failovers == 1)  # type: ignore[union-attr]
        assert (await s.ask("webdc.query.consul")).rcode() == dns.rcode.NXDOMAIN


def test_evaluate_is_pure_and_encodes_every_form() -> None:
    inst = Instance(id="b1", service="web", node="n0", address="198.19.2.10", port=8080, node_address="198.19.2.1")
    inputs = Inputs(frozenset({"webdc", "x"}), decode_definitions(QUERIES).value,
                    {"dc1": Catalog(), "dc2": Catalog().with_services({"web": (inst,)})}, ("dc1", "dc2"), "dc1",
                    frozenset(), ZoneConfig(alt_domain="portside"))
    built = evaluate(inputs)
    assert built.entries["x"].verdict == dns.rcode.NXDOMAIN
    assert built.entries["webdc"].result.datacenter == "dc2"  # type: ignore[union-attr]
    assert "x" not in built.parts
    names = set(built.parts["webdc"].recipes)
    wire = {b"".join(bytes([len(p)]) + p.encode() for p in n.split(".")) + b"\0" for n in (
        "webdc.query.consul", "webdc.query.dc1.consul", "_webdc._tcp.query.consul", "_webdc._tcp.query.dc1.consul",
        "webdc.query.portside", "_webdc._tcp.query.dc1.portside")}
    assert wire <= names
    assert built.parts["webdc"].recipes == evaluate(inputs).parts["webdc"].recipes  # same inputs, same bytes


async def test_random_query_names_cost_only_their_nxdomain() -> None:
    async with stack(wan()) as s:
        assert await s.addresses("webq.query.consul") == ["198.19.1.10"]
        for k in range(300):
            assert (await s.ask(f"r{k}.query.consul")).rcode() == dns.rcode.NXDOMAIN
        assert list(s.queries.active) == ["webq"] and list(s.queries.built.entries) == ["webq"]


def test_a_definition_that_breaks_the_encoding_costs_only_its_own_name(monkeypatch) -> None:
    import dns_balancer.queries as queries

    inst = Instance(id="a1", service="web", node="n0", address="198.19.1.10", port=80)
    inputs = Inputs(frozenset({"webdc", "webq"}), decode_definitions(QUERIES).value,
                    {"dc1": Catalog().with_services({"web": (inst,)})}, ("dc1",), "dc1", frozenset(), ZoneConfig())
    real = queries.name_answers

    def broken(encoder, name, group):  # as an unforeseen value would break it
        if name.startswith(b"\x05webdc"):
            raise OverflowError("crafted")
        return real(encoder, name, group)

    monkeypatch.setattr(queries, "name_answers", broken)
    built = evaluate(inputs)
    assert built.entries["webdc"].verdict == dns.rcode.SERVFAIL and "crafted" in built.errors["webdc"]
    assert "webq" in built.parts and built.entries["webq"].verdict is None
