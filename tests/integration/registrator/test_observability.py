"""registrator's /health and /metrics, and Consul's refusals logged with Consul's reason."""

from __future__ import annotations

import urllib.error
import urllib.request
import uuid

import pytest

from testbed import acl, engines
from tests.support.regharness import owned

pytestmark = pytest.mark.engines


def get(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=5) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()


def test_health_and_metrics(registrator, docker_client, web_image, consul_agent):
    port = engines.free_port()
    r = registrator("--http-addr", f"127.0.0.1:{port}")
    engines.wait_until(lambda: "registrator started" in r.output(), 30, "start")
    c = docker_client.containers.run(web_image, detach=True, ports={"80/tcp": ("127.0.0.1", None)},
                                     labels={"portside-test": "1", "SERVICE_NAME": "observed"})
    engines.wait_until(lambda: f"{r.node}:{c.name}:80" in owned(consul_agent, r.node), 10, "registered")
    status, body = get(f"http://127.0.0.1:{port}/health")
    assert status == 200 and '"docker": true' in body and '"consul": true' in body
    status, metrics = get(f"http://127.0.0.1:{port}/metrics")
    assert status == 200
    values = {line.split()[0]: float(line.split()[1]) for line in metrics.splitlines()
              if line and not line.startswith("#")}
    assert values['registrator_docker_events_total{action="start"}'] >= 1
    assert values["registrator_registrations_total"] >= 1
    assert "registrator_reconcile_seconds_count" in values and "registrator_queue_depth" in values


@pytest.mark.skipif(acl.from_env(), reason="starts its own ACL agent and token: the same test as in the first run")
def test_acl_refusal_logged_with_consuls_reason_and_daemon_keeps_running(registrator, docker_client, web_image,
                                                                         monkeypatch):
    mgmt = f"mgmt-{uuid.uuid4().hex}"
    agent = engines.ConsulAgent(node="portside-acl-reg", acl=False)  # sets up its own ACLs, also in ACL runs
    agent.workdir.mkdir(parents=True, exist_ok=True)
    (agent.workdir / "acl.hcl").write_text(
        f'acl {{ enabled = true\n default_policy = "deny"\n tokens {{ initial_management = "{mgmt}" }} }}\n')
    agent.extra_args = ["-config-file", str(agent.workdir / "acl.hcl")]
    agent.start()
    try:
        rules = 'service_prefix "" { policy = "read" }\nnode_prefix "" { policy = "read" }'
        pol = agent.api("/v1/acl/policy", "PUT", {"Name": "reg-ro", "Rules": rules}, token=mgmt)
        tok = agent.api("/v1/acl/token", "PUT", {"Policies": [{"ID": pol["ID"]}]}, token=mgmt)["SecretID"]
        monkeypatch.setenv("CONSUL_HTTP_TOKEN", tok)  # a read-only token: registrations are refused
        r = registrator(agent=agent)
        engines.wait_until(lambda: "registrator started" in r.output(), 30, "start")
        c = docker_client.containers.run(web_image, detach=True, ports={"80/tcp": ("127.0.0.1", None)},
                                         labels={"portside-test": "1", "SERVICE_NAME": "denied"})
        # this container's refusal (any other container on the engine is refused too, each on its own line)
        def refusal() -> list[str]:
            return [ln for ln in r.output().splitlines() if "ermission denied" in ln and f":{c.name}:80" in ln]

        engines.wait_until(refusal, 10, "refusal logged")
        assert "service:write" in refusal()[0]
        assert r.alive()
    finally:
        agent.stop()
