"""Consul goes away: answers keep coming from the mirror (and the metrics say they are stale); Consul comes
back: changes flow again. Uses its own agent, so the session's agent is never stopped."""

from __future__ import annotations

import pytest

from testbed import engines
from tests.support.dnsb_harness import Daemon, register, wait_for

pytestmark = pytest.mark.engines


@pytest.fixture(scope="module")
def own_agent():
    agent = engines.ConsulAgent(node="portside-dns-outage").start()
    yield agent
    agent.stop()


@pytest.fixture(scope="module")
def daemon(own_agent):
    d = Daemon(own_agent).start()
    yield d
    d.stop()


def test_node_maintenance_drops_every_instance_on_the_node(own_agent, daemon):
    register(own_agent, "nodemaint", "nm-1", "127.0.0.6", 80)
    wait_for(lambda: daemon.addresses("nodemaint.service.consul") == ["127.0.0.6"], 10, "registered")
    own_agent.api("/v1/agent/maintenance?enable=true&reason=test", "PUT")
    try:
        took = wait_for(lambda: daemon.ask("nodemaint.service.consul").rcode() == 3, 3, "node maintenance")
        assert took < 1.0
    finally:
        own_agent.api("/v1/agent/maintenance?enable=false", "PUT")
    wait_for(lambda: daemon.addresses("nodemaint.service.consul") == ["127.0.0.6"], 3, "back")
    own_agent.api("/v1/agent/service/deregister/nm-1", "PUT")


def test_answers_survive_consul_down_and_changes_flow_when_back(own_agent, daemon):
    register(own_agent, "steady", "steady-1", "127.0.0.7", 80)
    register(own_agent, "steady", "steady-2", "127.0.0.8", 81)
    wait_for(lambda: len(daemon.addresses("steady.service.consul")) == 2, 10, "registered")

    own_agent.stop(keep_dir=True)
    try:
        wait_for(lambda: daemon.metrics()["dns_balancer_consul_reachable"] == 0, 10, "outage noticed")
        for _ in range(20):
            assert sorted(daemon.addresses("steady.service.consul")) == ["127.0.0.7", "127.0.0.8"]
        srv = daemon.ask("_steady._tcp.service.consul", "SRV")
        assert sorted(rd.port for rd in srv.answer[0]) == [80, 81]
        assert daemon.metrics()["dns_balancer_stale_answers_total"] >= 21
        assert daemon.metrics()["dns_balancer_watch_errors_total"] > 0
        assert daemon.health()[0] == 200  # still serving: healthy, if stale
    finally:
        own_agent.start()  # same ports; a dev agent comes back empty

    register(own_agent, "fresh", "fresh-1", "127.0.0.9", 80)
    wait_for(lambda: daemon.addresses("fresh.service.consul") == ["127.0.0.9"], 20, "changes flow again")
    wait_for(lambda: daemon.ask("steady.service.consul").rcode() == 3, 5, "the lost service is gone")
    # each watch notices on its own next retry (backoff up to 5 s)
    wait_for(lambda: daemon.metrics()["dns_balancer_consul_reachable"] == 1, 10, "reachable again")
