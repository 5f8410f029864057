"""Health changes in Consul reach the answers within a second; warning is served unless --only-passing."""

from __future__ import annotations

import pytest

from tests.support.dnsb_harness import Daemon, unique, wait_for

pytestmark = pytest.mark.engines


@pytest.fixture(scope="module")
def strict_daemon(consul_agent):
    d = Daemon(consul_agent, "--only-passing").start()
    yield d
    d.stop()


@pytest.fixture
def trio(services, dns_daemon):
    name = unique("hc")
    sids = [services(name, i, f"127.0.0.{i + 2}", ttl_check="passing") for i in range(3)]
    wait_for(lambda: len(dns_daemon.addresses(f"{name}.service.consul")) == 3, 10, f"{name} in DNS")
    return name, sids


def test_critical_check_disappears_within_a_second(consul_agent, dns_daemon, trio):
    name, sids = trio
    consul_agent.api(f"/v1/agent/check/fail/{sids[0]}-ttl", "PUT")
    took = wait_for(lambda: "127.0.0.2" not in dns_daemon.addresses(f"{name}.service.consul"), 3, "drop",
                    lambda: dns_daemon.explain(name))
    assert took < 1.0
    srv = dns_daemon.ask(f"_{name}._tcp.service.consul", "SRV")
    assert sorted(rd.port for rd in srv.answer[0]) == [8001, 8002]
    consul_agent.api(f"/v1/agent/check/pass/{sids[0]}-ttl", "PUT")
    took = wait_for(lambda: "127.0.0.2" in dns_daemon.addresses(f"{name}.service.consul"), 3, "back",
                    lambda: dns_daemon.explain(name))
    assert took < 1.0


def test_maintenance_disappears_within_a_second(consul_agent, dns_daemon, trio):
    name, sids = trio
    consul_agent.api(f"/v1/agent/service/maintenance/{sids[1]}?enable=true&reason=test", "PUT")
    took = wait_for(lambda: "127.0.0.3" not in dns_daemon.addresses(f"{name}.service.consul"), 3, "drop",
                    lambda: dns_daemon.explain(name))
    assert took < 1.0
    consul_agent.api(f"/v1/agent/service/maintenance/{sids[1]}?enable=false", "PUT")
    wait_for(lambda: "127.0.0.3" in dns_daemon.addresses(f"{name}.service.consul"), 3, "back",
             lambda: dns_daemon.explain(name))


def test_every_instance_critical_is_nxdomain(consul_agent, dns_daemon, trio):
    name, sids = trio
    for sid in sids:
        consul_agent.api(f"/v1/agent/check/fail/{sid}-ttl", "PUT")
    wait_for(lambda: dns_daemon.ask(f"{name}.service.consul").rcode() == 3, 3, "NXDOMAIN",
             lambda: dns_daemon.explain(name))


def test_warning_is_served_unless_only_passing(consul_agent, dns_daemon, strict_daemon, trio):
    name, sids = trio
    wait_for(lambda: len(strict_daemon.addresses(f"{name}.service.consul")) == 3, 5, "strict daemon synced")
    consul_agent.api(f"/v1/agent/check/warn/{sids[2]}-ttl", "PUT")
    wait_for(lambda: "127.0.0.4" not in strict_daemon.addresses(f"{name}.service.consul"), 3, "strict drop",
             lambda: strict_daemon.explain(name))
    assert "127.0.0.4" in dns_daemon.addresses(f"{name}.service.consul")


def test_deregistered_service_goes_away(consul_agent, services, dns_daemon):
    name = unique("gone")
    sid = services(name, 0, "127.0.0.9")
    wait_for(lambda: dns_daemon.addresses(f"{name}.service.consul") == ["127.0.0.9"], 10, "registered")
    consul_agent.api(f"/v1/agent/service/deregister/{sid}", "PUT")
    took = wait_for(lambda: dns_daemon.ask(f"{name}.service.consul").rcode() == 3, 3, "NXDOMAIN",
                    lambda: dns_daemon.explain(name))
    assert took < 1.0
