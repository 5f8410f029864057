"""Session-scoped real engines for the integration tests: dockerd, a Consul dev agent, nginx.

They are started by the project's own testbed/engines.py (the same code `make demo` uses) and torn
down at the end of the session; nothing is left running. Engines are started lazily, only when a test
asks for them, so `pytest tests/unit` needs none."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from testbed import engines

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="session")
def dockerd() -> Iterator[engines.Dockerd]:
    d = engines.Dockerd().start()
    yield d
    d.stop()


@pytest.fixture(scope="session")
def docker_client(dockerd: engines.Dockerd):
    """An independent client (the `docker` SDK) to drive the engine and check our work."""
    import docker

    client = docker.DockerClient(base_url=dockerd.host, timeout=60)
    yield client
    client.close()


@pytest.fixture(scope="session")
def web_image(dockerd: engines.Dockerd) -> str:
    env = {**os.environ, **dockerd.env}
    out = subprocess.run(["bash", str(ROOT / "scripts" / "web-image.sh")], env=env, check=True,
                         capture_output=True, text=True)
    return out.stdout.strip().splitlines()[-1]


@pytest.fixture(scope="session")
def consul_agent(dockerd: engines.Dockerd) -> Iterator[engines.ConsulAgent]:
    """The session's agent; it can run docker-exec checks against the test dockerd."""
    agent = engines.ConsulAgent(node="portside-test", proc_env=dockerd.env).start()
    yield agent
    agent.stop()


@pytest.fixture(scope="session")
def nginx() -> Iterator[engines.Nginx]:
    n = engines.Nginx().start()
    yield n
    n.stop()


@pytest.fixture
def consul_env(consul_agent: engines.ConsulAgent, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    for key in ("CONSUL_HTTP_TOKEN", "CONSUL_HTTP_SSL", "CONSUL_CACERT", "CONSUL_CLIENT_CERT", "CONSUL_CLIENT_KEY"):
        monkeypatch.delenv(key, raising=False)
    monkeypatch.setenv("CONSUL_HTTP_ADDR", consul_agent.env["CONSUL_HTTP_ADDR"])
    return consul_agent.env
