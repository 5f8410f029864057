"""Fixtures for the consul-templates tests against the real engines (integration and security): web backends,
a per-test Consul service, the daemon as a real process, nginx conf.d files. Helpers live in ct_harness.py."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from testbed import engines
from tests.support.ct_harness import Backend, Daemon, get, wait_for


@pytest.fixture(scope="module")
def webs(docker_client, web_image) -> Iterator[list[Backend]]:
    """Three busybox web containers with port 80 published on 127.0.0.1 (shared by the module's tests)."""
    tag = f"ct-{uuid.uuid4().hex[:6]}"
    containers = [docker_client.containers.run(web_image, detach=True, ports={"80/tcp": ("127.0.0.1", None)},
                                               labels={"portside-test": tag}) for _ in range(3)]
    try:
        backends = []
        for c in containers:
            c.reload()
            port = int(c.attrs["NetworkSettings"]["Ports"]["80/tcp"][0]["HostPort"])
            backends.append(Backend(container=c, host=c.attrs["Config"]["Hostname"], port=port))
        for b in backends:
            wait_for(lambda b=b: get(b.port, "/health")[0] == 200, 20, f"web container on {b.port}")
        yield backends
    finally:
        for c in containers:
            c.remove(force=True)


class Service:
    """A per-test Consul service: register / deregister instances; all are deregistered after the test."""

    def __init__(self, agent: engines.ConsulAgent) -> None:
        self.agent = agent
        self.name = f"ctweb-{uuid.uuid4().hex[:6]}"
        self.ids: set[str] = set()
        # its keys live under portside/, the prefix compose/acl/consul-templates.hcl lets the daemon read
        self.kv_root = f"portside/{self.name}"

    def sid(self, port: int) -> str:
        return f"{self.name}-{port}"

    def register(self, backend: Backend | None = None, *, port: int | None = None, check: bool = True,
                 address: str = "127.0.0.1") -> str:
        port = port if port is not None else backend.port if backend else 1
        sid = self.sid(port)
        body: dict = {"ID": sid, "Name": self.name, "Address": address, "Port": port}
        if check and backend is not None:
            body["Check"] = {"HTTP": f"http://127.0.0.1:{backend.port}/health", "Interval": "1s", "Timeout": "1s"}
        self.agent.api("/v1/agent/service/register", "PUT", body)
        self.ids.add(sid)
        return sid

    def deregister(self, backend: Backend | None = None, *, port: int | None = None) -> None:
        sid = self.sid(port if port is not None else backend.port if backend else 1)
        self.agent.api(f"/v1/agent/service/deregister/{sid}", "PUT")
        self.ids.discard(sid)

    def kv(self, key: str, value: str) -> None:
        self.agent.api(f"/v1/kv/{self.kv_root}/{key}", "PUT", value.encode())

    def cleanup(self) -> None:
        for sid in list(self.ids):
            self.deregister(port=int(sid.rsplit("-", 1)[1]))
        self.agent.api(f"/v1/kv/{self.kv_root}?recurse", "DELETE")


@pytest.fixture
def service(consul_agent) -> Iterator[Service]:
    svc = Service(consul_agent)
    yield svc
    svc.cleanup()


@pytest.fixture
def daemon(consul_env, consul_agent, tmp_path: Path) -> Iterator[Callable[..., Daemon]]:
    """Factory: start consul-templates with args; stopped after, and each must still have been alive.
    With ACLs on it gets its own token (compose/acl/consul-templates.hcl)."""
    started: list[Daemon] = []

    def start(*args: str, env: dict[str, str] | None = None) -> Daemon:
        d = Daemon(list(args), tmp_path, {**consul_agent.env_for("consul-templates"), **(env or {})})
        started.append(d)
        return d

    yield start
    for d in started:
        d.stop()


@pytest.fixture
def site(nginx) -> Iterator[Callable[[str], Path]]:
    """Factory: a conf.d file name for this test; removed (and nginx reloaded) after."""
    made: list[Path] = []

    def make(stem: str) -> Path:
        path = nginx.conf_d / f"{stem}-{uuid.uuid4().hex[:6]}.conf"
        made.append(path)
        return path

    yield make
    for path in made:
        for p in (path, path.with_name(path.name + ".bak")):
            p.unlink(missing_ok=True)
    if made:
        nginx.reload()


@pytest.fixture
def listen_port() -> int:
    return engines.free_port()
