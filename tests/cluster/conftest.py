"""A real cluster on one machine, for this directory's tests (module scope; everything torn down after).

3 Consul servers (127.0.0.2-4) + client-a (127.0.0.5) and client-b (127.0.0.6); Docker host-a (bridge ps-br1,
198.18.2.0/24) and host-b (ps-br2, 198.18.1.0/24), each with its registrator on its own client agent; on each
client agent a dns-balancer and a consul-templates. Two web containers per host to start with."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from testbed import cluster
from tests.support.cluster_harness import Host, Watcher


@pytest.fixture(scope="module")
def consul_cluster() -> Iterator[cluster.ConsulCluster]:
    with cluster.exclusive():
        c = cluster.ConsulCluster.on_loopback()
        c.start()
        try:
            yield c
        finally:
            c.stop()


@pytest.fixture(scope="module")
def hosts(consul_cluster: cluster.ConsulCluster) -> Iterator[list[Host]]:
    import docker

    made = [Host(d.name, d, agent) for d, agent in zip(cluster.docker_hosts(), consul_cluster.clients, strict=True)]
    try:
        for h in made:
            h.docker.start()
            h.client = docker.DockerClient(base_url=h.docker.host, timeout=60)
            h.build_image()
            h.run_web()  # found by the registrator's start-up reconcile
            h.start_registrator()
            h.run_web()  # found through its start event
        yield made
    finally:
        for h in made:
            if h.registrator is not None:
                h.registrator.stop(timeout=10)
            if h.client is not None:
                h.client.close()
            h.docker.stop()


@pytest.fixture(scope="module")
def watchers(consul_cluster: cluster.ConsulCluster, tmp_path_factory: pytest.TempPathFactory,
             ) -> Iterator[list[Watcher]]:
    made = [Watcher(agent, tmp_path_factory.mktemp(agent.node)) for agent in consul_cluster.clients]
    try:
        for w in made:
            w.start()
        yield made
    finally:
        for w in made:
            w.stop()
