"""One compose stack for every compose test of the session (building and starting it is the slow part)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from testbed import engines
from tests.support.compose_stack import Stack


@pytest.fixture(scope="session")
def stack(dockerd: engines.Dockerd) -> Iterator[Stack]:
    s = Stack(dockerd)
    s.build()
    s.up()
    yield s
    s.down()
