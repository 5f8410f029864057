"""Start-up reconcile at scale: containers already running, then the registrator starts; every one registered and
no client on the host refused with 429 meanwhile (bench/registrator_scale.py measures the times; no timing is
asserted here beyond a generous bound).

Consul answers 429 once an address holds more than `limits.http_max_conns_per_client` connections (200 by
default) and every client on 127.0.0.1 counts. This agent's limit is 50, so 100 containers stand for the 300 of
the benchmark against the default: an unbounded registrator opens a connection per container and gets its own
and the other reader's requests refused; a bounded one stays far below."""

from __future__ import annotations

import contextlib
import re
import threading
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import docker
import pytest

from testbed import acl, engines
from tests.support.regharness import owned, remove_network, wait_started

# Run once per `make test`: what is measured is the number of connections on the agent's address, which a token
# does not change; the start-up reconcile with the registrator's own token is in the ACL run (test_resilience: kill -9,
# then a restart over running containers).
pytestmark = [pytest.mark.engines,
              pytest.mark.skipif(acl.from_env(), reason="connections per client do not depend on ACLs; first run")]
N = 100
MAX_CONNS = 50
SUBNETS = ("198.18.12.0/22", "198.18.16.0/22", "198.18.20.0/22")  # a /22: room beyond a default bridge's ~250


class Reader(threading.Thread):
    """Another client on the host: GET /v1/agent/services in a loop, a new connection each time."""

    def __init__(self, agent: engines.ConsulAgent) -> None:
        super().__init__(daemon=True)
        self.url = f"http://{agent.http_addr}/v1/agent/services"
        self.token = agent.management_token
        self.ok = self.refused = 0
        self.stop = threading.Event()

    def run(self) -> None:
        while not self.stop.wait(0.005):
            req = urllib.request.Request(self.url, headers={"X-Consul-Token": self.token} if self.token else {})
            try:
                with urllib.request.urlopen(req, timeout=10) as resp:
                    resp.read()
                self.ok += 1
            except urllib.error.HTTPError as exc:
                self.refused += exc.code == 429


def remove(container) -> None:
    with contextlib.suppress(docker.errors.APIError):  # gone, or being removed by a clean-up of another run
        container.remove(force=True)


@pytest.fixture
def network(docker_client) -> Iterator[str]:
    name = f"ps-scale-{uuid.uuid4().hex[:6]}"
    net = None
    for subnet in SUBNETS:  # another run on the shared engine may hold one
        ipam = docker.types.IPAMConfig(pool_configs=[docker.types.IPAMPool(subnet=subnet)])
        try:
            net = docker_client.networks.create(name, ipam=ipam, labels={"portside-test": "1"})
            break
        except docker.errors.APIError:
            continue
    if net is None:
        pytest.fail(f"none of {SUBNETS} free on the engine")
    yield name
    remove_network(docker_client, net)


@pytest.fixture
def agent(dockerd, tmp_path) -> Iterator[engines.ConsulAgent]:
    limits = tmp_path / "limits.hcl"
    limits.write_text(f"limits {{ http_max_conns_per_client = {MAX_CONNS} }}\n")
    a = engines.ConsulAgent(node="portside-scale", proc_env=dockerd.env, extra_args=["-config-file", str(limits)])
    yield a.start()
    a.stop()


def test_start_up_reconcile_registers_all_without_a_429(registrator, docker_client, web_image, network, agent):
    def one(i: int):
        return docker_client.containers.run(web_image, name=f"sc-{network[-6:]}-{i}", detach=True, network=network,
                                            labels={"portside-test": "1", "SERVICE_NAME": "scaled"})

    with ThreadPoolExecutor(max_workers=16) as pool:
        containers = list(pool.map(one, range(N)))
    reader = Reader(agent)
    reader.start()
    try:
        r = registrator("-internal", "--network", network, agent=agent)
        wait_started(r)
        want = {f"{r.node}:{c.name}:80" for c in containers}
        engines.wait_until(lambda: want <= set(owned(agent, r.node)), 60, f"{N} registered")
    finally:
        reader.stop.set()
        reader.join(15)
        with ThreadPoolExecutor(max_workers=16) as pool:
            list(pool.map(remove, containers))
    assert reader.ok > 0
    assert reader.refused == 0, f"the other client was refused {reader.refused} of {reader.ok + reader.refused} times"
    refused = [ln for ln in r.output().splitlines() if re.search(r"\b429\b", ln.partition(": ")[2])]
    assert not refused, refused[:3]  # the message, not the timestamp (`...,429 INFO`)
