"""5,000 services on a stock Consul dev agent (its default http_max_conns_per_client = 200): dns-balancer and
consul-templates (a template over every service) each sync, follow a health flip and a new instance, never get
a 429 from the agent, and never hold more connections to it than the adapter's cap, however large the catalog.

The catalog is bulk-loaded through /v1/txn on made-up nodes (testbed/bulk.py); its own agent, so the session's
agent stays small for the other tests."""

from __future__ import annotations

import re
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from testbed import bulk, engines
from tests.support import ct_harness
from tests.support.dnsb_harness import Daemon as DnsBalancer

SERVICES, INSTANCES, NODES = 5000, 3, 50
CAP = 64  # the adapter's connection cap (its default)
EVERY = bulk.EVERY_SERVICE_TEMPLATE
LAYOUT = bulk.Layout(SERVICES, INSTANCES, NODES)


@pytest.fixture(scope="module")
def big_agent() -> Iterator[engines.ConsulAgent]:
    agent = engines.ConsulAgent(node="portside-scale", acl=False).start()
    try:
        started = time.monotonic()
        bulk.load(agent.http_addr, bulk.ops_for(LAYOUT))
        print(f"\nbulk load: {SERVICES} services x {INSTANCES} on {NODES} nodes in {time.monotonic() - started:.1f}s")
        yield agent
    finally:
        agent.stop()


class ConnectionSampler(threading.Thread):
    """Counts, every 50 ms, the established TCP connections each pid holds to the agent's HTTP port (ss -tnp)."""

    def __init__(self, port: int, pids: dict[str, int]) -> None:
        super().__init__(daemon=True)
        self.port, self.pids = port, pids
        self.peak = {name: 0 for name in pids}
        self.samples = 0
        self.done = threading.Event()

    def run(self) -> None:
        while not self.done.is_set():
            out = subprocess.run(["ss", "-tnpH", "state", "established", f"( dport = :{self.port} )"],
                                 capture_output=True, text=True).stdout
            for name, pid in self.pids.items():
                self.peak[name] = max(self.peak[name], len(re.findall(rf"pid={pid},", out)))
            self.samples += 1
            self.done.wait(0.05)


def srv_ports(dnsb: DnsBalancer, name: str) -> list[int]:
    return sorted(rd.port for rrset in dnsb.ask(name, "SRV", tcp=True).answer for rd in rrset)


def upstream_of(text: str, service: str) -> str:
    m = re.search(rf"upstream {service} {{\n(.*?)}}", text, re.S)
    return m.group(1) if m else ""


def test_five_thousand_services_no_429_bounded_connections(big_agent: engines.ConsulAgent, tmp_path: Path) -> None:
    src, dest = tmp_path / "every.j2", tmp_path / "every.conf"
    src.write_text(EVERY)
    started = time.monotonic()
    dnsb = DnsBalancer(big_agent, "--ttl", "0").start(wait_synced=False)
    ct = ct_harness.Daemon(["--consul-addr", big_agent.http_addr, "--template", f"{src}:{dest}",
                            "--log-level", "info"], tmp_path, {})
    assert dnsb.proc is not None
    pids = {"dns-balancer": dnsb.proc.pid, "consul-templates": ct.proc.pid}
    sampler = ConnectionSampler(big_agent.ports["http"], pids)
    sampler.start()
    try:
        engines.wait_until(lambda: dnsb.health()[0] == 200, 90, f"dns-balancer synced (log {dnsb.log})")
        dns_sync = time.monotonic() - started
        every = SERVICES + 1  # and consul itself
        engines.wait_until(lambda: dest.exists() and dest.read_text().count("upstream ") == every, 90,
                           f"consul-templates wrote every service ({ct.log_path})")
        ct_sync = time.monotonic() - started
        print(f"first sync: dns-balancer {dns_sync:.1f}s, consul-templates {ct_sync:.1f}s")
        node, sid, port = LAYOUT.placement(7, 1)
        assert len(srv_ports(dnsb, "svc7.service.consul")) == INSTANCES
        assert upstream_of(dest.read_text(), "svc7").count("server ") == INSTANCES

        # a health flip: the instance leaves DNS and the upstream
        bulk.txn(big_agent.http_addr, [bulk.check_op(node, sid, "critical")])
        engines.wait_until(lambda: len(srv_ports(dnsb, "svc7.service.consul")) == INSTANCES - 1, 30, "dns flip")
        engines.wait_until(lambda: upstream_of(dest.read_text(), "svc7").count("server ") == INSTANCES - 1, 30,
                           "template flip")
        # a new instance (passing check) of an existing service
        bulk.txn(big_agent.http_addr, [bulk.service_op("node3", "svc9", "svc9-new", 30999, tags=("bulk",)),
                                       bulk.check_op("node3", "svc9-new")])
        engines.wait_until(lambda: len(srv_ports(dnsb, "svc9.service.consul")) == INSTANCES + 1, 30,
                           "dns new instance")
        engines.wait_until(lambda: ":30999;" in upstream_of(dest.read_text(), "svc9"), 30, "template new instance")
    finally:
        sampler.done.set()
        sampler.join()
        metrics = dnsb.metrics() if dnsb.alive() else {}
        ct_log = ct.log()
        dnsb.stop()
        ct.stop()
    print(f"connections to the agent, most at once: {sampler.peak} over {sampler.samples} samples")
    codes = {k: v for k, v in metrics.items() if k.startswith("dns_balancer_consul_responses_total")}
    print(f"dns-balancer answers from Consul by code: {codes}")
    assert metrics.get('dns_balancer_consul_responses_total{code="429"}', 0) == 0
    # a status 429 in a log line, not the digits inside a port number or a byte count
    assert not re.search(r"(?<![\d:.])429(?!\d)", ct_log) and "too many concurrent" not in ct_log
    assert sampler.samples > 10
    assert 0 < sampler.peak["dns-balancer"] <= CAP and 0 < sampler.peak["consul-templates"] <= CAP
