"""portside.feeddiff: which services moved, from the feed's catalog-wide reads (pure)."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from portside.catalog import Catalog, Check, Instance, Node, ServiceSummary
from portside.feeddiff import (
    decode_node_services,
    diff_checks,
    diff_nodes,
    diff_summaries,
    diff_sweep,
    join_health,
    registrations,
)

NODES = ["n1", "n2", "n3"]
SERVICES = ["web", "api", "db"]


def test_service_list_names_and_tags() -> None:
    old = {"web": ServiceSummary("web", ("a",)), "db": ServiceSummary("db", ())}
    new = {"web": ServiceSummary("web", ("a", "b")), "api": ServiceSummary("api", ())}
    assert diff_summaries(old, new) == ({"web", "api"}, {"db"})
    assert diff_summaries(None, new) == ({"web", "api"}, set())
    assert diff_summaries(new, new) == (set(), set())


def test_a_node_check_moves_every_service_on_its_node() -> None:
    nodes = {"n1": {"web", "db"}, "n2": {"api"}}
    serf = Check("n1", "serfHealth", "critical")
    assert diff_checks({}, {("n1", "serfHealth"): serf}, nodes) == {"web", "db"}
    svc = Check("n2", "c1", "warning", service_id="api-1", service_name="api")
    assert diff_checks({("n2", "c1"): svc}, {}, nodes) == {"api"}  # left the non-passing set
    assert diff_checks({("n2", "c1"): svc}, {("n2", "c1"): svc}, nodes) == set()


def test_the_node_map_is_built_only_when_a_node_check_moved() -> None:
    built: list[int] = []

    def nodes() -> dict[str, set[str]]:
        built.append(1)
        return {"n1": {"web", "db"}}

    svc = Check("n2", "c1", "critical", service_id="api-1", service_name="api")
    assert diff_checks({}, {("n2", "c1"): svc}, nodes) == {"api"} and built == []
    serf = Check("n1", "serfHealth", "critical")
    assert diff_checks({}, {("n1", "serfHealth"): serf, ("n2", "c1"): svc}, nodes) == {"web", "db", "api"}
    assert built == [1]


def test_a_changed_node_record_moves_its_services() -> None:
    nodes = {"n1": {"web"}, "n2": {"api"}}
    old = {"n1": Node("n1", "127.0.0.1"), "n2": Node("n2", "127.0.0.2")}
    assert diff_nodes(old, {**old, "n1": Node("n1", "127.0.0.9")}, nodes) == {"web"}
    assert diff_nodes(old, {"n1": old["n1"]}, nodes) == {"api"}
    assert diff_nodes(old, {**old, "n3": Node("n3", "127.0.0.3")}, nodes) == set()


def inst(sid: str, service: str, node: str, index: int) -> Instance:
    return Instance(sid, service, node, "127.0.0.1", 80, modify_index=index)


def test_sweep_finds_what_the_watches_cannot_attribute() -> None:
    catalog = Catalog().with_services({"web": (inst("w1", "web", "n1", 10),), "api": (inst("a1", "api", "n2", 11),)})
    known = registrations(catalog)
    # a check-less instance added to web on n1; api's instance re-registered (address or port change) on n2
    seen = {"n1": {"w1": ("web", 10), "w2": ("web", 15)}, "n2": {"a1": ("api", 16)}}
    assert diff_sweep(known, seen) == {"web", "api"}
    assert diff_sweep(known, {"n1": {"w1": ("web", 10)}}) == set()  # n2 not swept: not compared
    assert diff_sweep(known, {"n1": {}}) == {"web"}  # gone
    assert diff_sweep(known, seen, wanted={"api"}) == {"api"}


def test_node_services_answer_and_join() -> None:
    answer = {"Node": {"Node": "n1", "Address": "127.0.0.1"},
              "Services": [{"ID": "w1", "Service": "web", "Port": 80, "ModifyIndex": 7}, {"ID": "x"}, "junk"]}
    assert decode_node_services(answer) == {"w1": ("web", 7)}
    assert decode_node_services(None) == {} and decode_node_services({"Services": 3}) is None
    checks = [{"Node": "n1", "CheckID": "serfHealth", "Status": "passing"},
              {"Node": "n1", "CheckID": "c", "Status": "critical", "ServiceID": "w1", "ServiceName": "web"},
              {"Node": "n2", "CheckID": "c", "Status": "critical", "ServiceID": "w1", "ServiceName": "web"}]
    joined, skipped = join_health({"n1": answer}, checks)
    (web,) = joined["web"]
    assert [c.check_id for c in web.checks] == ["serfHealth", "c"] and web.status == "critical"
    assert skipped == 2


check_maps = st.dictionaries(
    st.tuples(st.sampled_from(NODES), st.sampled_from(["serfHealth", "c1", "c2", "c3"])),
    st.tuples(st.sampled_from(["warning", "critical"]), st.sampled_from(["", *SERVICES]), st.integers(1, 3)),
    max_size=8,
)


def build(raw: dict) -> dict[tuple[str, str], Check]:
    return {key: Check(key[0], key[1], status, service_name=svc, service_id=f"{svc}-x" if svc else "",
                       modify_index=idx) for key, (status, svc, idx) in raw.items()}


@settings(max_examples=200, deadline=None)
@given(check_maps, check_maps, st.dictionaries(st.sampled_from(NODES), st.sets(st.sampled_from(SERVICES)), max_size=3))
def test_moved_services_are_exactly_those_with_a_changed_check(old_raw: dict, new_raw: dict, on_node: dict) -> None:
    old, new = build(old_raw), build(new_raw)
    moved = diff_checks(old, new, on_node)
    expected: set[str] = set()
    for key in old.keys() | new.keys():
        if old.get(key) != new.get(key):
            for c in (old.get(key), new.get(key)):
                if c is not None:
                    expected |= {c.service_name} if c.service_name else on_node.get(c.node, set())
    assert moved == expected
    # no change -> nothing moved; and the diff is symmetric
    assert diff_checks(new, new, on_node) == set()
    assert diff_checks(new, old, on_node) == moved
