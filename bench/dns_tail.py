"""Where dns-balancer's latency tail comes from: the instrumented daemon (bench/dns_server_probe.py) under
dnsperf at half its max qps, on the same catalog as dns_bench.py. Prints GC pauses by generation, the time of
each answer() call, event-loop lag, zone swaps, and dnsperf's p50/p99.
Usage: .venv/bin/python bench/dns_tail.py [--runs 1] [--duration 8]"""

from __future__ import annotations

import argparse
import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import threading
import time

from bench.benchjson import add_json_option, row, write_rows
from bench.dns_bench import ROOT, dnsperf, place, prioritize, query_file, register_catalog, split_cpus, wait_http
from testbed import engines


def quantile_of_log2(hist: list[int], q: float) -> float:
    """The upper bound (2**bucket) of the bucket where the q-quantile falls."""
    total = sum(hist)
    seen = 0
    for bucket, n in enumerate(hist):
        seen += n
        if total and seen >= q * total:
            return float(2**bucket)
    return 0.0


def report(stats: dict, perf: dict[str, float]) -> None:
    by_gen: dict[int, list[float]] = {}
    for gen, ms in stats["gc"]:
        by_gen.setdefault(gen, []).append(ms)
    for gen in sorted(by_gen):
        pauses = by_gen[gen]
        print(f"  gc gen{gen}: {len(pauses):>6} collections, max {max(pauses):7.3f} ms, total {sum(pauses):8.1f} ms")
    ans = stats["answer_log2_ns"]
    print(f"  answer(): {sum(ans)} calls, p50 < {quantile_of_log2(ans, 0.5) / 1e3:.1f} us, "
          f"p99 < {quantile_of_log2(ans, 0.99) / 1e3:.1f} us, p99.99 < {quantile_of_log2(ans, 0.9999) / 1e3:.1f} us, "
          f"max < {max((2**i for i, n in enumerate(ans) if n), default=0) / 1e3:.1f} us")
    lag = stats["lag_log2_us"]
    print(f"  loop lag (2 ms timer): p50 < {quantile_of_log2(lag, 0.5):.0f} us, p99 < {quantile_of_log2(lag, 0.99):.0f}"
          f" us, max < {max((2**i for i, n in enumerate(lag) if n), default=0):.0f} us")
    print(f"  zone swaps: {len(stats['swaps'])}, max {max((s[1] for s in stats['swaps']), default=0):.3f} ms")
    print(f"  dnsperf @ {perf.get('half_qps', 0):.0f} qps: p50 {perf.get('half_p50_ms', 0):.3f} ms, "
          f"p99 {perf.get('half_p99_ms', 0):.3f} ms")


def tail_rows(stats: dict, perf: dict[str, float]) -> list[dict]:
    """The tail's parts, ours only (no anchor runs instrumented): the last run's figures."""
    size = 500
    gc_max = max((ms for _, ms in stats["gc"]), default=0.0)
    return [row("DNS tail: dnsperf p99 at half load (instrumented)", size, perf.get("half_p99_ms"), None, "ms"),
            row("DNS tail: longest GC pause", size, gc_max, None, "ms"),
            row("DNS tail: answer() p99 (upper bound)", size, quantile_of_log2(stats["answer_log2_ns"], 0.99) / 1e6,
                None, "ms"),
            row("DNS tail: event-loop lag p99 (upper bound)", size, quantile_of_log2(stats["lag_log2_us"], 0.99) / 1e3,
                None, "ms")]


def churn(agent: engines.ConsulAgent, every: float, stop: threading.Event) -> None:
    """An instance of svc00 comes and goes: each change is a catalog change, so a zone rebuild and swap."""
    up = False
    while not stop.wait(every):
        if up:
            agent.api("/v1/agent/service/deregister/churn-0", "PUT")
        else:
            agent.api("/v1/agent/service/register", "PUT", {"ID": "churn-0", "Name": "svc00", "Address": "127.1.99.1",
                                                             "Port": 9000})
        up = not up


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--runs", type=int, default=1)
    ap.add_argument("--duration", type=float, default=8)
    ap.add_argument("--clients", type=int, default=4)
    ap.add_argument("--priority", type=int, default=0, help="autogroup nice of server, agent and dnsperf (root)")
    ap.add_argument("--churn", type=float, default=0,
                    help="register/deregister an instance of svc00 every CHURN seconds during the measured run")
    ap.add_argument("--no-pin", dest="pin", action="store_false",
                    help="leave CPU placement to the scheduler (default: dnsperf on CPU 0, the rest on the others)")
    ap.add_argument("--no-freeze", action="store_true", help="leave the daemon's heap unfrozen (for comparison)")
    add_json_option(ap)
    args = ap.parse_args()
    split_cpus(args.pin)
    rows: list[dict] = []
    agent = engines.ConsulAgent(node="bench").start()
    tmp = tempfile.mkdtemp(prefix="dnstail-")
    try:
        register_catalog(agent)
        qfile = query_file(tmp)
        for run in range(args.runs):
            port, http = engines.free_ports(2)
            out = os.path.join(tmp, f"stats-{run}.json")
            env = {**os.environ, **agent.env, "DNSB_PROBE_OUT": out, "DNSB_PROBE_NO_FREEZE": str(int(args.no_freeze))}
            proc = subprocess.Popen([sys.executable, str(ROOT / "bench" / "dns_server_probe.py"), "--listen",
                                     f"127.0.0.1:{port}", "--http-addr", f"127.0.0.1:{http}", "--log-level",
                                     "warning"], env=env, cwd=ROOT, start_new_session=True)
            for pid in (proc.pid, agent.proc.pid):  # type: ignore[union-attr]
                prioritize(pid, args.priority)
                place(pid)
            wait_http(f"http://127.0.0.1:{http}/metrics",
                      lambda text: (m := re.search(r"^dns_balancer_zone_instances ([\d.]+)", text, re.M))
                      and float(m.group(1)) >= 500, 30, "mirror")
            time.sleep(1)
            full = dnsperf(port, qfile, args.duration, args.clients, nice=args.priority)
            half = full.get("qps", 0) / 2
            proc.send_signal(signal.SIGUSR1)
            time.sleep(0.2)
            stop = threading.Event()
            churner = threading.Thread(target=churn, args=(agent, args.churn, stop), daemon=True)
            if args.churn:
                churner.start()
            perf = {f"half_{k}": v for k, v in dnsperf(port, qfile, args.duration, args.clients, qps=half,
                                                         verbose=True, nice=args.priority).items()}
            stop.set()
            proc.terminate()
            proc.wait(10)
            with open(out) as f:
                stats = json.load(f)
            print(f"run {run + 1}: max {full.get('qps', 0):.0f} qps")
            report(stats, perf)
            rows = tail_rows(stats, perf)
        write_rows(args.json, rows)
        return 0
    finally:
        agent.stop()


if __name__ == "__main__":
    sys.exit(main())
