"""One configuration model for every way of configuring consul-templates: our YAML file, consul-template's
HCL files (hcl_config.py), and the command line all end in the same frozen `Config`. Parsing reads no
template: sources are read and compiled later (templates.py), once, so a start or a SIGHUP costs one pass.

Every rejection names the file, the line and the key, so a typo fails at start (exit 2), never later.

    consul: {address: 127.0.0.1:8500, token: ..., stale: false, query_wait: 60s}
    wait: {min: 250ms, max: 2s}          # or "250ms:2s"; default: no quiescence
    log_format: text                     # or json
    http_addr: 127.0.0.1:9310            # /health + /metrics; off when absent
    pass_env: [CONSUL_HTTP_TOKEN]        # secret variables children and env() may see (default: none)
    exec: {command: [app, --flag], reload_signal: SIGHUP, kill_signal: SIGTERM, kill_timeout: 30s, splay: 0s}
    env: {prefixes: [app/config], services: [web], upcase: true, sanitize: true, pristine: false, allow: [HOME]}
    templates:
      - source: upstream.conf.j2         # or contents: "..." (inline)
        destination: /etc/nginx/conf.d/upstream.conf
        language: jinja2                 # or go (default: go for .ctmpl/.tmpl sources)
        syntax: nginx                    # value guard: nginx haproxy json yaml env none (default: by destination)
        perms: 0644
        backup: true
        wait: {min: 100ms, max: 1s}
        check_command: python -m consul_templates.nginx_check {path}
        command: nginx -s reload
        command_timeout: 30s
"""

from __future__ import annotations

import fnmatch
import signal
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from consul_templates.config_checks import ConfigError, Wait, want_http_addr, want_log_format
from consul_templates.guards import default_syntax
from portside.address import Address

__all__ = ["Config", "ConfigError", "ConsulOptions", "EnvFilter", "EnvModeSpec", "ExecSpec", "TemplateSpec", "Wait",
           "default_language", "load_config", "merge", "parse_template_flag"]

# Variables that carry a credential: never handed to a child or to env() unless named in pass_env / allow.
SECRET_VARIABLES = frozenset({"CONSUL_HTTP_TOKEN", "CONSUL_HTTP_TOKEN_FILE", "CONSUL_TOKEN", "CONSUL_HTTP_AUTH",
                              "CONSUL_TEMPLATES_CONSUL_TOKEN", "VAULT_TOKEN"})
GO_SUFFIXES = (".ctmpl", ".tmpl", ".tpl", ".gotmpl")
JINJA_SUFFIXES = (".j2", ".jinja", ".jinja2")


@dataclass(frozen=True)
class ConsulOptions:
    address: str | None = None
    token: str | None = None
    stale: bool = False
    query_wait: str = "60s"  # blocking-query wait, as consul-template's block_query_wait
    ssl: bool | None = None
    verify: bool | None = None
    ca_cert: str | None = None
    client_cert: str | None = None
    client_key: str | None = None
    max_connections: int = 64  # --consul-max-conns: the most connections to the agent


@dataclass(frozen=True)
class EnvFilter:
    """Which of our variables a child sees (consul-template's `exec { env {...} }`): all but the secret ones,
    or none (`pristine`); `allow`/`deny` are glob patterns (deny wins); `custom` ("K=V") is always added. A
    secret variable passes only when `allow` names it exactly: a pattern like `CONSUL_*` does not unlock it."""

    pristine: bool = False
    custom: tuple[str, ...] = ()
    allow: tuple[str, ...] = ()
    deny: tuple[str, ...] = ()

    def apply(self, environ: Mapping[str, str], pass_env: Sequence[str] = ()) -> dict[str, str]:
        out: dict[str, str] = {}
        if not self.pristine:
            for name, value in environ.items():
                if name in SECRET_VARIABLES and name not in self.allow and name not in pass_env:
                    continue
                if self.allow and not any(fnmatch.fnmatchcase(name, p) for p in self.allow):
                    continue
                if any(fnmatch.fnmatchcase(name, p) for p in self.deny):
                    continue
                out[name] = value
        for item in self.custom:
            name, _, value = item.partition("=")
            out[name] = value
        return out


@dataclass(frozen=True)
class ExecSpec:
    """A supervised child (exec mode): started after the first complete render, reloaded on change."""

    command: tuple[str, ...]
    reload_signal: int | None = None  # None: restart the child on change
    kill_signal: int = int(signal.SIGINT)
    kill_timeout: float = 30.0
    splay: float = 0.0
    env: EnvFilter = field(default_factory=EnvFilter)


@dataclass(frozen=True)
class EnvModeSpec:
    """Env mode (envconsul-style): the child's environment comes from KV prefixes and service addresses."""

    prefixes: tuple[str, ...] = ()
    services: tuple[str, ...] = ()
    upcase: bool = False
    sanitize: bool = True


@dataclass(frozen=True)
class TemplateSpec:
    destination: Path
    source: Path | None = None
    contents: str | None = None  # inline template text (exclusive with `source`)
    language: str = "jinja2"
    syntax: str = "nginx"
    left_delimiter: str | None = None
    right_delimiter: str | None = None
    error_on_missing_key: bool = False
    create_dest_dirs: bool = True
    perms: int | None = None
    backup: bool = False
    wait: Wait | None = None
    check_command: str | None = None
    command: str | None = None
    command_timeout: float = 30.0

    @property
    def name(self) -> str:
        return str(self.source) if self.source else f"inline:{self.destination}"


@dataclass(frozen=True)
class Config:
    templates: tuple[TemplateSpec, ...] = ()
    consul: ConsulOptions = field(default_factory=ConsulOptions)
    wait: Wait = field(default_factory=Wait)
    log_format: str = "text"
    log_level: str | None = None
    http_addr: Address | None = None
    pass_env: tuple[str, ...] = ()
    exec: ExecSpec | None = None
    env: EnvModeSpec | None = None
    pid_file: Path | None = None
    reload_signal: int | None = int(signal.SIGHUP)
    kill_signal: int | None = None  # an extra graceful-stop signal (SIGTERM and SIGINT always stop)
    syslog_facility: str | None = None  # log to syslog too, with this facility
    once: bool = False

    def wait_for(self, spec: TemplateSpec) -> Wait:
        return spec.wait or self.wait

    def child_environ(self, environ: Mapping[str, str]) -> dict[str, str]:
        """What template commands and env() see: everything but the secret variables not in pass_env."""
        return EnvFilter().apply(environ, self.pass_env)


def default_language(source: Path | None, fallback: str) -> str:
    """`go` for .ctmpl/.tmpl sources, `jinja2` for .j2, else the reader's default (HCL and -template: go)."""
    if source is not None:
        name = source.name.lower()
        if name.endswith(GO_SUFFIXES):
            return "go"
        if name.endswith(JINJA_SUFFIXES):
            return "jinja2"
    return fallback


def resolve(path: str, base: Path) -> Path:
    p = Path(path).expanduser()
    return p if p.is_absolute() else (base / p).absolute()


def finish_template(values: dict[str, Any], base: Path, at: str, default_lang: str) -> TemplateSpec:
    """Shared by the readers: required keys, source/contents, paths, language and syntax defaults."""
    if "destination" not in values:
        raise ConfigError(f"{at}: 'destination' is required")
    if ("source" in values) == ("contents" in values):
        raise ConfigError(f"{at}: give exactly one of 'source' (a file) or 'contents' (inline text)")
    source = resolve(values.pop("source"), base) if "source" in values else None
    destination = resolve(values.pop("destination"), base)
    timeout = values.pop("command_timeout", 30.0)
    if timeout <= 0:
        raise ConfigError(f"{at}: command_timeout must be positive")
    language = values.pop("language", None) or default_language(source, default_lang)
    syntax = values.pop("syntax", None) or default_syntax(destination)
    return TemplateSpec(destination=destination, source=source, language=language, syntax=syntax,
                        command_timeout=timeout, **values)


def load_config(path: Path) -> Config:
    """A YAML file (`.yaml`/`.yml`), or consul-template HCL/JSON: a file, or a directory merged in lexical order."""
    from consul_templates import hcl_config, yaml_config

    if path.suffix.lower() in (".yaml", ".yml") and not path.is_dir():
        return yaml_config.load(path)
    return hcl_config.load_paths([path])


def load_configs(paths: Sequence[Path]) -> Config:
    """Several `-config` values, merged left to right (later wins; templates add up)."""
    from consul_templates import hcl_config

    config = Config()
    for path in paths:
        config = hcl_config.combine(config, load_config(path))
    return config


# ---- CLI shorthand and merge ---------------------------------------------------------------------
def parse_template_flag(text: str, base: Path | None = None) -> TemplateSpec:
    """`SRC:DEST[:COMMAND]`, as consul-template's `-template`; COMMAND may itself contain colons."""
    parts = text.split(":", 2)
    if len(parts) < 2 or not parts[0] or not parts[1]:
        raise ConfigError(f"-template {text!r}: expected SRC:DEST[:COMMAND]")
    base = base or Path.cwd()
    source = resolve(parts[0], base)
    command = parts[2].strip() if len(parts) == 3 and parts[2].strip() else None
    destination = resolve(parts[1], base)
    return TemplateSpec(destination=destination, source=source, command=command,
                        language=default_language(source, "go"), syntax=default_syntax(destination))


def merge(config: Config, *, templates: Sequence[TemplateSpec] = (), **explicit: Any) -> Config:
    """Add CLI templates and let explicit CLI values (not None) beat the file; one template per destination."""
    consul = config.consul
    for key in ("address", "token"):
        value = explicit.pop(f"consul_{key}", None)
        if value:
            consul = replace(consul, **{key: value})
    if explicit.get("log_format") is not None:
        explicit["log_format"] = want_log_format(explicit["log_format"], "--log-format")
    if "http_addr" in explicit and explicit["http_addr"] is not None:
        explicit["http_addr"] = want_http_addr(explicit["http_addr"], "--http-addr")
    values = {k: v for k, v in explicit.items() if v is not None}
    merged = replace(config, templates=config.templates + tuple(templates), consul=consul, **values)
    seen: dict[Path, str] = {}
    for spec in merged.templates:
        if spec.destination in seen:
            raise ConfigError(f"templates {seen[spec.destination]} and {spec.name} both write {spec.destination}")
        seen[spec.destination] = spec.name
    if not merged.templates and merged.env is None:
        raise ConfigError("no templates: give -config with templates, or -template SRC:DEST[:COMMAND]")
    if merged.env is not None and merged.exec is None:
        raise ConfigError("env mode needs a command to run: an exec block or -exec")
    return merged
