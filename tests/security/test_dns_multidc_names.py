"""Attacks on dns-balancer's other-datacenter and prepared-query names, against the running daemon: floods of
random datacenter names and random query names (each must cost only its NXDOMAIN: no polling storm, no mirror,
no evaluation kept), and prepared query definitions crafted in Consul (anyone who may write queries may write
these), which must never stop it from answering the rest."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator

import dns.rcode
import pytest

from testbed import engines
from tests.support.dnsb_harness import Daemon, deregister, register, unique, wait_for

pytestmark = pytest.mark.engines

FLOOD = 1500


@pytest.fixture(scope="module")
def daemon(consul_agent: engines.ConsulAgent) -> Iterator[Daemon]:
    d = Daemon(consul_agent, "--ttl", "0", "--remote-wait", "5").start()
    yield d
    d.stop()


@pytest.fixture
def web(consul_agent: engines.ConsulAgent) -> Iterator[str]:
    name = unique("mdcweb")
    register(consul_agent, name, f"{name}-1", "127.0.0.31", 80)
    yield name
    deregister(consul_agent, f"{name}-1")


def test_random_datacenter_names_cost_only_their_nxdomain(daemon: Daemon, web: str) -> None:
    wait_for(lambda: daemon.addresses(f"{web}.service.consul") == ["127.0.0.31"], 10, "the local name")
    before = daemon.metrics()
    t0 = time.monotonic()
    for k in range(FLOOD):
        assert daemon.ask(f"{web}.service.x{uuid.uuid4().hex[:8]}{k}.consul").rcode() == dns.rcode.NXDOMAIN
    took = time.monotonic() - t0
    after = daemon.metrics()
    reads = 'dns_balancer_remote_total{what="datacenter_reads"}'
    assert after[reads] - before.get(reads, 0) <= 2 + took / 5  # one re-read per 5 s at most, whatever the names
    assert after["dns_balancer_remote_datacenters"] == 0  # no mirror started for a datacenter that is not there
    assert daemon.addresses(f"{web}.service.consul") == ["127.0.0.31"] and daemon.alive()


def test_random_query_names_cost_only_their_nxdomain(daemon: Daemon, web: str,
                                                    consul_agent: engines.ConsulAgent) -> None:
    query = consul_agent.api("/v1/query", "POST", {"Name": web, "Service": {"Service": web}})["ID"]
    try:
        wait_for(lambda: daemon.addresses(f"{web}.query.consul") == ["127.0.0.31"], 10, "the real query")
        for k in range(FLOOD):
            assert daemon.ask(f"q{uuid.uuid4().hex[:10]}{k}.query.consul").rcode() == dns.rcode.NXDOMAIN
        assert daemon.metrics()["dns_balancer_prepared_queries_asked"] == 1  # nothing kept for the random ones
        assert daemon.addresses(f"{web}.query.consul") == ["127.0.0.31"] and daemon.alive()
    finally:
        consul_agent.api(f"/v1/query/{query}", "DELETE")


def test_crafted_query_definitions_never_stop_the_others(daemon: Daemon, web: str,
                                                         consul_agent: engines.ConsulAgent) -> None:
    crafted = [
        {"Name": f"{web}-dcs", "Service": {"Service": "absent", "Failover": {
            "NearestN": 2**31 - 1, "Datacenters": [f"dc{i}" for i in range(5000)] + ["../../x", "dc1"]}}},
        {"Name": f"{web}-tags", "Service": {"Service": web, "Tags": [f"!t{i}" for i in range(2000)],
                                            "IgnoreCheckIDs": ["x" * 500] * 50}},
        {"Name": "x" * 63, "Service": {"Service": web}},  # a name whose RFC 2782 form cannot exist
        {"Name": f"{web}-dots.a.b", "Service": {"Service": web}},
        {"Name": f"{web}-meta", "Service": {"Service": web, "NodeMeta": {"k": "v" * 500},
                                            "ServiceMeta": {"k": "\x00"}}},
        {"Name": f"{web}-ttl", "Service": {"Service": web}, "DNS": {"TTL": "2000000h"}},  # > a 32-bit TTL
    ]
    ok = {"Name": web, "Service": {"Service": web}}
    ids = [consul_agent.api("/v1/query", "POST", q)["ID"] for q in (ok, *crafted)]
    try:
        # the definitions come from a watch on /v1/query, which may still hold the last test's: the query made
        # last answering means the daemon has read all of them
        wait_for(lambda: daemon.ask(f"{web}-ttl.query.consul").answer, 10, "the new definitions")
        ttl = daemon.ask(f"{web}-ttl.query.consul")
        assert [r.ttl for r in ttl.answer] == [2**31 - 1]
        assert daemon.ask(f"{web}-dcs.query.consul").rcode() == dns.rcode.NXDOMAIN  # no instance anywhere
        assert daemon.addresses(f"{web}-tags.query.consul") == ["127.0.0.31"]
        assert daemon.addresses(f"{'x' * 63}.query.consul") == ["127.0.0.31"]
        assert daemon.ask(f"{web}-meta.query.consul").rcode() == dns.rcode.NXDOMAIN  # no node has that meta
        assert daemon.addresses(f"{web}.query.consul") == ["127.0.0.31"] and daemon.alive()
        assert daemon.metrics()['dns_balancer_held_queries_total{result="timed_out"}'] == 0
    finally:
        for qid in ids:
            consul_agent.api(f"/v1/query/{qid}", "DELETE")
