"""Fixtures for the dns_balancer integration tests (helpers live in dnsb_harness.py)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from testbed import engines
from tests.support.dnsb_fleet import Fleet
from tests.support.dnsb_harness import ALT_DOMAIN, Daemon, deregister, register, unique


@pytest.fixture(scope="session")
def dns_daemon(consul_agent: engines.ConsulAgent) -> Iterator[Daemon]:
    """The daemon most tests share: defaults plus an alternative domain."""
    # debug: its log says when each check watch answered, each publication and each zone update (Daemon.explain)
    d = Daemon(consul_agent, "--alt-domain", ALT_DOMAIN, "--log-level", "debug").start()
    yield d
    d.stop()


@pytest.fixture
def services(consul_agent: engines.ConsulAgent) -> Iterator:
    """Factory registering instances on the session agent; all are deregistered after the test."""
    made: list[str] = []

    def add(name: str, i: int, address: str | None = None, port: int | None = None, **kw: object) -> str:
        sid = f"{name}-{i}"
        register(consul_agent, name, sid, address, port if port is not None else 8000 + i, **kw)  # type: ignore
        made.append(sid)
        return sid

    add.unique = unique  # type: ignore[attr-defined]
    yield add
    deregister(consul_agent, *made)


@pytest.fixture
def fleet(docker_client, web_image, consul_agent: engines.ConsulAgent) -> Iterator[Fleet]:
    """Web containers registered as one service (tests/support/dnsb_fleet.py); all removed after the test."""
    f = Fleet(docker_client, web_image, consul_agent, "fleet")
    yield f
    f.close()
