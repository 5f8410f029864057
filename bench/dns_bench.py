"""dns-balancer vs Consul's own DNS vs a bare uvloop responder, with dnsperf, on loopback (run by dns_qps.sh).

One Consul dev agent with 50 services x 10 instances; the query file asks A and SRV for each service. Each
server gets a saturating run (qps, mean latency), then a run rate-limited to half its own max with per-query
latencies (-v) for p50/p99. Prints a table and the ratios against the targets."""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import tempfile
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from testbed import engines

ROOT = Path(__file__).resolve().parent.parent

SERVICES, INSTANCES = 50, 10


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


def dnsperf(port: int, qfile: str, seconds: float, clients: int, qps: float | None = None,
            verbose: bool = False) -> dict[str, float]:
    cmd = ["dnsperf", "-s", "127.0.0.1", "-p", str(port), "-d", qfile, "-l", str(seconds), "-c", str(clients),
           "-T", "1"]
    if qps:
        cmd += ["-Q", str(int(qps))]
    if verbose:
        cmd.append("-v")
    with tempfile.TemporaryFile("w+") as sink:  # a file, not a pipe: reading -v output live would steal CPU
        subprocess.run(cmd, stdout=sink, stderr=subprocess.STDOUT, check=True)
        sink.seek(0)
        out = sink.read()
    result: dict[str, float] = {}
    if m := re.search(r"Queries per second:\s+([\d.]+)", out):
        result["qps"] = float(m.group(1))
    if m := re.search(r"Average Latency \(s\):\s+([\d.]+)", out):
        result["mean_ms"] = float(m.group(1)) * 1000
    if m := re.search(r"Queries lost:\s+(\d+)", out):
        result["lost"] = float(m.group(1))
    if m := re.search(r"Response codes:\s+(.*)", out):
        result["codes"] = 0.0
        print(f"    response codes: {m.group(1).strip()}", flush=True)
    if verbose:
        lat = sorted(float(line.rsplit(" ", 1)[1]) for line in out.splitlines() if line.startswith("> "))
        if lat:
            result["p50_ms"] = lat[len(lat) // 2] * 1000
            result["p99_ms"] = lat[min(len(lat) - 1, int(len(lat) * 0.99))] * 1000
    return result


def wait_http(url: str, check, timeout: float, what: str) -> None:
    def ok() -> bool:
        with urllib.request.urlopen(url, timeout=2) as resp:
            return bool(check(resp.read().decode()))

    engines.wait_until(ok, timeout, what, interval=0.2)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--duration", type=float, default=10, help="seconds per saturating run")
    ap.add_argument("--latency-duration", type=float, default=5, help="seconds per half-load run")
    ap.add_argument("--clients", type=int, default=4)
    ap.add_argument("--only", choices=["consul", "ours", "ceiling"], action="append")
    args = ap.parse_args()

    procs: list[subprocess.Popen] = []
    agent = engines.ConsulAgent(node="bench")
    tmp = tempfile.mkdtemp(prefix="dnsbench-")
    try:
        agent.start()
        t0 = time.monotonic()
        register_catalog(agent)
        print(f"catalog: {SERVICES} services x {INSTANCES} instances registered in {time.monotonic() - t0:.1f}s")
        ours_port, http_port, ceiling_port = engines.free_ports(3)
        env = {**os.environ, **agent.env}
        log = open(os.path.join(tmp, "dns-balancer.log"), "wb")  # noqa: SIM115
        procs.append(subprocess.Popen(
            [sys.executable, "-m", "dns_balancer", "--listen", f"127.0.0.1:{ours_port}", "--http-addr",
             f"127.0.0.1:{http_port}", "--log-level", "warning"], env=env, cwd=ROOT, stdout=log, stderr=log))
        want = SERVICES * INSTANCES
        wait_http(f"http://127.0.0.1:{http_port}/metrics",
                  lambda text: re.search(r"^dns_balancer_zone_instances (\d+)", text, re.M)
                  and int(float(re.search(r"^dns_balancer_zone_instances ([\d.]+)", text, re.M).group(1))) > want,
                  30, "dns-balancer mirror")
        ceiling = subprocess.Popen([sys.executable, str(ROOT / "bench" / "dns_ceiling.py"), str(ceiling_port)],
                                   stdout=subprocess.PIPE, text=True)
        procs.append(ceiling)
        assert ceiling.stdout is not None and ceiling.stdout.readline().strip() == "ready"
        qfile = query_file(tmp)
        targets = {"consul": agent.ports["dns"], "ours": ours_port, "ceiling": ceiling_port}
        chosen = args.only or list(targets)
        results: dict[str, dict[str, float]] = {}
        for name in chosen:
            time.sleep(2)  # let the previous server (Consul's Go runtime above all) settle
            print(f"{name}: saturating run, {args.duration:.0f}s, -c {args.clients} -T 1", flush=True)
            results[name] = dnsperf(targets[name], qfile, args.duration, args.clients)
        for name in chosen:
            time.sleep(2)
            half = results[name].get("qps", 0) / 2
            print(f"{name}: latency run at {half:.0f} qps (half its max), {args.latency_duration:.0f}s", flush=True)
            lat = dnsperf(targets[name], qfile, args.latency_duration, args.clients, qps=half, verbose=True)
            results[name].update({f"half_{k}": v for k, v in lat.items()})
        print()
        print(f"{'server':<9} {'max qps':>9} {'mean ms':>8} {'lost':>6}   {'@half qps':>9} {'p50 ms':>7} {'p99 ms':>7}")
        for name, r in results.items():
            print(f"{name:<9} {r.get('qps', 0):>9.0f} {r.get('mean_ms', 0):>8.3f} {r.get('lost', 0):>6.0f}   "
                  f"{r.get('half_qps', 0):>9.0f} {r.get('half_p50_ms', 0):>7.3f} {r.get('half_p99_ms', 0):>7.3f}")
        if {"consul", "ours", "ceiling"} <= results.keys():
            ours, consul, ceil = (results[k].get("qps", 0) for k in ("ours", "consul", "ceiling"))
            p99 = results["ours"].get("half_p99_ms", float("inf"))
            print()
            verdict = {True: "OK", False: "MISSED"}
            print(f"ours / consul : {ours / consul:5.2f}x   (target >= 3x)     {verdict[ours >= 3 * consul]}")
            print(f"ours / ceiling: {ours / ceil:5.2f}    (target >= 0.50)   {verdict[ours >= 0.5 * ceil]}")
            print(f"ours p99 at half load: {p99:.3f} ms (target < 2 ms)  {verdict[p99 < 2]}")
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
