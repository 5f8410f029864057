"""The command line refuses a bad configuration before anything runs: clear message, exit status 2."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from consul_templates.cli import cli

ROOT = Path(__file__).resolve().parents[3]


@pytest.mark.parametrize(
    ("yaml_text", "expected"),
    [
        ("templates:\n  - contents: x\n    destination: /tmp/x\n    bogus: 1\n",
         "line 4: unknown key 'templates[0].bogus'"),
        ("templates:\n  - contents: x\n   destination: /tmp/x\n", "invalid YAML"),
        ("wait: {min: 1s, max: soon}\n", "line 1: key 'wait.max': bad duration 'soon'"),
        ("templates:\n  - contents: '{% for %}'\n    destination: /tmp/x\n", "syntax error at line 1"),
        ("templates: []\n", "no templates"),
    ],
)
def test_bad_configuration_exits_2_with_a_clear_message(tmp_path: Path, yaml_text: str, expected: str) -> None:
    cfg = tmp_path / "c.yaml"
    cfg.write_text(yaml_text)
    result = CliRunner().invoke(cli, ["--config", str(cfg)])
    assert result.exit_code == 2
    assert "configuration error" in result.output and expected in result.output


def test_bad_template_flag_and_env_var(tmp_path: Path) -> None:
    result = CliRunner().invoke(cli, ["-template", "nocolon"])
    assert result.exit_code == 2 and "SRC:DEST" in result.output
    result = CliRunner().invoke(cli, [], env={"CONSUL_TEMPLATES_TEMPLATE": f"{tmp_path}/missing.j2:{tmp_path}/out"})
    assert result.exit_code == 2 and "cannot read template" in result.output


def test_python_m_exits_2_on_unknown_key(tmp_path: Path) -> None:
    cfg = tmp_path / "c.yaml"
    cfg.write_text("consul:\n  adress: 127.0.0.1:8500\n")
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    done = subprocess.run([sys.executable, "-m", "consul_templates", "--config", str(cfg)], capture_output=True,
                          text=True, env=env, timeout=30)
    assert done.returncode == 2
    assert f"{cfg}: line 2: unknown key 'consul.adress'" in done.stderr
