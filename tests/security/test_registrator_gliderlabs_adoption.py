"""Attack: taking over gliderlabs' services on switch day as a way to overwrite someone else's.

Ours takes over a service gliderlabs left on this host (no portside Meta, ID <host>:<container>:<port>) only for
the container that proves it is the one: ours makes that very ID for it, or registers the same address and
port. A container naming such an ID in its SERVICE_ID, at another address or port, must leave it as it was
(logged, `reason="owner"`), and so must -cleanup, as long as the ID is not in gliderlabs' form for this host."""

from __future__ import annotations

import uuid

import pytest

from testbed import engines
from tests.support.regharness import lines_naming, wait_started

pytestmark = pytest.mark.engines


def test_a_label_naming_a_gliderlabs_id_does_not_take_it_over(registrator, docker_client, web_image, consul_agent):
    node = f"gl-atk-{uuid.uuid4().hex[:6]}"
    victim = f"{node}:victim-{uuid.uuid4().hex[:6]}:80"  # a gliderlabs service of a container that runs elsewhere
    body = {"ID": victim, "Name": "victim", "Address": "127.0.0.9", "Port": 9999, "Tags": ["gl"], "Meta": {}}
    consul_agent.api("/v1/agent/service/register", "PUT", body)
    try:
        r = registrator(node=node)
        wait_started(r)
        hostile = docker_client.containers.run(
            web_image, name=f"atk-{uuid.uuid4().hex[:8]}", detach=True, ports={"80/tcp": ("127.0.0.1", None)},
            labels={"portside-test": "1", "SERVICE_ID": victim, "SERVICE_NAME": "evil"})
        engines.wait_until(lambda: lines_naming(r, hostile.name, victim, "left alone"), 15, "the refusal logged")
        svc = (consul_agent.api("/v1/agent/services") or {})[victim]
        assert (svc["Service"], svc["Address"], svc["Port"], svc["Tags"]) == ("victim", "127.0.0.9", 9999, ["gl"])
        assert not (svc.get("Meta") or {}), "taken over"
        hostile.remove(force=True)
        assert r.alive()
    finally:
        consul_agent.api(f"/v1/agent/service/deregister/{victim}", "PUT")
