"""Fault report (not a test): runs each fault scenario of tests/faults N times against real engines and prints
one table: fault | runs | containers lost | stale entries | time to converge (max) | daemon crashes.

Starts its own dockerd (testbed/engines.py; or uses DOCKER_HOST when it answers) and the busybox web image;
each scenario starts and stops its own Consul agent and daemons. Loopback and its own containers only.

    .venv/bin/python -m tests.faults.report [--runs 3] [--only kill9_in_burst,...] [--outage 30]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
import traceback
from collections.abc import Callable
from functools import partial
from pathlib import Path

import docker

from testbed import engines
from tests.faults import daemon_faults, faultlib, registrator_faults

ROOT = Path(__file__).resolve().parents[2]

FaultEnv, Outcome = faultlib.FaultEnv, faultlib.Outcome


def scenarios(outage: float) -> dict[str, Callable[[FaultEnv], Outcome]]:
    out: dict[str, Callable[[FaultEnv], Outcome]] = {
        "1 kill -9 registrator in a 100-container burst": registrator_faults.kill9_in_burst,
        "2 Consul agent restarted during churn": registrator_faults.consul_restart_in_churn,
        "3 dockerd restarted during churn": registrator_faults.dockerd_restart_in_churn,
        f"4 Consul unreachable {outage:.0f}s (DNS + templates)": partial(daemon_faults.consul_unreachable,
                                                                       outage_s=outage),
        "5 nginx reload failing": daemon_faults.nginx_reload_failing,
        "9 SIGTERM to every daemon under load": daemon_faults.sigterm_under_load,
    }
    try:
        from tests.faults import fuzz_faults
    except ImportError:
        return out
    for key, name in (("6 label fuzz on real containers", "label_fuzz"), ("7 DNS fuzz, UDP + TCP", "dns_fuzz"),
                      ("8 template fuzz", "template_fuzz")):
        fn = getattr(fuzz_faults, name, None)
        if fn is not None:
            out[key] = fn
    return dict(sorted(out.items()))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--only", default="", help="comma-separated substrings of fault names")
    ap.add_argument("--outage", type=float, default=30.0, help="seconds Consul stays down in fault 4")
    args = ap.parse_args()

    dockerd = engines.Dockerd().start()
    client = docker.DockerClient(base_url=dockerd.host, timeout=120)
    image = subprocess.run(["bash", str(ROOT / "scripts" / "web-image.sh")], env={**os.environ, **dockerd.env},
                           check=True, capture_output=True, text=True).stdout.strip().splitlines()[-1]
    env = FaultEnv(dockerd=dockerd, docker=client, image=image,
                   workdir=Path(tempfile.mkdtemp(prefix="psfault-", dir="/tmp")))
    wanted = [w for w in args.only.split(",") if w]
    rows = []
    try:
        for name, fn in scenarios(args.outage).items():
            if wanted and not any(w in name or w in getattr(fn, "__name__", "") for w in wanted):
                continue
            outs: list[Outcome] = []
            for i in range(args.runs):
                t0 = time.monotonic()
                try:
                    out = fn(env)
                except Exception:  # noqa: BLE001 - a scenario that blows up counts as a crash, and we go on
                    traceback.print_exc()
                    out = Outcome(crashes=1, detail="scenario raised")
                print(f"{name} run {i + 1}: {out} [{time.monotonic() - t0:.0f}s]", file=sys.stderr, flush=True)
                outs.append(out)
            rows.append((name, len(outs), sum(o.lost for o in outs), sum(o.stale for o in outs),
                         max(o.converge_s for o in outs), sum(o.crashes for o in outs)))
    finally:
        env.teardown()
        client.close()
        dockerd.stop()
    print("\n| fault | runs | containers lost | stale entries | time to converge (max) | daemon crashes |")
    print("|---|---|---|---|---|---|")
    for name, runs, lost, stale, conv, crashes in rows:
        print(f"| {name} | {runs} | {lost} | {stale} | {conv:.2f} s | {crashes} |")
    return 0 if all(r[2] == r[3] == r[5] == 0 for r in rows) else 1


if __name__ == "__main__":
    raise SystemExit(main())
