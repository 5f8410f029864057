"""Registrator at scale (not a test): prints figures, asserts nothing.

Starts its own dockerd on a bridge of its own (ps-bench0, 198.18.4.1/22: room for ~1000 containers, beside the
test engine's 198.18.0.1/24), or with DOCKER_HOST set uses the engine there with a network of its own (--subnet,
198.19.248.0/22 or one of the three /22s below it), and a Consul dev agent, then for each registrator tree given
(default: this checkout), side by side in one run:
1. start-up reconcile: N containers already running (N = 300 by default), the registrator started: time from
   the process start, and from its "registrator started" log line, to all N in /v1/agent/services, and the CPU
   time the registrator spent meanwhile (on a loaded machine the wall time stretches, the CPU time hardly);
2. burst: N containers started at once with the registrator running: time from the last Docker `start`
   event to all N registered; lost and duplicate registrations;
during both, a reader on the same host (new connection per request, like most HTTP clients) loops on
GET /v1/agent/services and counts the answers Consul refuses with 429 (`limits.http_max_conns_per_client`,
200 by default, counts every connection from one address); the registrator's own log is searched for 429s;
the registrator's RSS (VmHWM, peak) after each phase. Rounds alternate between the trees and print the machine's
load average: on a shared machine only figures of one run, side by side, compare.

Every registrator runs with `-internal` (container IP + exposed port), so no docker-proxy per container.

    .venv/bin/python bench/registrator_scale.py [--containers 300] [--rounds 3] [--burst-rounds 1] \\
        [--tree new=.] [--tree old=/tmp/old-tree]
    .venv/bin/python bench/registrator_scale.py --tree c4=.:--consul-concurrency=4 --tree c8=.:--consul-concurrency=8

A tree is `label=DIR[:arg,arg...]`: the registrator runs as `python -m registrator` with DIR as its working
directory (so DIR's packages win), with the extra arguments given.
"""

from __future__ import annotations

import argparse
import ipaddress
import os
import re
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import docker
from registrator_burst import StartEvents, rss_kb

from bench.benchjson import add_json_option, row, write_rows
from testbed import engines
from testbed.cluster import DockerHost

ROOT = Path(__file__).resolve().parent.parent
SERVICE = "scale"
PACE = 0.002  # between the reader's requests: a busy client, not one that takes a core of its own


@dataclass
class Tree:
    label: str
    path: Path
    args: list[str] = field(default_factory=list)

    @classmethod
    def parse(cls, spec: str) -> Tree:
        label, _, rest = spec.partition("=")
        path, _, args = rest.partition(":")
        return cls(label, Path(path or ".").resolve(), [a for a in args.split(",") if a])


class EngineNetwork:
    """The engine at DOCKER_HOST (shared with other work) with a network of our own, big enough for the
    containers (the engine's default bridge has room for ~250): containers join only this network, so
    `-internal` registers their address on it. Removed at the end."""

    def __init__(self, subnet: str) -> None:
        self.host = os.environ["DOCKER_HOST"]
        self.name = f"ps-bench-{uuid.uuid4().hex[:6]}"
        self.client = docker.DockerClient(base_url=self.host, timeout=120)
        base = ipaddress.ip_network(subnet)
        # then the /22s below it (198.18.0.0/15 ends right above the default): a network of an earlier run that
        # the engine has not released yet may hold the first
        for k in range(4):
            net = ipaddress.ip_network((int(base.network_address) - k * base.num_addresses, base.prefixlen))
            try:
                self.client.networks.create(self.name, driver="bridge", labels={"portside.bench": "registrator_scale"},
                                            ipam=docker.types.IPAMConfig(pool_configs=[
                                                docker.types.IPAMPool(subnet=str(net))]))
                break
            except docker.errors.APIError:
                if k == 3:
                    raise

    def stop(self) -> None:
        """Remove every container on our network (an interrupted run leaves some), then the network."""
        mine = self.client.containers.list(all=True, filters={"network": self.name})
        with ThreadPoolExecutor(max_workers=16) as pool:
            list(pool.map(lambda c: c.remove(force=True), mine))
        for attempt in range(10):  # the engine may still be releasing the endpoints
            try:
                self.client.networks.get(self.name).remove()
                break
            except docker.errors.APIError as exc:
                if attempt == 9:  # engine 20.10 can keep a removed container's endpoint until it restarts
                    print(f"warning: network {self.name} left behind, the engine refuses its removal: {exc}",
                          file=sys.stderr)
                    break
                time.sleep(2)
        self.client.close()


class Reader(threading.Thread):
    """Another client on the same host: GET /v1/agent/services in a loop, a new connection each time. Records
    429s and when `node`'s services first number `want` (the moment they are all registered)."""

    def __init__(self, agent: engines.ConsulAgent) -> None:
        super().__init__(daemon=True)
        self.agent = agent
        self.ok = self.refused = self.errors = 0
        self.node, self.want, self.seen_all = "", 0, 0.0
        self.stopped = threading.Event()

    def expect(self, node: str, want: int) -> None:
        self.node, self.want, self.seen_all = node, want, 0.0

    def run(self) -> None:
        url = f"http://{self.agent.http_addr}/v1/agent/services"
        while not self.stopped.is_set():
            try:
                with urllib.request.urlopen(url, timeout=10) as resp:
                    body = resp.read()
                self.ok += 1
                if self.want and not self.seen_all and body.count(f'"portside-node": "{self.node}"'.encode()) \
                        >= self.want:
                    self.seen_all = time.time()
            except urllib.error.HTTPError as exc:
                if exc.code == 429:
                    self.refused += 1
                else:
                    self.errors += 1
            except OSError:
                self.errors += 1
            time.sleep(PACE)

    def counts(self) -> tuple[int, int]:
        return self.ok, self.refused


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process, from /proc/<pid>/stat."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def count_429(log: str) -> int:
    """Lines whose message (not the timestamp: `...,429 ERROR`) carries a 429."""
    return sum(1 for line in log.splitlines() if re.search(r"\b429\b", line.partition(": ")[2]))


def started_at(log: str) -> float:
    """Wall time of the "registrator started" line (text log format: `2026-11-29 15:30:00,123 ...`)."""
    for line in log.splitlines():
        if "registrator started" in line:
            stamp = datetime.strptime(line[:23], "%Y-%m-%d %H:%M:%S,%f")
            return stamp.timestamp()
    return 0.0


class Bench:
    def __init__(self, host: DockerHost | EngineNetwork, agent: engines.ConsulAgent, image: str, n: int,
                 workdir: Path) -> None:
        self.host, self.agent, self.image, self.n, self.workdir = host, agent, image, n, workdir
        self.network = host.name if isinstance(host, EngineNetwork) else None
        self.figures: dict[str, list[float]] = {}
        self.client = docker.DockerClient(base_url=host.host, timeout=600)
        self.events = StartEvents(self.client)
        self.events.start()
        self.reader = Reader(agent)
        self.reader.start()

    def start_containers(self, prefix: str) -> tuple[list, list[str]]:
        names = [f"{prefix}-{uuid.uuid4().hex[:4]}-{i}" for i in range(self.n)]

        def one(name: str):
            return self.client.containers.run(self.image, name=name, detach=True, labels={"SERVICE_NAME": SERVICE},
                                              network=self.network)

        pool = ThreadPoolExecutor(max_workers=32)
        try:
            return list(pool.map(one, names)), names
        finally:  # interrupted: start no more (the network's containers are removed on the way out)
            pool.shutdown(wait=True, cancel_futures=True)

    def remove(self, containers: list) -> None:
        """Kill, then prune in one call: hundreds of concurrent `rm -f` stall this engine for minutes."""
        with ThreadPoolExecutor(max_workers=16) as pool:
            list(pool.map(lambda c: c.kill(), containers))
        if self.network:  # a shared engine: prune would take other work's stopped containers too
            with ThreadPoolExecutor(max_workers=4) as pool:
                list(pool.map(lambda c: c.remove(force=True), containers))
        else:
            self.client.containers.prune()

    def registrator(self, tree: Tree, node: str) -> tuple[subprocess.Popen, Path, float]:
        log = self.workdir / f"{node}.log"
        env = {**os.environ, "DOCKER_HOST": self.host.host, "PYTHONUNBUFFERED": "1"}
        env.pop("CONSUL_HTTP_ADDR", None)
        cmd = [sys.executable, "-m", "registrator", "--node-id", node, "-internal", *tree.args,
               f"consul://{self.agent.http_addr}"]
        t0 = time.time()
        with open(log, "wb") as fh:
            proc = subprocess.Popen(cmd, env=env, cwd=tree.path, stdout=fh, stderr=subprocess.STDOUT)
        return proc, log, t0

    def wait_all(self, node: str, timeout: float = 180, proc: subprocess.Popen | None = None,
                 log: Path | None = None) -> tuple[float, float]:
        """(when all `node`'s services were seen, CPU seconds the registrator spent from its "registrator started"
        line until then: what the machine's load does not stretch)."""
        self.reader.expect(node, self.n)
        deadline = time.monotonic() + timeout
        cpu_up = None
        while not self.reader.seen_all and time.monotonic() < deadline:
            if proc and log and cpu_up is None and "registrator started" in log.read_text(errors="replace"):
                cpu_up = cpu_seconds(proc.pid)
            time.sleep(0.005)
        cpu = cpu_seconds(proc.pid) - cpu_up if proc and cpu_up is not None else 0.0
        return self.reader.seen_all, cpu

    def stop(self, proc: subprocess.Popen, node: str) -> tuple[int, int]:
        peak = rss_kb(proc.pid)[1]
        proc.terminate()
        proc.wait(30)
        mine = [sid for sid, s in (self.agent.api("/v1/agent/services") or {}).items()
                if (s.get("Meta") or {}).get("portside-node") == node]
        for sid in mine:
            self.agent.api(f"/v1/agent/service/deregister/{sid}", "PUT")
        return peak, len(mine)

    def startup(self, tree: Tree) -> str:
        node = f"{tree.label}-up-{uuid.uuid4().hex[:4]}"
        ok0, refused0 = self.reader.counts()
        proc, log, t0 = self.registrator(tree, node)
        seen, cpu = self.wait_all(node, proc=proc, log=log)
        time.sleep(0.5)
        ok1, refused1 = self.reader.counts()
        text = log.read_text(errors="replace")
        peak, count = self.stop(proc, node)
        up = started_at(text)
        if seen:
            self.figures.setdefault(f"{tree.label}:startup_s", []).append(seen - up)
            self.figures.setdefault(f"{tree.label}:startup_cpu_s", []).append(cpu)
        if not seen:
            return f"start-up: NOT all registered ({count}/{self.n}) within the timeout"
        return (f"start-up reconcile, {self.n} running: all registered {seen - t0:.2f} s after the process start, "
                f"{seen - up:.3f} s after 'registrator started' ({cpu:.2f} s of CPU); 429s: reader "
                f"{refused1 - refused0} of {ok1 - ok0 + refused1 - refused0}, registrator log {count_429(text)}; "
                f"RSS peak {peak / 1024:.1f} MB")

    def burst(self, tree: Tree) -> str:
        node = f"{tree.label}-b-{uuid.uuid4().hex[:4]}"
        proc, log, _ = self.registrator(tree, node)
        engines.wait_until(lambda: "registrator started" in log.read_text(errors="replace"), 60, "registrator")
        time.sleep(0.5)
        ok0, refused0 = self.reader.counts()
        self.reader.expect(node, self.n)
        cs, names = self.start_containers(f"{node}-c")
        seen, _ = self.wait_all(node)
        time.sleep(0.5)
        ok1, refused1 = self.reader.counts()
        engines.wait_until(lambda: all(nm in self.events.starts for nm in names), 30, "start events")
        last = max(self.events.starts[nm] for nm in names) / 1e9
        spread = last - min(self.events.starts[nm] for nm in names) / 1e9
        entries = self.agent.api(f"/v1/catalog/service/{SERVICE}") or []
        per = [e["ServiceMeta"].get("portside-container") for e in entries
               if e["ServiceMeta"].get("portside-node") == node]
        text = log.read_text(errors="replace")
        peak, _ = self.stop(proc, node)
        self.remove(cs)
        took = f"{(seen - last) * 1000:.0f} ms" if seen else "NOT all registered"
        if seen:
            self.figures.setdefault(f"{tree.label}:burst_ms", []).append((seen - last) * 1000)
        return (f"burst of {self.n} (starts spread over {spread:.1f} s): last start -> all registered {took}; "
                f"lost {self.n - len(set(per))}, duplicates {len(per) - len(set(per))}; 429s: reader "
                f"{refused1 - refused0} of {ok1 - ok0 + refused1 - refused0}, registrator log "
                f"{count_429(text)}; RSS peak {peak / 1024:.1f} MB")


def json_rows(figures: dict[str, list[float]], trees: list[Tree], n: int) -> list[dict]:
    """Medians per tree: the first tree is ours; a second, when given, is the anchor (its label names it).
    metabrainz/serviceregistrator cannot run here: it has no -internal (published ports only)."""
    def med(label: str, key: str) -> float | None:
        values = sorted(figures.get(f"{label}:{key}", []))
        return values[len(values) // 2] if values else None

    ours = trees[0].label
    other = trees[1].label if len(trees) > 1 else None
    note = "" if other else "no anchor: metabrainz/serviceregistrator has no -internal mode"
    name = other or ""
    return [row("registrator: start-up reconcile, 'started' -> all registered", n, med(ours, "startup_s"),
                med(other, "startup_s") if other else None, "s", name, note),
            row("registrator: start-up reconcile, CPU", n, med(ours, "startup_cpu_s"),
                med(other, "startup_cpu_s") if other else None, "s", name, note),
            row("registrator: burst (-internal), last start -> all registered", n, med(ours, "burst_ms"),
                med(other, "burst_ms") if other else None, "ms", name, note)]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--containers", type=int, default=300)
    ap.add_argument("--tree", action="append", default=[], help="label=DIR[:arg,arg] (repeatable)")
    ap.add_argument("--rounds", type=int, default=3, help="start-up rounds per tree")
    ap.add_argument("--burst-rounds", type=int, default=1, help="burst rounds per tree (0: none)")
    ap.add_argument("--subnet", default="198.19.248.0/22",
                    help="with DOCKER_HOST set: the engine there is used, with a network of this subnet")
    add_json_option(ap)
    args = ap.parse_args()
    trees = [Tree.parse(t) for t in args.tree] or [Tree("this", ROOT)]
    host: DockerHost | EngineNetwork
    if os.environ.get("DOCKER_HOST"):
        host = EngineNetwork(args.subnet)
    else:
        host = DockerHost("bench", "ps-bench0", "198.18.4.1/22", "base=198.19.0.0/18,size=24").start()
    agent = engines.ConsulAgent(node="bench-scale", acl=False).start()
    workdir = Path(agent.workdir)
    try:
        env = {**os.environ, "DOCKER_HOST": host.host}
        image = subprocess.run(["bash", str(ROOT / "scripts/web-image.sh")], env=env, check=True,
                               capture_output=True, text=True).stdout.strip().splitlines()[-1]
        b = Bench(host, agent, image, args.containers, workdir)
        print(f"registrator at scale  ({args.containers} containers, engine {b.client.version()['Version']}, "
              f"Consul dev agent, {os.cpu_count()} cores)")
        t0 = time.monotonic()
        running, _ = b.start_containers("up")
        print(f"  ({args.containers} containers started in {time.monotonic() - t0:.1f} s)")
        for r in range(args.rounds):  # alternating, so a change in the machine's load hits every tree alike
            for tree in trees:
                print(f"[{tree.label}] #{r + 1} {b.startup(tree)}  (load {os.getloadavg()[0]:.1f})", flush=True)
        b.remove(running)
        write_rows(args.json, json_rows(b.figures, trees, args.containers))  # kept if the burst is cut
        for r in range(args.burst_rounds):
            for tree in trees:
                print(f"[{tree.label}] #{r + 1} {b.burst(tree)}  (load {os.getloadavg()[0]:.1f})", flush=True)
        b.reader.stopped.set()
        b.events.stream.close()
        write_rows(args.json, json_rows(b.figures, trees, args.containers))
    finally:
        agent.stop()
        host.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
