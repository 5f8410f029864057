"""portside.prepared: Consul's prepared queries evaluated on mirrored catalogs, rule by rule (each rule as Consul
1.20's server applies it), and decoding that never raises."""

from __future__ import annotations

from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from portside.catalog import CRITICAL, PASSING, WARNING, Catalog, Check, FrozenMap, Instance
from portside.prepared import (
    PreparedQuery,
    decode_definitions,
    decode_query,
    execute,
    failover_order,
    go_duration,
    healthy_for,
    select,
)


def definition(**service: Any) -> dict[str, Any]:
    raw: dict[str, Any] = {"ID": "0b1e6bd4-7c5a-4c1d-9a53-5f3a3c1c0001", "Name": "web-q", "Session": "", "Token": "",
                           "Template": {"Type": "", "Regexp": "", "RemoveEmptyTags": False},
                           "Service": {"Service": "web", "Failover": {"NearestN": 0, "Datacenters": None},
                                       "OnlyPassing": False, "Tags": None, **service},
                           "DNS": {"TTL": ""}}
    return raw


def inst(n: int, dc: str = "dc1", status: str = PASSING, tags: tuple[str, ...] = (), checks: tuple[Check, ...] = (),
         meta: dict[str, str] | None = None, node_meta: dict[str, str] | None = None) -> Instance:
    return Instance(id=f"web-{dc}-{n}", service="web", node=f"{dc}-node", address=f"198.19.{dc[-1]}.{n}", port=80,
                    tags=tags, status=status, checks=checks, datacenter=dc, meta=FrozenMap((meta or {}).items()),
                    node_meta=FrozenMap((node_meta or {}).items()))


def catalog(*instances: Instance) -> Catalog:
    return Catalog().with_services({"web": instances})


def q(**kw: Any) -> PreparedQuery:
    return PreparedQuery(id="id", name="web-q", service="web", **kw)


def test_decode_every_supported_field() -> None:
    raw = definition(OnlyPassing=True, Tags=["V1", "!Canary"], IgnoreCheckIDs=["serfHealth"],
                     NodeMeta={"rack": "a"}, ServiceMeta={"v": "1"}, Failover={"NearestN": 2, "Datacenters": ["dc3"]},
                     Near="_agent")
    raw["DNS"] = {"TTL": "1m30s"}
    got = decode_query(raw)
    assert got is not None
    assert (got.name, got.service, got.tags, got.only_passing) == ("web-q", "web", ("v1", "!canary"), True)
    assert got.ignore_check_ids == {"serfHealth"} and got.node_meta == {"rack": "a"} and got.service_meta == {"v": "1"}
    assert (got.nearest_n, got.datacenters, got.ttl, got.failover) == (2, ("dc3",), 90, True)
    assert got.unsupported == ()  # Near only orders the instances (we rotate them): not a different answer


def test_a_ttl_beyond_what_dns_can_carry_is_capped() -> None:
    raw = definition()
    raw["DNS"] = {"TTL": "2000000h"}  # Consul accepts it (Go's durations reach 292 years); a DNS TTL is 31 bits
    got = decode_query(raw)
    assert got is not None and got.ttl == 2**31 - 1


def test_what_is_not_evaluated_is_named() -> None:
    raw = definition(Connect=True, Peer="p", SamenessGroup="g", Failover={"Targets": [{"Peer": "p"}]})
    raw["Template"] = {"Type": "name_prefix_match"}
    got = decode_query(raw)
    assert got is not None and got.template
    assert got.unsupported == ("Template", "Peer", "SamenessGroup", "Connect", "Failover.Targets")


def test_definitions_resolve_by_id_then_name_without_case() -> None:
    plain = definition()
    tmpl = {**definition(), "ID": "t", "Name": "geo-", "Template": {"Type": "name_prefix_match"}}
    defs = decode_definitions([plain, tmpl, {"no": "id"}, 7]).value
    assert decode_definitions([plain, {"no": "id"}, 7]).skipped == 2
    assert defs.resolve("WEB-Q") is defs.resolve("0B1E6BD4-7C5A-4C1D-9A53-5F3A3C1C0001") is not None
    assert defs.resolve("geo-web") is None  # a template is never answered from here ...
    assert defs.template_may_match("geo-web") and not defs.template_may_match("other")  # ... but it is seen


@given(st.recursive(st.none() | st.booleans() | st.integers() | st.text(max_size=5),
                    lambda c: st.lists(c, max_size=3) | st.dictionaries(st.text(max_size=8), c, max_size=4),
                    max_leaves=20))
def test_decoding_never_raises(data: object) -> None:
    decode_definitions(data)
    decode_definitions([data])
    decode_query({"ID": "x", "Service": data})


def test_go_durations() -> None:
    assert [go_duration(t) for t in ("10s", "1m30s", "500ms", "1h", "0", "1.5s", "-2s")] == [
        10, 90, 0.5, 3600, 0, 1.5, -2]
    assert [go_duration(t) for t in ("10", "s", "1x", "1s garbage")] == [None] * 4


def test_health_as_consul_filters_it() -> None:
    warn = inst(1, status=WARNING)
    assert healthy_for(q(), warn) and not healthy_for(q(only_passing=True), warn)
    assert not healthy_for(q(), inst(2, status=CRITICAL))
    failing_serf = inst(3, status=CRITICAL, checks=(Check("n", "serfHealth", CRITICAL), Check("n", "app", PASSING)))
    assert not healthy_for(q(), failing_serf)
    assert healthy_for(q(ignore_check_ids=frozenset({"serfHealth"})), failing_serf)  # as if that check did not exist


def test_tags_all_required_none_forbidden_without_case() -> None:
    a, b, c = inst(1, tags=("V1", "blue")), inst(2, tags=("v1", "canary")), inst(3, tags=("v2",))
    cat = catalog(a, b, c)
    assert select(q(tags=("v1",)), cat) == (a, b)
    assert select(q(tags=("v1", "!canary")), cat) == (a,)
    assert select(q(tags=("!v1",)), cat) == (c,)


def test_meta_filters_need_every_key_with_that_value() -> None:
    a = inst(1, meta={"v": "1"}, node_meta={"rack": "a"})
    b = inst(2, meta={"v": "2"}, node_meta={"rack": "a"})
    c = inst(3, meta={"v": "1"})
    cat = catalog(a, b, c)
    v1, rack_a = FrozenMap({"v": "1"}.items()), FrozenMap({"rack": "a"}.items())
    assert select(q(service_meta=v1), cat) == (a, c)
    assert select(q(service_meta=v1, node_meta=rack_a), cat) == (a,)


def test_failover_order_nearest_then_listed() -> None:
    by_rtt = ["dc1", "dc3", "dc2", "dc4"]  # /v1/catalog/datacenters: the local one first (0 RTT), then by RTT
    assert failover_order(q(nearest_n=2), by_rtt, "dc1") == ["dc3", "dc2"]
    assert failover_order(q(datacenters=("dc4", "nope", "dc1", "dc2", "dc4")), by_rtt, "dc1") == ["dc4", "dc2"]
    assert failover_order(q(nearest_n=1, datacenters=("dc3", "dc4")), by_rtt, "dc1") == ["dc3", "dc4"]
    assert failover_order(q(), by_rtt, "dc1") == []


def test_execute_local_first_then_the_first_failover_with_instances() -> None:
    query = q(nearest_n=1, datacenters=("dc3",), only_passing=True)
    local_ok = {"dc1": catalog(inst(1)), "dc2": catalog(inst(1, "dc2")), "dc3": catalog(inst(1, "dc3"))}
    order = ["dc1", "dc2", "dc3"]
    assert execute(query, local_ok, order, "dc1").datacenter == "dc1"
    local_down = {**local_ok, "dc1": catalog(inst(1, status=WARNING))}
    got = execute(query, local_down, order, "dc1")
    assert (got.datacenter, [i.id for i in got.instances], got.failovers) == ("dc2", ["web-dc2-1"], 1)
    dc2_empty = {**local_down, "dc2": catalog()}
    assert execute(query, dc2_empty, order, "dc1").datacenter == "dc3"
    skipped = execute(query, local_down, order, "dc1", unreachable=["dc2"])  # as Consul skips a failed forward
    assert (skipped.datacenter, skipped.failovers) == ("dc3", 2)
    nothing = execute(query, {**dc2_empty, "dc3": catalog()}, order, "dc1")
    assert (nothing.datacenter, nothing.instances, nothing.failovers) == ("dc1", (), 2)


def test_execute_says_which_datacenter_it_waits_for_instead_of_guessing() -> None:
    query = q(nearest_n=2)
    got = execute(query, {"dc1": catalog(), "dc2": catalog()}, ["dc1", "dc2", "dc3"], "dc1")
    assert got.waiting_for == "dc3" and got.instances == ()
    assert execute(q(), {"dc1": catalog()}, ["dc1", "dc2"], "dc1").waiting_for is None  # no failover: no wait
