"""Start and stop the real engines portside works with: dockerd, a Consul dev agent and nginx.

Used by the test harness (tests/conftest.py) and by `make demo`. Each engine lives in its own temp
directory, on private sockets and free loopback ports, and never touches the system's configuration.
Docker networks stay in 198.18.0.0/15 (RFC 2544), never in the private ranges.

    python -m testbed.engines up                  # start all three, print where they run, stop on Ctrl-C
    python -m testbed.engines dockerd start DIR   # a detached private dockerd (prints DOCKER_HOST)
    python -m testbed.engines dockerd stop DIR
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid
from dataclasses import dataclass, field
from pathlib import Path

from testbed import acl as consul_acl

ROOT = Path(__file__).resolve().parent.parent
DOCKER_BIP = "198.18.0.1/24"
DOCKER_POOL = "base=198.18.64.0/18,size=24"


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def free_ports(n: int) -> list[int]:
    """n distinct free ports on 127.0.0.1, free for both TCP and UDP."""
    ports: list[int] = []
    while len(ports) < n:
        p = free_port()
        with contextlib.suppress(OSError), socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as u:
            u.bind(("127.0.0.1", p))
            if p not in ports:
                ports.append(p)
    return ports


def wait_until(predicate, timeout: float, what: str, interval: float = 0.05) -> None:
    deadline = time.monotonic() + timeout
    last: Exception | None = None
    while time.monotonic() < deadline:
        try:
            if predicate():
                return
        except Exception as exc:  # noqa: BLE001 - keep the last reason for the error message
            last = exc
        time.sleep(interval)
    raise TimeoutError(f"{what} not ready after {timeout:.0f}s" + (f": {last}" if last else ""))


def _stop(proc: subprocess.Popen | None, timeout: float = 10.0) -> None:
    if proc is None or proc.poll() is not None:
        return
    proc.terminate()
    try:
        proc.wait(timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(5)


def consul_binary() -> str:
    """Path of the consul binary: PATH first, else the one scripts/consul.sh builds (building if needed)."""
    found = shutil.which("consul")
    if found:
        return found
    out = subprocess.run(["bash", str(ROOT / "scripts" / "consul.sh")], check=True, stdout=subprocess.PIPE,
                         text=True)
    return out.stdout.strip().splitlines()[-1]


# ---------------------------------------------------------------------------------------------
@dataclass
class Dockerd:
    """A private dockerd (root), or the engine already at DOCKER_HOST when it answers.

    Several can run side by side (tests/cluster): give each its own `bridge` (made beforehand; then no
    --bip), its own `pool`, `reuse_env=False`, and `iptables=False`, since a dockerd starting with iptables
    rewrites the DOCKER chains every engine on the machine shares."""

    workdir: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="psd-", dir="/tmp")))
    proc: subprocess.Popen | None = None
    host: str = ""
    external: bool = False
    bridge: str = ""
    bip: str = DOCKER_BIP
    pool: str = DOCKER_POOL
    iptables: bool = True
    reuse_env: bool = True

    @property
    def env(self) -> dict[str, str]:
        return {"DOCKER_HOST": self.host}

    def ping(self) -> bool:
        r = subprocess.run(["docker", "-H", self.host, "version", "--format", "{{.Server.Version}}"],
                           capture_output=True, text=True, timeout=10)
        return r.returncode == 0

    def start(self) -> Dockerd:
        existing = os.environ.get("DOCKER_HOST") if self.reuse_env else None
        if existing:
            self.host = existing
            if self.ping():
                self.external = True
                return self
        sock = self.workdir / "docker.sock"
        self.host = f"unix://{sock}"
        log = open(self.workdir / "dockerd.log", "wb")  # noqa: SIM115 - lives as long as the daemon
        self.proc = subprocess.Popen(
            ["dockerd", "-H", self.host, "--data-root", str(self.workdir / "data"),
             "--exec-root", str(self.workdir / "x"), "--pidfile", str(self.workdir / "docker.pid"),
             *(["--bridge", self.bridge] if self.bridge else ["--bip", self.bip]), "--default-address-pool",
             self.pool, *([] if self.iptables else ["--iptables=false"]), "--log-level", "warn"],
            stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
        )
        try:
            wait_until(lambda: self.proc.poll() is None and self.ping(), 60, "dockerd")  # type: ignore[union-attr]
        except TimeoutError:
            self.stop()
            tail = (self.workdir / "dockerd.log").read_text(errors="replace")[-2000:]
            raise RuntimeError(f"dockerd did not start; log tail:\n{tail}") from None
        return self

    def restart(self) -> None:
        """Stop and start the same private engine (same data root): containers and images survive."""
        if self.external:
            raise RuntimeError("cannot restart an external engine")
        _stop(self.proc, 30)
        self.proc = None
        os.environ.pop("DOCKER_HOST", None)
        self.start()

    def stop(self) -> None:
        if self.external:
            return
        if self.proc and self.proc.poll() is None:
            with contextlib.suppress(Exception):
                ids = subprocess.run(["docker", "-H", self.host, "ps", "-aq"], capture_output=True, text=True,
                                     timeout=20).stdout.split()
                if ids:
                    subprocess.run(["docker", "-H", self.host, "rm", "-f", *ids], capture_output=True, timeout=60)
        _stop(self.proc, 30)
        shutil.rmtree(self.workdir, ignore_errors=True)


# ---------------------------------------------------------------------------------------------
@dataclass
class ConsulAgent:
    """A Consul dev agent on 127.0.0.1 with its own free ports; gRPC off.

    Script and docker-exec checks registered through the HTTP API (as registrator does) need
    `-enable-script-checks`; `-enable-local-script-checks` alone covers only config files. Safe here
    because the agent's HTTP API listens on loopback only.

    `acl=True` (default: PORTSIDE_CONSUL_ACL=1) starts it with ACLs on, default deny, and one token per daemon
    from compose/acl/*.hcl (`env_for(daemon)`); `api()` then uses the management token (testbed/acl.py)."""

    binary: str = ""
    bind: str = "127.0.0.1"
    node: str = "portside-dev"
    extra_args: list[str] = field(default_factory=list)
    log_level: str = "warn"
    proc_env: dict[str, str] = field(default_factory=dict)  # e.g. DOCKER_HOST for docker-exec checks
    workdir: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="psc-", dir="/tmp")))
    proc: subprocess.Popen | None = None
    ports: dict[str, int] = field(default_factory=dict)
    acl: bool = field(default_factory=consul_acl.from_env)
    management_token: str = ""
    tokens: dict[str, str] = field(default_factory=dict)  # daemon -> its token's secret (acl only)

    @property
    def http_addr(self) -> str:
        return f"{self.bind}:{self.ports['http']}"

    @property
    def env(self) -> dict[str, str]:
        return {"CONSUL_HTTP_ADDR": f"http://{self.http_addr}"}

    def env_for(self, daemon: str) -> dict[str, str]:
        """What a daemon needs to reach this agent: the address and, with ACLs on, its own token."""
        return {**self.env, **({"CONSUL_HTTP_TOKEN": self.tokens[daemon]} if self.acl else {})}

    def api(self, path: str, method: str = "GET", body: object = None, token: str | None = None):
        data = None if body is None else (body if isinstance(body, bytes) else json.dumps(body).encode())
        req = urllib.request.Request(f"http://{self.http_addr}{path}", data=data, method=method)
        token = self.management_token if token is None else token
        if token:
            req.add_header("X-Consul-Token", token)
        with urllib.request.urlopen(req, timeout=10) as resp:
            raw = resp.read()
        return json.loads(raw) if raw.strip() else None

    def start(self) -> ConsulAgent:
        self.binary = self.binary or consul_binary()
        chosen = not self.ports
        for attempt in range(3):
            if chosen:  # free now; a container's published port (docker picks from the same range) may take one
                http, dns, lan, wan, server = free_ports(5)
                self.ports = {"http": http, "dns": dns, "serf_lan": lan, "serf_wan": wan, "server": server}
            self._spawn()
            try:
                # the agent answers, or has exited (then at once, not after the whole wait)
                wait_until(lambda: self.proc.poll() is not None or self.ready(), 60,  # type: ignore[union-attr]
                           f"consul agent {self.node}")
                if self.proc is not None and self.proc.poll() is None:
                    if self.acl:  # the management token exists once the leader has set ACLs up
                        wait_until(lambda: self.api("/v1/acl/token/self"), 30, "consul ACLs")
                        consul_acl.provision(self)
                    return self
                why = "exited"
            except TimeoutError as exc:
                why = str(exc)
            tail = (self.workdir / "consul.log").read_text(errors="replace")[-2000:]
            if chosen and attempt < 2 and "address already in use" in tail:
                self.stop(keep_dir=True)
                continue
            self.stop()
            raise RuntimeError(f"consul did not start ({why}); log tail:\n{tail}")
        raise AssertionError("unreachable")

    def _spawn(self) -> None:
        hcl = self.workdir / "ports.hcl"
        config = "ports { grpc = -1\n grpc_tls = -1 }\n"
        if self.acl:
            self.management_token = self.management_token or str(uuid.uuid4())
            config += consul_acl.agent_config(self.management_token)
        hcl.write_text(config)
        p = self.ports
        log = open(self.workdir / "consul.log", "ab")  # noqa: SIM115
        self.proc = subprocess.Popen(
            [self.binary, "agent", *self.mode_args(), "-node", self.node, "-bind", self.bind, "-client", self.bind,
             "-http-port", str(p["http"]), "-dns-port", str(p["dns"]), "-serf-lan-port", str(p["serf_lan"]),
             "-serf-wan-port", str(p["serf_wan"]), "-server-port", str(p["server"]), "-log-level", self.log_level,
             "-config-file", str(hcl), *self.extra_args],
            stdout=log, stderr=subprocess.STDOUT, start_new_session=True, env={**os.environ, **self.proc_env},
        )

    def mode_args(self) -> list[str]:
        """What kind of agent: here a dev server (testbed/cluster.py runs real servers and clients)."""
        return ["-dev", "-enable-local-script-checks", "-enable-script-checks"]

    def ready(self) -> bool:
        return bool(self.api("/v1/status/leader"))

    def restart(self, down_seconds: float = 0.0) -> None:
        """Stop and start on the same ports. A dev agent keeps nothing: every service is gone after."""
        _stop(self.proc)
        if down_seconds:
            time.sleep(down_seconds)
        self.start()

    def stop(self, keep_dir: bool = False) -> None:
        _stop(self.proc)
        self.proc = None
        if not keep_dir:
            shutil.rmtree(self.workdir, ignore_errors=True)


# ---------------------------------------------------------------------------------------------
NGINX_MAIN = """\
worker_processes 1;
pid {prefix}/nginx.pid;
error_log {prefix}/error.log warn;
events {{ worker_connections 512; }}
http {{
    access_log off;
    client_body_temp_path {prefix}/tmp/body;
    proxy_temp_path {prefix}/tmp/proxy;
    fastcgi_temp_path {prefix}/tmp/fastcgi;
    uwsgi_temp_path {prefix}/tmp/uwsgi;
    scgi_temp_path {prefix}/tmp/scgi;
    include {prefix}/conf.d/*.conf;
}}
"""


@dataclass
class Nginx:
    """An nginx master with its own prefix and config in a temp dir (never the system config)."""

    prefix: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="psn-", dir="/tmp")))
    proc: subprocess.Popen | None = None

    @property
    def conf(self) -> Path:
        return self.prefix / "nginx.conf"

    @property
    def conf_d(self) -> Path:
        return self.prefix / "conf.d"

    def _cmd(self, *args: str) -> list[str]:
        return ["nginx", "-p", str(self.prefix), "-c", str(self.conf), *args]

    def start(self) -> Nginx:
        (self.prefix / "tmp").mkdir(parents=True, exist_ok=True)
        self.conf_d.mkdir(exist_ok=True)
        (self.prefix / "logs").mkdir(exist_ok=True)  # nginx opens prefix/logs/error.log before reading conf
        self.conf.write_text(NGINX_MAIN.format(prefix=self.prefix))
        self.proc = subprocess.Popen(self._cmd("-g", "daemon off; master_process on;"), start_new_session=True,
                                     stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        wait_until(lambda: self.proc.poll() is None and (self.prefix / "nginx.pid").exists(), 20,  # type: ignore
                   "nginx")
        return self

    def test_config(self) -> subprocess.CompletedProcess:
        return subprocess.run(self._cmd("-t", "-q"), capture_output=True, text=True)

    def reload(self) -> None:
        subprocess.run(self._cmd("-s", "reload"), check=True, capture_output=True, text=True)

    @property
    def reload_command(self) -> str:
        return " ".join(self._cmd("-s", "reload"))

    @property
    def check_command(self) -> str:
        return " ".join(self._cmd("-t", "-q"))

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGQUIT)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        shutil.rmtree(self.prefix, ignore_errors=True)


def dockerd_cmd(argv: list[str]) -> int:
    """`engines.py dockerd start|stop DIR`: a detached private dockerd that outlives this process (demo)."""
    action, workdir = argv[0], Path(argv[1])
    pidfile = workdir / "docker.pid"
    if action == "start":
        workdir.mkdir(parents=True, exist_ok=True)
        d = Dockerd(workdir=workdir)
        d.host = f"unix://{workdir / 'docker.sock'}"
        if pidfile.exists() and d.ping():
            print(d.host)
            return 0
        os.environ.pop("DOCKER_HOST", None)
        d.start()
        print(d.host)
        return 0
    if action == "stop":
        if pidfile.exists():
            pid = int(pidfile.read_text().strip() or 0)
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGTERM)
                deadline = time.monotonic() + 30
                while time.monotonic() < deadline:
                    os.kill(pid, 0)
                    time.sleep(0.2)
        shutil.rmtree(workdir, ignore_errors=True)
        return 0
    print(__doc__)
    return 2


def main(argv: list[str]) -> int:
    if argv[1:2] == ["dockerd"] and len(argv) == 4:
        return dockerd_cmd(argv[2:])
    if argv[1:2] != ["up"]:
        print(__doc__)
        return 2
    engines: list = []
    try:
        d = Dockerd().start()
        engines.append(d)
        c = ConsulAgent().start()
        engines.append(c)
        n = Nginx().start()
        engines.append(n)
        print("portside engines are running:")
        print(f"  docker   DOCKER_HOST={d.host}" + (" (external)" if d.external else f"  (data in {d.workdir})"))
        print(f"  consul   CONSUL_HTTP_ADDR=http://{c.http_addr}  DNS on 127.0.0.1:{c.ports['dns']}")
        print(f"  nginx    prefix {n.prefix}  (config {n.conf})")
        print("Press Ctrl-C to stop them.", flush=True)
        signal.signal(signal.SIGTERM, lambda *_: (_ for _ in ()).throw(KeyboardInterrupt()))
        while all(getattr(e, "proc", None) is None or e.proc.poll() is None for e in engines):
            time.sleep(1)
        print("an engine exited; stopping the others", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 0
    finally:
        for e in reversed(engines):
            e.stop()
        print("engines stopped")


if __name__ == "__main__":
    sys.exit(main(sys.argv))
