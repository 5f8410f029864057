"""Round-robin over the wire, and the UDP/TCP size rules with a large service."""

from __future__ import annotations

from collections import Counter

import dns.flags
import pytest

from tests.support.dnsb_harness import unique, wait_for

pytestmark = pytest.mark.engines


def test_three_instances_300_queries_each_first_100_times(services, dns_daemon):
    name = unique("rr")
    for i in range(3):
        services(name, i, f"127.0.0.{i + 2}")
    qname = f"{name}.service.consul"
    wait_for(lambda: len(dns_daemon.addresses(qname)) == 3, 10, "3 instances")
    firsts = Counter(dns_daemon.addresses(qname)[0] for _ in range(300))
    assert firsts == {"127.0.0.2": 100, "127.0.0.3": 100, "127.0.0.4": 100}


def test_forty_instances_truncate_over_udp_and_come_whole_over_tcp(services, dns_daemon):
    name = unique("big")
    for i in range(40):
        services(name, i, f"127.0.1.{i + 1}")
    qname = f"{name}.service.consul"
    wait_for(lambda: len(dns_daemon.addresses(qname, tcp=True)) == 40, 10, "40 instances")

    udp = dns_daemon.ask(qname)  # no EDNS: 512 bytes
    assert udp.flags & dns.flags.TC
    assert len(udp.to_wire()) <= 512
    tcp = dns_daemon.ask(qname, tcp=True)
    assert not tcp.flags & dns.flags.TC
    assert sorted(rd.address for rd in tcp.answer[0]) == sorted(f"127.0.1.{i + 1}" for i in range(40))

    srv_udp = dns_daemon.ask(f"_{name}._tcp.service.consul", "SRV", edns=4096)
    assert srv_udp.flags & dns.flags.TC and len(srv_udp.to_wire()) <= 1232 and srv_udp.payload == 1232
    srv_tcp = dns_daemon.ask(f"_{name}._tcp.service.consul", "SRV", tcp=True)
    assert len(srv_tcp.answer[0]) == 40 and sum(len(r) for r in srv_tcp.additional) == 40
