"""Fixtures for the registrator integration tests (helpers live in regharness.py)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest

from testbed import engines
from tests.support.regharness import RegistratorProcess, owned


@pytest.fixture
def registrator(dockerd, consul_agent, docker_client) -> Iterator:
    """Factory: start a registrator with extra args; all are stopped (and their containers removed) after."""
    started: list[RegistratorProcess] = []
    label = f"ps-test-{uuid.uuid4().hex[:6]}"

    def start(*args: str, agent: engines.ConsulAgent | None = None, node: str | None = None) -> RegistratorProcess:
        r = RegistratorProcess(dockerd, agent or consul_agent, list(args), node or label)
        started.append(r)
        return r

    start.node = label  # type: ignore[attr-defined]
    yield start
    for r in started:
        if r.alive():
            r.stop(timeout=10)
    for c in docker_client.containers.list(all=True, filters={"label": "portside-test"}):
        c.remove(force=True)
    # leave the session agent clean for the next test
    for r in started:
        for sid in owned(consul_agent, r.node):
            consul_agent.api(f"/v1/agent/service/deregister/{sid}", "PUT")
