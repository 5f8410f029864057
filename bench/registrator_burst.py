"""Registrator burst benchmark (not a test): prints figures, asserts nothing.

Starts its own dockerd and Consul dev agent (testbed/engines.py), runs `registrator`, then:
1. single starts: K containers one at a time; latency from Docker's `start` event (its timeNano) to the
   service being visible in /v1/health/service/<name> (seen by a blocking query), p50/p99;
2. bursts: N containers started at once (N = 50, 200 by default); time from the last `start` event to all
   N registered; lost and duplicate registrations;
3. the registrator's RSS (VmRSS now, VmHWM peak).
Then the same with metabrainz/serviceregistrator (the Python peer) when $SERVICEREGISTRATOR_SRC names its source
tree (it is not on PyPI; $SERVICEREGISTRATOR_PYTHON: an interpreter with its dependencies, default the tree's
.venv); without one that half is skipped, said so in the output.

    .venv/bin/python bench/registrator_burst.py [--sizes 50,200] [--singles 30]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import threading
import time
import urllib.request
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import docker

from bench.benchjson import add_json_option, row, write_rows
from testbed import engines

ROOT = Path(__file__).resolve().parent.parent


class StartEvents(threading.Thread):
    """Records Docker start events' timeNano by container name (an independent client: the docker SDK)."""

    def __init__(self, client: docker.DockerClient) -> None:
        super().__init__(daemon=True)
        self.client = client
        self.starts: dict[str, int] = {}
        self.stream = client.events(decode=True, filters={"type": "container", "event": "start"})

    def run(self) -> None:
        for ev in self.stream:
            self.starts[ev["Actor"]["Attributes"].get("name", "")] = int(ev["timeNano"])


def health(agent: engines.ConsulAgent, name: str, index: int = 0, wait: str = "10s") -> tuple[int, list]:
    url = f"http://{agent.http_addr}/v1/health/service/{name}" + (f"?index={index}&wait={wait}" if index else "")
    with urllib.request.urlopen(url, timeout=30) as resp:
        return int(resp.headers["X-Consul-Index"]), json.loads(resp.read())


def wait_count(agent: engines.ConsulAgent, name: str, n: int, timeout: float) -> tuple[int, list]:
    """Block until `name` has n instances; returns (time.time_ns() when seen, entries)."""
    deadline = time.monotonic() + timeout
    idx, entries = health(agent, name)
    while len(entries) < n and time.monotonic() < deadline:
        idx, entries = health(agent, name, idx, "2s")
    return time.time_ns(), entries


def pct(values: list[float], p: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(round(p / 100 * (len(values) - 1))))]


def rss_kb(pid: int) -> tuple[int, int]:
    fields = dict(line.split(":", 1) for line in Path(f"/proc/{pid}/status").read_text().splitlines() if ":" in line)
    return int(fields["VmRSS"].split()[0]), int(fields["VmHWM"].split()[0])


def anchor_command(agent: engines.ConsulAgent, docker_host: str) -> tuple[list[str], str] | None:
    """metabrainz/serviceregistrator (the Python peer; not on PyPI) from the source tree named by
    $SERVICEREGISTRATOR_SRC, run by $SERVICEREGISTRATOR_PYTHON, else the tree's .venv, else this interpreter
    (which must then have its dependencies). None when no tree is named."""
    src = os.environ.get("SERVICEREGISTRATOR_SRC")
    if not src:
        return None
    python = os.environ.get("SERVICEREGISTRATOR_PYTHON") or next(
        (str(p) for p in (Path(src) / ".venv/bin/python",) if p.exists()), sys.executable)
    host, port = agent.http_addr.rsplit(":", 1)
    sock = docker_host.removeprefix("unix://")  # it takes the socket's path
    return [python, "-c", "from serviceregistrator.main import main; main()", "--ip", "127.0.0.1", "--consul-host",
            host, "--consul-port", port, "--dockersock", sock, "--loglevel", "WARNING"], src


def container_of(service: dict[str, Any], names: list[str]) -> str:
    """Which container a registration stands for: ours says so in its meta; serviceregistrator's ID is
    `host:container-name:port`."""
    meta = (service.get("Meta") or {}).get("portside-container")
    return meta or next((nm for nm in names if f":{nm}:" in service["ID"]), service["ID"])


def measure(client: docker.DockerClient, agent: engines.ConsulAgent, events: StartEvents, image: str, label: str,
            sizes: list[int], singles: int) -> dict[str, Any]:
    """Single starts and bursts with one registrator running, each service named after `label`."""
    def run(name: str, svc: str):
        return client.containers.run(image, name=name, detach=True, labels={"SERVICE_NAME": svc},
                                     ports={"80/tcp": ("127.0.0.1", None)})

    out: dict[str, Any] = {"single_ms": [], "bursts": {}}
    run_id = uuid.uuid4().hex[:4]  # on a shared engine, leftovers of an earlier run must not count
    for i in range(singles):
        svc = f"{label}-{run_id}-single{i}"
        c = run(f"{label}-s{i}-{uuid.uuid4().hex[:4]}", svc)
        seen, entries = wait_count(agent, svc, 1, 30)
        engines.wait_until(lambda c=c: c.name in events.starts, 5, "start event")
        if entries:
            out["single_ms"].append((seen - events.starts[c.name]) / 1e6)
        c.remove(force=True)
    for n in sizes:
        svc = f"{label}-{run_id}-burst{n}"
        names = [f"{label}-b{n}-{i}-{uuid.uuid4().hex[:4]}" for i in range(n)]
        with ThreadPoolExecutor(max_workers=32) as pool:
            futs = [pool.submit(run, nm, svc) for nm in names]
            seen, entries = wait_count(agent, svc, n, 120)
            cs = [f.result() for f in futs]
        engines.wait_until(lambda names=names: all(nm in events.starts for nm in names), 10, "all start events")
        last_start = max(events.starts[nm] for nm in names)
        keys = [container_of(e["Service"], names) for e in entries]
        spread = (last_start - min(events.starts[nm] for nm in names)) / 1e9
        ms = (seen - last_start) / 1e6 if len(set(keys)) >= n else float("nan")
        out["bursts"][n] = (ms, n - len(set(keys)), len(keys) - len(set(keys)), spread)
        with ThreadPoolExecutor(max_workers=32) as pool:
            list(pool.map(lambda c: c.remove(force=True), cs))
    return out


def report(label: str, r: dict[str, Any], rss: tuple[int, int]) -> None:
    lat = r["single_ms"]
    if lat:
        print(f"[{label}] single start -> visible in /v1/health/service: p50 {pct(lat, 50):.1f} ms, "
              f"p99 {pct(lat, 99):.1f} ms, max {max(lat):.1f} ms  ({len(lat)} starts)")
    for n, (ms, lost, dup, spread) in r["bursts"].items():
        print(f"[{label}] burst {n}: starts spread over {spread:.1f} s; last start -> all registered {ms:.1f} ms; "
              f"lost {lost}, duplicates {dup}")
    print(f"[{label}] RSS {rss[0] / 1024:.1f} MB now, {rss[1] / 1024:.1f} MB peak", flush=True)


def json_rows(results: dict[str, dict[str, Any]], skipped: str) -> list[dict]:
    ours, theirs = results["ours"], results.get("anchor")
    name = "metabrainz/serviceregistrator" if theirs else ""

    def single(r: dict[str, Any] | None, p: float) -> float | None:
        return pct(r["single_ms"], p) if r and r["single_ms"] else None

    rows = [row(f"registrator: single start -> visible p{p}", 1, single(ours, p), single(theirs, p), "ms", name,
                skipped) for p in (50, 99)]
    for n, (ms, lost, dup, _) in ours["bursts"].items():
        anchor = theirs["bursts"].get(n) if theirs else None
        rows.append(row("registrator: burst (published ports), last start -> all registered", n, ms,
                        anchor[0] if anchor else None, "ms", name, skipped or f"lost {lost}, duplicates {dup} (ours)"))
    rows.append(row("registrator: RSS peak", None, ours["rss_peak_mib"], theirs["rss_peak_mib"] if theirs else None,
                    "MiB", name, skipped))
    return rows


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", default="50,200")
    ap.add_argument("--singles", type=int, default=30)
    add_json_option(ap)
    args = ap.parse_args()
    sizes = [int(x) for x in args.sizes.split(",") if x]
    d = engines.Dockerd().start()
    agent = engines.ConsulAgent(node="bench").start()
    procs: list[subprocess.Popen] = []
    results: dict[str, dict[str, Any]] = {}
    skipped = ""
    try:
        env = {**os.environ, **d.env}
        image = subprocess.run(["bash", str(ROOT / "scripts/web-image.sh")], env=env, check=True,
                               capture_output=True, text=True).stdout.strip().splitlines()[-1]
        client = docker.DockerClient(base_url=d.host, timeout=120)
        events = StartEvents(client)
        events.start()
        print(f"registrator burst benchmark  (engine {client.version()['Version']}, Consul dev agent)")
        ours = [sys.executable, "-m", "registrator", "--node-id", "bench", "-ip", "127.0.0.1", "--log-level",
                "warning", f"consul://{agent.http_addr}"]
        anchor = anchor_command(agent, d.host)
        if anchor is None:
            skipped = ("metabrainz/serviceregistrator skipped: SERVICEREGISTRATOR_SRC does not name its source tree "
                       "(it is not on PyPI)")
            print(f"metabrainz/serviceregistrator: {skipped}")
        for label, (argv, cwd) in (("ours", (ours, str(ROOT))), *((("anchor", anchor),) if anchor else ())):
            log = open(Path(agent.workdir) / f"{label}.log", "wb")  # noqa: SIM115 - closed with the process
            proc = subprocess.Popen(argv, env=env, cwd=cwd, stdout=log, stderr=subprocess.STDOUT)
            procs.append(proc)
            time.sleep(3)  # both are Python: let imports and the start-up reconcile pass before the first start
            if proc.poll() is not None:
                print(f"[{label}] exited {proc.returncode}: {Path(log.name).read_text(errors='replace')[-1500:]}")
                skipped = skipped or f"{label} did not start"
                continue
            r = measure(client, agent, events, image, label, sizes, args.singles)
            rss = rss_kb(proc.pid)
            r["rss_peak_mib"] = rss[1] / 1024
            report(label, r, rss)
            if not r["single_ms"] and all(lost == n for n, (_, lost, _, _) in r["bursts"].items()):
                tail = Path(log.name).read_text(errors="replace")[-1500:]
                print(f"[{label}] registered nothing; its log ends:\n{tail}")
            results[label] = r
            proc.terminate()
            proc.wait(10)
        events.stream.close()
        write_rows(args.json, json_rows(results, skipped))
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.terminate()
                proc.wait(10)
        agent.stop()
        d.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
