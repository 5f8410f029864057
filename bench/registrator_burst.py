"""Registrator burst benchmark (not a test): prints figures, asserts nothing.

Starts its own dockerd and Consul dev agent (testbed/engines.py), runs `registrator`, then:
1. single starts: K containers one at a time; latency from Docker's `start` event (its timeNano) to the
   service being visible in /v1/health/service/<name> (seen by a blocking query), p50/p99;
2. bursts: N containers started at once (N = 50, 200 by default); time from the last `start` event to all
   N registered; lost and duplicate registrations;
3. the registrator's RSS (VmRSS now, VmHWM peak).

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

import docker

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


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", default="50,200")
    ap.add_argument("--singles", type=int, default=30)
    args = ap.parse_args()
    d = engines.Dockerd().start()
    agent = engines.ConsulAgent(node="bench").start()
    reg = None
    try:
        env = {**os.environ, **d.env}
        image = subprocess.run(["bash", str(ROOT / "scripts/web-image.sh")], env=env, check=True,
                               capture_output=True, text=True).stdout.strip()
        client = docker.DockerClient(base_url=d.host, timeout=120)
        events = StartEvents(client)
        events.start()
        reg = subprocess.Popen([sys.executable, "-m", "registrator", "--node-id", "bench", "-ip", "127.0.0.1",
                                "--log-level", "warning", f"consul://{agent.http_addr}"], env=env, cwd=ROOT)
        engines.wait_until(lambda: agent.api("/v1/agent/services") is not None, 10, "agent")
        time.sleep(1.5)

        def run(name: str, svc: str):
            return client.containers.run(image, name=name, detach=True, labels={"SERVICE_NAME": svc},
                                         ports={"80/tcp": ("127.0.0.1", None)})

        print(f"registrator burst benchmark  (engine {client.version()['Version']}, Consul dev agent)")
        lat = []
        for i in range(args.singles):
            svc = f"single{i}"
            c = run(f"s{i}-{uuid.uuid4().hex[:4]}", svc)
            seen, entries = wait_count(agent, svc, 1, 10)
            engines.wait_until(lambda c=c: c.name in events.starts, 5, "start event")
            lat.append((seen - events.starts[c.name]) / 1e6)
            c.remove(force=True)
        print(f"single start -> visible in /v1/health/service: p50 {pct(lat, 50):.1f} ms, "
              f"p99 {pct(lat, 99):.1f} ms, max {max(lat):.1f} ms  ({len(lat)} starts)")

        for n in [int(x) for x in args.sizes.split(",") if x]:
            svc = f"burst{n}"
            names = [f"b{n}-{i}-{uuid.uuid4().hex[:4]}" for i in range(n)]
            with ThreadPoolExecutor(max_workers=32) as pool:
                futs = [pool.submit(run, nm, svc) for nm in names]
                seen, entries = wait_count(agent, svc, n, 120)
                cs = [f.result() for f in futs]
            engines.wait_until(lambda names=names: all(nm in events.starts for nm in names), 10, "all start events")
            last_start = max(events.starts[nm] for nm in names)
            per_container = [e["Service"]["Meta"].get("portside-container") for e in entries]
            lost = n - len(set(per_container))
            dup = len(per_container) - len(set(per_container))
            spread = (last_start - min(events.starts[nm] for nm in names)) / 1e9
            print(f"burst {n}: starts spread over {spread:.1f} s; last start -> all registered "
                  f"{(seen - last_start) / 1e6:.1f} ms; lost {lost}, duplicates {dup}")
            with ThreadPoolExecutor(max_workers=32) as pool:
                list(pool.map(lambda c: c.remove(force=True), cs))
        now, peak = rss_kb(reg.pid)
        print(f"registrator RSS {now / 1024:.1f} MB now, {peak / 1024:.1f} MB peak")
        events.stream.close()
    finally:
        if reg:
            reg.terminate()
            reg.wait(10)
        agent.stop()
        d.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
