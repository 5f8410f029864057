"""Our YAML configuration file (pyyaml with line numbers + explicit validation) -> the one `Config` model.
The keys are documented in config.py."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from consul_templates.config import (
    Config,
    ConsulOptions,
    EnvFilter,
    EnvModeSpec,
    ExecSpec,
    TemplateSpec,
    finish_template,
    resolve,
)
from consul_templates.config_checks import (
    Checker,
    ConfigError,
    fields,
    parse_wait,
    type_name,
    want_argv,
    want_bool,
    want_command,
    want_duration,
    want_go_duration,
    want_http_addr,
    want_log_format,
    want_log_level,
    want_perms,
    want_signal,
    want_str,
    want_str_list,
    where_of,
)
from consul_templates.guards import SYNTAXES


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


def want_choice(*choices: str) -> Checker:
    def check(value: Any, where: str) -> str:
        text = want_str(value, where)
        if text not in choices:
            raise ConfigError(f"{where}: expected one of {', '.join(choices)}, got {text!r}")
        return text

    return check


def _mapping(value: Any, where: str) -> Any:
    if not isinstance(value, dict):
        raise ConfigError(f"{where}: expected a mapping, got {type_name(value)}")
    return value


def _consul(value: Any, where: str) -> ConsulOptions:
    schema: dict[str, Checker] = {"address": want_str, "token": want_str, "stale": want_bool,
                                  "query_wait": want_go_duration, "ssl": want_bool, "verify": want_bool,
                                  "ca_cert": want_str, "client_cert": want_str, "client_key": want_str}
    return ConsulOptions(**fields(_mapping(value, where), schema, "consul"))


ENV_FILTER: dict[str, Checker] = {"pristine": want_bool, "custom": want_str_list, "allow": want_str_list,
                                  "deny": want_str_list}


def _exec(value: Any, where: str) -> ExecSpec:
    schema: dict[str, Checker] = {"command": want_argv, "reload_signal": want_signal, "kill_signal": want_signal,
                                  "kill_timeout": want_duration, "splay": want_duration,
                                  "env": lambda v, w: EnvFilter(**fields(_mapping(v, w), ENV_FILTER, "exec.env"))}
    values = fields(_mapping(value, where), schema, "exec")
    if "command" not in values:
        raise ConfigError(f"{where}: 'command' is required")
    if values.get("kill_signal", 0) is None:
        values.pop("kill_signal")
    return ExecSpec(**values)


def _env(value: Any, where: str) -> tuple[EnvModeSpec, EnvFilter]:
    schema: dict[str, Checker] = {"prefixes": want_str_list, "services": want_str_list, "upcase": want_bool,
                                  "sanitize": want_bool, "pristine": want_bool, "allow": want_str_list}
    values = fields(_mapping(value, where), schema, "env")
    inherit = EnvFilter(pristine=values.pop("pristine", False), allow=values.pop("allow", ()))
    if not values.get("prefixes") and not values.get("services"):
        raise ConfigError(f"{where}: give 'prefixes' (KV paths) and/or 'services'")
    return EnvModeSpec(**values), inherit


TEMPLATE_SCHEMA: dict[str, Checker] = {
    "source": want_str, "contents": want_str, "destination": want_str, "perms": want_perms,
    "backup": want_bool, "wait": parse_wait, "check_command": want_command, "command": want_command,
    "command_timeout": want_duration, "language": want_choice("jinja2", "go"), "syntax": want_choice(*SYNTAXES),
    "left_delimiter": want_str, "right_delimiter": want_str, "error_on_missing_key": want_bool,
    "create_dest_dirs": want_bool,
}


def _template(item: Any, index: int, base: Path) -> TemplateSpec:
    prefix = f"templates[{index}]"
    if not isinstance(item, dict):
        raise ConfigError(f"{prefix}: expected a mapping with source/contents and destination, got {type_name(item)}")
    values = fields(item, TEMPLATE_SCHEMA, prefix)
    return finish_template(values, base, f"line {getattr(item, 'line', '?')}: {prefix}", "jinja2")


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
        raise ConfigError(f"the top level must be a mapping, got {type_name(doc)}")
    schema: dict[str, Checker] = {
        "consul": _consul, "wait": parse_wait, "log_format": want_log_format, "log_level": want_log_level,
        "http_addr": want_http_addr, "templates": lambda v, w: v, "pass_env": want_str_list, "exec": _exec,
        "env": _env, "pid_file": lambda v, w: resolve(want_str(v, w), base), "reload_signal": want_signal,
        "kill_signal": want_signal,
    }
    values = fields(doc, schema, "")
    raw_templates = values.pop("templates", [])
    if not isinstance(raw_templates, list):
        raise ConfigError(f"{where_of(doc, 'templates', '')}: expected a list, got {type_name(raw_templates)}")
    if "env" in values:
        values["env"], inherit = values["env"]
        if "exec" in values:
            values["exec"] = with_inherit(values["exec"], inherit)
        elif inherit != EnvFilter():
            raise ConfigError("env.pristine / env.allow need an exec block (the command env mode runs)")
    templates = tuple(_template(item, i, base) for i, item in enumerate(raw_templates))
    return Config(templates=templates, **values)


def with_inherit(spec: ExecSpec, inherit: EnvFilter) -> ExecSpec:
    """Env mode's `pristine`/`allow` narrow what the exec child inherits."""
    env = EnvFilter(pristine=spec.env.pristine or inherit.pristine, custom=spec.env.custom,
                    allow=spec.env.allow + inherit.allow, deny=spec.env.deny)
    return ExecSpec(spec.command, spec.reload_signal, spec.kill_signal, spec.kill_timeout, spec.splay, env)


def load(path: Path) -> Config:
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: cannot read: {exc}") from None
    try:
        return parse_config(text, path.parent.absolute())
    except ConfigError as exc:
        raise ConfigError(f"{path}: {exc}") from None
