"""Helpers for the consul-templates integration tests: the daemon as a real process, HTTP through nginx."""

from __future__ import annotations

import itertools
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "consul_templates" / "examples" / "nginx-upstream.conf.j2"
NGINX_CHECK = f"{sys.executable} -m consul_templates.nginx_check {{path}}"
_counter = itertools.count()


@dataclass
class Backend:
    """A busybox web container published on 127.0.0.1:port; `/` answers `host`."""

    container: Any
    host: str
    port: int


class Daemon:
    """`python -m consul_templates ...` as a real process; output in a log file."""

    def __init__(self, args: list[str], workdir: Path, env: dict[str, str]) -> None:
        self.log_path = workdir / f"consul-templates-{next(_counter)}.log"
        full_env = {**os.environ, **env, "PYTHONPATH": str(ROOT)}
        with open(self.log_path, "wb") as log:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "consul_templates", *args], env=full_env, cwd=workdir, stdout=log,
                stderr=subprocess.STDOUT, start_new_session=True,
            )

    def alive(self) -> bool:
        return self.proc.poll() is None

    def hup(self) -> None:
        self.proc.send_signal(signal.SIGHUP)

    def stop(self, timeout: float = 10) -> int:
        if self.alive():
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        return self.proc.returncode

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")


def get(port: int, path: str = "/", timeout: float = 3.0) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=timeout) as resp:
            return resp.status, resp.read().decode(errors="replace").strip()
    except urllib.error.HTTPError as exc:
        return exc.code, ""


def seen_through(port: int, requests: int = 12) -> set[str]:
    """Which backends answer through nginx on `port` (a non-200 counts as 'status:<code>')."""
    out = set()
    for _ in range(requests):
        try:
            status, body = get(port)
        except OSError as exc:
            out.add(f"error:{type(exc).__name__}")
            continue
        out.add(body if status == 200 else f"status:{status}")
    return out


def metric(port: int, name: str, labels: str = "") -> float:
    """One sample from /metrics (0 when absent)."""
    _, text = get(port, "/metrics")
    prefix = f"{name}{{{labels}" if labels else name
    total = 0.0
    for line in text.splitlines():
        if line.startswith(prefix) and not line.startswith("#"):
            total += float(line.rsplit(" ", 1)[1])
    return total


def wait_for(pred: Any, timeout: float, what: str, interval: float = 0.05) -> None:
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        try:
            last = pred()
            if last:
                return
        except Exception as exc:  # noqa: BLE001 - reported on timeout
            last = exc
        time.sleep(interval)
    raise AssertionError(f"{what}: not reached after {timeout:.0f}s (last: {last!r})")
