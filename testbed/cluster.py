"""A real cluster on one machine: Consul servers and clients on their own loopback addresses, Docker "hosts".

Used by tests/cluster. Nothing is dev mode: three servers (`-server -bootstrap-expect 3`, each `-retry-join`
the others) and client agents, each bound with every port (HTTP, DNS, Serf LAN/WAN, server RPC; gRPC off) to
its own 127.0.0.x, with its data dir in its temp dir. A Docker host is a private dockerd on a bridge made here
(removed at stop), with its own data root, exec root, socket and 198.18.x pool, and iptables left alone.

    python -m testbed.cluster up      # 3 servers + 2 clients + 2 docker hosts; prints where; Ctrl-C stops all
"""

from __future__ import annotations

import contextlib
import fcntl
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from testbed import engines

SERVER_IPS = ("127.0.0.2", "127.0.0.3", "127.0.0.4")
CLIENT_IPS = ("127.0.0.5", "127.0.0.6")
PORTS = {"http": 8500, "dns": 8600, "serf_lan": 8301, "serf_wan": 8302, "server": 8300}
# Consul's default timing is for WANs (raft_multiplier 5); 1 is its advice for production on a fast LAN.
TIMING = "performance { raft_multiplier = 1 }"
LOCK = Path("/tmp/portside-cluster.lock")


@dataclass
class ClusterAgent(engines.ConsulAgent):
    """A non-dev agent: a server when `server`, else a client; keeps its state in workdir/data."""

    server: bool = False
    expect: int = 3
    join: list[str] = field(default_factory=list)
    datacenter: str = ""  # Consul's default (dc1) when empty
    join_wan: list[str] = field(default_factory=list)  # servers only: other datacenters' servers (Serf WAN)
    log_level: str = "info"  # Serf's suspicions and failures are logged at info: a slow detection can be read

    def mode_args(self) -> list[str]:
        args = ["-data-dir", str(self.workdir / "data"), "-hcl", TIMING]
        if self.datacenter:
            args += ["-datacenter", self.datacenter]
        for peer in self.join:
            args += ["-retry-join", peer]
        for peer in self.join_wan:
            args += ["-retry-join-wan", peer]
        # agents may start side by side: a join that came before its peer listened is retried within a second
        # (Consul's default waits 30 s)
        args += ["-retry-interval", "1s", "-retry-interval-wan", "1s"]
        if self.server:
            args += ["-server", "-bootstrap-expect", str(self.expect)]
        return args

    def ready(self) -> bool:
        """The HTTP API answers (a server's leader comes only once `expect` servers have joined)."""
        return bool(self.api("/v1/agent/self"))

    def kill(self) -> None:
        """SIGKILL, as a crash: no graceful leave (SIGTERM makes a client leave the cluster)."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)
        self.proc = None

    @property
    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None


def _port_free(ip: str, port: int) -> bool:
    for kind in (socket.SOCK_STREAM, socket.SOCK_DGRAM):
        with socket.socket(socket.AF_INET, kind) as s:
            if kind == socket.SOCK_STREAM:  # as Consul's listeners: TIME_WAIT of a previous run is no obstacle
                s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                s.bind((ip, port))
            except OSError:
                return False
    return True


@dataclass
class ConsulCluster:
    servers: list[ClusterAgent]
    clients: list[ClusterAgent]

    @classmethod
    def on_loopback(cls, server_ips: tuple[str, ...] = SERVER_IPS, client_ips: tuple[str, ...] = CLIENT_IPS,
                    ports: dict[str, int] | None = None) -> ConsulCluster:
        ports = ports or PORTS
        joins = [f"{ip}:{ports['serf_lan']}" for ip in server_ips]
        servers = [ClusterAgent(bind=ip, node=f"server-{i + 1}", ports=dict(ports), server=True,
                                expect=len(server_ips), join=[j for j in joins if not j.startswith(f"{ip}:")])
                   for i, ip in enumerate(server_ips)]
        clients = [ClusterAgent(bind=ip, node=f"client-{chr(ord('a') + i)}", ports=dict(ports), join=joins)
                   for i, ip in enumerate(client_ips)]
        return cls(servers, clients)

    @property
    def agents(self) -> list[ClusterAgent]:
        return [*self.servers, *self.clients]

    def check_ports(self) -> None:
        taken = [f"{a.bind}:{p}" for a in self.agents for p in a.ports.values() if not _port_free(a.bind, p)]
        if taken:
            raise RuntimeError(f"addresses already in use: {', '.join(taken)}")

    def start(self, timeout: float = 90) -> ConsulCluster:
        self.check_ports()
        try:
            for agent in self.agents:
                agent.start()
            engines.wait_until(self.formed, timeout, "consul cluster (leader, all members alive)", interval=0.2)
        except BaseException:
            self.stop()
            raise
        return self

    def up(self) -> list[ClusterAgent]:
        return [a for a in self.servers if a.alive]

    def formed(self) -> bool:
        """A leader all live servers agree on, and every running agent alive in Serf and in the catalog."""
        up = self.up()
        if len({a.api("/v1/status/leader") for a in up}) != 1 or not up[0].api("/v1/status/leader"):
            return False
        running = {a.node for a in self.agents if a.alive}
        members = {m["Name"]: m["Status"] for m in up[0].api("/v1/agent/members")}
        checks = up[0].api("/v1/health/state/any")
        serf_health = {c["Node"]: c["Status"] for c in checks if c["CheckID"] == "serfHealth"}
        return all(members.get(n) == 1 and serf_health.get(n) == "passing" for n in running)

    def seen_gone(self, agent: ClusterAgent) -> bool:
        """Every running agent's Serf has marked `agent` failed (member status 4) or left (3): a dead server is
        marked failed, and Consul's autopilot (CleanupDeadServers, on by default) then forces it to leave, often
        within a second, so "failed everywhere at once" is a race. Either way no agent sends it requests."""
        return all(status in (3, 4) for status in self.member_status(agent).values())

    def member_status(self, agent: ClusterAgent) -> dict[str, int | None]:
        """`agent`'s Serf member status as each running agent sees it (1 alive, 3 left, 4 failed)."""
        return {a.node: {m["Name"]: m["Status"] for m in a.api("/v1/agent/members")}.get(agent.node)
                for a in self.agents if a.alive}

    def gossip_about(self, agent: ClusterAgent, lines: int = 12) -> str:
        """The last memberlist/serf lines naming `agent` in each running agent's log: why it is (not) failed yet."""
        out = []
        for a in self.agents:
            if a.alive:
                log = (a.workdir / "consul.log").read_text(errors="replace").splitlines()
                mine = [ln for ln in log if agent.node in ln and ("memberlist" in ln or "serf" in ln)]
                out.append(f"--- {a.node}:\n" + "\n".join(mine[-lines:]))
        return "\n".join(out)

    def leader(self) -> ClusterAgent:
        addr = self.up()[0].api("/v1/status/leader")
        return next(a for a in self.servers if addr == f"{a.bind}:{a.ports['server']}")

    def stop(self) -> None:
        for agent in reversed(self.agents):
            agent.stop()


def _ip(*args: str, check: bool = True) -> None:
    subprocess.run(["ip", *args], check=check, capture_output=True, timeout=20)


@dataclass
class DockerHost:
    """A Docker "host": a private dockerd on bridge `bridge` with gateway `cidr`, networks from `pool`."""

    name: str
    bridge: str
    cidr: str
    pool: str
    dockerd: engines.Dockerd | None = None

    def start(self) -> DockerHost:
        _ip("link", "del", self.bridge, check=False)  # leftover of an interrupted run (the name is ours)
        _ip("link", "add", self.bridge, "type", "bridge")
        try:
            _ip("addr", "add", self.cidr, "dev", self.bridge)
            _ip("link", "set", self.bridge, "up")
            self.dockerd = engines.Dockerd(bridge=self.bridge, pool=self.pool, iptables=False, reuse_env=False)
            self.dockerd.start()
        except BaseException:
            self.stop()
            raise
        return self

    @property
    def host(self) -> str:
        assert self.dockerd is not None
        return self.dockerd.host

    def stop(self) -> None:
        if self.dockerd is not None:
            self.dockerd.stop()
            self.dockerd = None
        _ip("link", "del", self.bridge, check=False)


def docker_hosts() -> list[DockerHost]:
    """The two hosts of tests/cluster (the session dockerd of tests/conftest.py keeps docker0)."""
    return [DockerHost("host-a", "ps-br1", "198.18.2.1/24", "base=198.18.192.0/18,size=24"),
            DockerHost("host-b", "ps-br2", "198.18.1.1/24", "base=198.18.128.0/18,size=24")]


@contextlib.contextmanager
def exclusive(timeout: float = 600) -> Iterator[None]:
    """One cluster per machine at a time (fixed addresses, bridge names): wait for another run to finish."""
    with open(LOCK, "a") as fh:
        deadline = time.monotonic() + timeout
        while True:
            try:
                fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() > deadline:
                    raise TimeoutError(f"{LOCK} still held after {timeout:.0f}s (another cluster run?)") from None
                time.sleep(1)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def main(argv: list[str]) -> int:
    if argv[1:] != ["up"]:
        print(__doc__)
        return 2
    for sig in (signal.SIGTERM, signal.SIGINT):  # SIGINT too when started in the background (inherited SIG_IGN)
        signal.signal(sig, lambda *_: (_ for _ in ()).throw(KeyboardInterrupt()))
    with exclusive(timeout=5):
        cluster = ConsulCluster.on_loopback()
        hosts = docker_hosts()
        try:
            cluster.start()
            for h in hosts:
                h.start()
            for a in cluster.agents:
                print(f"  {a.node:9} {'server' if a.server else 'client'}  CONSUL_HTTP_ADDR=http://{a.http_addr}")
            for h in hosts:
                print(f"  {h.name:9} DOCKER_HOST={h.host}  bridge {h.bridge} {h.cidr}")
            print("Press Ctrl-C to stop them.", flush=True)
            while all(a.alive for a in cluster.agents):
                time.sleep(1)
            return 1
        except KeyboardInterrupt:
            return 0
        finally:
            for h in hosts:
                h.stop()
            cluster.stop()


if __name__ == "__main__":
    sys.exit(main(sys.argv))
