"""Change -> file and change -> nginx serving when changes come in a stream: consul-templates vs consul-template
v0.41.1, side by side in one run, same agent, same upstream template.

    .venv/bin/python bench/stream_latency.py [--changes 20] [--spacing 0.02,0.05,0.1,0.5] [--burst 40]
                                             [--burst-rounds 3] [--wait 500ms:5s] [--language jinja2|go]

1. streams: each change registers one more check-less instance of the tool's own service (through the agent, as
   an app registers itself) and waits until the file (then nginx, reloaded by the template's command) shows it,
   then sleeps the spacing; the two tools' changes alternate (render_latency.latency_run);
2. a burst: `--burst` registrations one right after the other; each instance's latency from its registration
   to the file (nginx) showing it, pooled over `--burst-rounds` bursts per tool (the first tool in turn);
3. quiescence: the same burst with `-wait MIN:MAX` on both tools and a command that counts nginx reloads: how
   many reloads the burst cost, and when nginx served the last instance.
Bounded: every wait is at most 10-30 s. Absolute figures move with the machine's load; the ratios in one run
are what count.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from render_latency import (
    CT_UPSTREAM,
    CT_VERSION,
    Phase,
    Tool,
    bench_agent,
    consul_template_binary,
    latency_run,
    nginx_count,
    pct,
    poll,
    tools,
)

from bench.benchjson import add_json_option, row, write_rows
from portside.watchrules import parse_duration
from testbed import engines

CT, OURS = "consul-template", "consul-templates"


def burst(phase: Phase, n: int) -> list[float]:
    """Register n instances back to back (another thread); each one's latency until the phase shows it."""
    registered: dict[int, float] = {}

    def register() -> None:
        for _ in range(n):
            t0 = time.perf_counter()
            registered[phase.register()] = t0

    first = phase.registered + 1
    worker = threading.Thread(target=register)
    worker.start()
    seen: dict[int, float] = {}
    deadline = time.perf_counter() + 30
    while len(seen) < n:
        if time.perf_counter() > deadline:
            raise TimeoutError(f"{phase.tool.name}: {len(seen)} of {n} instances shown")
        shown = phase.shown()  # instances are only added: the first `shown` are there
        now = time.perf_counter()
        for i in range(first + len(seen), min(first + n, shown + 1)):
            seen[i] = now
        time.sleep(0.0002)
    worker.join()
    return [seen[i] - registered[i] for i in range(first, first + n)]


def bursts(agent: engines.ConsulAgent, tools_: list[Tool], work: Path, n: int, nginx: engines.Nginx | None,
           rounds: int = 3) -> dict[str, list[float]]:
    """Both daemons at once, each on its own service; `rounds` bursts each, one tool after the other, the first
    in turn, every instance's latency pooled. One burst each swung the p50 ratio between 0.76 and 1.34 on the
    same tree: a burst's latencies hang on where each tool's render cycle falls against 40 registrations ~2 ms
    apart, and on what the machine does in the half second it lasts."""
    phases = [Phase(agent, tool, work, nginx, label=f"burst-{'nginx' if nginx else 'file'}") for tool in tools_]
    try:
        for ph in phases:
            ph.ready()
        time.sleep(0.5)
        out: dict[str, list[float]] = {ph.tool.name: [] for ph in phases}
        for r in range(rounds):
            for ph in phases if r % 2 == 0 else phases[::-1]:
                out[ph.tool.name] += burst(ph, n)
                time.sleep(0.3)
        return out
    finally:
        for ph in phases:
            ph.close()


def quiescence(agent: engines.ConsulAgent, tools_: list[Tool], work: Path, n: int, nginx: engines.Nginx,
               wait: str) -> dict[str, tuple[int, float]]:
    """A burst of n with `-wait`: (nginx reloads it cost, seconds from its first registration until nginx
    served every instance), per tool."""
    out: dict[str, tuple[int, float]] = {}
    for tool in tools_:
        counter = work / f"reloads-{tool.name}"
        script = work / f"reload-{tool.name}.sh"
        script.write_text(f"#!/bin/sh\necho reload >> {counter}\nexec {nginx.reload_command}\n")
        script.chmod(0o755)
        ph = Phase(agent, tool, work, nginx, command=str(script), extra=("-wait", wait), label="quiet")
        try:
            ph.ready()
            time.sleep(1.0)
            counter.unlink(missing_ok=True)
            t0 = time.perf_counter()
            burst(ph, n)
            served = time.perf_counter() - t0
            time.sleep(parse_duration(wait.split(":")[-1]) + 1)  # past the longest window: every reload is in
            reloads = len(counter.read_text().splitlines()) if counter.exists() else 0
            out[tool.name] = (reloads, served)
        finally:
            ph.close()
    return out


def nginx_alone(nginx: engines.Nginx, changes: int, spacing: float) -> list[float]:
    """change -> nginx serving with no tool at all: the bench writes the file (a new file renamed over the old,
    as both tools do) and runs the same reload command itself, then waits until nginx serves it; `spacing` s
    between changes. Below ~100 ms apart this is slow for anyone: after each reload nginx's master sleeps 100 ms
    ("allow new processes to start") before it retires the old workers and takes the next signal, so a change
    that comes sooner waits out the rest of that sleep whichever tool sends it."""
    port = engines.free_port()
    dest = nginx.conf_d / "floor.conf"

    def put(n: int) -> None:
        tmp = dest.with_suffix(".new")
        tmp.write_text(f"upstream floor {{\n{''.join(f'    server 127.0.0.1:{20000 + i};{chr(10)}' for i in range(n))}"
                       f"    server 127.0.0.1:1 down;\n}}\n"
                       f'server {{ listen 127.0.0.1:{port}; location /count {{ return 200 "{n}"; }} }}\n')
        tmp.replace(dest)
        subprocess.run(nginx.reload_command, shell=True, check=True, capture_output=True)

    out = []
    try:
        put(0)
        poll(nginx_count(port, 0), 30)
        time.sleep(0.5)
        for n in range(1, changes + 1):
            t0 = time.perf_counter()
            put(n)
            poll(nginx_count(port, n))
            out.append(time.perf_counter() - t0)
            time.sleep(spacing)
    finally:
        dest.unlink(missing_ok=True)
        subprocess.run(nginx.reload_command, shell=True, check=False, capture_output=True)
    return out


def go_tools(agent: engines.ConsulAgent, ct: str) -> list[Tool]:
    """Ours with consul-template's own template (a Go template, .ctmpl) instead of the Jinja2 twin."""
    theirs, ours = tools(agent, ct)
    return [theirs, Tool(ours.name, CT_UPSTREAM, ours.argv, ".ctmpl")]


def table_row(label: str, result: dict[str, list[float]]) -> str:
    a, b = result[CT], result[OURS]
    return (f"| {label} | {pct(a, 50):.1f} / {pct(a, 99):.1f} | {pct(b, 50):.1f} / {pct(b, 99):.1f} | "
            f"{pct(b, 50) / max(pct(a, 50), 1e-9):.2f} / {pct(b, 99) / max(pct(a, 99), 1e-9):.2f} |")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--changes", type=int, default=20)
    parser.add_argument("--spacing", default="0.02,0.05,0.1,0.5", help="seconds between changes, comma-separated")
    parser.add_argument("--burst", type=int, default=40)
    parser.add_argument("--burst-rounds", type=int, default=3, help="bursts per tool, alternating which goes first")
    parser.add_argument("--wait", default="500ms:5s", help="quiescence for the reload count (MIN:MAX)")
    parser.add_argument("--language", choices=("jinja2", "go"), default="jinja2", help="our template's language")
    add_json_option(parser)
    args = parser.parse_args()
    spacings = [float(s) for s in args.spacing.split(",")]
    ct = consul_template_binary()
    agent = bench_agent()
    nginx = engines.Nginx().start()
    work = Path(tempfile.mkdtemp(prefix="ct-stream-"))
    both = go_tools(agent, ct) if args.language == "go" else tools(agent, ct)
    rows: list[tuple[str, float, dict[str, list[float]]]] = []
    floor: dict[float, list[float]] = {}  # nginx with no tool: the bench writes and reloads (ms apart -> seconds)
    try:
        for target, engine in (("file", None), ("nginx", nginx)):
            for spacing in spacings:
                rows.append((f"{target}, {spacing * 1000:.0f} ms apart", spacing * 1000,
                             latency_run(agent, both, work, args.changes, engine, spacing)))
                print(rows[-1][0], table_row("", rows[-1][2]), file=sys.stderr, flush=True)
                if engine is not None:
                    floor[spacing * 1000] = nginx_alone(engine, args.changes, spacing)
                    print(f"nginx alone, {spacing * 1000:.0f} ms apart: p50 {pct(floor[spacing * 1000], 50):.1f} ms",
                          file=sys.stderr, flush=True)
            rows.append((f"{target}, burst of {args.burst}", args.burst,
                         bursts(agent, both, work, args.burst, engine, args.burst_rounds)))
            print(rows[-1][0], table_row("", rows[-1][2]), file=sys.stderr, flush=True)
        quiet = quiescence(agent, both, work, args.burst, nginx, args.wait)
    finally:
        nginx.stop()
        agent.stop()
        shutil.rmtree(work, ignore_errors=True)
    print(f"\nours: {args.language} template; {args.changes} changes per spacing")
    print(f"| change -> | consul-template {CT_VERSION} p50 / p99 (ms) | consul-templates p50 / p99 (ms) "
          "| ours / theirs p50 / p99 |\n|---|---|---|---|")
    for label, _, result in rows:
        print(table_row(label, result))
    print("\nnginx alone (the bench writes the file and reloads, no tool), p50 / p99 ms: " + "; ".join(
        f"{ms:.0f} ms apart {pct(v, 50):.1f} / {pct(v, 99):.1f}" for ms, v in floor.items()))
    print(f"\nburst of {args.burst} with -wait {args.wait}, nginx reloads counted by the command:")
    print("| tool | reloads | first registration -> nginx serves all (s) |\n|---|---|---|")
    for name, (reloads, served) in quiet.items():
        print(f"| {name} | {reloads} | {served:.2f} |")
    write_rows(args.json, json_rows(rows, quiet, args, floor))
    return 0


def json_rows(rows: list[tuple[str, float, dict[str, list[float]]]], quiet: dict[str, tuple[int, float]],
              args: argparse.Namespace, floor: dict[float, list[float]]) -> list[dict]:
    out = []
    for ms, seconds in floor.items():
        out.append(row("change stream -> nginx p50, nginx alone (no tool)", ms, pct(seconds, 50), None, "ms", "",
                       "size: ms between changes; the bench writes the file and reloads: nginx's own floor"))
    for label, size, result in rows:
        kind = "burst" if "burst" in label else "stream"
        target = label.split(",")[0]
        for p in (50, 99):
            out.append(row(f"change {kind} -> {target} p{p}", size, pct(result[OURS], p), pct(result[CT], p), "ms",
                           f"consul-template {CT_VERSION}",
                           "size: instances in the burst" if kind == "burst" else "size: ms between changes"))
    if CT in quiet and OURS in quiet:
        note = f"-wait {args.wait} on both"
        out.append(row(f"burst -> nginx reloads (-wait {args.wait})", args.burst, quiet[OURS][0], quiet[CT][0],
                       "reloads", f"consul-template {CT_VERSION}", note))
        out.append(row(f"burst -> nginx serves all (-wait {args.wait})", args.burst, quiet[OURS][1], quiet[CT][1],
                       "s", f"consul-template {CT_VERSION}", note))
    return out


if __name__ == "__main__":
    sys.exit(main())
