"""The command line refuses a bad configuration before anything runs: clear message, exit status 2."""

from __future__ import annotations

import importlib.util
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from consul_templates.cli import build_config, cli
from consul_templates.config import Config, EnvFilter, ExecSpec, Wait

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


# ---- consul-template's flags ------------------------------------------------------------------------
def flags(*args: str) -> dict:
    return cli.make_context("consul-templates", list(args)).params


def built(tmp_path: Path, *args: str) -> Config:
    (tmp_path / "in.j2").write_text("x")
    return build_config(flags(*args)).config


def test_consul_template_single_dash_flags(tmp_path: Path) -> None:
    cfg = built(tmp_path, "-template", f"{tmp_path}/in.j2:{tmp_path}/out.conf:nginx -s reload", "-once",
                "-wait", "1s:3s", "-consul-addr", "127.0.0.1:1", "-consul-token", "t0k", "-max-stale", "10m",
                "-exec", "app --flag 'a b'", "-exec-reload-signal", "SIGUSR1", "-exec-kill-signal", "SIGTERM",
                "-exec-kill-timeout", "2s", "-exec-splay", "1s", "-pid-file", f"{tmp_path}/ct.pid",
                "-log-level", "warn", "-reload-signal", "SIGUSR2", "-kill-signal", "SIGQUIT")
    (spec,) = cfg.templates
    assert spec.destination == tmp_path / "out.conf" and spec.command == "nginx -s reload"
    assert cfg.once and cfg.wait == Wait(1, 3) and cfg.log_level == "warning"
    assert cfg.consul.address == "127.0.0.1:1" and cfg.consul.token == "t0k" and cfg.consul.stale
    assert cfg.exec == ExecSpec(("app", "--flag", "a b"), signal.SIGUSR1, signal.SIGTERM, 2.0, 1.0)
    assert cfg.pid_file == tmp_path / "ct.pid"
    assert (cfg.reload_signal, cfg.kill_signal) == (signal.SIGUSR2, signal.SIGQUIT)


def test_long_forms_and_equals_forms_are_the_same(tmp_path: Path) -> None:
    tpl = f"{tmp_path}/in.j2:{tmp_path}/out.conf"
    short = built(tmp_path, f"-template={tpl}", "-wait=2s", "-exec=app", "-exec-env-custom=A=1", "-exec-env-pristine")
    long = built(tmp_path, "--template", tpl, "--wait", "2s", "--exec", "app", "--exec-env-custom", "A=1",
                 "--exec-env-pristine")
    assert short == long and short.wait == Wait(2, 8)
    assert short.exec is not None and short.exec.env == EnvFilter(pristine=True, custom=("A=1",))


def test_hcl_config_and_flags_merge_flags_win(tmp_path: Path) -> None:
    hcl = tmp_path / "ct.hcl"
    hcl.write_text(f'consul {{\n  address = "file:8500"\n}}\ntemplate {{\n  source = "{tmp_path}/in.j2"\n'
                   f'  destination = "{tmp_path}/a.conf"\n}}\n')
    cfg = built(tmp_path, "-config", str(hcl), "-template", f"{tmp_path}/in.j2:{tmp_path}/b.conf",
                "-consul-addr", "flag:8500")
    assert cfg.consul.address == "flag:8500" and [t.destination.name for t in cfg.templates] == ["a.conf", "b.conf"]


def test_unsupported_consul_template_flags_named_in_one_error(tmp_path: Path) -> None:
    result = CliRunner().invoke(cli, ["-vault-addr", "https://v:8200", "-nomad-token=x", "-dedup", "-template", "a:b"])
    assert result.exit_code == 2
    assert "consul-template flags not supported by consul-templates: -dedup, -nomad-token, -vault-addr" in result.output


def test_exec_options_need_exec_and_version_prints(tmp_path: Path) -> None:
    (tmp_path / "in.j2").write_text("x")
    result = CliRunner().invoke(cli, ["-template", f"{tmp_path}/in.j2:{tmp_path}/o", "-exec-splay", "1s"])
    assert result.exit_code == 2 and "-exec-splay needs -exec" in result.output
    result = CliRunner().invoke(cli, ["-version"])
    assert result.exit_code == 0 and result.output.startswith("consul-templates ")


def test_go_template_without_the_go_engine_is_a_clear_error(tmp_path: Path) -> None:
    if importlib.util.find_spec("consul_templates.gotemplates") is not None:
        pytest.skip("the Go template engine is installed")
    (tmp_path / "in.ctmpl").write_text('{{ key "x" }}')
    result = CliRunner().invoke(cli, ["-template", f"{tmp_path}/in.ctmpl:{tmp_path}/out"])
    assert result.exit_code == 2 and "the 'go' template language is not available" in result.output


async def test_each_template_is_compiled_once_at_start_and_once_per_reload(tmp_path: Path, monkeypatch) -> None:
    from consul_templates import render
    from consul_templates.runner import Runner

    compiled: list[str] = []
    real = render.compile_template

    def counting(text, name, options):  # type: ignore[no-untyped-def]
        compiled.append(name)
        return real(text, name, options)

    monkeypatch.setattr(render, "compile_template", counting)
    (tmp_path / "a.j2").write_text("a")
    (tmp_path / "b.j2").write_text("b")
    params = flags("-template", f"{tmp_path}/a.j2:{tmp_path}/a", "-template", f"{tmp_path}/b.j2:{tmp_path}/b")
    runner = Runner(build_config(params), source=None, reload_config=lambda: build_config(params))  # type: ignore
    assert sorted(compiled) == [f"{tmp_path}/a.j2", f"{tmp_path}/b.j2"]
    await runner._reload()
    assert len(compiled) == 4


def test_env_mode_from_flags(tmp_path: Path) -> None:
    cfg = build_config(flags("-env-prefix", "app/base", "-env-prefix", "app/prod", "-env-service", "web",
                             "-env-upcase", "-env-no-sanitize", "-exec", "my-app --port 80",
                             "-exec-env-allowlist", "HOME")).config
    assert cfg.env is not None and cfg.env.prefixes == ("app/base", "app/prod") and cfg.env.services == ("web",)
    assert cfg.env.upcase and not cfg.env.sanitize and not cfg.templates
    assert cfg.exec is not None and cfg.exec.command == ("my-app", "--port", "80") and cfg.exec.env.allow == ("HOME",)
    result = CliRunner().invoke(cli, ["-env-prefix", "app"])
    assert result.exit_code == 2 and "env mode needs a command" in result.output


def test_consul_templates_own_token_variable_is_read_last() -> None:
    from consul_templates.config import ConsulOptions
    from consul_templates.daemon import settings_for

    assert settings_for(ConsulOptions(), {"CONSUL_TOKEN": "ct"}).token == "ct"
    assert settings_for(ConsulOptions(), {"CONSUL_TOKEN": "ct", "CONSUL_HTTP_TOKEN": "http"}).token == "http"
    assert settings_for(ConsulOptions(token="flag"), {"CONSUL_TOKEN": "ct"}).token == "flag"
