"""The fault suite's environment: the session engines (tests/conftest.py) bundled as a FaultEnv."""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.faults.faultlib import FaultEnv


@pytest.fixture(scope="session")
def fault_env(dockerd, docker_client, web_image) -> Iterator[FaultEnv]:
    env = FaultEnv(dockerd=dockerd, docker=docker_client, image=web_image,
                   workdir=Path(tempfile.mkdtemp(prefix="psfault-", dir="/tmp")))
    yield env
    env.teardown()
