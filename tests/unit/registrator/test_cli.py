"""The command line: a node ID that could not be part of a service ID is refused before anything starts."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from registrator.cli import cli


@pytest.mark.parametrize("node", ["../../leave", "a/b", "with space"])
def test_unusable_node_id_refused(node: str) -> None:
    result = CliRunner().invoke(cli, ["--node-id", node, "consul://127.0.0.1:1"])
    assert result.exit_code == 2 and "--node-id" in result.output and "node ID must not" in result.output


def test_caps_and_concurrency_must_be_positive() -> None:
    for flag in ("--max-ports", "--max-tags", "--max-checks", "--consul-concurrency"):
        result = CliRunner().invoke(cli, [flag, "0", "consul://127.0.0.1:1"])
        assert result.exit_code == 2 and flag in result.output
