"""The catalog feed at scale, on a stock Consul dev agent (http_max_conns_per_client = 200 by default).

    .venv/bin/python bench/scale_feed.py [--sizes 50,100,1000,5000] [--instances 10] [--nodes 100] [--flips 20]
                                         [--anchor] [--json PATH]

For each catalog size (services x instances, bulk-loaded through /v1/txn on made-up nodes, growing):
1. first full sync: the feed alone (in-process), dns-balancer (until /health says its zone is served), then
   consul-templates with a template over every service (until the file lists every service), each timed from
   its own start while nothing else starts, with the most connections each daemon held to the agent at once
   (ss, until 3 s after the file is complete) and the 429s it got;
2. at the smallest and the largest size: one change -> DNS answer, and -> rendered file, p50/p99 over `flips`
   health flips of one instance's check; ours and the anchors in passes of their own, the other side stopped.
With --anchor, side by side over the same catalog: consul-template v0.41.1 rendering every service (first sync,
flips -> its file) and Consul's own DNS (qps, flips -> its answer); the agent then allows 8192 connections per
client, as consul-template holds one per service (bench/scale_anchor.py).
Bounded: every wait has a timeout; the load is the slow part (~3 min for 5,000 x 10 on 2 busy cores).
"""

from __future__ import annotations

import argparse
import asyncio
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path

from bench import machine
from bench.benchjson import add_json_option, write_rows
from bench.render_latency import CT_BIG
from bench.scale_anchor import Anchor, anchor_agent, consul_dns_count, json_rows, srv_count, upstream_count
from dns_balancer.zone import ZoneConfig, build_zone, plan
from portside.catalog import Catalog, Instance
from portside.consul import ConsulClient
from portside.feed import Feed
from portside.settings import consul_settings
from testbed import bulk, engines

ROOT = Path(__file__).resolve().parent.parent
EVERY = bulk.EVERY_SERVICE_TEMPLATE
SETTLE = 3.0  # seconds the connection counts go on after consul-templates' file is complete


class Peak(threading.Thread):
    """Most established connections `pid` held to the agent's port at once, sampled every 50 ms."""

    def __init__(self, port: int, pid: int) -> None:
        super().__init__(daemon=True)
        self.port, self.pid, self.peak, self.stop = port, pid, 0, threading.Event()

    def run(self) -> None:
        while not self.stop.is_set():
            out = subprocess.run(["ss", "-tnpH", "state", "established", f"( dport = :{self.port} )"],
                                 capture_output=True, text=True).stdout
            self.peak = max(self.peak, len(re.findall(rf"pid={self.pid},", out)))
            self.stop.wait(0.05)


async def feed_sync(addr: str) -> tuple[float, int]:
    client = await ConsulClient.open(consul_settings(address=addr))
    feed = Feed(client)
    started = time.perf_counter()
    task = asyncio.create_task(feed.run())
    try:
        await asyncio.wait_for(feed.synced.wait(), 300)
        return time.perf_counter() - started, feed.stats["fetches"]
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        await client.close()


class Daemons:
    """dns-balancer and consul-templates (template over every service) as processes on one agent; consul-templates
    starts when `start_ct` says, so each one's start-up can be timed with the machine to itself."""

    def __init__(self, agent: engines.ConsulAgent, work: Path) -> None:
        self.agent, self.work = agent, work
        self.dns_port, self.http_port = engines.free_ports(2)
        self.src, self.dest = work / "every.j2", work / "every.conf"
        self.src.write_text(EVERY)
        self.dest.unlink(missing_ok=True)
        self.env = {"CONSUL_HTTP_ADDR": f"http://{agent.http_addr}", "PATH": "/usr/bin:/bin"}
        self.logs = [open(work / "dnsb.log", "wb"), open(work / "ct.log", "wb")]  # noqa: SIM115
        self.dnsb = subprocess.Popen([sys.executable, "-m", "dns_balancer", "--listen", f"127.0.0.1:{self.dns_port}",
                                      "--http-addr", f"127.0.0.1:{self.http_port}", "--ttl", "0"],
                                     env=self.env, cwd=ROOT, stdout=self.logs[0], stderr=subprocess.STDOUT)
        self.ct: subprocess.Popen | None = None
        self.go: subprocess.Popen | None = None
        self.go_dest = work / "every-go.conf"

    def start_ct(self) -> subprocess.Popen:
        self.ct = subprocess.Popen([sys.executable, "-m", "consul_templates", "--template", f"{self.src}:{self.dest}",
                                    "--log-level", "warning"], env=self.env, cwd=ROOT, stdout=self.logs[1],
                                   stderr=subprocess.STDOUT)
        return self.ct

    def start_go(self, services: int) -> None:
        """A second consul-templates over consul-template's own .ctmpl of the same file (CT_BIG), as a user who
        switches brings it; until its file lists every service."""
        src, self.go_dest = self.work / "every.ctmpl", self.work / "every-go.conf"
        src.write_text(CT_BIG)
        self.go_dest.unlink(missing_ok=True)
        self.logs.append(open(self.work / "ct-go.log", "wb"))  # noqa: SIM115
        self.go = subprocess.Popen([sys.executable, "-m", "consul_templates", "--template",
                                    f"{src}:{self.go_dest}", "--log-level", "warning"], env=self.env, cwd=ROOT,
                                   stdout=self.logs[-1], stderr=subprocess.STDOUT)
        engines.wait_until(lambda: self.go_dest.exists() and self.go_dest.read_text().count("upstream ") > services,
                           600, f"consul-templates (.ctmpl) sync of {services} services", interval=0.05)

    def dns_ready(self) -> bool:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.http_port}/health", timeout=2) as r:
                return r.status == 200
        except OSError:
            return False

    def srv_count(self, name: str) -> int:
        return srv_count(self.dns_port, name)

    def upstream_count(self, name: str) -> int:
        return upstream_count(self.dest, name)

    def responses_429(self) -> float:
        with urllib.request.urlopen(f"http://127.0.0.1:{self.http_port}/metrics", timeout=2) as r:
            m = re.search(r'dns_balancer_consul_responses_total\{code="429"\} ([0-9.e+]+)', r.read().decode())
        return float(m.group(1)) if m else 0.0

    def stop_ct(self) -> None:
        """Stop the Jinja consul-templates (its log stays)."""
        if self.ct is not None and self.ct.poll() is None:
            self.ct.terminate()
            self.ct.wait(10)

    def stop_jinja(self) -> None:
        """Stop dns-balancer and the Jinja consul-templates (their logs stay)."""
        for p in (self.dnsb, self.ct):
            if p is not None and p.poll() is None:
                p.terminate()
                p.wait(10)

    def close(self) -> str:
        """Stop every daemon; consul-templates' log (Jinja)."""
        for p in (self.dnsb, self.ct, self.go):
            if p is not None and p.poll() is None:
                p.terminate()
                p.wait(10)
        for log in self.logs:
            log.close()
        return (self.work / "ct.log").read_text(errors="replace")


def sync_row(agent: engines.ConsulAgent, services: int, work: Path) -> tuple[Daemons, dict[str, float]]:
    seconds, reads = asyncio.run(feed_sync(agent.http_addr))
    row = {"feed_s": seconds, "feed_reads": reads}
    # one daemon after the other, each timed from its own start with the machine to itself (as the anchor is)
    started = time.perf_counter()
    d = Daemons(agent, work)
    peaks = [Peak(agent.ports["http"], d.dnsb.pid)]
    peaks[0].start()
    engines.wait_until(d.dns_ready, 600, f"dns-balancer sync of {services} services", interval=0.05)
    row["dns_s"] = time.perf_counter() - started
    started = time.perf_counter()
    peaks.append(Peak(agent.ports["http"], d.start_ct().pid))
    peaks[1].start()
    engines.wait_until(lambda: d.dest.exists() and d.dest.read_text().count("upstream ") > services, 600,
                       f"consul-templates sync of {services} services", interval=0.05)
    row["ct_s"] = time.perf_counter() - started
    time.sleep(SETTLE)  # consul-templates follows its services after the first render: count those too
    for p in peaks:
        p.stop.set()
        p.join()
    row["dns_conns"], row["ct_conns"] = peaks[0].peak, peaks[1].peak
    return d, row


QPS_RUNS = 3  # dnsperf runs per figure: the median is reported (one run on the 2 shared cores moved by up to 30%)


def qps(port: int, services: int, seconds: float) -> float:
    """dnsperf against the DNS server on `port`, QPS_RUNS runs of `seconds`, the median: A and SRV questions for up to
    50 services spread over the catalog (the same number of names at every size, so only the catalog's size
    changes)."""
    names = [f"svc{k * services // 50}" for k in range(min(50, services))]
    with tempfile.NamedTemporaryFile("w", suffix=".q", delete=False) as qf:
        for name in names:
            qf.write(f"{name}.service.consul A\n{name}.service.consul SRV\n")
    runs = []
    for _ in range(QPS_RUNS):
        out = subprocess.run(["dnsperf", "-s", "127.0.0.1", "-p", str(port), "-d", qf.name, "-l",
                              str(seconds), "-c", "4", "-T", "1"], capture_output=True, text=True).stdout
        m = re.search(r"Queries per second:\s+([\d.]+)", out)
        runs.append(float(m.group(1)) if m else float("nan"))
    Path(qf.name).unlink()
    print(f"qps on port {port} at {services} services: " + " / ".join(f"{q:.0f}" for q in runs), file=sys.stderr,
          flush=True)
    return statistics.median(runs)


FLIP_SETTLE = 2.0  # seconds between a side catching up and its first flip (see flip_pass)


def ours_flips(agent: engines.ConsulAgent, d: Daemons, layout: bulk.Layout, n: int) -> dict[str, list[float]]:
    """One change -> our file (file), both daemons running; then consul-templates stopped and, in a pass of its
    own, -> our DNS answer (dns). Each side alone, as Consul's DNS is measured: at 5,000 services consul-templates
    renders 2 MB on every flip (~10 ms of CPU on the same 2 cores), and with it running the DNS flips took
    13.3-27.2 ms in one run where alone they take 5-9 ms. Polled apart: asking the DNS over TCP every ms took the
    bench ~0.5 ms of CPU a time, which the file's daemon then waited for."""
    got = flip_pass(agent, {"file": lambda: d.upstream_count("svc7")}, layout, n)
    d.stop_ct()
    got.update(flip_pass(agent, {"dns": lambda: d.srv_count("svc7.service.consul")}, layout, n))
    return got


def go_flips(agent: engines.ConsulAgent, d: Daemons, layout: bulk.Layout, n: int) -> dict[str, list[float]]:
    """The same through consul-templates over the .ctmpl (go_file), alone: the other two daemons are stopped
    first (each re-rendered or re-planned on every flip, on the same 2 cores)."""
    d.stop_jinja()
    d.start_go(layout.services)
    return flip_pass(agent, {"go_file": lambda: upstream_count(d.go_dest, "svc7")}, layout, n)


def anchor_flips(agent: engines.ConsulAgent, anchor: Anchor, layout: bulk.Layout, n: int) -> dict[str, list[float]]:
    """One change -> consul-template's file (ct_file), ours stopped: on 2 cores consul-template's ~150 ms render
    of 5,000 services per flip took the CPU our daemons needed for the same flip, and the reverse. (Stopped, not
    paused: with consul-template under SIGSTOP the agent spent ~115 ms more CPU per flip on its 5,000 unread
    blocking queries.)"""
    return flip_pass(agent, {"ct_file": lambda: anchor.upstream_count("svc7")}, layout, n)


def consul_dns_flips(agent: engines.ConsulAgent, layout: bulk.Layout, n: int) -> dict[str, list[float]]:
    """One change -> Consul's own DNS answer (consul_dns), with the agent to itself (as ours is measured)."""
    return flip_pass(agent, {"consul_dns": lambda: consul_dns_count(agent, "svc7.service.consul")}, layout, n)


def flip_pass(agent: engines.ConsulAgent, targets: dict[str, Callable[[], int]], layout: bulk.Layout,
              n: int) -> dict[str, list[float]]:
    """`n` health flips of one instance's check, each timed until every target shows it (polled together, every
    ms); first every target must show the catalog as it is."""
    node, sid, _ = layout.placement(7, 1)
    engines.wait_until(lambda: all(count() == layout.instances for count in targets.values()), 30,
                       f"{sorted(targets)} caught up", interval=0.05)
    # A daemon that has just written its first file is still starting: consul-templates then sets up the
    # blocking queries of the services it follows, whose first answers all come at once (a flip in that window
    # took 80.9 ms at 100 services where the next nine took 7.7-8.3 ms), and consul-template opens its own.
    # Every side gets the same pause: these rows are the steady state, start-up has rows of its own.
    time.sleep(FLIP_SETTLE)
    idle = machine.wait_quiet()
    print(f"flips -> {' '.join(sorted(targets))}: CPU {idle:.0%} idle before the first", file=sys.stderr, flush=True)
    out: dict[str, list[float]] = {name: [] for name in targets}
    for k in range(n):
        status, want = ("critical", layout.instances - 1) if k % 2 == 0 else ("passing", layout.instances)
        t0 = time.perf_counter()
        bulk.txn(agent.http_addr, [bulk.check_op(node, sid, status)])
        got: dict[str, float] = {}
        while len(got) < len(targets):
            if time.perf_counter() - t0 > 30:
                raise TimeoutError(f"flip {k}: seen by {sorted(got)} only")
            for name, count in targets.items():
                if name not in got and count() == want:
                    got[name] = (time.perf_counter() - t0) * 1000
            time.sleep(0.001)
        for name, ms in got.items():
            out[name].append(ms)
        time.sleep(0.2)
    for name, ms in out.items():  # in order: a slow first flip is the daemon's start-up, not its steady state
        print(f"flips -> {name} (ms, in order): " + " ".join(f"{x:.1f}" for x in ms), file=sys.stderr, flush=True)
    if n % 2:  # leave the instance passing, as the next pass expects
        bulk.txn(agent.http_addr, [bulk.check_op(node, sid, "passing")])
    return out


def zone_change_ms(services: int, instances: int) -> float:
    """The zone's cost of one changed service at this catalog size (built once, then 20 one-service changes)."""
    insts = {f"svc{s}": tuple(Instance(f"svc{s}-{i}", f"svc{s}", f"node{(s + i) % 100}", f"127.1.0.{(s + i) % 100}",
                                       20000 + i, node_address=f"127.1.0.{(s + i) % 100}", tags=("bulk",))
                              for i in range(instances)) for s in range(services)}
    catalog = Catalog(datacenter="dc1").with_services(insts, 5)
    zone = build_zone(catalog, ZoneConfig())
    times = []
    for k in range(20):
        name = f"svc{(k * 7) % services}"
        catalog = catalog.with_services({name: catalog.services[name][: instances - 1 - k % 2]}, 6 + k)
        t0 = time.perf_counter()
        zone.apply(plan(catalog, {name}, zone, nodes=False))
        times.append((time.perf_counter() - t0) * 1000)
    return statistics.median(times)


def pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


def print_summary(args: argparse.Namespace, sizes: list[int], rows: list[tuple[int, dict[str, float]]],
                  latency: dict[int, dict[str, list[float]]]) -> None:
    print(f"\n| services x {args.instances} | feed sync (s, reads) | dns-balancer serving (s) "
          "| consul-templates file (s) | most connections dns / ct | 429 dns / ct | DNS qps |"
          "\n|---|---|---|---|---|---|---|")
    for size, r in rows:
        print(f"| {size} | {r['feed_s']:.2f} ({r['feed_reads']:.0f}) | {r['dns_s']:.1f} | {r['ct_s']:.1f} | "
              f"{r['dns_conns']:.0f} / {r['ct_conns']:.0f} | {r['dns_429']:.0f} / {r['ct_429']:.0f} | "
              f"{r.get('qps', float('nan')):.0f} |")
    print("\none change -> zone updated (in-process, plan + apply), p50 over 20 changes:")
    for size in sizes:
        print(f"  {size} services: {zone_change_ms(size, args.instances):.2f} ms")
    print("\n| services | target | change -> p50 / p99 (ms) |\n|---|---|---|")
    for size, by_target in sorted(latency.items()):
        for target, ms in by_target.items():
            print(f"| {size} | {target} | {pct(ms, 50):.1f} / {pct(ms, 99):.1f} |")
    if len(latency) == 2:
        small, big = sorted(latency)
        for target in latency[big]:
            ratio = statistics.median(latency[big][target]) / statistics.median(latency[small][target])
            print(f"change -> {target} p50 at {big} / at {small} services: {ratio:.2f}x")
    if args.anchor:
        print("\n" + "\n".join(f"{size}: consul-template file {r.get('anchor_s', float('nan')):.1f} s, "
                                f"Consul DNS {r.get('consul_qps', float('nan')):.0f} qps" for size, r in rows))


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", default="50,100,1000,5000")
    parser.add_argument("--instances", type=int, default=10)
    parser.add_argument("--nodes", type=int, default=100)
    parser.add_argument("--flips", type=int, default=20)
    parser.add_argument("--qps-seconds", type=float, default=5.0, help="each of the 3 dnsperf runs per size (0: none)")
    parser.add_argument("--anchor", action="store_true",
                        help="side by side with the anchors: Consul's own DNS (qps, flips) and consul-template "
                        "v0.41.1 (first sync, flips) over the same catalog; the agent then allows 8192 connections "
                        "per client, since consul-template holds one per service")
    parser.add_argument("--go", action="store_true",
                        help="also flips through consul-templates over consul-template's .ctmpl of the same file "
                        "(at the smallest and largest size), in a pass of their own with consul-template")
    add_json_option(parser)
    return parser.parse_args()


def main() -> int:
    args = parse_args()
    sizes = sorted(int(s) for s in args.sizes.split(","))
    agent = anchor_agent() if args.anchor else engines.ConsulAgent(node="scale-bench", acl=False).start()
    work = Path(tempfile.mkdtemp(prefix="scale-feed-"))
    rows: list[tuple[int, dict[str, float]]] = []
    latency: dict[int, dict[str, list[float]]] = {}
    loaded = 0
    try:
        for size in sizes:
            layout = bulk.Layout(size, args.instances, args.nodes)
            t0 = time.perf_counter()
            bulk.load(agent.http_addr, bulk.ops_for(layout, start=loaded))
            loaded = size
            print(f"{size} x {args.instances}: loaded in {time.perf_counter() - t0:.1f}s", file=sys.stderr, flush=True)
            d, row = sync_row(agent, size, work)
            anchor = None
            ends = size in (sizes[0], sizes[-1])
            try:
                # ours first, then ours stopped and the anchor started: each side's figures with the machine to
                # itself (and the agent), as each start-up is timed
                if shutil.which("dnsperf") and args.qps_seconds > 0:
                    row["qps"] = qps(d.dns_port, size, args.qps_seconds)
                if ends:
                    latency[size] = ours_flips(agent, d, layout, args.flips)
                row["dns_429"] = d.responses_429()
                if ends and args.go:
                    latency[size].update(go_flips(agent, d, layout, args.flips))
                ct_log = d.close()
                if args.anchor:
                    # Consul's DNS with the agent to itself, as ours: then consul-template, started and timed
                    if shutil.which("dnsperf") and args.qps_seconds > 0:
                        row["consul_qps"] = qps(agent.ports["dns"], size, args.qps_seconds)
                    if ends:
                        latency[size].update(consul_dns_flips(agent, layout, args.flips))
                    anchor = Anchor(agent, work)
                    row.update(anchor.sync(size))
                    if ends:
                        theirs = anchor_flips(agent, anchor, layout, args.flips)
                        latency[size].update(theirs)
                        latency[size]["ct_file_go"] = theirs["ct_file"]  # the same file: the .ctmpl row's anchor
            finally:
                if anchor is not None:
                    row["anchor_429"] = anchor.close()
                ct_log = d.close()
            row["ct_429"] = float(ct_log.count(" 429 "))
            rows.append((size, row))
            print(f"{size}: {row}", file=sys.stderr, flush=True)
            write_rows(args.json, json_rows(rows, latency, args.instances, pct))  # kept if a later size is cut
    finally:
        agent.stop()
        shutil.rmtree(work, ignore_errors=True)
    print_summary(args, sizes, rows, latency)
    write_rows(args.json, json_rows(rows, latency, args.instances, pct))
    return 0


if __name__ == "__main__":
    sys.exit(main())
