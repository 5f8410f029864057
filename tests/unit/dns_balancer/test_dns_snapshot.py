"""Consul JSON -> Instance / Node / Snapshot."""

from __future__ import annotations

from dns_balancer.snapshot import (
    CRITICAL,
    PASSING,
    WARNING,
    Snapshot,
    instance_from_entry,
    instances_from_health,
    nodes_from_catalog,
    worst,
)


def entry(sid: str = "web-1", address: str = "127.0.0.2", checks: list[dict] | None = None, **svc: object) -> dict:
    return {
        "Node": {"Node": "n1", "Address": "127.0.0.1", "Datacenter": "dc1"},
        "Service": {"ID": sid, "Service": "web", "Tags": ["a"], "Address": address, "Port": 80, **svc},
        "Checks": checks if checks is not None else [{"CheckID": "serfHealth", "Status": "passing"}],
    }


def test_entry_fields():
    i = instance_from_entry(entry(Weights={"Passing": 5, "Warning": 2}))
    assert i is not None
    assert (i.id, i.service, i.node, i.address, i.port, i.tags) == ("web-1", "web", "n1", "127.0.0.2", 80, ("a",))
    assert (i.node_address, i.status, i.weight) == ("127.0.0.1", PASSING, 5)


def test_service_address_falls_back_to_node_address():
    i = instance_from_entry(entry(address=""))
    assert i is not None and i.address == "127.0.0.1"


def test_status_is_the_worst_check_and_warning_uses_warning_weight():
    checks = [{"CheckID": "serfHealth", "Status": "passing"}, {"CheckID": "c", "Status": "warning"}]
    i = instance_from_entry(entry(checks=checks, Weights={"Passing": 5, "Warning": 2}))
    assert i is not None and i.status == WARNING and i.weight == 2
    node_critical = [{"CheckID": "serfHealth", "Status": "critical"}, {"CheckID": "c", "Status": "passing"}]
    assert instance_from_entry(entry(checks=node_critical)).status == CRITICAL  # type: ignore[union-attr]


def test_maintenance_counts_as_critical_whatever_its_status_says():
    for check_id in ("_service_maintenance:web-1", "_node_maintenance"):
        i = instance_from_entry(entry(checks=[{"CheckID": check_id, "Status": "passing"}]))
        assert i is not None and i.status == CRITICAL


def test_unknown_status_is_critical():
    assert worst(["passing", "bogus"]) == CRITICAL
    assert worst([]) == PASSING


def test_garbage_entries_are_skipped_and_order_is_stable():
    entries = [entry("b"), {"Service": None}, "junk", entry("a"), {"Node": {}, "Service": {"ID": "x"}}]
    assert [i.id for i in instances_from_health(entries)] == ["a", "b"]
    assert instances_from_health({"not": "a list"}) == ()


def test_nodes_from_catalog():
    nodes, dc = nodes_from_catalog([{"Node": "n1", "Address": "127.0.0.1", "Datacenter": "dc7"}, {"x": 1}, None])
    assert list(nodes) == ["n1"] and nodes["n1"].address == "127.0.0.1" and dc == "dc7"


def test_snapshot_changes_are_copies():
    base = Snapshot()
    one = base.with_service("web", (), index=4)
    assert dict(base.services) == {} and "web" in one.services and one.index == 4
    assert "web" not in one.without_services(["web"]).services
