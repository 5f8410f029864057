"""The Go oracle, built once per session when `go` is on PATH (its tests are skipped without it)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.gotemplate_oracle import OracleProcess, build, go_available


@pytest.fixture(scope="session")
def go_oracle(tmp_path_factory: pytest.TempPathFactory) -> Path:
    if not go_available():
        pytest.skip("`go` is not on PATH: the recorded answers stand in for Go")
    return build(tmp_path_factory.mktemp("gotemplate-oracle"))


@pytest.fixture(scope="session")
def go_oracle_process(go_oracle: Path) -> Iterator[OracleProcess]:
    """One Go process answering cases one by one for the whole session."""
    proc = OracleProcess(go_oracle)
    yield proc
    proc.close()
