"""dns-balancer vs Consul's own DNS vs a bare uvloop responder, with dnsperf, on loopback (run by dns_qps.sh).

One Consul dev agent with 50 services x 10 instances; the query file asks A and SRV for each service. Each run
gives every server saturating runs (qps, mean latency), then runs rate-limited to half its own max with
per-query latencies (-v) for p50/p99. Ours and the ceiling are measured in alternating segments (ours, ceiling,
ceiling, ours, ...), both the saturating and the rate-limited runs, so both see the same background, and Consul
after them (its Go runtime keeps working for a while after a burst). Several runs (default 5) on the same
servers; a table per run and one of the ratios: ours/consul qps, ours/ceiling qps, ours/ceiling p99 at half load
(target <= 1.2 in every run). `--only replay` adds the ceiling replaying ours' recorded replies (dns_ceiling.py
--replay): same reply sizes, none of our code.

The machine is shared: other work decides the tail unless the measured processes come first. With Linux
autogroups nice only counts inside a session, so (as root, --priority, default -10) each server, the Consul
agent and each dnsperf run in a session of their own whose autogroup gets that nice value: all three servers
alike, nothing else changed.

Where the tail came from: the scheduler. Unpinned, a server is often woken on dnsperf's CPU (the waker's), and
the two then take turns on one core while the other idles. Measured at 60-68k qps on the 2-core machine, 3 s
runs: ours had 35,000-63,000 involuntary context switches in three runs (p99 0.18-0.41 ms) and 685 in the
fourth (p99 0.12 ms); the replaying responder 430-2,800 (p99 0.11-0.39 ms), and 6,400-17,300 in runs where it
shared dnsperf's CPU (p99 2.3-3.3 ms). Which server a run caught it on decided the ratio. So dnsperf runs on
the first CPU and every Python server (ours, the ceilings) on the others; the Consul agent is left to the
scheduler, as confined to one core of two its DNS answered about half as many queries (--no-pin: leave every placement
to the scheduler)."""

from __future__ import annotations

import argparse
import contextlib
import os
import re
import subprocess
import sys
import tempfile
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from bench.benchjson import add_json_option, row, write_rows
from testbed import engines

ROOT = Path(__file__).resolve().parent.parent

SERVICES, INSTANCES = 50, 10
SERVERS = ("consul", "ours", "ceiling", "replay")
PLACEMENT: dict[str, list[int]] = {}  # "load" (dnsperf) and "servers": their CPUs, when pinned


def split_cpus(pin: bool) -> None:
    """dnsperf on the first CPU this process may use, the servers on the rest (with at least 2 CPUs)."""
    PLACEMENT.clear()
    cpus = sorted(os.sched_getaffinity(0))
    if pin and len(cpus) >= 2:
        PLACEMENT.update(load=cpus[:1], servers=cpus[1:])


def place(pid: int, role: str = "servers") -> None:
    """Every thread of `pid` on its role's CPUs (threads it starts later inherit it); no-op when not pinned."""
    cpus = PLACEMENT.get(role)
    if not cpus:
        return
    with contextlib.suppress(OSError):
        for tid in os.listdir(f"/proc/{pid}/task"):
            with contextlib.suppress(OSError):
                os.sched_setaffinity(int(tid), cpus)


def register_catalog(agent: engines.ConsulAgent) -> None:
    def one(job: tuple[int, int]) -> None:
        s, i = job
        agent.api("/v1/agent/service/register", "PUT", {
            "ID": f"svc{s:02d}-{i}", "Name": f"svc{s:02d}", "Address": f"127.1.{s}.{i + 1}", "Port": 8000 + i,
            "Tags": ["v1"],
        })

    with ThreadPoolExecutor(8) as pool:
        list(pool.map(one, [(s, i) for s in range(SERVICES) for i in range(INSTANCES)]))


def query_file(directory: str) -> str:
    path = os.path.join(directory, "queries.txt")
    with open(path, "w") as f:
        for s in range(SERVICES):
            f.write(f"svc{s:02d}.service.consul A\n_svc{s:02d}._tcp.service.consul SRV\n")
    return path


def prioritize(pid: int, nice: int) -> None:
    """Give the autogroup (session) of `pid` this nice value; no-op when 0 or not permitted."""
    if nice:
        with contextlib.suppress(OSError), open(f"/proc/{pid}/autogroup", "w") as f:
            f.write(str(nice))


def dnsperf(port: int, qfile: str, seconds: float, clients: int, qps: float | None = None,
            verbose: bool = False, nice: int = 0, server: str = "127.0.0.1") -> dict[str, float]:
    cmd = ["dnsperf", "-s", server, "-p", str(port), "-d", qfile, "-l", str(seconds), "-c", str(clients),
           "-T", "1"]
    if PLACEMENT.get("load"):  # set before it starts its threads
        cmd = ["taskset", "-c", ",".join(map(str, PLACEMENT["load"])), *cmd]
    if qps:
        cmd += ["-Q", str(int(qps))]
    if verbose:
        cmd.append("-v")
    with tempfile.TemporaryFile("w+") as sink:  # a file, not a pipe: reading -v output live would steal CPU
        proc = subprocess.Popen(cmd, stdout=sink, stderr=subprocess.STDOUT, start_new_session=True)
        prioritize(proc.pid, nice)
        if proc.wait() != 0:
            raise subprocess.CalledProcessError(proc.returncode, cmd)
        sink.seek(0)
        out = sink.read()
    result: dict[str, float] = {}
    if m := re.search(r"Queries per second:\s+([\d.]+)", out):
        result["qps"] = float(m.group(1))
    if m := re.search(r"Average Latency \(s\):\s+([\d.]+)", out):
        result["mean_ms"] = float(m.group(1)) * 1000
    if m := re.search(r"Queries lost:\s+(\d+)", out):
        result["lost"] = float(m.group(1))
    if verbose:
        latencies = [float(line.rsplit(" ", 1)[1]) for line in out.splitlines() if line.startswith("> ")]
        result.update(percentiles(latencies))
        result["samples"] = latencies  # type: ignore[assignment]
    return result


def percentiles(latencies: list[float]) -> dict[str, float]:
    lat = sorted(latencies)
    if not lat:
        return {}
    return {"p50_ms": lat[len(lat) // 2] * 1000, "p99_ms": lat[min(len(lat) - 1, int(len(lat) * 0.99))] * 1000}


def wait_http(url: str, check, timeout: float, what: str) -> None:
    def ok() -> bool:
        with urllib.request.urlopen(url, timeout=2) as resp:
            return bool(check(resp.read().decode()))

    engines.wait_until(ok, timeout, what, interval=0.2)


def start_servers(agent: engines.ConsulAgent, tmp: str, nice: int,
                  qfile: str, spin_ns: int = 0) -> tuple[dict[str, int], list[subprocess.Popen]]:
    """Ours (synced with the catalog), the ceiling and the replaying ceiling (ours' recorded replies), and with
    `spin_ns` the replaying ceiling with that much busy work per query ("spin"), each in its own session; returns
    their ports and processes (in that order)."""
    ours_port, http_port, ceiling_port, replay_port, spin_port = engines.free_ports(5)
    log = open(os.path.join(tmp, "dns-balancer.log"), "wb")  # noqa: SIM115
    ours = subprocess.Popen(
        [sys.executable, "-m", "dns_balancer", "--listen", f"127.0.0.1:{ours_port}", "--http-addr",
         f"127.0.0.1:{http_port}", "--log-level", "warning"], env={**os.environ, **agent.env}, cwd=ROOT, stdout=log,
        stderr=log, start_new_session=True)
    want = SERVICES * INSTANCES
    wait_http(f"http://127.0.0.1:{http_port}/metrics",
              lambda text: (m := re.search(r"^dns_balancer_zone_instances ([\d.]+)", text, re.M))
              and float(m.group(1)) >= want, 30, "dns-balancer mirror")
    ceilings = []
    replay = ["--replay", f"127.0.0.1:{ours_port}", qfile]
    spinning = [(spin_port, [*replay, "--spin", str(spin_ns)])] if spin_ns else []
    for port, extra in ((ceiling_port, []), (replay_port, replay), *spinning):
        ceiling = subprocess.Popen([sys.executable, str(ROOT / "bench" / "dns_ceiling.py"), str(port), *extra],
                                   stdout=subprocess.PIPE, text=True, start_new_session=True)
        assert ceiling.stdout is not None and ceiling.stdout.readline().strip() == "ready"
        ceilings.append(ceiling)
    for proc in (ours, *ceilings, agent.proc):
        prioritize(proc.pid, nice)  # type: ignore[union-attr]
    for proc in (ours, *ceilings):  # not Consul: a Go server confined to one core of two answers about half as much
        place(proc.pid)
    ports = {"consul": agent.ports["dns"], "ours": ours_port, "ceiling": ceiling_port, "replay": replay_port,
             "spin": spin_port}
    return ports, [ours, *ceilings]


def saturate(ports: dict[str, int], qfile: str, order: list[str], args: argparse.Namespace) -> dict[str, dict]:
    """Each server's saturating runs: `order` names it once per segment; qps, mean and lost are its segments'
    means. A max from one run moved by up to 46% between runs here, and half of it is the rate its tail is
    measured at; the segments average that out and let every server see the same background."""
    got: dict[str, list[dict[str, float]]] = {}
    for name in order:
        time.sleep(2 if name == "consul" else 1)  # let the previous server settle
        seconds = args.duration / order.count(name)
        got.setdefault(name, []).append(dnsperf(ports[name], qfile, seconds, args.clients, nice=args.priority))
    return {name: {key: sum(r.get(key, 0) for r in runs) / len(runs) for key in ("qps", "mean_ms", "lost")}
            for name, runs in got.items()}


def one_run(ports: dict[str, int], qfile: str, args: argparse.Namespace) -> dict[str, dict[str, float]]:
    group = [name for name in ("ours", "ceiling", "replay") if name in args.only]
    order = [name for seg in range(args.segments) for name in (group if seg % 2 == 0 else group[::-1])]
    # Consul after the others: its Go runtime keeps working for a while after a burst
    order += ["consul"] * ("consul" in args.only)
    results = saturate(ports, qfile, order, args)
    samples: dict[str, list[float]] = {name: [] for name in args.only}
    for name in order:
        time.sleep(1)
        half = results[name].get("qps", 0) / 2
        seconds = args.latency_duration / order.count(name)
        lat = dnsperf(ports[name], qfile, seconds, args.clients, qps=half, verbose=True, nice=args.priority)
        samples[name] += lat.pop("samples", [])  # type: ignore[arg-type]
        results[name]["half_qps"] = results[name].get("half_qps", 0) + lat.get("qps", 0) * seconds
    for name in args.only:
        seconds = args.latency_duration
        results[name]["half_qps"] = results[name].get("half_qps", 0) / seconds
        results[name].update({f"half_{k}": v for k, v in percentiles(samples[name]).items()})
    return results


def server_cpu(pid: int) -> float:
    """CPU seconds (user + system) the process has used."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def preempted(pid: int) -> int:
    """Involuntary context switches of the process's main thread (the one that answers) so far."""
    with open(f"/proc/{pid}/status") as f:
        return next(int(line.split()[1]) for line in f if line.startswith("nonvoluntary_ctxt_switches"))


def equal_rates(ports: dict[str, int], pids: dict[str, int], qfile: str,
                args: argparse.Namespace) -> dict[int, dict[str, dict[str, float]]]:
    """Every server at the same offered rates, in alternating segments: p50/p99 and the server's CPU per query.
    Separates what a server's code costs from where the machine itself starts queueing; with --spin, how the tail
    grows with a server's time per packet alone."""
    out: dict[int, dict[str, dict[str, float]]] = {}
    group = [name for name in ("ours", "ceiling", "replay", "spin") if name in pids]
    for rate in args.equal_rates:
        samples: dict[str, list[float]] = {name: [] for name in group}
        cpu = dict.fromkeys(group, 0.0)
        inv = dict.fromkeys(group, 0)
        for seg in range(args.segments):
            for name in group if seg % 2 == 0 else group[::-1]:
                time.sleep(0.5)
                before, inv_before = server_cpu(pids[name]), preempted(pids[name])
                lat = dnsperf(ports[name], qfile, args.latency_duration / args.segments, args.clients, qps=rate,
                              verbose=True, nice=args.priority)
                cpu[name] += server_cpu(pids[name]) - before
                inv[name] += preempted(pids[name]) - inv_before
                samples[name] += lat.pop("samples", [])  # type: ignore[arg-type]
        out[rate] = {name: {**percentiles(samples[name]), "cpu_us": 1e6 * cpu[name] / max(len(samples[name]), 1),
                            "preempted": inv[name]} for name in group}
    return out


def print_equal_rates(table: dict[int, dict[str, dict[str, float]]]) -> None:
    if not table:
        return
    print(f"\nsame offered rate for every server: {'rate':>7} {'server':<8} {'p50 ms':>7} {'p99 ms':>7} "
          f"{'CPU us/query':>13} {'p99 / ceiling':>14} {'preempted':>10}")
    for rate, by_server in table.items():
        ceil = by_server.get("ceiling", {}).get("p99_ms", 0)
        for name, r in by_server.items():
            print(f"{'':>35} {rate:>7} {name:<8} {r.get('p50_ms', 0):>7.3f} {r.get('p99_ms', 0):>7.3f} "
                  f"{r['cpu_us']:>13.2f} {r.get('p99_ms', 0) / max(ceil, 1e-9):>13.2f}x {r.get('preempted', 0):>10}",
                  flush=True)


def print_run(n: int, results: dict[str, dict[str, float]]) -> None:
    print(f"run {n}: {'server':<9} {'max qps':>9} {'mean ms':>8} {'lost':>6}   {'@half qps':>9} {'p50 ms':>7} "
          f"{'p99 ms':>7}")
    for name, r in results.items():
        print(f"       {name:<9} {r.get('qps', 0):>9.0f} {r.get('mean_ms', 0):>8.3f} {r.get('lost', 0):>6.0f}   "
              f"{r.get('half_qps', 0):>9.0f} {r.get('half_p50_ms', 0):>7.3f} {r.get('half_p99_ms', 0):>7.3f}",
              flush=True)


def print_ratios(runs: list[dict[str, dict[str, float]]]) -> None:
    if not runs or not {"ours", "ceiling"} <= runs[0].keys():
        return
    print()
    print(f"{'run':>3} {'ours/consul qps':>16} {'ours/ceiling qps':>17} {'p99 ours':>9} {'p99 ceiling':>12} "
          f"{'p99 ours/ceiling':>17}")
    met = 0
    for i, r in enumerate(runs, 1):
        ours, ceil = r["ours"], r["ceiling"]
        vs_consul = f"{ours['qps'] / r['consul']['qps']:>15.1f}x" if "consul" in r else f"{'-':>16}"
        ratio = ours.get("half_p99_ms", float("inf")) / max(ceil.get("half_p99_ms", 0), 1e-9)
        met += ratio <= 1.2
        print(f"{i:>3} {vs_consul} {ours['qps'] / ceil['qps']:>17.2f} "
              f"{ours.get('half_p99_ms', 0):>9.3f} {ceil.get('half_p99_ms', 0):>12.3f} {ratio:>16.2f}x "
              f"{'OK' if ratio <= 1.2 else 'MISSED'}")
    print(f"p99 within 1.2x of the bare uvloop responder: {met} of {len(runs)} runs")
    if "replay" in runs[0]:
        ratios = [r["replay"].get("half_p99_ms", 0) / max(r["ceiling"].get("half_p99_ms", 0), 1e-9) for r in runs]
        print("replaying ceiling (ours' replies, no code) p99 / ceiling p99: " + " ".join(f"{x:.2f}" for x in ratios))


def json_rows(runs: list[dict[str, dict[str, float]]],
              same: dict[int, dict[str, dict[str, float]]] | None = None, spin_ns: int = 0) -> list[dict]:
    """Medians over the runs: ours vs Consul's DNS (the anchor); the bare responder is in the note."""
    def med(name: str, key: str) -> float | None:
        values = sorted(r[name][key] for r in runs if name in r and key in r[name])
        return values[len(values) // 2] if values else None

    size = SERVICES * INSTANCES
    ceiling = (f"bare uvloop responder: {med('ceiling', 'qps') or 0:.0f} qps, "
               f"p99 {med('ceiling', 'half_p99_ms') or 0:.3f} ms")
    return [row("DNS max qps (A+SRV)", size, med("ours", "qps"), med("consul", "qps"), "queries/s", "Consul DNS",
                ceiling),
            row("DNS p99 at half of own max qps", size, med("ours", "half_p99_ms"), med("consul", "half_p99_ms"), "ms",
                "Consul DNS", ceiling),
            *(row(f"DNS p99 at {rate} qps, every server at this rate", size, r["ours"].get("p99_ms"),
                  r["ceiling"].get("p99_ms"), "ms", "bare uvloop responder",
                  f"CPU per query: ours {r['ours']['cpu_us']:.1f} us, bare {r['ceiling']['cpu_us']:.1f} us"
                  + (f"; bare replaying our replies: p99 {r['replay'].get('p99_ms', 0):.3f} ms, "
                     f"{r['replay']['cpu_us']:.1f} us" if "replay" in r else "")
                  + (f"; the same + {spin_ns} ns busy work per query: p99 {r['spin'].get('p99_ms', 0):.3f} ms, "
                     f"{r['spin']['cpu_us']:.1f} us" if "spin" in r else ""))
              for rate, r in (same or {}).items() if {"ours", "ceiling"} <= r.keys())]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--duration", type=float, default=10, help="seconds per saturating run")
    ap.add_argument("--latency-duration", type=float, default=8, help="seconds at half load per server and run")
    ap.add_argument("--segments", type=int, default=4, help="alternating half-load segments of ours and ceiling")
    ap.add_argument("--clients", type=int, default=4)
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--priority", type=int, default=-10 if os.geteuid() == 0 else 0,
                    help="autogroup nice of the measured processes (root; 0: leave as is)")
    ap.add_argument("--no-pin", dest="pin", action="store_false",
                    help="leave CPU placement to the scheduler (default: dnsperf on CPU 0, the servers on the others)")
    ap.add_argument("--only", choices=SERVERS, action="append")
    ap.add_argument("--equal-rates", type=lambda text: [int(x) for x in text.split(",") if x],
                    default=[30000, 50000, 70000],
                    help="after the runs, ours and both ceilings at each of these offered qps (comma-separated; empty: "
                    "none), with each one's CPU per query")
    ap.add_argument("--spin", type=int, default=0, metavar="NS",
                    help="in the same-rate runs, also the replaying ceiling with NS ns of busy work per query")
    add_json_option(ap)
    args = ap.parse_args()
    args.only = args.only or list(SERVERS[:3])
    split_cpus(args.pin)
    procs: list[subprocess.Popen] = []
    agent = engines.ConsulAgent(node="bench")
    tmp = tempfile.mkdtemp(prefix="dnsbench-")
    try:
        agent.start()
        t0 = time.monotonic()
        register_catalog(agent)
        print(f"catalog: {SERVICES} services x {INSTANCES} instances registered in {time.monotonic() - t0:.1f}s; "
              f"{args.runs} runs, dnsperf -c {args.clients} -T 1, priority {args.priority}, "
              + (f"dnsperf on CPU {PLACEMENT['load']}, servers on {PLACEMENT['servers']}" if PLACEMENT
                 else "CPU placement left to the scheduler"), flush=True)
        qfile = query_file(tmp)
        ports, procs = start_servers(agent, tmp, args.priority, qfile, args.spin)
        runs = []
        for n in range(1, args.runs + 1):
            runs.append(one_run(ports, qfile, args))
            print_run(n, runs[-1])
        print_ratios(runs)
        pids = {name: p.pid for name, p in zip(("ours", "ceiling", "replay", "spin"), procs, strict=False)}
        same = equal_rates(ports, pids, qfile, args)
        print_equal_rates(same)
        write_rows(args.json, json_rows(runs, same, args.spin))
        return 0
    finally:
        for p in procs:
            p.terminate()
        for p in procs:
            try:
                p.wait(10)
            except subprocess.TimeoutExpired:
                p.kill()
        agent.stop()


if __name__ == "__main__":
    sys.exit(main())
