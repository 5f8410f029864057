"""Snapshot -> Zone: which names exist, what they hold, health rules, incremental rebuilds."""

from __future__ import annotations

import dns.message
import dns.rdatatype
from hypothesis import given, settings
from hypothesis import strategies as st

from dns_balancer.records import SRV, A, encode_name, labels_of
from dns_balancer.snapshot import CRITICAL, PASSING, WARNING
from dns_balancer.zone import ZoneConfig, build_zone
from tests.support.dnsb_helpers import ask, inst, responder, snapshot


def addresses(msg: dns.message.Message) -> list[str]:
    return [r.address for rrset in msg.answer for r in rrset]


def test_every_service_name_form_resolves():
    r = responder({"web": (inst(0, tags=("primary",)), inst(1))}, alt_domain="example.internal")
    for name in ("web.service.consul", "web.service.dc1.consul", "web.service.example.internal",
                 "web.service.dc1.example.internal"):
        assert sorted(addresses(ask(r, name))) == ["127.0.0.2", "127.0.0.3"], name
    assert addresses(ask(r, "primary.web.service.consul")) == ["127.0.0.2"]
    for name in ("_web._tcp.service.consul", "_web._primary.service.dc1.consul"):
        msg = ask(r, name, "SRV")
        assert msg.rcode() == 0 and msg.answer, name
    assert len(ask(r, "_web._tcp.service.consul", "SRV").answer[0]) == 2
    assert len(ask(r, "_web._primary.service.consul", "SRV").answer[0]) == 1
    assert addresses(ask(r, "n1.node.consul")) == ["127.0.0.1"]
    assert addresses(ask(r, "n1.node.dc1.consul", "ANY")) == ["127.0.0.1"]


def test_srv_records_priority_weight_port_and_glue():
    r = responder({"web": (inst(0, weights=(7, 1)), inst(1, address="127.0.0.1", port=9000))})
    msg = ask(r, "_web._tcp.service.consul", "SRV")
    by_port = {rd.port: rd for rd in msg.answer[0]}
    assert by_port[8000].priority == 1 and by_port[8000].weight == 7
    # instance on the node's own address: the node's name; else Consul's hex .addr. name
    assert str(by_port[9000].target) == "n1.node.dc1.consul."
    assert str(by_port[8000].target) == "7f000002.addr.dc1.consul."
    glue = {str(rrset.name): [rd.address for rd in rrset] for rrset in msg.additional}
    assert glue == {"n1.node.dc1.consul.": ["127.0.0.1"], "7f000002.addr.dc1.consul.": ["127.0.0.2"]}
    # and the targets resolve on their own
    assert addresses(ask(r, "7f000002.addr.dc1.consul")) == ["127.0.0.2"]


def test_aaaa_and_nodata_for_missing_type():
    r = responder({"v6": (inst(0, service="v6", address="2001:db8::5"),), "v4": (inst(1, service="v4"),)})
    assert addresses(ask(r, "v6.service.consul", "AAAA")) == ["2001:db8::5"]
    nodata = ask(r, "v4.service.consul", "AAAA")
    assert nodata.rcode() == 0 and not nodata.answer
    assert nodata.authority[0].rdtype == dns.rdatatype.SOA and nodata.authority[0].ttl == 5
    v6_a = ask(r, "v6.service.consul", "A")
    assert v6_a.rcode() == 0 and not v6_a.answer


def test_unknown_names_nxdomain_with_soa_and_negative_ttl():
    r = responder({"web": (inst(0),)}, negative_ttl=42)
    msg = ask(r, "nope.service.consul")
    assert msg.rcode() == 3
    soa = msg.authority[0]
    assert str(soa.name) == "consul." and soa.ttl == 42 and soa[0].minimum == 42


def test_health_rules():
    services = {"web": (inst(0, status=PASSING), inst(1, status=WARNING), inst(2, status=CRITICAL))}
    assert sorted(addresses(ask(responder(services), "web.service.consul"))) == ["127.0.0.2", "127.0.0.3"]
    assert addresses(ask(responder(services, only_passing=True), "web.service.consul")) == ["127.0.0.2"]
    all_critical = {"web": (inst(0, status=CRITICAL),)}
    assert ask(responder(all_critical), "web.service.consul").rcode() == 3  # no healthy instance: NXDOMAIN


def test_apex_soa_ns_any_and_ttl():
    r = responder({"web": (inst(0),)}, ttl=30, ns_address="127.0.0.1")
    soa = ask(r, "consul", "SOA")
    assert soa.answer[0].ttl == 30 and str(soa.answer[0][0].mname) == "ns.consul."
    ns = ask(r, "consul", "NS")
    assert str(ns.answer[0][0].target) == "ns.consul." and ns.additional[0][0].address == "127.0.0.1"
    assert ask(r, "consul", "ANY").answer[0].rdtype == dns.rdatatype.SOA
    assert addresses(ask(r, "ns.consul")) == ["127.0.0.1"]
    assert ask(r, "web.service.consul").answer[0].ttl == 30


def test_empty_non_terminals_are_nodata_and_other_dc_nxdomain():
    r = responder({"web": (inst(0),)})
    assert ask(r, "service.consul").rcode() == 0
    assert ask(r, "dc1.consul").rcode() == 0
    assert ask(r, "web.service.dc2.consul").rcode() == 3


def test_invalid_labels_are_not_published():
    r = responder({"bad name": (inst(0, service="bad name"),), "web": (inst(1, tags=("has space", "ok")),)})
    zone = r.zone
    zone.encode_all()
    assert not any(b"bad" in key for key in zone.table) and not any(b"bad" in name for name in zone.ents)
    assert any(key.startswith(b"\x02ok\x03web") for key in zone.table)


def test_unchanged_services_keep_their_encoded_part():
    cfg = ZoneConfig()
    web, api = (inst(0),), (inst(1, service="api"),)
    first = build_zone(snapshot({"web": web, "api": api}), cfg)
    second = build_zone(snapshot({"web": web, "api": (inst(1, service="api"), inst(2, service="api"))}), cfg, first)
    assert second.parts["web"] is first.parts["web"]
    assert second.parts["api"] is not first.parts["api"]
    key = encode_name(labels_of("api.service.consul")) + b"\x00\x01"
    answer = second.lookup(key)  # encoded on its first query
    assert answer is not None and answer.count == 2 and second.table[key] is answer
    # a config change rebuilds everything
    third = build_zone(snapshot({"web": web}), ZoneConfig(ttl=9), second)
    assert third.parts["web"] is not second.parts["web"]


@settings(max_examples=60, deadline=None)
@given(
    st.lists(
        st.tuples(st.integers(0, 250), st.sampled_from([PASSING, WARNING, CRITICAL]),
                  st.lists(st.sampled_from(["a", "b", "tcp"]), max_size=2, unique=True)),
        min_size=1, max_size=30, unique_by=lambda t: t[0],
    ),
    st.booleans(),
)
def test_zone_matches_the_health_rules_for_any_instance_set(specs, only_passing):
    instances = tuple(inst(i, status=s, tags=tuple(tags)) for i, s, tags in specs)
    r = responder({"web": instances}, only_passing=only_passing)
    ok = {PASSING} if only_passing else {PASSING, WARNING}
    want = sorted(i.address for i in instances if i.status in ok)
    got = ask(r, "web.service.consul", tcp=True)
    assert sorted(addresses(got)) == want
    srv = ask(r, "_web._tcp.service.consul", "SRV", tcp=True)
    assert sorted(rd.port for rrset in srv.answer for rd in rrset) == sorted(
        i.port for i in instances if i.status in ok)
    for tag in ("a", "b"):
        tagged = sorted(i.address for i in instances if i.status in ok and tag in i.tags)
        msg = ask(r, f"{tag}.web.service.consul", tcp=True)
        assert sorted(addresses(msg)) == tagged and msg.rcode() == (0 if tagged else 3)
    entries = {key[-2:] for key in r.zone.table}
    assert entries <= {bytes([0, t]) for t in (A, SRV, 28, 255, 6, 2)}
