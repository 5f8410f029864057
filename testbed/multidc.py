"""Two Consul datacenters on one machine, WAN-joined on loopback addresses, each with a Docker "host".

Used by tests/cluster/test_multidc.py and bench/dns_multidc.py. Built from testbed/cluster.py's pieces (real,
non-dev agents; private dockerds on bridges of their own with iptables left alone):

    dc1: server(s) 127.0.1.2..   client 127.0.1.10   docker host-dc1 on bridge ps-dc1 198.19.1.0/24
    dc2: server(s) 127.0.2.2..   client 127.0.2.10   docker host-dc2 on bridge ps-dc2 198.19.2.0/24

One server per datacenter by default (`servers=3` gives three each): a datacenter's server count changes
nothing in what crosses the WAN, and eight Consul processes on two shared cores slow every test down. The
servers of each datacenter `-retry-join-wan` the other's. Addresses, bridges and pools differ from the one-DC
cluster's (127.0.0.2-6; ps-br1/2; 198.18.1-2.0/24, 198.18.128.0/17) and from the test engine's (docker0,
198.18.0.0/24, 198.18.64.0/18): everything here is in 198.19.0.0/16. The same lock file as the one-DC cluster
makes the two take turns (both bind fixed ports on loopback and make bridges).

    python -m testbed.multidc up      # both datacenters and their docker hosts; prints where; Ctrl-C stops all
"""

from __future__ import annotations

import signal
import sys
import time
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from testbed import engines
from testbed.cluster import PORTS, ClusterAgent, ConsulCluster, DockerHost, exclusive

NAMES = ("dc1", "dc2")
BRIDGES = {"dc1": ("ps-dc1", "198.19.1.1/24", "base=198.19.64.0/18,size=24"),
           "dc2": ("ps-dc2", "198.19.2.1/24", "base=198.19.128.0/18,size=24")}


def _ips(index: int, servers: int) -> tuple[list[str], str]:
    """Server addresses and the client's address of the datacenter numbered `index` (1-based)."""
    return [f"127.0.{index}.{2 + i}" for i in range(servers)], f"127.0.{index}.10"


@dataclass
class Datacenter:
    """One datacenter: its servers and client agent (a ConsulCluster of its own) and its Docker host."""

    name: str
    cluster: ConsulCluster
    host: DockerHost

    @property
    def client(self) -> ClusterAgent:
        return self.cluster.clients[0]

    @property
    def servers(self) -> list[ClusterAgent]:
        return self.cluster.servers


@dataclass
class TwoDatacenters:
    dcs: dict[str, Datacenter]

    @classmethod
    def on_loopback(cls, servers: int = 1) -> TwoDatacenters:
        wan = {name: [f"{ip}:{PORTS['serf_wan']}" for ip in _ips(i + 1, servers)[0]] for i, name in enumerate(NAMES)}
        dcs = {}
        for i, name in enumerate(NAMES):
            server_ips, client_ip = _ips(i + 1, servers)
            lan = [f"{ip}:{PORTS['serf_lan']}" for ip in server_ips]
            others = [peer for other, peers in wan.items() if other != name for peer in peers]
            made = [ClusterAgent(bind=ip, node=f"{name}-server-{k + 1}", ports=dict(PORTS), server=True,
                                 expect=servers, datacenter=name, join=[j for j in lan if not j.startswith(f"{ip}:")],
                                 join_wan=others)
                    for k, ip in enumerate(server_ips)]
            client = ClusterAgent(bind=client_ip, node=f"{name}-client", ports=dict(PORTS), datacenter=name, join=lan)
            bridge, cidr, pool = BRIDGES[name]
            dcs[name] = Datacenter(name, ConsulCluster(made, [client]), DockerHost(f"host-{name}", bridge, cidr, pool))
        return cls(dcs)

    @property
    def agents(self) -> list[ClusterAgent]:
        return [a for dc in self.dcs.values() for a in dc.cluster.agents]

    def wan_formed(self) -> bool:
        """Every live agent knows both datacenters, and every live server is alive in the WAN pool."""
        live = [a for a in self.agents if a.alive]
        if any(sorted(a.api("/v1/catalog/datacenters") or []) != sorted(NAMES) for a in live):
            return False
        servers = [a for a in live if a.server]
        members = {m["Name"]: m["Status"] for m in servers[0].api("/v1/agent/members?wan=1")}
        return all(members.get(f"{s.node}.{s.datacenter}") == 1 for s in servers)

    def formed(self) -> bool:
        return all(dc.cluster.formed() for dc in self.dcs.values()) and self.wan_formed()

    def start_consul(self, timeout: float = 90) -> TwoDatacenters:
        """All agents at once: each one's start-up is mostly CPU, which one at a time on a loaded 2-core
        machine took 9-15 s per agent; their joins are retried every second until the peers listen."""
        for dc in self.dcs.values():
            dc.cluster.check_ports()
        try:
            each(lambda agent: agent.start(), self.agents)
            engines.wait_until(self.formed, timeout, "two datacenters (leaders, members, WAN)", interval=0.2)
        except BaseException:
            self.stop()
            raise
        return self

    def start_hosts(self) -> None:
        each(lambda dc: dc.host.start(), self.dcs.values())

    def stop(self) -> None:
        """Everything at once, the agents killed: a client's graceful leave (4-5 s each when loaded) would tell
        nobody anything, every agent goes."""

        def stop_agent(agent: ClusterAgent) -> None:
            agent.kill()
            agent.stop()

        each(lambda dc: dc.host.stop(), self.dcs.values(), [lambda: each(stop_agent, self.agents)])


def each(do: Callable[[Any], object], items: Iterable[Any], also: Iterable[Callable[[], object]] = ()) -> None:
    """`do(item)` for every item (and each of `also`) in threads of their own; the first error is raised once
    all have finished."""
    with ThreadPoolExecutor(max_workers=8) as pool:
        futures = [pool.submit(do, item) for item in items] + [pool.submit(f) for f in also]
    for future in futures:
        future.result()


def main(argv: list[str]) -> int:
    if argv[1:] != ["up"]:
        print(__doc__)
        return 2
    for sig in (signal.SIGTERM, signal.SIGINT):  # SIGINT too when started in the background (inherited SIG_IGN)
        signal.signal(sig, lambda *_: (_ for _ in ()).throw(KeyboardInterrupt()))
    with exclusive(timeout=5):
        two = TwoDatacenters.on_loopback()
        try:
            t0 = time.monotonic()
            two.start_consul()
            two.start_hosts()
            print(f"two datacenters up in {time.monotonic() - t0:.1f} s")
            for dc in two.dcs.values():
                for a in dc.cluster.agents:
                    print(f"  {a.node:14} CONSUL_HTTP_ADDR=http://{a.http_addr}  DNS {a.bind}:{a.ports['dns']}")
                print(f"  {dc.host.name:14} DOCKER_HOST={dc.host.host}  bridge {dc.host.bridge} {dc.host.cidr}")
            print("Press Ctrl-C to stop them.", flush=True)
            while all(a.alive for a in two.agents):
                time.sleep(1)
            return 1
        except KeyboardInterrupt:
            return 0
        finally:
            two.stop()


if __name__ == "__main__":
    sys.exit(main(sys.argv))
