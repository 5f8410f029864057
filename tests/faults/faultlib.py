"""What every fault scenario shares: the engines it runs against, what it reports, and the counting.

A scenario is a function `(FaultEnv) -> Outcome`. `tests/faults/test_*.py` run each once and assert 0 lost,
0 stale, 0 crashes; `tests/faults/report.py` runs each N times and prints the table. Daemons run as real
processes through the integration harnesses (imported, not copied)."""

from __future__ import annotations

import sys
import time
import uuid
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from testbed import engines

ROOT = Path(__file__).resolve().parents[2]

LABEL = "portside-fault"  # every container a scenario starts carries it, so teardown finds them all


@dataclass
class Outcome:
    """lost: containers running but not registered (or instances missing from DNS / a file) once the time
    to converge is up; stale: registrations with no running container behind them; crashes: daemons that
    exited or logged a traceback. `converge_s`: from the end of the fault to the catalog telling the truth."""

    lost: int = 0
    stale: int = 0
    converge_s: float = 0.0
    crashes: int = 0
    detail: str = ""

    def after(self, seconds: float) -> Outcome:
        """The slower of this convergence and an earlier one (e.g. services back after a restart)."""
        self.converge_s = max(self.converge_s, seconds)
        return self

    @property
    def ok(self) -> bool:
        return not (self.lost or self.stale or self.crashes)

    def __str__(self) -> str:
        return (f"lost={self.lost} stale={self.stale} converge={self.converge_s:.2f}s crashes={self.crashes}"
                + (f" ({self.detail})" if self.detail else ""))


@dataclass
class FaultEnv:
    dockerd: engines.Dockerd
    docker: Any  # docker.DockerClient: the independent client that drives the engine
    image: str  # busybox web image (scripts/web-image.sh)
    workdir: Path
    nginx: engines.Nginx | None = None
    cleanups: list[Callable[[], None]] = field(default_factory=list)

    def unique(self, prefix: str) -> str:
        return f"{prefix}-{uuid.uuid4().hex[:5]}"

    def run(self, name: str, *, labels: dict[str, str] | None = None, env: dict[str, str] | None = None,
            restart: bool = False, **kw: Any) -> Any:
        return self.docker.containers.run(
            self.image, name=name, labels={LABEL: "1", "SERVICE_NAME": "fault", **(labels or {})},
            environment=env or {}, ports={"80/tcp": ("127.0.0.1", None)}, detach=True,
            restart_policy={"Name": "always"} if restart else None, **kw)

    def start_many(self, n: int, prefix: str, **kw: Any) -> list[Any]:
        with ThreadPoolExecutor(max_workers=16) as pool:
            return list(pool.map(lambda i: self.run(f"{prefix}-{i}", **kw), range(n)))

    def remove(self, containers: Iterable[Any]) -> None:
        def rm(c: Any) -> None:
            try:
                c.remove(force=True)
            except Exception:  # noqa: BLE001 - already gone
                pass

        with ThreadPoolExecutor(max_workers=16) as pool:
            list(pool.map(rm, list(containers)))

    def running(self, prefix: str) -> list[Any]:
        return [c for c in self.docker.containers.list(filters={"label": LABEL})
                if c.name.startswith(prefix)]

    def teardown(self) -> None:
        while self.cleanups:
            try:
                self.cleanups.pop()()
            except Exception as exc:  # noqa: BLE001 - teardown goes on
                print(f"faults teardown: {exc}", file=sys.stderr)
        self.remove(self.docker.containers.list(all=True, filters={"label": LABEL}))


def expected_ids(node: str, containers: Iterable[Any], port: int = 80) -> set[str]:
    return {f"{node}:{c.name}:{port}" for c in containers}


def converge(want: Callable[[], set[str]], have: Callable[[], set[str]], timeout: float,
             interval: float = 0.05) -> tuple[float, set[str], set[str]]:
    """Poll until have() == want(); return (seconds taken, missing, stale) — the last two empty on success."""
    t0 = time.monotonic()
    missing: set[str] = set()
    stale: set[str] = set()
    while True:
        try:
            w, h = want(), have()
            missing, stale = w - h, h - w
            if not missing and not stale:
                return time.monotonic() - t0, set(), set()
        except Exception:  # noqa: BLE001 - an engine still coming back; keep polling
            pass
        if time.monotonic() - t0 > timeout:
            return time.monotonic() - t0, missing, stale
        time.sleep(interval)


def crashed(alive: bool, log: str) -> int:
    """1 when a daemon that should be running is not, or its log holds a traceback."""
    return int(not alive or "Traceback (most recent call last)" in log)
