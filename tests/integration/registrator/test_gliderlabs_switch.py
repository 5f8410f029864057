"""Switch day: a host where gliderlabs/registrator ran, ours started in its place on the same agent.

The gliderlabs registrations are written as gliderlabs master makes them (tests/data/gliderlabs/parity.json,
case check_ttl: ID <host>:<container>:<port>, one check with Consul's default ID service:<id>, no portside
Meta). Ours must take the live one over in place (the catalog entry is never removed: its CreateIndex stays,
every blocking read of the service in between has it), keep the check ID apps heartbeat, and with -cleanup
remove the ghost of a container that is gone, but nothing of another host or registered by hand."""

from __future__ import annotations

import json
import threading
import urllib.request
import uuid

import pytest

from testbed import engines
from tests.support.regharness import owned, wait_started

pytestmark = pytest.mark.engines


def gliderlabs_registration(sid: str, name: str, port: int) -> dict:
    return {"ID": sid, "Name": name, "Address": "127.0.0.1", "Port": port, "Tags": [], "Meta": {"check_ttl": "60s"},
            "Check": {"TTL": "60s"}}


def catalog_entry(agent: engines.ConsulAgent, name: str, sid: str) -> dict | None:
    return next((e for e in agent.api(f"/v1/catalog/service/{name}") or [] if e["ServiceID"] == sid), None)


class Watch(threading.Thread):
    """Blocking reads of /v1/health/service/<name> until stopped: the service IDs of every answer."""

    def __init__(self, agent: engines.ConsulAgent, name: str) -> None:
        super().__init__(daemon=True)
        self.agent, self.name = agent, name
        self.answers: list[set[str]] = []
        self.done = threading.Event()

    def run(self) -> None:
        index = "0"
        while not self.done.is_set():
            req = urllib.request.Request(f"http://{self.agent.http_addr}/v1/health/service/{self.name}"
                                         f"?index={index}&wait=2s")
            if self.agent.management_token:
                req.add_header("X-Consul-Token", self.agent.management_token)
            with urllib.request.urlopen(req, timeout=10) as resp:
                index = resp.headers.get("X-Consul-Index", "0")
                self.answers.append({e["Service"]["ID"] for e in json.loads(resp.read())})


def test_switch_from_gliderlabs_takes_services_over_without_a_gap(registrator, docker_client, web_image,
                                                                  consul_agent):
    node = f"gl-host-{uuid.uuid4().hex[:6]}"
    name = f"switch-{uuid.uuid4().hex[:6]}"
    c = docker_client.containers.run(
        web_image, name=f"web-{uuid.uuid4().hex[:8]}", detach=True, ports={"80/tcp": ("127.0.0.1", None)},
        labels={"portside-test": "1", "SERVICE_NAME": name, "SERVICE_CHECK_TTL": "60s"})
    c.reload()
    port = int(c.ports["80/tcp"][0]["HostPort"])
    sid, ghost = f"{node}:{c.name}:80", f"{node}:web-gone:80"
    others = [f"other-host:{c.name}:80", f"{node}-by-hand"]  # another host's gliderlabs; not gliderlabs' form
    for each in (sid, ghost, *others):
        consul_agent.api("/v1/agent/service/register", "PUT", gliderlabs_registration(each, name, port))
    consul_agent.api(f"/v1/agent/check/pass/service:{sid}", "PUT")
    created = catalog_entry(consul_agent, name, sid)
    assert created is not None
    watch = Watch(consul_agent, name)
    watch.start()
    try:
        r = registrator("-cleanup", node=node)
        wait_started(r)
        engines.wait_until(lambda: sid in owned(consul_agent, node) and ghost not in (
            consul_agent.api("/v1/agent/services") or {}), 20, "take-over and cleanup")
    finally:
        watch.done.set()
        watch.join(10)
    try:
        after = catalog_entry(consul_agent, name, sid)
        assert after is not None and after["CreateIndex"] == created["CreateIndex"], "removed and registered again"
        assert after["ServiceMeta"]["portside-container"] == c.id
        assert watch.answers and all(sid in ids for ids in watch.answers), "the service vanished meanwhile"
        consul_agent.api(f"/v1/agent/check/pass/service:{sid}", "PUT")  # the heartbeat apps send goes on working
        services = consul_agent.api("/v1/agent/services") or {}
        assert set(others) <= set(services), "another host's or a hand-made service was touched"
        assert r.alive()
    finally:
        for each in others:
            consul_agent.api(f"/v1/agent/service/deregister/{each}", "PUT")
