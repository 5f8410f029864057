"""tests/cluster helpers: a Docker host with its registrator, a dns-balancer + consul-templates pair on a client
agent, what the servers' catalog holds, and waiting until every view agrees with the containers running.

The daemons run as real processes through the harnesses of tests/integration (imported, not copied)."""

from __future__ import annotations

import os
import subprocess
import time
import urllib.request
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from testbed import cluster
from tests.support import ct_harness, dnsb_harness
from tests.support.regharness import RegistratorProcess

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]

SERVICE = "web"
LABEL = {"portside-test": "cluster"}
# -internal: each instance is its container's address on its host's bridge, so DNS answers say which host.
# -cleanup, no -resync: a restarted client agent restores the services it had persisted, including one whose
# container was removed while the agent was down; registrator reconciles in full when its agent answers again.
REGISTRATOR_ARGS = ["-internal", "-cleanup"]
TEMPLATE = "{% for s in service('web') %}{{ s.hostport }} {{ s.node }} {{ s.id }}\n{% endfor %}"


@dataclass
class Host:
    """A Docker host: its dockerd, the client agent on the same "machine", its registrator (--node-id name)."""

    name: str
    docker: cluster.DockerHost
    agent: cluster.ClusterAgent
    client: Any = None  # docker.DockerClient, an independent client to drive and check the engine
    image: str = ""
    registrator: RegistratorProcess | None = None

    def build_image(self) -> None:
        env = {**os.environ, "DOCKER_HOST": self.docker.host}
        out = subprocess.run(["bash", str(ROOT / "scripts" / "web-image.sh")], env=env, check=True,
                             capture_output=True, text=True, timeout=120)
        self.image = out.stdout.strip().splitlines()[-1]

    def start_registrator(self) -> None:
        assert self.docker.dockerd is not None
        self.registrator = RegistratorProcess(self.docker.dockerd, self.agent, REGISTRATOR_ARGS, self.name)

    def run_web(self) -> Any:
        c = self.client.containers.run(self.image, detach=True, labels=LABEL)
        c.reload()
        return c

    def webs(self) -> list[Any]:
        return self.client.containers.list(filters={"label": [f"{k}={v}" for k, v in LABEL.items()]})

    def expected(self) -> list[str]:
        """`address:port node service-id` of each running web container, as the rendered file should list it."""
        return sorted(f"{c.attrs['NetworkSettings']['IPAddress']}:80 {self.agent.node} {self.name}:{c.name}:80"
                      for c in self.webs())

    def diagnose(self) -> str:
        """For a failure message: what this host's agent holds, and the registrator's last lines."""
        try:
            local = sorted(self.agent.api("/v1/agent/services") or {})
        except OSError as exc:
            local = [repr(exc)]
        tail = self.registrator.output().splitlines()[-8:] if self.registrator else []
        agent_log = (self.agent.workdir / "consul.log").read_text(errors="replace").splitlines()[-5:]
        return "\n".join([f"  {self.name}: agent {self.agent.node} holds {local}", *(f"      | {t}" for t in tail),
                          *(f"      {self.agent.node} | {t}" for t in agent_log)])


@dataclass
class Watcher:
    """A dns-balancer and a consul-templates, both attached to one client agent."""

    agent: cluster.ClusterAgent
    workdir: Path
    dns: dnsb_harness.Daemon | None = None
    ct: ct_harness.Daemon | None = None
    out: Path = field(init=False)

    def __post_init__(self) -> None:
        self.out = self.workdir / "web.txt"

    def start(self) -> Watcher:
        self.dns = dnsb_harness.Daemon(self.agent, "--ttl", "0").start()
        src = self.workdir / "web.txt.j2"
        src.write_text(TEMPLATE)
        self.ct = ct_harness.Daemon(["--template", f"{src}:{self.out}"], self.workdir, self.agent.env)
        return self

    def stop(self) -> None:
        for d in (self.ct, self.dns):
            if d is not None:
                d.stop()

    @property
    def name(self) -> str:
        return f"watchers on {self.agent.node}"

    def dns_view(self) -> list[str]:
        """The A records for web.service.consul, sorted; duplicates kept."""
        assert self.dns is not None
        return sorted(self.dns.addresses(f"{SERVICE}.service.consul"))

    def log_tail(self, kind: str) -> str:
        """The last lines of the dns-balancer's (`dns`) or consul-templates' (`file`) output."""
        if kind == "dns":
            text = self.dns.log.read_text(errors="replace") if self.dns and self.dns.log.exists() else ""
        else:
            text = self.ct.log() if self.ct else ""
        return "\n".join(f"      | {line}" for line in text.splitlines()[-5:])

    def file_view(self) -> list[str]:
        return sorted(self.out.read_text().splitlines()) if self.out.exists() else ["<not rendered yet>"]


def catalog(server: cluster.ClusterAgent) -> list[dict[str, Any]]:
    return server.api(f"/v1/catalog/service/{SERVICE}") or []


def node_health(server: cluster.ClusterAgent, node: str) -> str:
    return next((c["Status"] for c in server.api(f"/v1/health/node/{node}") or [] if c["CheckID"] == "serfHealth"),
                "absent")


def get(address: str, path: str = "/") -> str:
    with urllib.request.urlopen(f"http://{address}{path}", timeout=3) as resp:
        return resp.read().decode().strip()


def converge(watchers: Iterable[Watcher], hosts: Sequence[Host], timeout: float, what: str) -> float:
    """Wait until every watcher's DNS answer and rendered file list exactly the web containers now running on
    `hosts` (no more, no fewer, no duplicates). Returns the seconds it took; on timeout, what each one showed."""
    lines = sorted(line for h in hosts for line in h.expected())
    addresses = sorted(line.split(":")[0] for line in lines)
    views: dict[str, Callable[[], list[str]]] = {}
    logs: dict[str, Callable[[], str]] = {}
    for w in watchers:
        for kind, view in (("dns", w.dns_view), ("file", w.file_view)):
            views[f"{w.name}: {kind}"] = view
            logs[f"{w.name}: {kind}"] = lambda w=w, kind=kind: w.log_tail(kind)
    want = {k: addresses if k.endswith("dns") else lines for k in views}
    t0 = time.monotonic()
    last: dict[str, object] = {}
    while True:
        for key, view in views.items():
            try:
                last[key] = view()
            except Exception as exc:  # noqa: BLE001 - a daemon between two answers; shown on timeout
                last[key] = repr(exc)
        if all(last.get(k) == want[k] for k in views):
            return time.monotonic() - t0
        if time.monotonic() - t0 > timeout:
            wrong = "\n".join(f"  {k}: {last.get(k)} (want {want[k]})\n{logs[k]()}"
                              for k in views if last.get(k) != want[k])
            hosts_now = "\n".join(h.diagnose() for h in hosts)
            raise AssertionError(f"{what}: not converged after {timeout:.0f}s\n{wrong}\n{hosts_now}")
        time.sleep(0.05)
