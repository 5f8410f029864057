"""Configuration: the YAML file (pyyaml + explicit validation) and the CLI shorthand, merged into a frozen
`Config`. Every rejection names the file, the line and the key, so a typo fails at start (exit 2), never later.

    consul: {address: 127.0.0.1:8500, token: ..., stale: false, query_wait: 60s}
    wait: {min: 250ms, max: 2s}          # or "250ms:2s"; default: no quiescence
    log_format: text                     # or json
    http_addr: 127.0.0.1:9310            # /health + /metrics; off when absent
    templates:
      - source: upstream.conf.j2         # or contents: "..." (inline)
        destination: /etc/nginx/conf.d/upstream.conf
        perms: 0644
        backup: true
        wait: {min: 100ms, max: 1s}
        check_command: python -m consul_templates.nginx_check {path}
        command: nginx -s reload
        command_timeout: 30s
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import yaml

from portside.watchrules import parse_duration


class ConfigError(ValueError):
    """The configuration cannot be used; the message names where and why. The CLI exits 2 on it."""


@dataclass(frozen=True)
class Wait:
    """Quiescence: render `min` after the last change, but never later than `max` after the first."""

    min: float = 0.0
    max: float = 0.0


@dataclass(frozen=True)
class ConsulOptions:
    address: str | None = None
    token: str | None = None
    stale: bool = False
    query_wait: str = "60s"  # blocking-query wait, as consul-template's block_query_wait


@dataclass(frozen=True)
class TemplateSpec:
    destination: Path
    text: str  # the template itself, read from `source` at load time (or `contents`)
    source: Path | None = None
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
    http_addr: str | None = None

    def wait_for(self, spec: TemplateSpec) -> Wait:
        return spec.wait or self.wait


# ---- YAML with line numbers ------------------------------------------------------------------------
class _Map(dict[str, Any]):
    """A YAML mapping that remembers its own line and each key's line."""

    line: int = 0
    key_lines: dict[str, int]


class _Loader(yaml.SafeLoader):
    pass


def _construct_map(loader: _Loader, node: yaml.MappingNode) -> _Map:
    loader.flatten_mapping(node)
    out = _Map()
    out.line = node.start_mark.line + 1
    out.key_lines = {}
    for key_node, value_node in node.value:
        line = key_node.start_mark.line + 1
        key = loader.construct_object(key_node, deep=True)
        if not isinstance(key, str):
            raise ConfigError(f"line {line}: key {key!r} must be a string")
        if key in out:
            raise ConfigError(f"line {line}: key {key!r} appears twice in the same mapping")
        out[key] = loader.construct_object(value_node, deep=True)
        out.key_lines[key] = line
    return out


_Loader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_map)


# ---- value checkers: (value, where) -> converted value, raising ConfigError naming `where` --------------
def _type_name(value: Any) -> str:
    return {dict: "a mapping", _Map: "a mapping", list: "a list", str: "a string", bool: "a boolean",
            int: "an integer", float: "a number", type(None): "null"}.get(type(value), type(value).__name__)


def _want_str(value: Any, where: str) -> str:
    if not isinstance(value, str):
        raise ConfigError(f"{where}: expected a string, got {_type_name(value)} ({value!r})")
    return value


def _want_bool(value: Any, where: str) -> bool:
    if not isinstance(value, bool):
        raise ConfigError(f"{where}: expected true or false, got {_type_name(value)} ({value!r})")
    return value


def _want_duration(value: Any, where: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise ConfigError(f"{where}: expected a duration like 250ms or 5s, got {_type_name(value)} ({value!r})")
    if isinstance(value, str):
        try:
            seconds = parse_duration(value)
        except ValueError as exc:
            raise ConfigError(f"{where}: {exc}") from None
    else:
        seconds = float(value)
    if seconds < 0:
        raise ConfigError(f"{where}: a duration cannot be negative ({value!r})")
    return seconds


def _want_go_duration(value: Any, where: str) -> str:
    text = _want_str(value, where)
    _want_duration(text, where)
    return text


def _want_perms(value: Any, where: str) -> int:
    if isinstance(value, str):
        try:
            value = int(value, 8)
        except ValueError:
            raise ConfigError(f"{where}: expected octal permissions like 0644, got {value!r}") from None
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= 0o7777:
        raise ConfigError(f"{where}: expected octal permissions like 0644, got {value!r}")
    return value


def _want_command(value: Any, where: str) -> str:
    text = _want_str(value, where).strip()
    if not text:
        raise ConfigError(f"{where}: empty command")
    return text


def parse_wait(value: Any, where: str) -> Wait:
    """`{min, max}` or `"min[:max]"` or a bare duration; max defaults to 4 x min (consul-template's rule)."""
    if isinstance(value, dict):
        _reject_unknown(value, {"min", "max"}, "wait")
        lo = _want_duration(value["min"], _where(value, "min", "wait")) if "min" in value else 0.0
        hi = _want_duration(value["max"], _where(value, "max", "wait")) if "max" in value else 4 * lo
    elif isinstance(value, str) and ":" in value:
        a, b = value.split(":", 1)
        lo, hi = _want_duration(a, where), _want_duration(b, where)
    else:
        lo = _want_duration(value, where)
        hi = 4 * lo
    if hi < lo:
        raise ConfigError(f"{where}: max ({hi:g}s) is smaller than min ({lo:g}s)")
    return Wait(lo, hi)


def _line_of(mapping: Mapping[str, Any], key: str) -> int | None:
    return getattr(mapping, "key_lines", {}).get(key)


def _where(mapping: Mapping[str, Any], key: str, prefix: str) -> str:
    line = _line_of(mapping, key)
    name = f"{prefix}.{key}" if prefix else key
    return f"line {line}: key {name!r}" if line else f"key {name!r}"


def _reject_unknown(mapping: Mapping[str, Any], known: set[str], prefix: str) -> None:
    for key in mapping:
        if key not in known:
            line = _line_of(mapping, key)
            at = f"line {line}: " if line else ""
            name = f"{prefix}.{key}" if prefix else key
            raise ConfigError(f"{at}unknown key {name!r} (known keys: {', '.join(sorted(known))})")


Checker = Callable[[Any, str], Any]


def _fields(mapping: Mapping[str, Any], schema: Mapping[str, Checker], prefix: str) -> dict[str, Any]:
    _reject_unknown(mapping, set(schema), prefix)
    return {key: schema[key](value, _where(mapping, key, prefix)) for key, value in mapping.items()}


# ---- the file ---------------------------------------------------------------------------------------
def _consul(value: Any, where: str) -> ConsulOptions:
    if not isinstance(value, dict):
        raise ConfigError(f"{where}: expected a mapping, got {_type_name(value)}")
    schema: dict[str, Checker] = {"address": _want_str, "token": _want_str, "stale": _want_bool,
                                  "query_wait": _want_go_duration}
    return ConsulOptions(**_fields(value, schema, "consul"))


def _template(item: Any, index: int, base: Path) -> TemplateSpec:
    prefix = f"templates[{index}]"
    if not isinstance(item, dict):
        raise ConfigError(f"{prefix}: expected a mapping with source/contents and destination, "
                          f"got {_type_name(item)}")
    at = f"line {getattr(item, 'line', '?')}: {prefix}"
    schema: dict[str, Checker] = {
        "source": _want_str, "contents": _want_str, "destination": _want_str, "perms": _want_perms,
        "backup": _want_bool, "wait": parse_wait, "check_command": _want_command, "command": _want_command,
        "command_timeout": _want_duration,
    }
    values = _fields(item, schema, prefix)
    if "destination" not in values:
        raise ConfigError(f"{at}: 'destination' is required")
    if ("source" in values) == ("contents" in values):
        raise ConfigError(f"{at}: give exactly one of 'source' (a file) or 'contents' (inline text)")
    source = _resolve(values.pop("source"), base) if "source" in values else None
    text = values.pop("contents", None)
    if source is not None:
        text = read_template(source, at)
    destination = _resolve(values.pop("destination"), base)
    timeout = values.pop("command_timeout", 30.0)
    if timeout <= 0:
        raise ConfigError(f"{at}: command_timeout must be positive")
    return TemplateSpec(destination=destination, text=text or "", source=source, command_timeout=timeout, **values)


def _resolve(path: str, base: Path) -> Path:
    p = Path(path).expanduser()
    return p if p.is_absolute() else (base / p).absolute()


def read_template(source: Path, where: str) -> str:
    try:
        return source.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{where}: cannot read template {source}: {exc}") from None


def parse_config(text: str, base: Path) -> Config:
    """Parse and validate YAML text; relative paths are taken from `base` (the config file's directory)."""
    try:
        doc = yaml.load(text, Loader=_Loader)  # noqa: S506 - _Loader is a SafeLoader
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = f"line {mark.line + 1}: " if mark else ""
        raise ConfigError(f"{line}invalid YAML: {exc.problem or exc.context}") from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"invalid YAML: {exc}") from None
    if doc is None:
        doc = {}
    if not isinstance(doc, dict):
        raise ConfigError(f"the top level must be a mapping, got {_type_name(doc)}")
    schema: dict[str, Checker] = {
        "consul": _consul, "wait": parse_wait, "log_format": _want_log_format, "http_addr": _want_http_addr,
        "templates": lambda v, w: v,
    }
    values = _fields(doc, schema, "")
    raw_templates = values.pop("templates", [])
    if not isinstance(raw_templates, list):
        raise ConfigError(f"{_where(doc, 'templates', '')}: expected a list, got {_type_name(raw_templates)}")
    templates = tuple(_template(item, i, base) for i, item in enumerate(raw_templates))
    return Config(templates=templates, **values)


def _want_log_format(value: Any, where: str) -> str:
    text = _want_str(value, where)
    if text not in {"text", "json"}:
        raise ConfigError(f"{where}: expected text or json, got {text!r}")
    return text


def _want_http_addr(value: Any, where: str) -> str | None:
    if value is None:
        return None
    text = _want_str(value, where).strip()
    if text in {"", "off"}:
        return None
    host, sep, port = text.rpartition(":")
    if not sep or not port.isdigit() or not 0 < int(port) < 65536:
        raise ConfigError(f"{where}: expected host:port (e.g. 127.0.0.1:9310) or off, got {text!r}")
    return text


def load_config(path: Path) -> Config:
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: cannot read: {exc}") from None
    try:
        return parse_config(text, path.parent.absolute())
    except ConfigError as exc:
        raise ConfigError(f"{path}: {exc}") from None


# ---- CLI shorthand and merge ---------------------------------------------------------------------
def parse_template_flag(text: str, base: Path | None = None) -> TemplateSpec:
    """`SRC:DEST[:COMMAND]`, as consul-template's `-template`; COMMAND may itself contain colons."""
    parts = text.split(":", 2)
    if len(parts) < 2 or not parts[0] or not parts[1]:
        raise ConfigError(f"--template {text!r}: expected SRC:DEST[:COMMAND]")
    base = base or Path.cwd()
    source = _resolve(parts[0], base)
    where = f"--template {text!r}"
    command = parts[2].strip() if len(parts) == 3 and parts[2].strip() else None
    return TemplateSpec(destination=_resolve(parts[1], base), text=read_template(source, where), source=source,
                        command=command)


def merge(
    config: Config, *, templates: Sequence[TemplateSpec] = (), log_format: str | None = None,
    http_addr: str | None = None, consul_address: str | None = None, consul_token: str | None = None,
) -> Config:
    """Add CLI templates and let explicit CLI values beat the file; reject two templates on one destination."""
    consul = config.consul
    if consul_address:
        consul = replace(consul, address=consul_address)
    if consul_token:
        consul = replace(consul, token=consul_token)
    merged = replace(
        config,
        templates=config.templates + tuple(templates),
        consul=consul,
        log_format=_want_log_format(log_format, "--log-format") if log_format else config.log_format,
        http_addr=_want_http_addr(http_addr, "--http-addr") if http_addr is not None else config.http_addr,
    )
    seen: dict[Path, str] = {}
    for spec in merged.templates:
        if spec.destination in seen:
            raise ConfigError(f"templates {seen[spec.destination]} and {spec.name} both write {spec.destination}")
        seen[spec.destination] = spec.name
    if not merged.templates:
        raise ConfigError("no templates: give --config with a 'templates' list or --template SRC:DEST[:COMMAND]")
    return merged
