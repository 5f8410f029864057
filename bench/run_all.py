"""Every benchmark in one bounded run, side by side with its anchor: writes bench/RESULTS.md (date, machine,
versions, one row per workload and size: ours, anchor, ratio; how each figure grows) and bench/results.svg|png
(cost vs size, log-log). `make bench` runs it.

    .venv/bin/python bench/run_all.py [--quick] [--budget 840] [--only NAME ...] [--out bench]

Each benchmark runs as its own process with bounded sizes and counts and a time limit (the whole run stays inside
--budget seconds; a benchmark past its limit is interrupted and listed as not covered), writes its rows with
`--json`, and keeps working standalone. Loopback only. Docker: the engine at DOCKER_HOST when one answers there,
else a private dockerd started here (testbed), as the tests do. metabrainz/serviceregistrator (not on PyPI) is
the registrator's anchor only when $SERVICEREGISTRATOR_SRC names its source tree."""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from bench import machine, report
from testbed import engines

ROOT = Path(__file__).resolve().parent.parent
GRACE = 90.0  # seconds a cut benchmark has for its cleanup (removing hundreds of containers on a busy engine)


@dataclass(frozen=True)
class Step:
    name: str
    script: str
    full: tuple[str, ...]
    quick: tuple[str, ...]
    floor: float  # seconds kept for it whatever came before (what it needs on the loaded 2-core machine)
    limit: float  # seconds at most


# Fixed-size steps first; the two that grow with a loaded machine last, each writing its rows part by part, so a
# cut costs only their largest part. Every earlier step is limited so that every later one keeps its floor
# (the floors add up to less than the default budget).
STEPS = (
    Step("dns_worst_packet", "dns_worst_packet.py", (), (), 20, 90),
    Step("dns_bench", "dns_bench.py", ("--runs", "1", "--duration", "5", "--latency-duration", "4", "--segments", "2",
                                       "--equal-rates", "50000", "--spin", "500"),
         ("--runs", "1", "--duration", "2", "--latency-duration", "2", "--segments", "2", "--equal-rates", ""),
         90, 170),
    Step("dns_tail", "dns_tail.py", ("--duration", "4"), ("--duration", "2"), 40, 90),
    Step("render_latency", "render_latency.py", ("--changes", "10", "--services", "1000", "--once-runs", "1"),
         ("--changes", "3", "--services", "100", "--once-runs", "1"), 60, 240),
    Step("render_languages", "render_languages.py", ("--changes", "10", "--renders", "10"),
         ("--services", "5", "--instances", "10", "--changes", "3", "--renders", "3"), 40, 150),
    Step("stream_latency", "stream_latency.py", ("--changes", "40", "--spacing", "0.02,0.05,0.1,0.5", "--burst", "40"),
         ("--changes", "3", "--spacing", "0.1", "--burst", "10"), 120, 300),
    Step("registrator_burst", "registrator_burst.py", ("--singles", "10", "--sizes", "50"),
         ("--singles", "2", "--sizes", "5"), 120, 300),
    Step("registrator_scale", "registrator_scale.py", ("--containers", "300", "--rounds", "1"),
         ("--containers", "10", "--rounds", "1"), 150, 420),
    Step("scale_feed", "scale_feed.py", ("--sizes", "100,1000,5000", "--flips", "20", "--qps-seconds", "3",
                                         "--anchor", "--go"),
         ("--sizes", "20,100", "--flips", "3", "--qps-seconds", "1", "--anchor", "--go"), 150, 600),
)


def run_step(step: Step, args: list[str], limit: float, env: dict[str, str], logdir: Path) -> tuple[list, str]:
    """Run one benchmark; its rows, and "" or why it gave none. Its time is `limit` in all: a GRACE before the
    end it gets SIGINT (its cleanup runs: engines, containers), at the end SIGKILL for its whole process group."""
    out = logdir / f"{step.name}.json"
    log = logdir / f"{step.name}.log"
    cmd = [sys.executable, str(ROOT / "bench" / step.script), *args, "--json", str(out)]
    t0 = time.monotonic()
    with open(log, "wb") as fh:
        proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=fh, stderr=subprocess.STDOUT, start_new_session=True)
        grace = min(GRACE, limit / 3)
        try:
            proc.wait(limit - grace)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGINT)
            try:
                proc.wait(grace)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
            partial = json.loads(out.read_text()) if out.exists() else []  # what it finished before the limit
            return partial, (f"{step.name}: stopped at its time limit ({limit:.0f} s)"
                             f"{f', {len(partial)} rows kept' if partial else ''}; log {log}")
    took = time.monotonic() - t0
    print(f"bench: {step.name} exited {proc.returncode} after {took:.0f} s", file=sys.stderr, flush=True)
    if proc.returncode != 0 or not out.exists():
        tail = log.read_text(errors="replace").strip().splitlines()[-1:] or ["(no output)"]
        return [], f"{step.name}: exited {proc.returncode} ({tail[0][:200]}); log {log}"
    return json.loads(out.read_text()), ""


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="small sizes and counts, for development (a few minutes)")
    ap.add_argument("--budget", type=float, default=840, help="seconds for the whole run (default 14 min)")
    ap.add_argument("--only", action="append", choices=[s.name for s in STEPS], help="run only these (repeatable)")
    ap.add_argument("--out", default=str(ROOT / "bench"), help="where RESULTS.md and results.svg|png go")
    args = ap.parse_args()
    steps = [s for s in STEPS if not args.only or s.name in args.only]
    started, load0 = time.monotonic(), os.getloadavg()
    logdir = Path(tempfile.mkdtemp(prefix="portside-bench-"))
    dockerd = engines.Dockerd().start()  # the engine at DOCKER_HOST when one answers, else a private one
    env = {**os.environ, **dockerd.env, "PYTHONUNBUFFERED": "1"}
    rows: list = []
    missing: list[str] = []
    try:
        facts = machine.facts(dockerd.host)
        for i, step in enumerate(steps):
            left = args.budget - (time.monotonic() - started)
            scale = 0.5 if args.quick else 1.0
            later = sum(s.floor for s in steps[i + 1:]) * scale
            limit = min(step.limit * scale, max(step.floor * scale, left - later))
            # what the last step left running (an engine still removing its containers) must not be timed here
            idle = machine.wait_quiet(within=20 * scale)
            print(f"bench: {step.name} (at most {limit:.0f} s; CPU {idle:.0%} idle at its start)", file=sys.stderr,
                  flush=True)
            got, why = run_step(step, list(step.quick if args.quick else step.full), limit, env, logdir)
            rows += got
            if why:
                missing.append(why)
    finally:
        dockerd.stop()
    wall = time.monotonic() - started
    missing += sorted({r["note"] for r in rows if r["anchor"] is None and "skipped" in r["note"]})
    missing += machine.uncovered(args.only)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    pictures = report.plot(rows, out / "results", f"portside vs anchors, cost vs size ({facts['date']}, "
                           f"load {load0[0]:.0f} -> {os.getloadavg()[0]:.0f} on {os.cpu_count()} cores)")
    header = machine.header(facts, load0, os.getloadavg(), wall, args.quick)
    report.write(out / "RESULTS.md", header, rows, missing, pictures[0].name if pictures else "")
    print(f"bench: {len(rows)} rows in {out / 'RESULTS.md'} after {wall:.0f} s; logs in {logdir}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
