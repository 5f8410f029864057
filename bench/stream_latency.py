"""Change -> file latency when changes come in a stream: consul-templates vs consul-template v0.41.1, side by side
in one run, same agent, same upstream template, changes spaced 20 / 50 / 100 / 500 ms apart.

    .venv/bin/python bench/stream_latency.py [--changes 30] [--spacing 0.02,0.05,0.1,0.5]

Each change registers one more instance of the tool's own service and waits until the file lists it, then
sleeps the spacing; the two tools' changes alternate (render_latency.latency_run). Bounded: changes x spacings
x 2 tools, each wait at most 10 s. What it shows: a watch that rate-limits every wake-up adds up to its minimum
interval to each change of a busy stream; one that rate-limits only empty wake-ups does not.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
from pathlib import Path

from render_latency import CT_VERSION, bench_agent, consul_template_binary, latency_run, pct, tools


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--changes", type=int, default=30)
    parser.add_argument("--spacing", default="0.02,0.05,0.1,0.5", help="seconds between changes, comma-separated")
    args = parser.parse_args()
    spacings = [float(s) for s in args.spacing.split(",")]
    ct = consul_template_binary()
    agent = bench_agent()
    work = Path(tempfile.mkdtemp(prefix="ct-stream-"))
    rows: list[tuple[float, dict[str, list[float]]]] = []
    try:
        for spacing in spacings:
            result = latency_run(agent, tools(agent, ct), work, args.changes, None, spacing)
            rows.append((spacing, result))
            print(f"spacing {spacing * 1000:.0f} ms: " + ", ".join(
                f"{name} p50 {pct(lat, 50):.1f} ms p99 {pct(lat, 99):.1f} ms" for name, lat in result.items()),
                file=sys.stderr, flush=True)
    finally:
        agent.stop()
        shutil.rmtree(work, ignore_errors=True)
    print(f"\n| spacing | consul-template {CT_VERSION} p50 / p99 (ms) | consul-templates p50 / p99 (ms) |")
    print("|---|---|---|")
    for spacing, result in rows:
        a, b = result["consul-template"], result["consul-templates"]
        ours = f"{pct(b, 50):.1f} / {pct(b, 99):.1f}"
        print(f"| {spacing * 1000:.0f} ms | {pct(a, 50):.1f} / {pct(a, 99):.1f} | {ours} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
