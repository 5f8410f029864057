"""DNS's view of the catalog: which instances a name serves (the decoding itself is portside.catalog's)."""

from __future__ import annotations

from dns_balancer.snapshot import CRITICAL, PASSING, WARNING, ip_version, served
from portside.catalogjson import decode_health


def entry(sid: str, checks: list[dict], node: str = "n1") -> dict:
    return {"Node": {"Node": node, "Address": "127.0.0.1"},
            "Service": {"ID": sid, "Service": "web", "Address": "127.0.0.2", "Port": 80}, "Checks": checks}


def test_critical_maintenance_and_unknown_are_never_served_warning_unless_only_passing() -> None:
    instances = decode_health([
        entry("ok", [{"CheckID": "serfHealth", "Status": "passing"}]),
        entry("warn", [{"CheckID": "c", "Status": "warning"}]),
        entry("down", [{"CheckID": "c", "Status": "critical"}]),
        entry("maint", [{"CheckID": "_service_maintenance:maint", "Status": "passing"}]),
        entry("odd", [{"CheckID": "c", "Status": "bogus"}]),
        entry("nocheck", []),
    ]).value
    assert {i.id: i.status for i in instances} == {"ok": PASSING, "warn": WARNING, "down": CRITICAL,
                                                    "maint": CRITICAL, "odd": CRITICAL, "nocheck": PASSING}
    assert [i.id for i in served(instances, only_passing=False)] == ["nocheck", "ok", "warn"]
    assert [i.id for i in served(instances, only_passing=True)] == ["nocheck", "ok"]


def test_ip_version() -> None:
    assert (ip_version("127.0.0.1"), ip_version("::1"), ip_version("web.example"), ip_version("")) == (4, 6, 0, 0)
