"""Attacks on the compose stack (the same stack as test_stack.py, Consul with ACLs on as in `make demo`).

What a container in the stack may try: a script check through registrator's labels, a service ID that walks
out of the agent's service path, requests to Consul's HTTP API without a token, or with a token meant for
another job. Consul runs no script checks (`enable_script_checks = false`): it refuses a service whose
definition carries one with a 500 ("Scripts are disabled on this agent from remote calls"), whatever token
registers it, so the whole registration fails and nothing runs.
"""

from __future__ import annotations

import contextlib
import json
import time
from typing import Any

import docker.errors
import pytest

from testbed import engines
from tests.support.compose_stack import Stack

pytestmark = pytest.mark.engines
CONSUL = "http://consul:8500"
SCRIPT_REFUSED = "Scripts are disabled on this agent from remote calls"


@pytest.fixture(scope="module")
def secrets(stack: Stack, docker_client) -> dict[str, str]:
    return stack.acl_state(docker_client)


def run_labelled(stack: Stack, docker_client, name: str, labels: dict[str, str]) -> Any:
    """A web container on the demo network carrying an attacker's labels."""
    return docker_client.containers.run(stack.env["WEB_IMAGE"], name=name, network=stack.demo_network, detach=True,
                                        labels=labels, user="65534:65534", cap_drop=["ALL"], read_only=True,
                                        tmpfs={"/www": "uid=65534", "/tmp": "mode=1777"})


def registrator_log(stack: Stack, docker_client, since: int) -> str:
    return stack.container("registrator", docker_client).logs(since=since).decode(errors="replace")


def consul_alive(stack: Stack, mgmt: str) -> bool:
    status, members = stack.api("/v1/agent/members", token=mgmt)
    return status == 200 and [(m["Name"], m["Status"]) for m in members] == [("consul", 1)]


def test_anonymous_requests_on_the_control_network_get_nothing(stack: Stack, docker_client, secrets):
    mgmt = secrets["management.secret"]
    assert stack.api("/v1/kv/portside/secret", "PUT", "s3cret", token=mgmt) == (200, True)
    assert "web" in stack.api("/v1/catalog/services", token=mgmt)[1]
    answers = stack.probe(docker_client, stack.control_network, [
        ["GET", f"{CONSUL}/v1/kv/?recurse", None, ""],
        ["GET", f"{CONSUL}/v1/kv/?keys", None, ""],
        ["GET", f"{CONSUL}/v1/kv/portside/secret", None, ""],
        ["PUT", f"{CONSUL}/v1/kv/portside/secret", "overwritten", ""],
        ["PUT", f"{CONSUL}/v1/agent/service/register", {"Name": "evil", "Port": 1}, ""],
        ["GET", f"{CONSUL}/v1/catalog/services", None, ""],
        ["GET", f"{CONSUL}/v1/acl/tokens", None, ""],
        ["PUT", f"{CONSUL}/v1/agent/leave", None, ""],
    ])
    recurse, keys, read, write, register, services, tokens, leave = answers
    # Lists are not refused but filtered: whatever the anonymous token cannot read is left out, here everything.
    assert recurse[0] == 404 and json.loads(keys[1]) == [], answers
    assert read[0] == 403 and "lacks permission 'key:read'" in read[1], read
    assert write[0] == 403 and "lacks permission 'key:write'" in write[1], write
    assert register[0] == 403 and "lacks permission 'service:write'" in register[1], register
    assert services[0] == 200 and json.loads(services[1]) == {}, services
    assert tokens[0] == 403 and leave[0] == 403, answers
    assert stack.api("/v1/kv/portside/secret?raw", token=mgmt)[1] == "s3cret"
    assert "evil" not in stack.api("/v1/agent/services", token=mgmt)[1]


def test_the_web_network_cannot_reach_consul(stack: Stack, docker_client):
    """Consul is on the demo network only to run the web containers' HTTP checks; nothing of it listens there,
    and its control-network address is on a bridge Docker keeps apart."""
    consul = stack.container("consul", docker_client)
    control_ip = consul.attrs["NetworkSettings"]["Networks"][stack.control_network]["IPAddress"]
    answers = stack.probe(docker_client, stack.demo_network, [
        ["GET", f"{CONSUL}/v1/status/leader", None, ""],       # its demo-network address: nothing listens
        ["GET", "http://consul:8300/", None, ""],              # server RPC: loopback only
        ["GET", "http://consul:8301/", None, ""],              # Serf LAN: loopback only
        ["GET", f"http://{control_ip}:8500/v1/status/leader", None, ""],
    ])
    assert [status for status, _ in answers] == [0, 0, 0, 0], answers
    assert all("Connection refused" in text for _, text in answers[:3]), answers


def test_each_daemon_token_does_only_its_job(stack: Stack, docker_client, secrets):
    mgmt, reg = secrets["management.secret"], secrets["registrator.secret"]
    dnsb, ct = secrets["dns-balancer.secret"], secrets["consul-templates.secret"]
    stack.api("/v1/kv/portside/demo", "PUT", "1", token=mgmt)
    stack.api("/v1/kv/other/secret", "PUT", "2", token=mgmt)
    probe_service = {"ID": "attack-probe-1", "Name": "attack-probe", "Port": 1}
    calls = {
        # dns-balancer reads the catalog, nothing else
        "dns reads health": ["GET", f"{CONSUL}/v1/health/service/web", None, dnsb],
        "dns registers": ["PUT", f"{CONSUL}/v1/agent/service/register", probe_service, dnsb],
        "dns reads a key": ["GET", f"{CONSUL}/v1/kv/portside/demo", None, dnsb],
        # consul-templates reads the catalog and keys under portside/, nothing else
        "templates reads portside/": ["GET", f"{CONSUL}/v1/kv/portside/demo", None, ct],
        "templates reads other/": ["GET", f"{CONSUL}/v1/kv/other/secret", None, ct],
        "templates writes a key": ["PUT", f"{CONSUL}/v1/kv/portside/demo", "2", ct],
        "templates registers": ["PUT", f"{CONSUL}/v1/agent/service/register", probe_service, ct],
        # registrator writes services, nothing else
        "registrator registers": ["PUT", f"{CONSUL}/v1/agent/service/register", probe_service, reg],
        "registrator deregisters": ["PUT", f"{CONSUL}/v1/agent/service/deregister/attack-probe-1", None, reg],
        "registrator reads a key": ["GET", f"{CONSUL}/v1/kv/portside/demo", None, reg],
        "registrator makes the agent leave": ["PUT", f"{CONSUL}/v1/agent/leave", None, reg],
        "registrator sets the agent token": ["PUT", f"{CONSUL}/v1/agent/token/agent", {"Token": reg}, reg],
        "registrator lists tokens": ["GET", f"{CONSUL}/v1/acl/tokens", None, reg],
        "registrator reads agent config": ["GET", f"{CONSUL}/v1/agent/self", None, reg],
    }
    got = dict(zip(calls, stack.probe(docker_client, stack.control_network, list(calls.values())), strict=True))
    allowed = {"dns reads health", "templates reads portside/", "registrator registers", "registrator deregisters"}
    for what, (status, text) in got.items():
        if what in allowed:
            assert status == 200, (what, status, text)
        else:
            assert status == 403 and "Permission denied" in text, (what, status, text)
    assert json.loads(got["dns reads health"][1]), "dns-balancer's token sees the web instance"
    assert "attack-probe-1" not in stack.api("/v1/agent/services", token=mgmt)[1]
    assert consul_alive(stack, mgmt)


def test_consul_refuses_script_checks_whatever_the_token(stack: Stack, secrets):
    mgmt = secrets["management.secret"]
    for token in (secrets["registrator.secret"], mgmt):
        for check in ({"Args": ["touch", "/tmp/pwned"], "Interval": "1s"},
                      {"DockerContainerID": "anything", "Shell": "/bin/sh", "Args": ["touch", "/tmp/pwned"],
                       "Interval": "1s"}):
            status, text = stack.api("/v1/agent/service/register", "PUT",
                                     {"ID": "script-probe", "Name": "script-probe", "Port": 1, "Checks": [check]},
                                     token=token)
            assert status == 500 and SCRIPT_REFUSED in text, (status, text)
    assert "script-probe" not in stack.api("/v1/agent/services", token=mgmt)[1]


def test_script_check_label_runs_nothing_in_consul(stack: Stack, docker_client, secrets):
    mgmt = secrets["management.secret"]
    name = f"{stack.project}-evil-script"
    since = int(time.time()) - 1
    c = run_labelled(stack, docker_client, name, {"SERVICE_NAME": "evil", "SERVICE_CHECK_SCRIPT": "touch /tmp/pwned",
                                                  "SERVICE_CHECK_INTERVAL": "1s"})
    consul = stack.container("consul", docker_client)
    try:
        # registrator has seen the container: Consul refused the registration (logged by registrator), or, with
        # script checks opt-in in registrator, it registered the service without the check
        engines.wait_until(lambda: name in registrator_log(stack, docker_client, since), 20,
                           "registrator handling the container")
        for _ in range(6):  # three check intervals
            assert consul.exec_run(["test", "-e", "/tmp/pwned"]).exit_code == 1, "the script ran in Consul"
            time.sleep(0.5)
        checks = stack.api("/v1/agent/checks", token=mgmt)[1]
        assert not [k for k in checks.values() if k["Type"] in ("script", "docker")], checks
        assert consul_alive(stack, mgmt)
    finally:
        c.remove(force=True)


def test_service_id_walking_to_agent_leave_does_not_stop_consul(stack: Stack, docker_client, secrets):
    """An ID such as ../../leave makes the deregistration URL /v1/agent/service/deregister/../../leave, which an
    HTTP client normalises to /v1/agent/leave. registrator's token has no agent:write: Consul refuses (403)."""
    mgmt = secrets["management.secret"]
    name = f"{stack.project}-evil-id"
    since = int(time.time()) - 1
    c = run_labelled(stack, docker_client, name, {"SERVICE_NAME": "evil2", "SERVICE_ID": "../../leave"})
    try:
        engines.wait_until(lambda: name in registrator_log(stack, docker_client, since), 20,
                           "registrator handling the container")
        removed = int(time.time())
        c.remove(force=True)
        # registrator's deregistration (and its drain before it) has been tried
        engines.wait_until(lambda: "/v1/agent/leave" in consul_log(stack, docker_client, removed)
                           or "../../leave" not in stack.api("/v1/agent/services", token=mgmt)[1], 20,
                           "registrator deregistering the container")
        time.sleep(1)
        assert consul_alive(stack, mgmt)
        assert stack.container("consul", docker_client).attrs["State"]["Running"]
        leave_calls = [line for line in consul_log(stack, docker_client, removed).splitlines()
                       if "/v1/agent/leave" in line]
        assert all("lacks permission 'agent:write'" in line for line in leave_calls), leave_calls
    finally:
        with contextlib.suppress(docker.errors.NotFound):
            c.remove(force=True)
        # the agent may still hold the ID (its deregistration went to /v1/agent/leave): remove it, encoded
        stack.api("/v1/agent/service/deregister/..%2F..%2Fleave", "PUT", token=mgmt)


def consul_log(stack: Stack, docker_client, since: int) -> str:
    return stack.container("consul", docker_client).logs(since=since).decode(errors="replace")
