"""A real cluster on one machine: two Docker hosts, each with its registrator and Consul client agent, three
Consul servers; a dns-balancer and a consul-templates on each client agent. The tests run in order and share
the cluster (conftest.py); each leaves it whole again."""

from __future__ import annotations

import time

import pytest

from testbed import cluster, engines
from tests.support.cluster_harness import catalog, converge, get, node_health

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
    """The leader is killed. DNS and files keep the instances through the election; once the two other servers
    have a leader and the agents have marked the dead one failed (or autopilot has already removed it), new
    containers show up as before.
    (A registration made within the election itself can wait for Consul's next anti-entropy sync: README.)"""
    converge(watchers, hosts, 20, "before")
    victim = consul_cluster.leader()
    victim.kill()
    t0 = time.monotonic()
    try:
        converge(watchers, hosts, 5, f"the instances while {victim.node} (the leader) is gone")
        engines.wait_until(lambda: consul_cluster.leader() is not victim, 30, "a new leader", interval=0.05)
        elected = time.monotonic() - t0
        try:
            engines.wait_until(lambda: consul_cluster.seen_gone(victim), 30, f"{victim.node} failed or removed",
                               interval=0.1)
        except TimeoutError as exc:
            seen = consul_cluster.member_status(victim)
            raise TimeoutError(f"{exc}; its member status per agent (3 = left, 4 = failed): {seen}\n"
                               f"{consul_cluster.gossip_about(victim)}") from None
        failed = time.monotonic() - t0
        t1 = time.monotonic()
        started = {h.run_web().id for h in hosts}
        live = consul_cluster.up()[0]
        engines.wait_until(lambda: started <= {e["ServiceMeta"].get("portside-container") for e in catalog(live)},
                           15, "the new containers in the servers' catalog", interval=0.05)
        in_catalog = time.monotonic() - t1
        took = converge(watchers, hosts, 10, f"new containers after {victim.node} (the leader) was killed")
        report(capsys, f"leader {victim.node} killed: new leader {consul_cluster.leader().node} after {elected:.1f} s, "
                       f"failed or removed for all after {failed:.1f} s; new containers then in the catalog after "
                       f"{in_catalog:.1f} s, in every DNS answer and file {took:.1f} s later")
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
