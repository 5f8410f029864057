"""Fixtures for the least-privilege tests: an agent of their own with ACLs on (default deny), whatever
PORTSIDE_CONSUL_ACL says, so the session agent's policies are never changed under other tests."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from testbed import acl, engines


@pytest.fixture(scope="module")
def acl_agent(dockerd: engines.Dockerd) -> Iterator[engines.ConsulAgent]:
    agent = engines.ConsulAgent(node="portside-least-privilege", proc_env=dockerd.env, acl=True).start()
    yield agent
    agent.stop()


@pytest.fixture
def rules(acl_agent: engines.ConsulAgent) -> Iterator:
    """rules(daemon, text): change that daemon's policy at runtime; the shipped files are put back after."""
    changed: set[str] = set()

    def set_rules(daemon: str, text: str | None = None) -> None:
        changed.add(daemon)
        acl.set_rules(acl_agent, daemon, text)

    yield set_rules
    for daemon in changed:
        acl.set_rules(acl_agent, daemon)
