"""100k mutated and random packets against the running server: it stays up, every reply parses, and no UDP
reply is larger than the rules allow (512 without EDNS, 1232 at most). Then a TCP round with lying length
prefixes, and slow TCP clients. The packets come from dnsb_fuzz.py (shared with tests/faults)."""

from __future__ import annotations

import pytest

from testbed import acl
from tests.support.dnsb_fuzz import slow_round, tcp_round, udp_round
from tests.support.dnsb_harness import unique, wait_for

# Run once per `make test`: the packets (fixed seeds) are answered from the daemon's in-memory mirror and never
# reach Consul, so the ACL run would send the very same packets to the very same code, for a minute of CPU.
pytestmark = [pytest.mark.engines,
              pytest.mark.skipif(acl.from_env(), reason="the packets never reach Consul; fuzzed in the first run")]
PACKETS = 100_000


def test_fuzz_100k_udp_packets(services, dns_daemon):
    name = unique("fz")
    for i in range(12):
        services(name, i, f"127.0.2.{i + 1}", tags=["tag"])
    wait_for(lambda: len(dns_daemon.addresses(f"{name}.service.consul", tcp=True)) == 12, 10, "registered")
    errors_before = dns_daemon.metrics()["dns_balancer_handler_errors_total"]
    st = udp_round(dns_daemon.port, PACKETS, seed=20261123, name=name)
    assert st.bad == 0, (str(st), st.examples)
    assert dns_daemon.alive()
    assert st.replies >= 0.95 * st.expected, str(st)  # loopback may drop a few under load, not more
    assert dns_daemon.metrics()["dns_balancer_handler_errors_total"] == errors_before
    assert len(dns_daemon.addresses(f"{name}.service.consul")) == 12


def test_fuzz_tcp_streams(dns_daemon):
    st = tcp_round(dns_daemon.port, 60, seed=7)
    assert st.bad == 0, (str(st), st.examples)
    assert st.replies > 0, str(st)
    assert dns_daemon.alive()
    assert dns_daemon.ask("consul", "SOA", tcp=True).answer


def test_slow_tcp_clients_do_not_block_others(consul_agent):
    from tests.support.dnsb_harness import Daemon

    d = Daemon(consul_agent, "--tcp-idle-timeout", "1.5", "--tcp-message-timeout", "1.5").start()
    try:
        st = slow_round(d.port, 20, seed=11, deadline=1.5,
                        probe=lambda: bool(d.ask("consul", "SOA", tcp=True, timeout=1).answer))
        assert st.lost == 0 and st.stats.bad == 0, (str(st), st.stats.examples)
        assert st.probe_max_s < 1.0, str(st)
        assert d.alive()
    finally:
        d.stop()
