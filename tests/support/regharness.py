"""Run the real registrator process against the test dockerd and a Consul agent; read what it registered."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

from testbed import engines

ROOT = Path(__file__).resolve().parents[2]


class RegistratorProcess:
    def __init__(self, dockerd: engines.Dockerd, agent: engines.ConsulAgent, args: list[str], node: str) -> None:
        self.node = node
        self.log_path = Path(agent.workdir) / f"registrator-{uuid.uuid4().hex[:6]}.log"
        env = {**os.environ, "DOCKER_HOST": dockerd.host, "PYTHONUNBUFFERED": "1"}
        env.pop("CONSUL_HTTP_ADDR", None)
        if agent.acl:  # its own token (compose/acl/registrator.hcl), not the harness's management token
            env["CONSUL_HTTP_TOKEN"] = agent.tokens["registrator"]
        self.cmd = [sys.executable, "-m", "registrator", "--node-id", node, "-ip", "127.0.0.1", *args,
                    f"consul://{agent.http_addr}"]
        self.env = env
        self.proc: subprocess.Popen | None = None
        self.start()

    def start(self) -> None:
        self.log = open(self.log_path, "ab")  # noqa: SIM115
        self.proc = subprocess.Popen(self.cmd, env=self.env, stdout=self.log, stderr=subprocess.STDOUT, cwd=ROOT)

    def output(self) -> str:
        return self.log_path.read_text(errors="replace")

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def kill9(self) -> None:
        assert self.proc
        self.proc.kill()
        self.proc.wait(5)

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 5.0) -> float:
        if not self.alive():
            return 0.0
        assert self.proc
        t0 = time.monotonic()
        self.proc.send_signal(sig)
        try:
            self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(5)
            raise AssertionError(f"registrator did not stop within {timeout}s:\n{self.output()[-3000:]}") from None
        return time.monotonic() - t0


def owned(agent: engines.ConsulAgent, node: str) -> dict[str, dict]:
    services = agent.api("/v1/agent/services") or {}
    return {sid: s for sid, s in services.items() if (s.get("Meta") or {}).get("portside-node") == node}


def checks_of(agent: engines.ConsulAgent, sid: str) -> dict[str, str]:
    return {cid: c["Status"] for cid, c in (agent.api("/v1/agent/checks") or {}).items() if c["ServiceID"] == sid}
