"""One compose stack for every compose test of the session (building and starting it is the slow part)."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator

import pytest

from testbed import engines
from tests.support.compose_stack import Stack


@pytest.fixture(scope="session")
def stack(dockerd: engines.Dockerd) -> Iterator[Stack]:
    s = Stack(dockerd)
    s.build()
    try:
        s.compose("up", "-d", "--wait", "--scale", "web=1")
    except subprocess.CalledProcessError as exc:
        logs = s.logs()
        s.down()
        raise AssertionError(f"compose up failed: {exc.stderr}\n{logs}") from None
    yield s
    s.down()
