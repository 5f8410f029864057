"""The compose stack (compose/docker-compose.yml) on the test engine, as the tests drive it.

Images are built by the project's scripts/build-images.sh under tags of this checkout's own (another checkout
sharing the engine builds its own), the stack runs under a project name, ports and subnets of its own, and
`down -v` removes it with its volumes. Consul runs with ACLs on exactly as in `make demo`; the tests read the
secrets acl-init made out of its volume, talk to Consul through the published port, and make requests from
inside the stack's networks with `probe()`.
"""

from __future__ import annotations

import collections
import hashlib
import io
import ipaddress
import json
import os
import subprocess
import tarfile
import urllib.error
import urllib.request
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import dns.message
import dns.query

from testbed import engines

ROOT = Path(__file__).resolve().parents[2]
COMPOSE_FILE = ROOT / "compose" / "docker-compose.yml"
ACL_STATE = "/var/lib/portside-acl"
# The stack's two networks get /24s from here that no route on this host uses yet: other checkouts' tests share
# the engine (and the host's routing), each with networks of its own.
SUBNET_RANGE = ipaddress.ip_network("198.18.16.0/20")

# Runs inside a container on one of the stack's networks: each request is [method, url, body, token], the
# answer [status, text] (status 0: no connection, text says why).
PROBE = r"""
import json, sys, urllib.error, urllib.request
out = []
for method, url, body, token in json.loads(sys.argv[1]):
    req = urllib.request.Request(url, data=None if body is None else json.dumps(body).encode(), method=method,
                                 headers={"X-Consul-Token": token} if token else {})
    try:
        with urllib.request.urlopen(req, timeout=3) as r:
            out.append([r.status, r.read().decode(errors="replace")])
    except urllib.error.HTTPError as e:
        out.append([e.code, e.read().decode(errors="replace")])
    except Exception as e:
        out.append([0, repr(e)])
print(json.dumps(out))
"""


@dataclass
class Stack:
    dockerd: engines.Dockerd
    project: str = field(default_factory=lambda: f"pstack{uuid.uuid4().hex[:6]}")
    env: dict[str, str] = field(default_factory=dict)
    web_port: int = 0
    dns_port: int = 0
    consul_port: int = 0
    haproxy_port: int = 0
    greeter_port: int = 0

    @property
    def demo_network(self) -> str:
        return f"{self.project}-net"

    @property
    def control_network(self) -> str:
        return f"{self.project}-ctl"

    def build(self) -> None:
        # Tags of this checkout: images another checkout builds into the same engine never replace ours mid-run.
        tag = hashlib.sha256(str(ROOT).encode()).hexdigest()[:8]
        env = {**os.environ, **self.dockerd.env, "PORTSIDE_IMAGE": f"portside/portside:test-{tag}",
               "CONSUL_IMAGE": f"portside/consul:test-{tag}"}
        subprocess.run(["bash", str(ROOT / "scripts/build-images.sh")], env=env, check=True, capture_output=True,
                       timeout=900)
        web = subprocess.run(["bash", str(ROOT / "scripts/web-image.sh")], env=env, check=True,
                             capture_output=True, text=True).stdout.strip().splitlines()[-1]
        sock = self.dockerd.host.removeprefix("unix://")
        self.env = {**env, "WEB_IMAGE": web, "DOCKER_SOCK": sock, "DOCKER_GID": str(os.stat(sock).st_gid),
                    "DEMO_NETWORK": self.demo_network, "CONTROL_NETWORK": self.control_network}

    def up(self, attempts: int = 3) -> None:
        """`up --wait` on ports and subnets free a moment ago. Other checkouts' tests share the engine and the
        host: when one takes a port or a subnet in between, the stack is removed and placed again."""
        for attempt in range(1, attempts + 1):
            self.web_port, self.dns_port, self.consul_port, self.haproxy_port, self.greeter_port = \
                engines.free_ports(5)
            self.env.update(WEB_PORT=str(self.web_port), DNS_PORT=str(self.dns_port),
                            CONSUL_PORT=str(self.consul_port), HAPROXY_PORT=str(self.haproxy_port),
                            GREETER_PORT=str(self.greeter_port))
            self.env["DEMO_SUBNET"], self.env["CONTROL_SUBNET"] = free_subnets(2)
            try:
                self.compose("up", "-d", "--wait", "--scale", "web=1")
                return
            except subprocess.CalledProcessError as exc:
                taken = "port is already allocated" in exc.stderr or "Pool overlaps" in exc.stderr
                logs = self.logs()
                self.down()
                if not taken or attempt == attempts:
                    raise AssertionError(f"compose up failed: {exc.stderr}\n{logs}") from None

    def compose(self, *args: str, timeout: float = 300) -> str:
        return subprocess.run(["docker", "compose", "-p", self.project, "-f", str(COMPOSE_FILE), *args],
                              env=self.env, check=True, capture_output=True, text=True, timeout=timeout).stdout

    def logs(self, *services: str, tail: int = 40) -> str:
        """The services' last log lines (all services when none named), for failure messages; never raises."""
        r = subprocess.run(["docker", "compose", "-p", self.project, "-f", str(COMPOSE_FILE), "logs", "--no-color",
                            "--tail", str(tail), *services], env=self.env, capture_output=True, text=True, timeout=60)
        return r.stdout + r.stderr

    def container(self, service: str, docker_client: Any) -> Any:
        """The (first) container of a service, running or exited."""
        cid = self.compose("ps", "-a", "-q", service).split()[0]
        return docker_client.containers.get(cid)

    def acl_state(self, docker_client: Any) -> dict[str, str]:
        """acl-init's kept values: management.secret, <who>.accessor, <who>.secret."""
        stream, _ = self.container("acl-init", docker_client).get_archive(ACL_STATE)
        with tarfile.open(fileobj=io.BytesIO(b"".join(stream))) as tar:
            return {Path(m.name).name: tar.extractfile(m).read().decode().strip()  # type: ignore[union-attr]
                    for m in tar.getmembers() if m.isfile() and not m.name.endswith(".tmp")}

    def api(self, path: str, method: str = "GET", body: object = None, token: str = "") -> tuple[int, Any]:
        """A request to the stack's Consul through the published port; (status, JSON or text)."""
        req = urllib.request.Request(f"http://127.0.0.1:{self.consul_port}{path}", method=method,
                                     data=None if body is None else json.dumps(body).encode(),
                                     headers={"X-Consul-Token": token} if token else {})
        try:
            with urllib.request.urlopen(req, timeout=10) as resp:
                raw = resp.read()
                return resp.status, json.loads(raw) if raw.strip() else None
        except urllib.error.HTTPError as exc:
            return exc.code, exc.read().decode(errors="replace")

    def probe(self, docker_client: Any, network: str, requests: list[list[Any]]) -> list[list[Any]]:
        """Make the requests from a throw-away container on one of the stack's networks (removed after)."""
        out = docker_client.containers.run(self.env["PORTSIDE_IMAGE"], ["python3", "-c", PROBE, json.dumps(requests)],
                                           network=network, remove=True, labels={"SERVICE_IGNORE": "1"},
                                           cap_drop=["ALL"], read_only=True)
        return list(json.loads(out))

    def down(self) -> None:
        """Everything, the haproxy profile's container and the volumes included; never raises (used on failure)."""
        subprocess.run(["docker", "compose", "-p", self.project, "-f", str(COMPOSE_FILE), "--profile", "haproxy",
                        "down", "-v", "-t", "2"], env=self.env, capture_output=True, timeout=300)


def free_subnets(n: int) -> list[str]:
    """n /24s of SUBNET_RANGE that overlap no route of this host (every Docker bridge on it has one)."""
    routes = subprocess.run(["ip", "-4", "route", "show"], check=True, capture_output=True, text=True).stdout
    used = [ipaddress.ip_network(line.split()[0], strict=False) for line in routes.splitlines()
            if line.split() and "/" in line.split()[0]]
    free = [str(net) for net in SUBNET_RANGE.subnets(new_prefix=24) if not any(net.overlaps(u) for u in used)]
    if len(free) < n:
        raise RuntimeError(f"no {n} free /24 in {SUBNET_RANGE} (routes: {routes})")
    return free[-n:]  # from the top: others counting up from the bottom of the range meet us last


def served_by(port: int, n: int = 20) -> collections.Counter:
    seen: collections.Counter = collections.Counter()
    for _ in range(n):
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=2) as r:
                seen[r.read().decode().strip()] += 1
        except (urllib.error.URLError, OSError):
            seen["(failed)"] += 1
    return seen


def dns_addresses(port: int) -> set[str]:
    q = dns.message.make_query("web.service.consul", "A")
    r = dns.query.udp(q, "127.0.0.1", port=port, timeout=2)
    return {rr.address for rrset in r.answer for rr in rrset}
