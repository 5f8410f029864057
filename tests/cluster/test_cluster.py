"""A real cluster on one machine: two Docker hosts, each with its registrator and Consul client agent, three
Consul servers; a dns-balancer and a consul-templates on each client agent. The tests run in order and share
the cluster (conftest.py); each leaves it whole again."""

from __future__ import annotations

import time

import cluster
import engines
import pytest
from cluster_harness import catalog, converge, get, node_health

pytestmark = pytest.mark.engines

DETECT_BOUND = 30.0  # s for a killed client agent's instances to leave DNS and the file (Serf failure detection)


def report(capsys: pytest.CaptureFixture[str], line: str) -> None:
    with capsys.disabled():
        print(f"\n  cluster: {line}", end="")


def test_each_host_registers_its_own_containers_once(consul_cluster: cluster.ConsulCluster, hosts) -> None:
    running = {h.name: {c.id: c for c in h.webs()} for h in hosts}
    total = sum(len(v) for v in running.values())
    assert total == 4
    server = consul_cluster.servers[0]
    engines.wait_until(lambda: len(catalog(server)) >= total, 20, f"{total} instances in the catalog")
    time.sleep(1)  # a duplicate or a stray registration would show up now
    for server in consul_cluster.servers:
        entries = catalog(server)
        ids = [e["ServiceID"] for e in entries]
        assert len(ids) == len(set(ids)) == total, entries
        for h in hosts:
            for cid, c in running[h.name].items():
                mine = [e for e in entries if e["ServiceMeta"].get("portside-container") == cid]
                assert len(mine) == 1, f"{h.name} container {c.name}: {mine}"
                e = mine[0]
                assert (e["Node"], e["ServiceMeta"]["portside-node"]) == (h.agent.node, h.name)
                assert (e["ServiceAddress"], e["ServicePort"]) == (c.attrs["NetworkSettings"]["IPAddress"], 80)
                assert e["ServiceID"].startswith(f"{h.name}:")
    for h in hosts:  # each registrator wrote to its own agent only, and its log names only its own containers
        local = h.agent.api("/v1/agent/services")
        assert {s["Meta"]["portside-container"] for s in local.values()} == set(running[h.name])
        assert h.registrator is not None and h.registrator.alive()
        log = h.registrator.output()
        for other in hosts:
            for c in running[other.name].values():
                assert (f"container {c.name}: registered" in log) == (other is h), log[-2000:]


def test_watchers_on_either_client_agent_see_both_hosts(hosts, watchers, capsys) -> None:
    took = converge(watchers, hosts, 20, "both hosts' instances in every DNS answer and rendered file")
    nodes = {line.split()[1] for line in watchers[0].file_view()}
    assert nodes == {h.agent.node for h in hosts}
    for h in hosts:  # the addresses are real: each answers with its own container's hostname
        for c in h.webs():
            assert get(f"{c.attrs['NetworkSettings']['IPAddress']}:80") == c.attrs["Config"]["Hostname"]
    report(capsys, f"both hosts seen by every dns-balancer and consul-templates ({took:.1f} s after the check began)")


def test_a_server_dies_and_the_quorum_keeps_everything_working(consul_cluster: cluster.ConsulCluster, hosts,
                                                               watchers, capsys) -> None:
    converge(watchers, hosts, 20, "before")
    victim = consul_cluster.leader()
    victim.kill()
    try:
        t0 = time.monotonic()
        for h in hosts:
            h.run_web()
        took = converge(watchers, hosts, 30, f"new containers after {victim.node} (the leader) was killed")
        leader = consul_cluster.leader()
        assert leader is not victim and leader.alive
        assert victim.node not in {e["Node"] for e in catalog(leader)}
        report(capsys, f"leader {victim.node} killed; new containers on both hosts in DNS and files after "
                       f"{time.monotonic() - t0:.1f} s (converged {took:.1f} s after the starts); leader now "
                       f"{leader.node}")
    finally:
        victim.start()
        engines.wait_until(consul_cluster.formed, 60, f"{victim.node} back in the cluster", interval=0.2)
    converge(watchers, hosts, 20, f"after {victim.node} rejoined")


def test_a_client_agent_dies_and_its_host_leaves_then_returns(consul_cluster: cluster.ConsulCluster, hosts,
                                                              watchers, capsys) -> None:
    host_a, host_b = hosts
    on_a = [w for w in watchers if w.agent is host_a.agent]
    converge(watchers, hosts, 20, "before")
    server = consul_cluster.servers[0]
    assert node_health(server, host_b.agent.node) == "passing"
    host_b.agent.kill()
    try:
        left = converge(on_a, [host_a], DETECT_BOUND, f"{host_b.agent.node} killed: {host_b.name} out of sight")
        assert node_health(server, host_b.agent.node) == "critical"
        # while its agent is down, host-b changes: one container started, one removed (in this order, so that the
        # new one cannot take the removed one's address)
        old = host_b.webs()[0]
        host_b.run_web()
        old.remove(force=True)
        time.sleep(1)
        converge(on_a, [host_a], 5, f"{host_b.name} changed while {host_b.agent.node} was down")
    finally:
        t0 = time.monotonic()
        host_b.agent.start()
    back = converge(watchers, hosts, 30, f"{host_b.agent.node} restarted: {host_b.name}'s current containers back")
    assert node_health(server, host_b.agent.node) == "passing"
    report(capsys, f"{host_b.agent.node} killed (SIGKILL): {host_b.name} out of DNS and file after {left:.1f} s; "
                   f"agent restarted: current containers back after {time.monotonic() - t0:.1f} s ({back:.1f} s "
                   "after the agent answered)")
