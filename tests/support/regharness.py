"""Run the real registrator process against the test dockerd and a Consul agent; read what it registered."""

from __future__ import annotations

import base64
import contextlib
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
import warnings
from collections.abc import Iterator
from pathlib import Path

import docker
import pytest

from testbed import acl, engines

ROOT = Path(__file__).resolve().parents[2]


class RegistratorProcess:
    def __init__(self, dockerd: engines.Dockerd, agent: engines.ConsulAgent, args: list[str], node: str,
                 uri: str | None = None, token: str | None = None) -> None:
        self.node = node
        self.agent = agent
        self.log_path = Path(agent.workdir) / f"registrator-{uuid.uuid4().hex[:6]}.log"
        env = {**os.environ, "DOCKER_HOST": dockerd.host, "PYTHONUNBUFFERED": "1"}
        env.pop("CONSUL_HTTP_ADDR", None)
        if agent.acl:  # its own token (compose/acl/registrator.hcl), not the harness's management token
            env["CONSUL_HTTP_TOKEN"] = token or agent.tokens["registrator"]
        self.cmd = [sys.executable, "-m", "registrator", "--node-id", node, "-ip", "127.0.0.1", *args,
                    uri or f"consul://{agent.http_addr}"]
        self.env = env
        self.proc: subprocess.Popen | None = None
        self.start()

    def start(self) -> None:
        self.log = open(self.log_path, "ab")  # noqa: SIM115
        self.proc = subprocess.Popen(self.cmd, env=self.env, stdout=self.log, stderr=subprocess.STDOUT, cwd=ROOT)

    def output(self) -> str:
        return self.log_path.read_text(errors="replace")

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def kill9(self) -> None:
        assert self.proc
        self.proc.kill()
        self.proc.wait(5)

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 5.0) -> float:
        if not self.alive():
            return 0.0
        assert self.proc
        t0 = time.monotonic()
        self.proc.send_signal(sig)
        try:
            self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(5)
            raise AssertionError(f"registrator did not stop within {timeout}s:\n{self.output()[-3000:]}") from None
        return time.monotonic() - t0


def owned(agent: engines.ConsulAgent, node: str) -> dict[str, dict]:
    services = agent.api("/v1/agent/services") or {}
    return {sid: s for sid, s in services.items() if (s.get("Meta") or {}).get("portside-node") == node}


def checks_of(agent: engines.ConsulAgent, sid: str) -> dict[str, str]:
    return {cid: c["Status"] for cid, c in (agent.api("/v1/agent/checks") or {}).items() if c["ServiceID"] == sid}


def metrics(port: int) -> dict[str, float]:
    """The registrator's /metrics (started with --http-addr 127.0.0.1:<port>) as {sample: value}."""
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as resp:
        text = resp.read().decode()
    return {line.rsplit(" ", 1)[0]: float(line.rsplit(" ", 1)[1]) for line in text.splitlines()
            if line and not line.startswith("#")}


def kv_entries(agent: engines.ConsulAgent, prefix: str = "") -> dict[str, str]:
    """Every KV entry under `prefix` (the whole store for ""), values decoded: {key: value}."""
    try:
        entries = agent.api(f"/v1/kv/{prefix}?recurse=true") or []
    except urllib.error.HTTPError as exc:
        if exc.code == 404:  # nothing under it
            return {}
        raise
    return {e["Key"]: base64.b64decode(e["Value"] or "").decode() for e in entries}


def kv_token(agent: engines.ConsulAgent, prefix: str) -> str | None:
    """With ACLs on: a token for the registrator's KV backend, the registrator's own rights plus writes under
    `<prefix>/` (the shipped policy grants no key rights). None without ACLs."""
    if not agent.acl:
        return None
    rules = f'{acl.policy_rules("registrator")}\nkey_prefix "{prefix}/" {{\n  policy = "write"\n}}\n'
    policy = acl.create_policy(agent, f"registrator-kv-{prefix.replace('/', '-')}", rules)
    return acl.create_token(agent, policy, f"registrator KV backend under {prefix}/")


def lines_naming(r: RegistratorProcess, *words: str) -> list[str]:
    """The registrator's log lines holding every one of `words`."""
    return [ln for ln in r.output().splitlines() if all(w in ln for w in words)]


def remove_network(client: docker.DockerClient, net: docker.models.networks.Network, timeout: float = 30.0) -> None:
    """Remove a test's network, the containers still on it first (a start that failed half-way leaves some).

    `docker network rm` is refused ("has active endpoints") for a while after the last container on the network is
    gone: the engine releases a removed container's endpoint after inspect has stopped listing it. So: remove what
    is attached, wait until no container on the network is left, then retry the removal. Under many parallel
    removals the engine (20.10) can also leak its persisted endpoint count for good: no container, no endpoint to
    disconnect, and every removal refused until dockerd restarts. Nothing a client can do about that: it is
    reported as a warning naming the network, not as an error of the test whose containers are all gone."""
    def attached() -> list:
        return client.containers.list(all=True, filters={"network": net.name})

    for c in attached():
        with contextlib.suppress(docker.errors.APIError):  # gone meanwhile, or being removed by its test
            c.remove(force=True)
    engines.wait_until(lambda: not attached(), timeout, f"no container left on {net.name}")
    refused: list[docker.errors.APIError] = []

    def removed() -> bool:
        try:
            net.remove()
        except docker.errors.NotFound:
            pass
        except docker.errors.APIError as exc:
            if "active endpoints" not in str(exc):
                raise
            refused.append(exc)
            return False
        return True

    try:
        engines.wait_until(removed, timeout, f"network {net.name} removed", interval=0.25)
    except TimeoutError:
        if not refused or attached():
            raise
        warnings.warn(f"{net.name}: the engine counts endpoints no container holds and keeps refusing its "
                      f"removal ({refused[-1]}); left behind", stacklevel=2)


def wait_started(r: RegistratorProcess) -> None:
    engines.wait_until(lambda: "registrator started" in r.output() or not r.alive(), 30, "registrator start")
    assert r.alive(), r.output()


@pytest.fixture
def registrator(dockerd, consul_agent, docker_client) -> Iterator:
    """Factory: start a registrator with extra args; all are stopped (and their containers removed) after."""
    started: list[RegistratorProcess] = []
    label = f"ps-test-{uuid.uuid4().hex[:6]}"

    def start(*args: str, agent: engines.ConsulAgent | None = None, node: str | None = None, uri: str | None = None,
              token: str | None = None) -> RegistratorProcess:
        """`uri`: the REGISTRY_URI (default consul://<agent>); `token`: the ACL token instead of the registrator's."""
        r = RegistratorProcess(dockerd, agent or consul_agent, list(args), node or label, uri, token)
        started.append(r)
        return r

    start.node = label  # type: ignore[attr-defined]
    yield start
    for r in started:
        if r.alive():
            r.stop(timeout=10)
    for c in docker_client.containers.list(all=True, filters={"label": "portside-test"}):
        with contextlib.suppress(docker.errors.APIError):  # gone meanwhile, or being removed by its test
            c.remove(force=True)
    # leave the agents clean for the next test (one a test started itself may be gone already)
    for r in started:
        with contextlib.suppress(OSError):
            for sid in owned(r.agent, r.node):
                r.agent.api(f"/v1/agent/service/deregister/{sid}", "PUT")
