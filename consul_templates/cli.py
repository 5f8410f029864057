"""Command line of `consul-templates`: ours (`--long`, each with a CONSUL_TEMPLATES_* env var) and
consul-template's single-dash flags (`-template "in:out:cmd"`, `-config`, `-exec`, ...), onto one Config.

Configuration errors (bad YAML/HCL, unknown or unsupported key or flag, wrong type, unreadable template,
template syntax, an unavailable template language) exit 2 before anything runs. SIGHUP re-reads the
configuration, the templates and the Consul settings; SIGTERM/SIGINT stop cleanly.
"""

from __future__ import annotations

import functools
import importlib.metadata
import re
import signal
from dataclasses import replace
from pathlib import Path
from typing import Any

import click

from consul_templates.config import Config, ConfigError, EnvModeSpec, load_configs, merge, parse_template_flag
from consul_templates.config_checks import (
    parse_wait,
    want_argv,
    want_duration,
    want_log_level,
    want_signal,
    want_str_list,
)
from consul_templates.daemon import add_syslog, serve, settings_for
from consul_templates.languages import RenderError
from consul_templates.loader import Loaded, load
from portside.observe import setup_logging
from portside.run import run
from portside.settings import SettingsError
from portside.shell import check_tls_files, http_addr_from, read_token_file, shared_options

option = functools.partial(click.option, show_envvar=True)  # --help names each CONSUL_TEMPLATES_* var

# consul-template flags we do not implement: refused by name in one error, never mistaken for a typo.
UNSUPPORTED_FLAGS = re.compile(r"^--?((vault|nomad|consul-transport|consul-retry|consul-auth|syslog|log-file|dedup"
                               r"|consul-ssl-ca-path|consul-ssl-server-name|parse-only|template-error-fatal"
                               r"|err-on-failed-lookup|exec-timeout)[a-z-]*)(=.*)?$")


def ct_option(name: str, *more: str, **kw: Any) -> Any:
    """An option as consul-template spells it (`-name`) and as we do (`--name`), with its env var."""
    env = "CONSUL_TEMPLATES_" + name.upper().replace("-", "_")
    return option(f"-{name}", f"--{name}", *more, envvar=kw.pop("envvar", env), **kw)


class Command(click.Command):
    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        bad = sorted({m.group(1) for a in args if (m := UNSUPPORTED_FLAGS.match(a))})
        if bad:
            raise click.UsageError("consul-template flags not supported by consul-templates: "
                                   + ", ".join(f"-{b}" for b in bad), ctx)
        return super().parse_args(ctx, args)


def flag_overrides(flags: dict[str, Any]) -> dict[str, Any]:
    """The Config fields set by flags (None: not given)."""
    out: dict[str, Any] = {"log_format": flags["log_format"], "http_addr": http_addr_from(flags["http_addr"]),
                           "consul_address": flags["consul_addr"], "consul_token": _token(flags)}
    if flags["wait"]:
        out["wait"] = parse_wait(flags["wait"], "-wait")
    if flags["log_level"]:
        out["log_level"] = want_log_level(flags["log_level"], "-log-level")
    if flags["pid_file"]:
        out["pid_file"] = Path(flags["pid_file"]).absolute()
    for name in ("reload_signal", "kill_signal"):
        if flags[name] is not None:
            out[name] = want_signal(flags[name], f"-{name.replace('_', '-')}")
    if flags["pass_env"]:
        out["pass_env"] = tuple(flags["pass_env"])
    if flags["once"]:
        out["once"] = True
    return out


def _consul_flags(config: Config, flags: dict[str, Any]) -> Config:
    check_tls_files(flags)
    consul = config.consul
    if flags["max_stale"] is not None and want_duration(flags["max_stale"], "-max-stale") > 0:
        consul = replace(consul, stale=True)
    if flags["block_query_wait"] is not None:
        consul = replace(consul, query_wait=f"{want_duration(flags['block_query_wait'], '-block-query-wait'):g}s")
    if flags["consul_ssl"]:
        consul = replace(consul, ssl=True)
    for key, flag in (("verify", "consul_ssl_verify"),):
        if flags[flag] is not None:
            consul = replace(consul, **{key: flags[flag]})
    for key, flag in (("ca_cert", "consul_cacert"), ("client_cert", "consul_client_cert"),
                      ("client_key", "consul_client_key")):
        if flags[flag]:
            consul = replace(consul, **{key: flags[flag]})
    return replace(config, consul=replace(consul, max_connections=flags["consul_max_conns"]))


def _token(flags: dict[str, Any]) -> str | None:
    """-consul-token or --consul-token-file (not both); else the file's, else CONSUL_HTTP_TOKEN(_FILE)."""
    if flags["consul_token"] and flags["consul_token_file"]:
        raise ConfigError("give -consul-token or --consul-token-file, not both")
    if flags["consul_token_file"]:
        return read_token_file(flags["consul_token_file"], "--consul-token-file")
    return flags["consul_token"] or None


def _exec_flags(config: Config, flags: dict[str, Any]) -> Config:
    spec = config.exec
    if flags["exec"]:
        from consul_templates.config import ExecSpec

        spec = ExecSpec(want_argv(flags["exec"], "-exec")) if spec is None else replace(
            spec, command=want_argv(flags["exec"], "-exec"))
    given = [k for k in ("exec_reload_signal", "exec_kill_signal", "exec_kill_timeout", "exec_splay",
                         "exec_env_pristine", "exec_env_custom", "exec_env_allowlist", "exec_env_denylist")
             if flags[k] not in (None, (), False)]
    if spec is None:
        if given:
            raise ConfigError(f"-{given[0].replace('_', '-')} needs -exec (or an exec block)")
        return config
    if flags["exec_reload_signal"] is not None:
        spec = replace(spec, reload_signal=want_signal(flags["exec_reload_signal"], "-exec-reload-signal"))
    if flags["exec_kill_signal"] is not None:
        kill = want_signal(flags["exec_kill_signal"], "-exec-kill-signal")
        spec = replace(spec, kill_signal=kill or spec.kill_signal)
    if flags["exec_kill_timeout"] is not None:
        spec = replace(spec, kill_timeout=want_duration(flags["exec_kill_timeout"], "-exec-kill-timeout"))
    if flags["exec_splay"] is not None:
        spec = replace(spec, splay=want_duration(flags["exec_splay"], "-exec-splay"))
    env = spec.env
    if flags["exec_env_pristine"]:
        env = replace(env, pristine=True)
    for key, flag in (("custom", "exec_env_custom"), ("allow", "exec_env_allowlist"), ("deny", "exec_env_denylist")):
        if flags[flag]:
            env = replace(env, **{key: getattr(env, key) + want_str_list(list(flags[flag]), f"-{flag}")})
    return replace(config, exec=replace(spec, env=env))


def _env_flags(config: Config, flags: dict[str, Any]) -> Config:
    """Env mode from flags: `-env-prefix` / `-env-service` (repeatable) start it; the others refine it."""
    prefixes, services = tuple(flags["env_prefix"]), tuple(flags["env_service"])
    env = config.env
    if prefixes or services:
        env = EnvModeSpec() if env is None else env
        env = replace(env, prefixes=env.prefixes + prefixes, services=env.services + services)
    elif env is None:
        if flags["env_upcase"] or flags["env_sanitize"] is not None:
            raise ConfigError("-env-upcase / -env-sanitize need -env-prefix or -env-service (or an env block)")
        return config
    if flags["env_upcase"]:
        env = replace(env, upcase=True)
    if flags["env_sanitize"] is not None:
        env = replace(env, sanitize=flags["env_sanitize"])
    return replace(config, env=env)


def build_config(flags: dict[str, Any]) -> Loaded:
    """Files (in order) + flags (explicit values win) -> one Config, then every template read and compiled once."""
    config = load_configs([Path(p) for p in flags["config_paths"]])
    left, right = flags["default_left_delimiter"], flags["default_right_delimiter"]
    specs = [parse_template_flag(t) for t in flags["templates"]]
    specs = [replace(s, left_delimiter=s.left_delimiter or left, right_delimiter=s.right_delimiter or right)
             for s in specs]
    config = _env_flags(_exec_flags(_consul_flags(config, flags), flags), flags)
    merged = merge(config, templates=specs, **flag_overrides(flags))
    if merged.env is not None and merged.templates:
        raise ConfigError("env mode runs its child on its own: give it no templates (run a second consul-templates "
                          "for the templates)")
    return load(merged)


def _version(ctx: click.Context, _: Any, value: bool) -> None:
    if not value or ctx.resilient_parsing:
        return
    try:
        version = importlib.metadata.version("portside")
    except importlib.metadata.PackageNotFoundError:
        version = "unknown"
    click.echo(f"consul-templates {version} (portside; reads consul-template's configuration and flags)")
    ctx.exit(0)


def _options(f: Any) -> Any:
    for decorator in reversed([
        ct_option("config", "config_paths", multiple=True, type=click.Path(path_type=str),
                  help="YAML file (.yaml/.yml), or consul-template HCL/JSON file or directory; repeatable."),
        ct_option("template", "templates", multiple=True, metavar="SRC:DEST[:CMD]",
                  help="A template, as consul-template's -template (repeatable; env: space-separated)."),
        ct_option("once", is_flag=True, help="Render every template once, then exit."),
        ct_option("dry", is_flag=True, help="Print renders to stdout instead of writing files; run no command."),
        ct_option("wait", metavar="MIN[:MAX]", help="Quiescence for every template (e.g. 100ms:1s)."),
        ct_option("max-stale", metavar="DURATION", help="Above 0: let any Consul server answer (stale reads)."),
        ct_option("block-query-wait", metavar="DURATION", help="Blocking-query wait (default 60s)."),
        ct_option("exec", metavar="COMMAND", help="Run and supervise this child (no shell) once all files exist."),
        ct_option("exec-reload-signal", metavar="SIGNAL", help="Signal for the child on change (default: restart)."),
        ct_option("exec-kill-signal", metavar="SIGNAL", help="Signal that stops the child (default SIGINT)."),
        ct_option("exec-kill-timeout", metavar="DURATION", help="Then SIGKILL after this long (default 30s)."),
        ct_option("exec-splay", metavar="DURATION", help="Random delay up to this before a reload or restart."),
        ct_option("exec-env-pristine", is_flag=True, help="The child inherits no variable of ours."),
        ct_option("exec-env-custom", multiple=True, metavar="K=V", help="A variable for the child (repeatable)."),
        ct_option("exec-env-allowlist", multiple=True, metavar="GLOB", help="Inherited variables allowed."),
        ct_option("exec-env-denylist", multiple=True, metavar="GLOB", help="Inherited variables removed."),
        ct_option("env-prefix", multiple=True, metavar="KV_PATH",
                  help="Env mode: the child's variables from this KV prefix (repeatable; needs -exec)."),
        ct_option("env-service", multiple=True, metavar="NAME",
                  help="Env mode: NAME_ADDR=host:port,... of the service's passing instances (repeatable)."),
        ct_option("env-upcase", is_flag=True, help="Env mode: upper-case the variable names."),
        option("-env-sanitize/-env-no-sanitize", "--env-sanitize/--env-no-sanitize", "env_sanitize", default=None,
               envvar="CONSUL_TEMPLATES_ENV_SANITIZE",
               help="Env mode: characters outside [A-Za-z0-9_] in names become _ (default: yes)."),
        ct_option("pid-file", help="Write our process id here."),
        ct_option("reload-signal", metavar="SIGNAL", help="Signal that reloads the configuration (default SIGHUP)."),
        ct_option("kill-signal", metavar="SIGNAL", help="Another signal that stops us (SIGTERM/SIGINT always do)."),
        ct_option("default-left-delimiter", help="Left delimiter of -template templates."),
        ct_option("default-right-delimiter", help="Right delimiter of -template templates."),
        option("--pass-env", multiple=True, envvar="CONSUL_TEMPLATES_PASS_ENV", metavar="NAME",
               help="A secret variable (e.g. CONSUL_HTTP_TOKEN) that commands and env() may see (repeatable)."),
        option("-version", "--version", "-v", is_flag=True, expose_value=False, is_eager=True, callback=_version,
               help="Print the version and exit."),
    ]):
        f = decorator(f)
    return f


# The shared options (portside.shell), also under consul-template's spellings and our earlier variable names.
_shared = shared_options(
    "CONSUL_TEMPLATES", log_level_default=None,
    aliases={"log-level": ["-log-level"], "consul-addr": ["-consul-addr"], "consul-token": ["-consul-token"],
             "consul-ssl": ["-consul-ssl"],
             "consul-ssl-verify": ["-consul-ssl-verify/-consul-ssl-no-verify", "/--consul-ssl-no-verify"],
             "consul-cacert": ["-consul-ssl-ca-cert", "--consul-ssl-ca-cert"],
             "consul-client-cert": ["-consul-ssl-cert", "--consul-ssl-cert"],
             "consul-client-key": ["-consul-ssl-key", "--consul-ssl-key"]},
    legacy_env={"consul-cacert": ["CONSUL_TEMPLATES_CONSUL_SSL_CA_CERT"],
                "consul-client-cert": ["CONSUL_TEMPLATES_CONSUL_SSL_CERT"],
                "consul-client-key": ["CONSUL_TEMPLATES_CONSUL_SSL_KEY"]},
)


@click.command(cls=Command, context_settings={"help_option_names": ["-h", "-help", "--help"],
                                              "max_content_width": 110})
@_options
@_shared
def cli(**flags: Any) -> None:
    """consul-templates: render files from Consul data, check them, swap them in, reload (never break nginx)."""
    # A SIGHUP before the loop's handler is up would kill us (its default action); a reload then is moot anyway.
    signal.signal(signal.SIGHUP, signal.SIG_IGN)
    try:
        loaded = build_config(flags)
        settings_for(loaded.config.consul)
    except (ConfigError, RenderError, SettingsError) as exc:
        click.echo(f"consul-templates: configuration error: {exc}", err=True)
        raise SystemExit(2) from None
    config = loaded.config
    setup_logging(config.log_format, config.log_level or "info")
    add_syslog(config.syslog_facility)
    code = run(lambda stop: serve(stop, loaded, lambda: build_config(flags), once=config.once, dry=flags["dry"]))
    raise SystemExit(code)


def main() -> int:
    cli.main(prog_name="consul-templates", standalone_mode=True)
    return 0
