"""portside.catalog: Consul JSON decoded once, one status rule, one sort; decoding never raises."""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from portside.catalog import CRITICAL, MAINTENANCE, NIL, PASSING, WARNING, Catalog, FrozenMap, aggregated_status, judge
from portside.catalogjson import (
    Previous,
    decode_checks,
    decode_health,
    decode_instance,
    decode_kv,
    decode_nodes,
    decode_service_list,
    entry_signature,
)


def entry(sid: str = "web-1", node: str = "n1", checks: list[dict] | None = None, **svc: object) -> dict:
    return {
        "Node": {"Node": node, "Address": "127.0.0.1", "Datacenter": "dc1", "Meta": {"rack": "r1"}, "ID": "uuid"},
        "Service": {"ID": sid, "Service": "web", "Tags": ["b", "a", "a"], "Address": "127.0.0.2", "Port": 80,
                    "Meta": {"v": "1"}, "ModifyIndex": 42, **svc},
        "Checks": checks if checks is not None else [{"CheckID": "serfHealth", "Status": "passing", "Node": node}],
    }


def test_every_field_a_reader_needs() -> None:
    i = decode_instance(entry(Weights={"Passing": 5, "Warning": 2}, Namespace="ns"))
    assert i is not None
    assert (i.id, i.service, i.node, i.address, i.service_address, i.node_address, i.port) == (
        "web-1", "web", "n1", "127.0.0.2", "127.0.0.2", "127.0.0.1", 80)
    assert i.tags == ("a", "b")  # sorted and deduplicated: what DNS and Jinja2 match on
    assert i.tags_as_registered == ("b", "a", "a")  # what consul-template sorts and prints (duplicates kept)
    assert i.meta == {"v": "1"} and i.node_meta == {"rack": "r1"} and i.datacenter == "dc1"
    assert (i.weight_passing, i.weight_warning, i.namespace, i.node_id, i.modify_index) == (5, 2, "ns", "uuid", 42)
    assert i.checks[0].check_id == "serfHealth" and i.status == PASSING and not i.maintenance
    assert hash(i) == hash(decode_instance(entry(Weights={"Passing": 5, "Warning": 2}, Namespace="ns")))


def test_service_address_falls_back_to_the_node_address() -> None:
    i = decode_instance(entry(Address=""))
    assert i is not None and (i.address, i.service_address) == ("127.0.0.1", "")
    assert i.hostport == "127.0.0.1:80"
    assert decode_instance(entry(Address="::1")).hostport == "[::1]:80"  # type: ignore[union-attr]


def check(cid: str, status: Any) -> dict:
    return {"CheckID": cid, "Status": status}


def test_the_one_status_rule() -> None:
    def status(*checks: Any) -> tuple[str, bool]:
        i = decode_instance(entry(checks=list(checks)))
        assert i is not None
        return i.status, i.maintenance

    assert status() == (PASSING, False)  # no checks: passing
    assert status(check("a", "passing"), check("b", "warning")) == (WARNING, False)  # worst wins
    assert status(check("a", "warning"), check("b", "critical")) == (CRITICAL, False)
    assert status(check("a", "passing"), check("b", "bogus")) == (CRITICAL, False)  # unknown: critical
    assert status(check("a", "passing"), {"CheckID": "b"}) == (CRITICAL, False)  # missing: critical
    assert status(check("a", None)) == (CRITICAL, False)
    assert status(check("a", "passing"), "junk") == (CRITICAL, False)  # an unreadable check: unknown, critical
    assert status({"Status": "warning"}) == (WARNING, False)  # no CheckID: its status still counts
    for maint in ("_service_maintenance:web-1", "_node_maintenance"):
        assert status(check(maint, "passing")) == (CRITICAL, True)  # maintenance: critical, whatever it says
    assert judge([]) == (PASSING, False)


def test_health_answer_sorted_by_node_then_id_and_bad_entries_counted() -> None:
    entries = [entry("b", node="n2"), {"Service": None}, "junk", entry("c", node="n1"), entry("a", node="n2"),
               {"Node": {}, "Service": {"ID": "x"}}]
    decoded = decode_health(entries)
    assert [(i.node, i.id) for i in decoded.value] == [("n1", "c"), ("n2", "a"), ("n2", "b")]
    assert decoded.skipped == 3
    assert decode_health({"not": "a list"}).value == () and decode_health({"x": 1}).skipped == 1
    assert decode_health(None).value == () and decode_health(None).skipped == 0


def test_nodes_service_list_checks_kv() -> None:
    nodes = decode_nodes([{"Node": "b", "Address": "127.0.0.3", "Datacenter": "dc2", "Meta": {"k": 1}},
                          {"Node": "a", "Address": "127.0.0.2"}, {"Node": ""}, 7])
    assert list(nodes.value) == ["a", "b"] and nodes.skipped == 2
    assert nodes.value["b"].meta == {"k": "1"} and nodes.value["b"].datacenter == "dc2"
    services = decode_service_list({"web": ["x", "a", "x"], "db": None, "": []})
    assert [(s.name, s.tags) for s in services.value.values()] == [("db", ()), ("web", ("a", "x"))]
    assert services.skipped == 1
    checks = decode_checks([{"Node": "n", "CheckID": "c", "Status": "warning", "ServiceName": "web"}, {"x": 1}])
    assert checks.value[("n", "c")].status == WARNING and checks.skipped == 1
    kv = decode_kv([{"Key": "b", "Value": "aGk="}, {"Key": "a", "Value": None}, {"Key": "c", "Value": "%%%"}])
    assert [(p.key, p.value) for p in kv.value] == [("a", ""), ("b", "hi")] and kv.skipped == 1


def test_catalog_updates_share_untouched_services() -> None:
    web = decode_health([entry("w1")]).value
    c1 = Catalog().with_services({"web": web, "db": ()}, index=5)
    c2 = c1.with_services({"db": None, "api": ()}, index=3)
    assert set(c1.services) == {"web", "db"} and set(c2.services) == {"web", "api"}
    assert c2.services["web"] is web and c2.index == 5
    assert FrozenMap([("a", "1")]) == {"a": "1"}
    assert hash(FrozenMap([("a", "1")])) == hash(FrozenMap({"a": "1"}.items()))


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=8),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(
        st.sampled_from(["Node", "Service", "Checks", "ID", "Address", "Port", "Tags", "Meta", "Weights", "Status",
                         "CheckID", "Key", "Value", "Datacenter", "ServiceName", "Passing"]) | st.text(max_size=4),
        children, max_size=6),
    max_leaves=30,
)


@settings(max_examples=150, deadline=None)
@given(json_values)
def test_decoders_never_raise_on_arbitrary_json(data: Any) -> None:
    for decode in (decode_health, decode_nodes, decode_service_list, decode_checks, decode_kv):
        decode(data)
        decode([data, data])
    decode_instance(data)
    decode_instance({"Node": data, "Service": {"Service": "s", "Tags": data, "Meta": data, "Weights": data,
                                               "Port": data, "ID": data}, "Checks": data})


def test_what_consul_template_prints_is_kept() -> None:
    """Every field consul-template hands out from a health entry, null apart from empty."""
    raw_check = {"Node": "n1", "CheckID": "web-1-http", "Name": "http", "Status": "passing", "Notes": "n",
                 "Output": "ok", "ServiceID": "web-1", "ServiceName": "web", "ServiceTags": ["b", "a", "a"],
                 "Type": "http", "ExposedPort": 21000, "CreateIndex": 7, "ModifyIndex": 9}
    i = decode_instance(entry(checks=[raw_check], TaggedAddresses={
        "wan": {"Address": "198.18.0.1", "Port": 81}, "lan": {"Address": "127.0.0.3", "Port": 80}}, Meta=None))
    assert i is not None
    c = i.checks[0]
    assert (c.notes, c.type, c.service_tags, c.exposed_port, c.create_index, c.modify_index) == (
        "n", "http", ("b", "a", "a"), 21000, 7, 9)
    assert i.service_tagged_addresses == (("lan", "127.0.0.3", 80), ("wan", "198.18.0.1", 81))
    assert i.meta is NIL and i.meta == {} and i.meta != FrozenMap()  # null is not {}, yet empty to every reader
    with_empty = decode_instance(entry(Meta={}))
    assert with_empty is not None and with_empty.meta is not NIL and with_empty != decode_instance(entry(Meta=None))
    plain = decode_instance(entry(Tags=["a", "b"]))
    assert plain is not None and plain.registered_tags is None and plain.tags_as_registered == ("a", "b")


def test_aggregated_status_is_consul_templates_filter_status() -> None:
    """consul-template filters on the Consul API's aggregated status: maintenance first, and a check in a state
    Consul does not define makes it "" (no filter but `any` matches); the one rule still calls that critical."""
    def both(*checks: Any) -> tuple[str, str]:
        i = decode_instance(entry(checks=list(checks)))
        assert i is not None
        return i.status, aggregated_status(i)

    assert both(check("a", "passing")) == (PASSING, PASSING)
    assert both(check("a", "warning")) == (WARNING, WARNING)
    assert both(check("a", "critical")) == (CRITICAL, CRITICAL)
    assert both(check("a", "bogus")) == (CRITICAL, "")
    assert both(check("a", None)) == (CRITICAL, "")
    assert both(check("_node_maintenance", "critical"), check("a", "passing")) == (CRITICAL, MAINTENANCE)
    assert both(check("_node_maintenance", "critical"), check("a", "bogus")) == (CRITICAL, "")
    assert both(check("_service_maintenance:web-1", "bogus")) == (CRITICAL, MAINTENANCE)  # its own status unread
    assert both() == (PASSING, PASSING)


def indexed(sid: str, sidx: int = 7, nidx: int = 3, checks: list[dict] | None = None, **svc: object) -> dict:
    e = entry(sid, checks=checks if checks is not None else [
        {"CheckID": "serfHealth", "Status": "passing", "Node": "n1", "ModifyIndex": 5}], ModifyIndex=sidx, **svc)
    e["Node"]["ModifyIndex"] = nidx
    return e


def test_an_unchanged_entry_of_the_last_answer_is_reused_and_a_changed_one_decoded_again() -> None:
    previous = Previous()
    first = decode_health([indexed("a"), indexed("b")], previous).value
    second = decode_health([indexed("a"), indexed("b", sidx=8, Port=81)], previous).value
    assert second[0] is first[0]  # same signature: the instance decoded before, not a copy
    assert second[1] is not first[1] and second[1].port == 81
    assert second == decode_health([indexed("a"), indexed("b", sidx=8, Port=81)]).value  # as a full decode
    # a check that moved (its ModifyIndex rose) is decoded again: the status follows
    moved = [{"CheckID": "serfHealth", "Status": "critical", "Node": "n1", "ModifyIndex": 9}]
    third = decode_health([indexed("a", checks=moved), indexed("b", sidx=8, Port=81)], previous).value
    assert third[0].status == CRITICAL and third[1] is second[1]
    # only the last answer is kept: what went is forgotten
    assert len(previous.by_signature) == 2


def test_an_entry_without_indexes_is_always_decoded_in_full() -> None:
    previous = Previous()
    no_index = entry("a")  # no node ModifyIndex: no signature
    assert entry_signature(no_index) is None
    assert entry_signature(indexed("a", sidx=0)) is None and entry_signature(indexed("a", sidx=True)) is None
    assert entry_signature(indexed("a", checks=["junk"])) is None
    one = decode_health([no_index], previous).value
    two = decode_health([entry("a", Port=99)], previous).value
    assert one[0].port == 80 and two[0].port == 99 and previous.by_signature == {}


@given(st.lists(st.sampled_from(["a", "b", "c"]), max_size=4), st.lists(st.integers(1, 3), min_size=4, max_size=4))
@settings(max_examples=60)
def test_decoding_with_the_last_answer_equals_a_full_decode(ids: list[str], ports: list[int]) -> None:
    previous = Previous()
    for port in ports:  # the same entries at the same indexes always carry the same port here, as in Consul
        answer = [indexed(i, sidx=port, Port=port) for i in ids]
        assert decode_health(answer, previous) == decode_health(answer)


def test_moved_since_names_what_changed_along_one_line_and_nothing_it_cannot_know() -> None:
    from portside.catalog import Line
    from tests.support.dnsb_helpers import inst

    web, api = (inst(0),), (inst(1, service="api"),)
    start = Catalog().with_services({"web": web, "api": api})
    a = start.with_services({"web": ()})
    b = a.with_summaries({}).with_services({"api": None})  # with_summaries keeps the line
    assert b.moved_since(start) == {"web", "api"} and b.moved_since(a) == {"api"} and b.moved_since(b) == set()
    assert a.moved_since(b) is None  # backwards
    assert a.moved_since(start) == {"web"}  # not the line's newest: only the steps up to it
    assert start.moved_since(Catalog()) is None and Catalog().moved_since(start) is None  # not one line
    # a catalog made from an older one starts a line of its own (`a` changed web, this one did not): its
    # changes since a catalog of the old line are not known, not guessed
    branch = start.with_services({"api": None})
    assert branch.moved_since(a) is None and branch.moved_since(start) is None
    # further back than the line keeps
    far = b
    for k in range(Line.KEPT):
        far = far.with_services({f"s{k}": ()})
    assert far.moved_since(b) is not None and far.moved_since(start) is None
    assert far == Catalog(services=far.services)  # the line is not part of a catalog's value
