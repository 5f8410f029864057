"""Every name form and record type, against services registered in a real Consul agent, asked over the wire
with dnspython (and, where the two should agree, compared with Consul's own DNS interface)."""

from __future__ import annotations

import dns.flags
import dns.message
import dns.query
import dns.rcode
import dns.rdatatype
import pytest

from tests.support.dnsb_harness import ALT_DOMAIN, unique, wait_for

pytestmark = pytest.mark.engines


@pytest.fixture
def web(services, dns_daemon):
    """web: 127.0.0.2 (tag primary, weight 5), 127.0.0.3 (tag primary), and one on the node's own address."""
    name = unique("web")
    services(name, 0, "127.0.0.2", tags=["primary"], weights=(5, 1))
    services(name, 1, "127.0.0.3", tags=["primary", "canary"])
    services(name, 2, None, port=9002)  # no service address: the node's (127.0.0.1)
    wait_for(lambda: len(dns_daemon.addresses(f"{name}.service.consul")) == 3, 10, f"{name} in DNS")
    return name


def test_service_names_in_every_form(dns_daemon, web):
    every = ["127.0.0.1", "127.0.0.2", "127.0.0.3"]
    for suffix in ("service.consul", "service.dc1.consul", f"service.{ALT_DOMAIN}", f"service.dc1.{ALT_DOMAIN}"):
        assert sorted(dns_daemon.addresses(f"{web}.{suffix}")) == every, suffix
    assert sorted(dns_daemon.addresses(f"primary.{web}.service.consul")) == ["127.0.0.2", "127.0.0.3"]
    assert dns_daemon.addresses(f"canary.{web}.service.dc1.consul") == ["127.0.0.3"]
    assert dns_daemon.ask(f"nosuchtag.{web}.service.consul").rcode() == dns.rcode.NXDOMAIN


def test_srv_rfc2782_with_weights_ports_targets_and_glue(dns_daemon, consul_agent, web):
    msg = dns_daemon.ask(f"_{web}._tcp.service.consul", "SRV")
    srv = {rd.port: rd for rd in msg.answer[0]}
    assert sorted(srv) == [8000, 8001, 9002]
    assert all(rd.priority == 1 for rd in srv.values())
    assert srv[8000].weight == 5 and srv[8001].weight == 1
    assert str(srv[9002].target) == f"{consul_agent.node}.node.dc1.consul."
    glue = {str(rrset.name): rrset[0].address for rrset in msg.additional}
    for rd in srv.values():  # each target's address is in the additional section, and resolves on its own
        target = str(rd.target)
        assert target in glue
        assert dns_daemon.addresses(target) == [glue[target]]
    assert glue[str(srv[8000].target)] == "127.0.0.2"
    tagged = dns_daemon.ask(f"_{web}._primary.service.dc1.consul", "SRV")
    assert sorted(rd.port for rd in tagged.answer[0]) == [8000, 8001]


def test_node_names(dns_daemon, consul_agent):
    node = consul_agent.node
    for name in (f"{node}.node.consul", f"{node}.node.dc1.consul", f"{node}.node.{ALT_DOMAIN}"):
        assert dns_daemon.addresses(name) == ["127.0.0.1"], name
    assert dns_daemon.ask("no-such-node.node.consul").rcode() == dns.rcode.NXDOMAIN


def test_aaaa_and_nodata(services, dns_daemon, web):
    v6 = unique("v6")
    services(v6, 0, "::1")
    wait_for(lambda: dns_daemon.addresses(f"{v6}.service.consul", "AAAA") == ["::1"], 10, "AAAA")
    nodata = dns_daemon.ask(f"{web}.service.consul", "AAAA")
    assert nodata.rcode() == dns.rcode.NOERROR and not nodata.answer
    assert nodata.authority[0].rdtype == dns.rdatatype.SOA and nodata.authority[0].ttl == 5


def test_soa_ns_any_and_negative_answers(dns_daemon, web):
    soa = dns_daemon.ask("consul", "SOA")
    assert soa.rcode() == 0 and soa.answer[0].rdtype == dns.rdatatype.SOA and soa.flags & dns.flags.AA
    ns = dns_daemon.ask("consul", "NS")
    target = ns.answer[0][0].target
    assert str(target) == "ns.consul." and ns.additional[0][0].address == "127.0.0.1"
    assert dns_daemon.ask(f"{ALT_DOMAIN}", "SOA").answer
    anyq = dns_daemon.ask(f"{web}.service.consul", "ANY")
    assert anyq.rcode() == 0 and len(anyq.answer) == 1 and anyq.answer[0].rdtype == dns.rdatatype.A
    nx = dns_daemon.ask(f"{web}-absent.service.consul")
    assert nx.rcode() == dns.rcode.NXDOMAIN and nx.flags & dns.flags.AA
    assert str(nx.authority[0].name) == "consul." and nx.authority[0][0].minimum == 5


def test_case_is_echoed_as_asked(dns_daemon, web):
    asked = f"{web.upper()}.SeRvIcE.cOnSuL"
    msg = dns_daemon.ask(asked)
    assert msg.question[0].name.to_text() == asked + "."
    assert msg.answer[0].name.to_text() == asked + "."
    assert msg.answer[0].ttl == 5 and not msg.flags & dns.flags.RA


def test_same_instances_as_consuls_own_dns(dns_daemon, consul_agent, web):
    q = dns.message.make_query(f"{web}.service.consul", "A")
    theirs = dns.query.udp(q, "127.0.0.1", port=consul_agent.ports["dns"], timeout=2)
    assert sorted(rd.address for rd in theirs.answer[0]) == sorted(dns_daemon.addresses(f"{web}.service.consul"))
