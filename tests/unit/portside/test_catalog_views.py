"""One Consul answer, two readers: DNS (dns_balancer's zone) and templates (consul_templates' service()) judge
every instance the same way (same set served, same order), whatever its checks say."""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from consul_templates.functions import SERVICE, Dependency
from consul_templates.render import RenderInput, Template
from dns_balancer.wire import Responder
from dns_balancer.zone import ZoneConfig, build_zone
from portside.catalog import Catalog
from portside.catalogjson import decode_health
from tests.support.dnsb_helpers import ask

CHECKS = {
    "passing": [{"CheckID": "serfHealth", "Status": "passing"}],
    "warning": [{"CheckID": "serfHealth", "Status": "passing"}, {"CheckID": "c", "Status": "warning"}],
    "critical": [{"CheckID": "c", "Status": "critical"}],
    "unknown": [{"CheckID": "c", "Status": "bogus"}],
    "missing": [{"CheckID": "c"}],
    "maintenance": [{"CheckID": "_service_maintenance:x", "Status": "passing", "Notes": "drain"}],
    "node-maintenance": [{"CheckID": "_node_maintenance", "Status": "critical"}],
    "none": [],
}


def entries(specs: list[tuple[str, str]]) -> list[dict[str, Any]]:
    """(node, kind of checks) per instance; instance k listens on port 9000 + k."""
    return [{"Node": {"Node": node, "Address": "127.0.0.1"},
             "Service": {"ID": f"web-{k}", "Service": "web", "Address": f"127.0.1.{k + 1}", "Port": 9000 + k},
             "Checks": CHECKS[kind]} for k, (node, kind) in enumerate(specs)]


def dns_ports(raw: list[dict[str, Any]], only_passing: bool) -> list[int]:
    catalog = Catalog(datacenter="dc1").with_services({"web": decode_health(raw).value})
    responder = Responder(build_zone(catalog, ZoneConfig(only_passing=only_passing)))
    reply = ask(responder, "web.service.consul", "SRV", tcp=True)
    return [rr.port for rrset in reply.answer for rr in rrset]  # the first answer is not rotated


def template_ports(raw: list[dict[str, Any]], status: str | None) -> list[int]:
    arg = f", status='{status}'" if status else ""
    text = "{% for i in service('web'" + arg + ") %}{{ i.port }} {% endfor %}"
    dep = Dependency(SERVICE, "web", passing=status is None, status=tuple(sorted(status.split(","))) if status else ())
    out = Template("t", text).render(RenderInput({dep: dep.decode(raw)}, {}))
    assert out.used == {dep}
    return [int(p) for p in (out.text or "").split()]


def test_the_readers_agree_on_every_kind_of_check() -> None:
    specs = [("n2", kind) for kind in CHECKS] + [("n1", kind) for kind in CHECKS]
    raw = entries(specs)
    served = dns_ports(raw, only_passing=False)
    assert served == template_ports(raw, "passing,warning")
    # by node, then ID: n1's instances (ports 9008..) before n2's; only passing, warning and check-less ones
    ok = [9000 + k for k, (_, kind) in enumerate(specs) if kind in ("passing", "warning", "none")]
    assert served == sorted(ok, key=lambda p: (specs[p - 9000][0], f"web-{p - 9000}"))
    assert dns_ports(raw, only_passing=True) == template_ports(raw, None)  # consul-template's default: passing


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(["n1", "n2", "n3"]), st.sampled_from(sorted(CHECKS))), min_size=1,
                max_size=12))
def test_the_readers_agree_for_any_mix(specs: list[tuple[str, str]]) -> None:
    raw = entries(specs)
    assert dns_ports(raw, only_passing=False) == template_ports(raw, "passing,warning")
    assert dns_ports(raw, only_passing=True) == template_ports(raw, None)


def test_an_undefined_check_state_matches_only_any_in_templates() -> None:
    """consul-template's filters compare the aggregated status, "" for a check state Consul does not define: such
    an instance is listed by `any` only (DNS: critical, not served)."""
    raw = entries([("n1", "unknown"), ("n1", "missing"), ("n2", "critical"), ("n2", "maintenance")])
    assert template_ports(raw, "critical") == [9002]
    assert template_ports(raw, "critical,maintenance,passing,warning") == [9002, 9003]
    assert template_ports(raw, "any") == [9000, 9001, 9002, 9003]
    assert template_ports(raw, None) == [] and dns_ports(raw, only_passing=False) == []
