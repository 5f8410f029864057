"""Configuration: the YAML schema, its error messages (line + key), the CLI shorthand and the merge."""

from __future__ import annotations

from pathlib import Path

import pytest

from consul_templates.config import Config, ConfigError, Wait, load_config, merge, parse_template_flag
from consul_templates.config_checks import parse_wait
from consul_templates.loader import compile_spec, read_source
from consul_templates.yaml_config import parse_config

GOOD = """\
consul:
  address: 127.0.0.1:8500
  stale: true
wait: {min: 250ms, max: 2s}
log_format: json
http_addr: 127.0.0.1:9310
templates:
  - source: up.j2
    destination: out/up.conf
    perms: 0640
    backup: true
    wait: "100ms:1s"
    check_command: nginx -t -c {path}
    command: nginx -s reload
    command_timeout: 5s
  - contents: "x {{ key('a') }}"
    destination: /tmp/inline.conf
"""


@pytest.fixture
def base(tmp_path: Path) -> Path:
    (tmp_path / "up.j2").write_text("upstream {}\n")
    return tmp_path


def test_full_config_parses(base: Path) -> None:
    cfg = parse_config(GOOD, base)
    assert cfg.consul.address == "127.0.0.1:8500" and cfg.consul.stale is True
    assert cfg.wait == Wait(0.25, 2.0)
    assert cfg.log_format == "json" and str(cfg.http_addr) == "127.0.0.1:9310"
    first, second = cfg.templates
    assert first.source == base / "up.j2" and read_source(first) == "upstream {}\n"
    assert first.language == "jinja2" and first.syntax == "nginx"
    assert first.destination == base / "out" / "up.conf"  # relative to the config file
    assert first.perms == 0o640 and first.backup is True
    assert first.wait == Wait(0.1, 1.0) and first.command_timeout == 5.0
    assert first.check_command == "nginx -t -c {path}"
    assert second.source is None and second.contents == "x {{ key('a') }}"
    assert cfg.wait_for(second) == cfg.wait and cfg.wait_for(first) == Wait(0.1, 1.0)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("templates: []\nbogus: 1\n", "line 2: unknown key 'bogus'"),
        ("consul:\n  adress: x\n", "line 2: unknown key 'consul.adress'"),
        ("templates:\n  - contents: x\n    destination: /tmp/a\n    comand: ls\n",
         "line 4: unknown key 'templates[0].comand'"),
        ("wait:\n  min: 1s\n  maxx: 2s\n", "line 3: unknown key 'wait.maxx'"),
        ("consul:\n  stale: 'yes'\n", "line 2: key 'consul.stale': expected true or false"),
        ("templates:\n  - contents: x\n    destination: 5\n",
         "line 3: key 'templates[0].destination': expected a string"),
        ("templates:\n  - contents: x\n    destination: /a\n    perms: 99999\n", "line 4: key 'templates[0].perms'"),
        ("wait: 2 apples\n", "line 1: key 'wait': bad duration"),
        ("wait: {min: 2s, max: 1s}\n", "max (1s) is smaller than min (2s)"),
        ("templates: {a: 1}\n", "line 1: key 'templates': expected a list"),
        ("templates:\n  - destination: /a\n", "give exactly one of 'source'"),
        ("templates:\n  - contents: x\n", "'destination' is required"),
        ("log_format: xml\n", "line 1: key 'log_format': expected text or json"),
        ("http_addr: nowhere\n", "line 1: key 'http_addr': expected host:port"),
        ("a: [1, 2\n", "invalid YAML"),
        ("wait: 1s\nwait: 2s\n", "line 2: key 'wait' appears twice"),
        ("- 1\n", "the top level must be a mapping"),
        ("templates:\n  - contents: x\n    destination: /a\n    syntax: xml\n", "expected one of nginx, haproxy"),
        ("templates:\n  - contents: x\n    destination: /a\n    language: php\n", "expected one of jinja2, go"),
        ("exec: {reload_signal: SIGHUP}\n", "'command' is required"),
        ("exec: {command: x, kill_signal: SIGNOPE}\n", "unknown signal 'SIGNOPE'"),
        ("env: {upcase: true}\n", "give 'prefixes'"),
    ],
)
def test_bad_config_names_line_and_key(base: Path, text: str, expected: str) -> None:
    with pytest.raises(ConfigError) as err:
        parse_config(text, base)
    assert expected in str(err.value)


def test_bad_yaml_reports_its_line(base: Path) -> None:
    with pytest.raises(ConfigError, match=r"line 3: invalid YAML: mapping values are not allowed here"):
        parse_config("consul:\n  address: x\n   token: y\n", base)


def test_load_config_prefixes_the_file(tmp_path: Path) -> None:
    path = tmp_path / "c.yaml"
    path.write_text("nope: 1\n")
    with pytest.raises(ConfigError, match=rf"^{path}: line 1: unknown key 'nope'"):
        load_config(path)


@pytest.mark.parametrize(
    ("value", "expected"),
    [("1s", Wait(1, 4)), ("1s:3s", Wait(1, 3)), ({"min": "1s"}, Wait(1, 4)), ({"min": 0.5, "max": 2}, Wait(0.5, 2)),
     (0, Wait(0, 0)), ({}, Wait(0, 0))],
)
def test_wait_forms(value: object, expected: Wait) -> None:
    assert parse_wait(value, "wait") == expected


def test_parsing_reads_no_template_and_a_missing_one_fails_when_loaded(base: Path) -> None:
    cfg = parse_config("templates:\n  - source: missing.j2\n    destination: /a\n", base)
    with pytest.raises(ConfigError, match="cannot read template"):
        compile_spec(cfg.templates[0])


def test_template_flag(tmp_path: Path) -> None:
    src = tmp_path / "a.j2"
    src.write_text("hi")
    spec = parse_template_flag(f"{src}:{tmp_path}/out.conf:nginx -s reload && echo a:b", tmp_path)
    assert spec.source == src and spec.destination == tmp_path / "out.conf"
    assert spec.command == "nginx -s reload && echo a:b" and read_source(spec) == "hi"
    assert spec.language == "jinja2"  # by the .j2 suffix
    assert parse_template_flag("in.ctmpl:out.json", tmp_path).language == "go"
    assert parse_template_flag("in:out.json", tmp_path).syntax == "json"
    assert parse_template_flag("a.j2:out", tmp_path).command is None
    with pytest.raises(ConfigError, match="SRC:DEST"):
        parse_template_flag("only-one-part", tmp_path)


def test_merge_cli_beats_file_and_refuses_two_templates_on_one_file(tmp_path: Path) -> None:
    src = tmp_path / "a.j2"
    src.write_text("hi")
    cfg = parse_config(f"templates:\n  - source: {src}\n    destination: {tmp_path}/x\nlog_format: json\n", tmp_path)
    merged = merge(cfg, log_format="text", http_addr="off", consul_address="127.0.0.1:1")
    assert merged.log_format == "text" and merged.http_addr is None and merged.consul.address == "127.0.0.1:1"
    with pytest.raises(ConfigError, match="both write"):
        merge(cfg, templates=[parse_template_flag(f"{src}:{tmp_path}/x", tmp_path)])
    with pytest.raises(ConfigError, match="no templates"):
        merge(Config())
    merged = merge(cfg, log_level="debug", pass_env=("CONSUL_HTTP_TOKEN",))
    assert merged.log_level == "debug" and merged.pass_env == ("CONSUL_HTTP_TOKEN",)


def test_shipped_examples_load(monkeypatch: pytest.MonkeyPatch) -> None:
    examples = Path(__file__).resolve().parents[3] / "consul_templates" / "examples"
    monkeypatch.chdir(examples)  # an HCL config's relative paths are from the working directory
    env = load_config(examples / "env-mode.yaml")
    assert env.env is not None and env.env.prefixes == ("portside/web/config",) and env.exec is not None
    hcl = load_config(examples / "consul-template.hcl")
    (spec,) = hcl.templates
    assert spec.perms == 0o644 and spec.language == "jinja2" and spec.check_command and spec.syntax == "nginx"
    assert compile_spec(spec) is not None
    assert len(load_config(examples / "portside-templates.yaml").templates) == 1
