"""The shared daemon shell, through each daemon's real command line: the common options once, one env-prefix rule,
CONSUL_* as the fallback, `off`, bad addresses refused with exit 2 naming the option, the token kept secret."""

from __future__ import annotations

import re
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from consul_templates.cli import cli as ct_cli
from dns_balancer.cli import cli as dns_cli
from portside.shell import Shell, shell_from
from registrator.cli import cli as reg_cli

CLIS = {"DNS_BALANCER": dns_cli, "REGISTRATOR": reg_cli, "CONSUL_TEMPLATES": ct_cli}
SHARED = ["--log-level", "--log-format", "--http-addr", "--consul-token", "--consul-token-file", "--consul-ssl",
          "--consul-ssl-verify", "--consul-cacert", "--consul-client-cert", "--consul-client-key", "--consul-max-conns"]
CLEAN_ENV = {k: "" for k in ("CONSUL_HTTP_ADDR", "CONSUL_HTTP_TOKEN", "CONSUL_HTTP_TOKEN_FILE", "CONSUL_HTTP_SSL",
                             "CONSUL_HTTP_SSL_VERIFY", "CONSUL_CACERT", "CONSUL_CLIENT_CERT", "CONSUL_CLIENT_KEY")}


def values(prefix: str, args: list[str], monkeypatch: pytest.MonkeyPatch, env: dict[str, str] | None = None) -> dict:
    for key in [*CLEAN_ENV, *(k for k in __import__("os").environ if k.startswith(f"{prefix}_"))]:
        monkeypatch.delenv(key, raising=False)
    for key, value in (env or {}).items():
        monkeypatch.setenv(key, value)
    return dict(CLIS[prefix].make_context(prefix.lower(), args).params)


@pytest.mark.parametrize("prefix", CLIS)
def test_help_lists_each_shared_option_once_with_its_variable(prefix):
    out = CliRunner().invoke(CLIS[prefix], ["--help"], terminal_width=200).output
    for option in SHARED:
        assert len(re.findall(rf"(?<![\w-]){option}(?![\w-])", out)) == 1, (prefix, option)
        assert f"{prefix}_{option[2:].upper().replace('-', '_')}" in out, (prefix, option)
    has_addr = prefix != "REGISTRATOR"  # registrator's Consul address is its REGISTRY_URI argument
    assert ("--consul-addr" in out) == has_addr


@pytest.mark.parametrize("prefix", CLIS)
def test_flag_beats_prefix_variable_beats_consul_variable(prefix, monkeypatch, tmp_path):
    env = {f"{prefix}_CONSUL_TOKEN": "from-prefix", "CONSUL_HTTP_TOKEN": "from-consul",
           f"{prefix}_HTTP_ADDR": "127.0.0.1:9101", f"{prefix}_CONSUL_MAX_CONNS": "7"}
    shell = shell_from(values(prefix, [], monkeypatch, env))
    assert shell.consul.token == "from-prefix" and str(shell.http_addr) == "127.0.0.1:9101"
    assert shell.consul.max_connections == 7
    shell = shell_from(values(prefix, ["--consul-token", "flag", "--http-addr", "[::1]:9102"], monkeypatch, env))
    assert shell.consul.token == "flag" and str(shell.http_addr) == "[::1]:9102"
    shell = shell_from(values(prefix, [], monkeypatch, {"CONSUL_HTTP_TOKEN": "from-consul"}))
    assert shell.consul.token == "from-consul"
    token_file = tmp_path / "token"
    token_file.write_text("from-file\n")
    shell = shell_from(values(prefix, [], monkeypatch, {"CONSUL_HTTP_TOKEN": "from-consul",
                                                        "CONSUL_HTTP_TOKEN_FILE": str(token_file)}))
    assert shell.consul.token == "from-file"  # as Consul's own client: the file wins over the variable
    monkeypatch.setenv(f"{prefix}_CONSUL_TOKEN", "from-prefix")
    ctx = CLIS[prefix].make_context(prefix.lower(), ["--consul-token-file", str(token_file)])
    with ctx:  # the flag's file beats the prefix variable's token (click tells which came from where)
        assert shell_from(ctx.params).consul.token == "from-file"


@pytest.mark.parametrize("prefix", ["DNS_BALANCER", "CONSUL_TEMPLATES"])
def test_consul_address_flag_beats_consul_http_addr(prefix, monkeypatch):
    shell = shell_from(values(prefix, ["--consul-addr", "[::1]:8600"], monkeypatch, {"CONSUL_HTTP_ADDR": "a:1"}))
    assert shell.consul.address == "http://[::1]:8600"
    shell = shell_from(values(prefix, ["--consul-ssl"], monkeypatch, {"CONSUL_HTTP_ADDR": "a:1"}))
    assert shell.consul.address == "https://a:1"


@pytest.mark.parametrize("prefix", CLIS)
def test_off_turns_the_http_endpoint_off(prefix, monkeypatch):
    assert shell_from(values(prefix, ["--http-addr", "off"], monkeypatch)).http_addr is None
    assert shell_from(values(prefix, [], monkeypatch, {f"{prefix}_HTTP_ADDR": "off"})).http_addr is None


@pytest.mark.parametrize("prefix", CLIS)
@pytest.mark.parametrize("args,flag", [(["--http-addr", "127.0.0.1:99999"], "--http-addr"),
                                       (["--http-addr", "nowhere"], "--http-addr"),
                                       (["--consul-cacert", "/nonexistent/ca.pem"], "--consul-cacert"),
                                       (["--consul-token-file", "/nonexistent/token"], "--consul-token-file"),
                                       (["--log-level", "loud"], "--log-level"),
                                       (["--consul-max-conns", "0"], "--consul-max-conns")])
def test_bad_values_exit_2_naming_the_option(prefix, args, flag, tmp_path, monkeypatch):
    for key in CLEAN_ENV:
        monkeypatch.delenv(key, raising=False)
    (tmp_path / "in.j2").write_text("x")
    extra = {"CONSUL_TEMPLATES": ["-template", f"{tmp_path}/in.j2:{tmp_path}/out"], "REGISTRATOR": [],
             "DNS_BALANCER": []}[prefix]
    result = CliRunner().invoke(CLIS[prefix], [*extra, *args])
    assert result.exit_code == 2, result.output
    assert flag in result.output, result.output


def test_registrator_consul_address_comes_from_its_uri(monkeypatch):
    p = values("REGISTRATOR", ["consul-tls://consul.example:8501"], monkeypatch, {"CONSUL_HTTP_ADDR": "a:1"})
    result = CliRunner().invoke(reg_cli, ["bogus://x"])
    assert result.exit_code == 2 and "REGISTRY_URI" in result.output
    assert p["registry_uri"] == "consul-tls://consul.example:8501"


def test_the_token_never_shows_in_a_repr(monkeypatch, tmp_path):
    secret = "s3cr3t-0123456789abcdef"
    shell = shell_from(values("DNS_BALANCER", ["--consul-token", secret], monkeypatch))
    assert shell.consul.token == secret
    assert secret not in repr(shell) and secret not in repr(shell.consul) and secret not in str(shell)
    from dns_balancer.cli import build_config

    p = values("DNS_BALANCER", ["--consul-token", secret], monkeypatch)
    p.pop("log_format")
    p.pop("log_level")
    assert secret not in repr(build_config(**p))
    out = CliRunner().invoke(dns_cli, ["--help"], env={"DNS_BALANCER_CONSUL_TOKEN": secret}).output
    assert secret not in out


def test_shell_defaults_are_a_usable_config():
    shell = shell_from({})
    assert shell == Shell(consul=shell.consul) and shell.consul.max_connections == 64
    with pytest.raises(click.BadParameter):
        shell_from({"consul_token": "a", "consul_token_file": str(Path(__file__))})
