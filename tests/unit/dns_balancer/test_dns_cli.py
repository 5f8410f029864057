"""Command line: options, their DNS_BALANCER_* environment variables, validation."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from dns_balancer.cli import ENV_PREFIX, build_config, cli


def params(args: list[str], env: dict[str, str] | None = None, monkeypatch: pytest.MonkeyPatch | None = None) -> dict:
    if monkeypatch is not None:
        for key, value in (env or {}).items():
            monkeypatch.setenv(key, value)
    ctx = cli.make_context("dns-balancer", list(args), auto_envvar_prefix=ENV_PREFIX)
    return dict(ctx.params)


def config(args: list[str], monkeypatch: pytest.MonkeyPatch, env: dict[str, str] | None = None):
    p = params(args, env, monkeypatch)
    p.pop("log_format")
    p.pop("log_level")
    return build_config(**p)


def test_defaults(monkeypatch):
    monkeypatch.delenv("CONSUL_HTTP_ADDR", raising=False)
    cfg = config([], monkeypatch)
    assert (cfg.server.host, cfg.server.port) == ("127.0.0.1", 8600)
    assert cfg.zone.domain == "consul" and cfg.zone.ttl == 5 and cfg.zone.negative_ttl == 5
    assert cfg.zone.ns_address == "127.0.0.1" and not cfg.zone.only_passing
    assert cfg.recursors == () and str(cfg.http_addr) == "127.0.0.1:9600" and cfg.stale_reads


def test_every_option_has_an_env_var(monkeypatch):
    env = {
        "DNS_BALANCER_LISTEN": "[::1]:5353", "DNS_BALANCER_DOMAIN": "Corp.Example.",
        "DNS_BALANCER_ALT_DOMAIN": "alt", "DNS_BALANCER_DATACENTER": "east", "DNS_BALANCER_TTL": "30",
        "DNS_BALANCER_NEGATIVE_TTL": "7", "DNS_BALANCER_ONLY_PASSING": "true", "DNS_BALANCER_A_RECORD_LIMIT": "3",
        "DNS_BALANCER_RECURSOR": "127.0.0.53 127.0.0.54:5353", "DNS_BALANCER_RECURSOR_TIMEOUT": "0.5",
        "DNS_BALANCER_HTTP_ADDR": "off", "DNS_BALANCER_CONSUL_ADDR": "127.0.0.1:8501",
        "DNS_BALANCER_CONSUL_TOKEN": "tok", "DNS_BALANCER_STALE": "false", "DNS_BALANCER_TCP_IDLE_TIMEOUT": "3",
        "DNS_BALANCER_TCP_MAX_CONNECTIONS": "9", "DNS_BALANCER_LOG_FORMAT": "json", "DNS_BALANCER_LOG_LEVEL": "debug",
    }
    p = params([], env, monkeypatch)
    assert p["log_format"] == "json" and p["log_level"] == "debug"
    cfg = config([], monkeypatch, env)
    assert (cfg.server.host, cfg.server.port) == ("::1", 5353)
    assert cfg.zone.domain == "corp.example" and cfg.zone.alt_domain == "alt" and cfg.zone.datacenter == "east"
    assert (cfg.zone.ttl, cfg.zone.negative_ttl, cfg.zone.only_passing, cfg.a_record_limit) == (30, 7, True, 3)
    assert cfg.recursors == (("127.0.0.53", 53), ("127.0.0.54", 5353)) and cfg.recursor_timeout == 0.5
    assert cfg.http_addr is None and not cfg.stale_reads and cfg.datacenter == "east"
    assert cfg.consul.port == 8501 and cfg.consul.token == "tok"
    assert cfg.server.tcp_idle_timeout == 3 and cfg.server.tcp_max_connections == 9
    # every option is listed with its variable in --help
    out = CliRunner().invoke(cli, ["--help"]).output
    for name in env:
        assert name in out or name == "DNS_BALANCER_STALE", name


def test_flags_beat_env(monkeypatch):
    cfg = config(["--ttl", "11"], monkeypatch, {"DNS_BALANCER_TTL": "30"})
    assert cfg.zone.ttl == 11


def test_unspecified_listen_address_has_no_ns_glue(monkeypatch):
    cfg = config(["--listen", ":8600"], monkeypatch)
    assert cfg.server.host == "0.0.0.0" and cfg.zone.ns_address is None


@pytest.mark.parametrize("args", [["--listen", "nope"], ["--domain", "bad domain"], ["--ttl", "-1"],
                                  ["--log-format", "xml"]])
def test_bad_values_are_usage_errors(args):
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 2


def test_client_policy_options(monkeypatch):
    import ipaddress

    env = {"DNS_BALANCER_ALLOW_FROM": "127.0.0.0/8, 198.18.0.0/15", "DNS_BALANCER_RATE_LIMIT": "20",
           "DNS_BALANCER_RATE_LIMIT_SLIP": "3", "DNS_BALANCER_TCP_MAX_PER_SOURCE": "4",
           "DNS_BALANCER_TCP_MESSAGE_TIMEOUT": "2"}
    cfg = config([], monkeypatch, env)
    assert cfg.allow_from == (ipaddress.ip_network("127.0.0.0/8"), ipaddress.ip_network("198.18.0.0/15"))
    assert cfg.recursion_from is None  # no recursor: nobody recurses
    assert cfg.server.rate_limit is not None and (cfg.server.rate_limit.rate, cfg.server.rate_limit.slip) == (20, 3)
    assert cfg.server.tcp_max_per_source == 4 and cfg.server.tcp_message_timeout == 2
    out = CliRunner().invoke(cli, ["--help"]).output
    for name in (*env, "DNS_BALANCER_RECURSION_FROM"):
        assert name in out, name


def test_recursion_is_never_for_everyone(monkeypatch):
    import ipaddress

    assert config(["--recursor", "127.0.0.53"], monkeypatch).recursion_from == (
        ipaddress.ip_network("127.0.0.0/8"), ipaddress.ip_network("::1/128"))
    allowed = config(["--recursor", "127.0.0.53", "--allow-from", "198.18.0.0/15"], monkeypatch)
    assert allowed.recursion_from == (ipaddress.ip_network("198.18.0.0/15"),)
    explicit = config(["--recursor", "127.0.0.53", "--recursion-from", "198.18.3.4"], monkeypatch)
    assert explicit.recursion_from == (ipaddress.ip_network("198.18.3.4/32"),)
    assert config([], monkeypatch).server.rate_limit is None  # RRL is off by default


@pytest.mark.parametrize("args", [["--allow-from", "nope"], ["--recursion-from", "1.2.3.4/99"],
                                  ["--rate-limit", "-1"], ["--tcp-max-per-source", "0"]])
def test_bad_policy_values_are_usage_errors(args):
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 2, result.output


def test_remote_datacenter_options(monkeypatch) -> None:
    cfg = config(["--remote-idle", "60", "--remote-wait", "1.5"], monkeypatch, {"DNS_BALANCER_REMOTE_MAX": "2"})
    assert (cfg.remote_idle, cfg.remote_wait, cfg.remote_max) == (60.0, 1.5, 2)
    monkeypatch.delenv("DNS_BALANCER_REMOTE_MAX")
    defaults = config([], monkeypatch)
    assert (defaults.remote_idle, defaults.remote_wait, defaults.remote_max) == (300.0, 3.0, 4)
