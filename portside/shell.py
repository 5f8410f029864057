"""The daemon shell the three CLIs share: the common options, defined once, validated once into a frozen `Shell`.

Options (each also `<PREFIX>_<OPTION_NAME>`, shown in --help; the standard CONSUL_* variables are the fallback;
explicit beats env, env beats default):

    --log-level, --log-format, --http-addr (host:port or off)
    --consul-addr, --consul-token, --consul-token-file, --consul-ssl, --consul-ssl-verify/--no-consul-ssl-verify,
    --consul-cacert, --consul-client-cert, --consul-client-key, --consul-max-conns

A daemon adds its own spellings (`aliases`, e.g. consul-template's `-consul-ssl-ca-cert`) and keeps older
variable names working (`legacy_env`); it may leave an option out (`omit`: registrator takes its Consul address
from its REGISTRY_URI argument). The token never appears in a repr, a log line or a metric: `ConsulSettings`
keeps it out of its repr, and nothing here prints it.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import click

from portside.address import Address, AddressError
from portside.observe import LOG_LEVELS
from portside.settings import ConsulSettings, SettingsError, consul_settings


@dataclass(frozen=True)
class Shell:
    """The common options of a daemon, validated."""

    log_level: str = "info"
    log_format: str = "text"
    http_addr: Address | None = None
    consul: ConsulSettings = ConsulSettings()


class LogLevel(click.ParamType):
    name = "level"

    def get_metavar(self, param: click.Parameter, *args: Any, **kwargs: Any) -> str:
        return "[debug|info|warning|error]"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> str:
        level = LOG_LEVELS.get(str(value).strip().lower())
        if level is None:
            self.fail(f"{value!r}: expected debug, info, warning or error", param, ctx)
        return level


@dataclass(frozen=True)
class _Opt:
    name: str  # the long option without dashes; the parameter is this with '-' -> '_'
    help: str
    kw: Mapping[str, Any]


def _options(http_default: str | None, log_level_default: str | None) -> list[_Opt]:
    return [
        _Opt("log-level", "Log level.", {"type": LogLevel(), "default": log_level_default,
                                         "show_default": log_level_default is not None}),
        _Opt("log-format", "Log line format.", {"type": click.Choice(["text", "json"]), "default": None}),
        _Opt("http-addr", "host:port for /health and /metrics ('off': none).",
             {"default": http_default, "show_default": bool(http_default)}),
        _Opt("consul-addr", "Consul HTTP address, [http[s]://]host[:port] or unix:///path "
                            "(else CONSUL_HTTP_ADDR, else 127.0.0.1:8500).", {}),
        _Opt("consul-token", "Consul ACL token (else CONSUL_HTTP_TOKEN). A token file is safer: a flag's value "
                             "shows in the process list.", {}),
        _Opt("consul-token-file", "Read the ACL token from this file (else CONSUL_HTTP_TOKEN_FILE).",
             {"metavar": "PATH"}),
        _Opt("consul-ssl", "Talk to Consul over HTTPS (else CONSUL_HTTP_SSL).", {"is_flag": True, "default": None}),
        _Opt("consul-ssl-verify", "Verify Consul's certificate (else CONSUL_HTTP_SSL_VERIFY; default yes).",
             {"default": None, "secondary": "--no-consul-ssl-verify"}),
        _Opt("consul-cacert", "CA certificate file for Consul (else CONSUL_CACERT).", {"metavar": "PATH"}),
        _Opt("consul-client-cert", "Client certificate file for Consul (else CONSUL_CLIENT_CERT).",
             {"metavar": "PATH"}),
        _Opt("consul-client-key", "Client key file for Consul (else CONSUL_CLIENT_KEY).", {"metavar": "PATH"}),
        _Opt("consul-max-conns", "At most this many connections to the Consul agent.",
             {"type": click.IntRange(1, 10000), "default": 64, "show_default": True}),
    ]


def shared_options(
    prefix: str, *, http_default: str | None = None, log_level_default: str | None = "info",
    aliases: Mapping[str, Sequence[str]] | None = None, legacy_env: Mapping[str, Sequence[str]] | None = None,
    omit: Sequence[str] = (),
) -> Callable[[Any], Any]:
    """A decorator adding the common options to a click command (parameters named `log_level`, `http_addr`, ...)."""
    aliases, legacy_env = aliases or {}, legacy_env or {}

    def decorate(f: Any) -> Any:
        for opt in reversed(_options(http_default, log_level_default)):
            if opt.name in omit:
                continue
            kw = dict(opt.kw)
            secondary = kw.pop("secondary", None)
            names = [f"--{opt.name}", *aliases.get(opt.name, ())]
            decl = "/".join([names[0], secondary]) if secondary else names[0]
            param = opt.name.replace("-", "_")
            env = [f"{prefix}_{param.upper()}", *legacy_env.get(opt.name, ())]
            f = click.option(decl, *names[1:], param, envvar=env, show_envvar=True, help=opt.help, **kw)(f)
        return f

    return decorate


def _bad(flag: str, message: str) -> click.BadParameter:
    return click.BadParameter(message, param_hint=f"'{flag}'")


def read_token_file(path: str, flag: str) -> str:
    try:
        token = Path(path).read_text(encoding="utf-8").strip()
    except (OSError, UnicodeDecodeError) as exc:
        raise _bad(flag, f"cannot read the token file {path!r}: {exc.__class__.__name__}") from None
    if not token:
        raise _bad(flag, f"the token file {path!r} is empty")
    return token


def _source(name: str) -> click.core.ParameterSource | None:
    ctx = click.get_current_context(silent=True)
    return ctx.get_parameter_source(name) if ctx is not None else None


def _token(values: Mapping[str, Any], env: Mapping[str, str]) -> str | None:
    """--consul-token or --consul-token-file (not both), else CONSUL_HTTP_TOKEN_FILE, else CONSUL_HTTP_TOKEN (as
    Consul's own client: a token file wins over the variable)."""
    token, token_file = values.get("consul_token"), values.get("consul_token_file")
    if token and token_file:  # a flag beats a variable; two of the same kind are a contradiction
        token_source, file_source = _source("consul_token"), _source("consul_token_file")
        if token_source == file_source:
            raise _bad("--consul-token-file", "give --consul-token or --consul-token-file, not both")
        if token_source == click.core.ParameterSource.COMMANDLINE:
            token_file = None
        else:
            token = None
    if token_file:
        return read_token_file(token_file, "--consul-token-file")
    if token:
        return str(token)
    return token_from_env(env)


def token_from_env(env: Mapping[str, str]) -> str | None:
    """CONSUL_HTTP_TOKEN_FILE, else CONSUL_HTTP_TOKEN (as Consul's own client: the file wins)."""
    if env.get("CONSUL_HTTP_TOKEN_FILE"):
        return read_token_file(env["CONSUL_HTTP_TOKEN_FILE"], "CONSUL_HTTP_TOKEN_FILE")
    return env.get("CONSUL_HTTP_TOKEN") or None


def check_tls_files(values: Mapping[str, Any]) -> None:
    """The TLS files named by the options must be readable now, not at the first request."""
    for key, flag in (("consul_cacert", "--consul-cacert"), ("consul_client_cert", "--consul-client-cert"),
                      ("consul_client_key", "--consul-client-key")):
        path = values.get(key)
        if path and not os.access(path, os.R_OK):
            raise _bad(flag, f"cannot read {path!r}")


def consul_from(values: Mapping[str, Any], env: Mapping[str, str] | None = None, *,
                address: str | None = None) -> ConsulSettings:
    """The Consul settings from the shared options, with the CONSUL_* fallbacks. `address` (e.g. registrator's
    REGISTRY_URI) stands in for --consul-addr."""
    env = os.environ if env is None else env
    check_tls_files(values)
    try:
        settings = consul_settings(
            env, address=address if address is not None else values.get("consul_addr"), token=_token(values, env),
            ssl=values.get("consul_ssl"), verify=values.get("consul_ssl_verify"), cacert=values.get("consul_cacert"),
            client_cert=values.get("consul_client_cert"), client_key=values.get("consul_client_key"),
        )
    except SettingsError as exc:
        raise _bad("--consul-addr", str(exc)) from None
    return replace(settings, max_connections=int(values.get("consul_max_conns") or 64))


def http_addr_from(value: str | Address | None) -> Address | None:
    if value is None or isinstance(value, Address):
        return value
    try:
        return Address.parse(value, flag="--http-addr", allow_off=True)
    except AddressError as exc:
        raise _bad("--http-addr", str(exc)) from None


def shell_from(values: Mapping[str, Any], env: Mapping[str, str] | None = None, *,
               consul_address: str | None = None) -> Shell:
    """Validate the common options once (click.BadParameter naming the option: exit 2)."""
    return Shell(
        log_level=values.get("log_level") or "info", log_format=values.get("log_format") or "text",
        http_addr=http_addr_from(values.get("http_addr")),
        consul=consul_from(values, env, address=consul_address),
    )
