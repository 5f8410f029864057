"""Web containers registered straight through the agent API, for the tests where a proxy (HAProxy, nginx)
follows dns-balancer's answers: each container's bridge address and port 80 become one instance of a service.
`scale(n)` starts and registers containers, or deregisters them; a deregistered container keeps running (until
`close()`), so a proxy that stops sending it requests did so because the DNS answer changed, not because
its health checks or retries noticed a dead server."""

from __future__ import annotations

import urllib.request

from testbed import engines
from tests.support.dnsb_harness import deregister, register, unique


class Fleet:
    def __init__(self, docker_client, image: str, agent: engines.ConsulAgent, prefix: str) -> None:
        self.docker, self.image, self.agent = docker_client, image, agent
        self.name = unique(prefix)
        self.members: list[tuple[object, str]] = []  # (container, hostname it answers with)
        self.retired: list[object] = []  # deregistered, still answering

    def scale(self, n: int) -> set[str]:
        """Start or deregister instances until n are registered; returns the hostnames that should answer."""
        while len(self.members) < n:
            i = len(self.members)
            # not the "portside-test" label: the registrator tests' clean-up removes every container carrying it,
            # on a shared engine those of a parallel session too
            c = self.docker.containers.run(self.image, detach=True, labels={"portside-dnsb-fleet": self.name})
            c.reload()
            ip = c.attrs["NetworkSettings"]["IPAddress"]
            register(self.agent, self.name, f"{self.name}-{i}", ip, 80)
            self.members.append((c, c.attrs["Config"]["Hostname"]))
        while len(self.members) > n:
            c, _ = self.members.pop()
            deregister(self.agent, f"{self.name}-{len(self.members)}")
            self.retired.append(c)
        return {hostname for _, hostname in self.members}

    def close(self) -> None:
        self.scale(0)
        for c in self.retired:
            c.remove(force=True)  # type: ignore[attr-defined]


def answered_by(url: str, requests: int) -> set[str]:
    """Which hostnames answered `requests` GETs of url (failed requests are left out)."""
    seen = set()
    for _ in range(requests):
        try:
            with urllib.request.urlopen(url, timeout=3) as resp:
                seen.add(resp.read().decode().strip())
        except OSError:
            continue
    return seen
