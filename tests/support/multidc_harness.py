"""tests/cluster/test_multidc.py helpers: a Docker host per datacenter with its registrator (on its datacenter's
client agent), real web containers with an HTTP health check, and asking Consul's own DNS beside ours."""

from __future__ import annotations

import os
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import dns.message
import dns.query
import dns.rcode

from testbed import engines
from testbed.multidc import Datacenter
from tests.support.cluster_harness import ROOT
from tests.support.regharness import RegistratorProcess

LABEL = {"portside-test": "multidc"}
CHECK_INTERVAL = 1.0  # seconds: each web container's HTTP check on /health (the image's httpd)


def web_labels(tags: str = "") -> dict[str, str]:
    return {**LABEL, "SERVICE_NAME": "web", "SERVICE_TAGS": tags, "SERVICE_CHECK_HTTP": "/health",
            "SERVICE_CHECK_INTERVAL": f"{CHECK_INTERVAL:.0f}s", "SERVICE_CHECK_TIMEOUT": "1s"}


@dataclass
class DcHost:
    """A datacenter's Docker host: its engine, an independent client, its registrator on the client agent."""

    dc: Datacenter
    client: Any = None  # docker.DockerClient
    image: str = ""
    registrator: RegistratorProcess | None = None

    def start(self) -> DcHost:
        import docker

        assert self.dc.host.dockerd is not None
        self.client = docker.DockerClient(base_url=self.dc.host.host, timeout=60)
        env = {**os.environ, "DOCKER_HOST": self.dc.host.host}
        out = subprocess.run(["bash", str(ROOT / "scripts" / "web-image.sh")], env=env, check=True,
                             capture_output=True, text=True, timeout=180)
        self.image = out.stdout.strip().splitlines()[-1]
        self.registrator = RegistratorProcess(self.dc.host.dockerd, self.dc.client, ["-internal", "-cleanup"],
                                              f"host-{self.dc.name}")
        return self

    def stop(self) -> None:
        if self.registrator is not None:
            self.registrator.stop(timeout=10)
        if self.client is not None:
            for c in self.webs():
                c.remove(force=True)
            self.client.close()

    def run_web(self, tags: str = "") -> Any:
        c = self.client.containers.run(self.image, detach=True, labels=web_labels(tags))
        c.reload()
        return c

    def webs(self) -> list[Any]:
        return self.client.containers.list(filters={"label": [f"{k}={v}" for k, v in LABEL.items()]})

    @staticmethod
    def address(container: Any) -> str:
        return str(container.attrs["NetworkSettings"]["IPAddress"])

    def addresses(self, pick: Callable[[Any], bool] = lambda c: True) -> list[str]:
        return sorted(self.address(c) for c in self.webs() if pick(c))

    def set_healthy(self, container: Any, healthy: bool) -> None:
        """The web image's /health answers while /www/health exists."""
        cmd = "touch /www/health" if healthy else "rm -f /www/health"
        assert container.exec_run(["/bin/sh", "-c", cmd]).exit_code == 0

    def passing(self, server: Any) -> list[str]:
        """Addresses of the web instances whose checks all pass in this datacenter's catalog."""
        entries = server.api("/v1/health/service/web?passing=1") or []
        return sorted(e["Service"]["Address"] for e in entries)


def ask(host: str, port: int, name: str, rdtype: str = "A", timeout: float = 3.0) -> dns.message.Message:
    return dns.query.udp(dns.message.make_query(name, rdtype), host, port=port, timeout=timeout)


def addresses(msg: dns.message.Message) -> list[str] | str:
    """Sorted A records, or the rcode's name when it is not NOERROR."""
    if msg.rcode() != dns.rcode.NOERROR:
        return dns.rcode.to_text(msg.rcode())
    return sorted(rd.address for rrset in msg.answer for rd in rrset if hasattr(rd, "address"))


def consul_dns(agent: Any, name: str, rdtype: str = "A") -> dns.message.Message:
    """Consul's own DNS on that agent, the reference our answers are compared with."""
    return ask(agent.bind, agent.ports["dns"], name, rdtype)


def wait_for(predicate: Callable[[], bool], timeout: float, what: str) -> float:
    """Seconds until `predicate()` held (polled every 20 ms); TimeoutError naming `what` otherwise."""
    t0 = time.monotonic()
    engines.wait_until(predicate, timeout, what, interval=0.02)
    return time.monotonic() - t0


def metric(text: str, name: str) -> float | None:
    """One sample (`name` with its labels, as printed) of a /metrics text; None when absent."""
    for line in text.splitlines():
        if line.startswith(name + " "):
            return float(line.rsplit(" ", 1)[1])
    return None


def holds(predicate: Callable[[], bool], seconds: float, what: str) -> None:
    """`predicate()` true all along `seconds` (polled every 20 ms): what a state must keep, not reach."""
    deadline = time.monotonic() + seconds
    while True:
        assert predicate(), f"no longer true: {what}"
        if time.monotonic() >= deadline:
            return
        time.sleep(0.02)
