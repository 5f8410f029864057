"""consul-template's configuration (HCL v1 or JSON files, or a directory of them) -> the one `Config` model.

Files are merged in order (a directory: its files in lexical order, recursively, symlinks not followed, as
consul-template does): later scalars win, `template` blocks add up. Every key consul-template knows but we do
not implement, and every key nobody knows, is collected over all files and named in ONE error at start
(file, line, key), so a migration shows its whole gap at once instead of one key per restart.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Sequence
from dataclasses import fields as dc_fields
from dataclasses import replace
from pathlib import Path
from typing import Any

from consul_templates import hcl_tree
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
    parse_wait,
    want_argv,
    want_bool,
    want_command,
    want_duration,
    want_http_addr,
    want_log_format,
    want_log_level,
    want_signal,
    want_str,
    want_str_list,
)
from consul_templates.yaml_config import TEMPLATE_SCHEMA, with_inherit

# Known to consul-template, not implemented here: named in the start-up error.
UNSUPPORTED = {
    "": {"vault", "nomad", "deduplicate", "telemetry", "template_error_fatal",
         "err_on_failed_lookup", "parse_only", "dump_signal"},
    "consul": {"auth", "namespace", "transport", "partition"},
    "consul.ssl": {"ca_path", "server_name"},
    "template": {"function_denylist", "function_blacklist", "sandbox_path", "user", "group", "uid", "gid",
                 "source_template_var", "template_error_fatal", "err_missing_key"},
}


class _Reader:
    """Reads one file's values into keyword arguments, collecting every problem instead of stopping at one."""

    def __init__(self, path: Path) -> None:
        self.path = path
        # consul-template opens relative paths (source, destination, pid_file) from its working directory, not
        # from the config file's; a drop-in must find the same files. (Our YAML resolves from the file.)
        self.base = Path.cwd()
        self.problems: list[str] = []

    def where(self, mapping: Any, key: str, prefix: str) -> str:
        line = getattr(mapping, "key_lines", {}).get(key)
        name = f"{prefix}.{key}" if prefix else key
        return f"{self.path}:{line}: {name}" if line else f"{self.path}: {name}"

    def take(self, mapping: Any, schema: dict[str, Checker], prefix: str) -> dict[str, Any]:
        out: dict[str, Any] = {}
        if not isinstance(mapping, dict):
            self.problems.append(f"{self.path}: {prefix}: expected a block, got {mapping!r}")
            return out
        for key, value in mapping.items():
            where = self.where(mapping, key, prefix)
            if key in UNSUPPORTED.get(prefix, ()) and value not in ("", [], None, False):
                self.problems.append(f"{where}: consul-template setting not supported by consul-templates")
            elif key in UNSUPPORTED.get(prefix, ()):
                continue  # set to its empty default: nothing to implement
            elif key not in schema:
                self.problems.append(f"{where}: unknown key")
            else:
                try:
                    out[key] = schema[key](value, where)
                except ConfigError as exc:
                    self.problems.append(str(exc))
        return out

    def block(self, value: Any, where: str) -> Any:
        """The single mapping of a block that may occur once (`consul {}`): the last occurrence wins."""
        if isinstance(value, list) and value and all(isinstance(v, dict) for v in value):
            return value[-1]
        if isinstance(value, dict):
            return value
        raise ConfigError(f"{where}: expected a block")

    def sub(self, schema: dict[str, Checker], prefix: str) -> Checker:
        return lambda value, where: self.take(self.block(value, where), schema, prefix)

    # ---- blocks ----------------------------------------------------------------------------------
    def consul(self, value: Any, where: str) -> dict[str, Any]:
        ssl = self.sub({"enabled": want_bool, "verify": want_bool, "ca_cert": want_str, "cert": want_str,
                        "key": want_str}, "consul.ssl")
        retry = self.sub({"enabled": want_bool, "attempts": _int, "backoff": want_duration,
                          "max_backoff": want_duration}, "consul.retry")
        raw = self.take(self.block(value, where), {"address": want_str, "token": want_str, "ssl": ssl,
                                                   "retry": retry}, "consul")
        out: dict[str, Any] = {k: raw[k] for k in ("address", "token") if k in raw}
        tls = raw.get("ssl")
        if tls is not None:
            out.update(ssl=tls.get("enabled", True), verify=tls.get("verify"), ca_cert=tls.get("ca_cert"),
                       client_cert=tls.get("cert"), client_key=tls.get("key"))
        return out

    def exec(self, value: Any, where: str) -> ExecSpec:
        env = self.sub({"pristine": want_bool, "custom": want_str_list, "whitelist": want_str_list,
                        "allowlist": want_str_list, "blacklist": want_str_list, "denylist": want_str_list},
                       "exec.env")
        raw = self.take(self.block(value, where), {
            "command": want_argv, "reload_signal": want_signal, "kill_signal": want_signal,
            "kill_timeout": want_duration, "splay": want_duration, "env": env, "enabled": want_bool,
            "timeout": want_duration}, "exec")
        e = raw.pop("env", {})
        flt = EnvFilter(pristine=e.get("pristine", False), custom=e.get("custom", ()),
                        allow=e.get("allowlist", ()) + e.get("whitelist", ()),
                        deny=e.get("denylist", ()) + e.get("blacklist", ()))
        if "command" not in raw:
            raise ConfigError(f"{where}: exec needs a command")
        kill = raw.get("kill_signal")
        return ExecSpec(raw["command"], raw.get("reload_signal"), kill if kill is not None else ExecSpec.kill_signal,
                        raw.get("kill_timeout", 30.0), raw.get("splay", 0.0), flt)

    def env_mode(self, value: Any, where: str) -> tuple[EnvModeSpec, EnvFilter]:
        raw = self.take(self.block(value, where), {
            "prefixes": want_str_list, "services": want_str_list, "upcase": want_bool, "sanitize": want_bool,
            "pristine": want_bool, "allow": want_str_list}, "env")
        inherit = EnvFilter(pristine=raw.pop("pristine", False), allow=raw.pop("allow", ()))
        if not raw.get("prefixes") and not raw.get("services"):
            raise ConfigError(f"{where}: give 'prefixes' (KV paths) and/or 'services'")
        return EnvModeSpec(**raw), inherit

    def template(self, mapping: Any, index: int, defaults: dict[str, str]) -> TemplateSpec | None:
        at = f"{self.path}:{getattr(mapping, 'line', '?')}: template[{index}]"
        tpl_exec = self.sub({"command": want_command, "timeout": want_duration, "enabled": want_bool},
                            "template.exec")
        schema = {**TEMPLATE_SCHEMA, "exec": tpl_exec}
        values = self.take(mapping, schema, "template")
        inner = values.pop("exec", None)
        if inner:
            if "command" in inner:
                values["command"] = inner["command"]
            if "timeout" in inner:
                values["command_timeout"] = inner["timeout"]
        for key, value in defaults.items():
            values.setdefault(key, value)
        if values.get("command_timeout") == 0:
            values.pop("command_timeout")  # consul-template: 0 = do not wait; we always wait (the default bound)
        try:
            return finish_template(values, self.base, at, "go")
        except ConfigError as exc:
            self.problems.append(str(exc))
            return None


def _int(value: Any, where: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ConfigError(f"{where}: expected a whole number, got {value!r}")
    return value


def _read(path: Path) -> tuple[Any, _Reader]:
    reader = _Reader(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: cannot read: {exc}") from None
    try:
        doc = json.loads(text) if path.suffix.lower() == ".json" else hcl_tree.parse(text)
    except (hcl_tree.HclError, json.JSONDecodeError) as exc:
        raise ConfigError(f"{path}: {exc}") from None
    if not isinstance(doc, dict):
        raise ConfigError(f"{path}: the top level must be an object")
    return doc, reader


def read_file(path: Path) -> tuple[dict[str, Any], list[str]]:
    """One file -> (Config keyword arguments, problems)."""
    doc, r = _read(path)
    templates = doc.pop("template", [])
    delims = doc.pop("default_delimiters", None)
    schema: dict[str, Checker] = {
        "consul": r.consul, "wait": parse_wait, "max_stale": want_duration, "block_query_wait": want_duration,
        "reload_signal": want_signal, "kill_signal": want_signal, "pid_file": want_str, "log_level": want_log_level,
        "syslog": r.sub({"enabled": want_bool, "facility": want_str, "name": want_str}, "syslog"),
        "exec": r.exec, "env": r.env_mode, "once": want_bool, "http_addr": want_http_addr,
        "log_format": want_log_format, "pass_env": want_str_list,
    }
    raw = r.take(doc, schema, "")
    defaults = {}
    if delims is not None:
        d = r.take(r.block(delims, "default_delimiters"), {"left": want_str, "right": want_str}, "default_delimiters")
        defaults = {f"{k}_delimiter": v for k, v in d.items()}
    items = templates if isinstance(templates, list) else [templates]
    specs = [r.template(m, i, defaults) for i, m in enumerate(items)]
    kwargs = _config_kwargs(raw, r)
    kwargs["templates"] = tuple(s for s in specs if s is not None)
    return kwargs, r.problems


def _config_kwargs(raw: dict[str, Any], r: _Reader) -> dict[str, Any]:
    out: dict[str, Any] = {}
    consul: dict[str, Any] = raw.pop("consul", {})
    if raw.get("max_stale"):
        consul["stale"] = True  # any server answers; the staleness bound itself is not checked (README)
    if "block_query_wait" in raw:
        consul["query_wait"] = f"{raw['block_query_wait']:g}s"
    raw.pop("max_stale", None)
    raw.pop("block_query_wait", None)
    if consul:
        out["consul"] = consul
    syslog = raw.pop("syslog", None)
    if syslog is not None and syslog.get("enabled", True):
        out["syslog_facility"] = syslog.get("facility", "LOCAL0")
    if "pid_file" in raw:
        out["pid_file"] = resolve(raw.pop("pid_file"), r.base)
    if "env" in raw:
        out["env"], inherit = raw.pop("env")
        out["_inherit"] = inherit
    out.update(raw)
    return out


def combine(config: Config, extra: Config) -> Config:
    """`extra` on top of `config`: explicitly set values win, templates add up."""
    defaults = Config()
    values = {f.name: getattr(extra, f.name) for f in dc_fields(Config)
              if f.name != "templates" and getattr(extra, f.name) != getattr(defaults, f.name)}
    if "consul" in values:
        base, new, blank = config.consul, extra.consul, ConsulOptions()
        values["consul"] = replace(base, **{f.name: getattr(new, f.name) for f in dc_fields(ConsulOptions)
                                            if getattr(new, f.name) != getattr(blank, f.name)})
    return replace(config, templates=config.templates + extra.templates, **values)


def _expand(paths: Sequence[Path]) -> list[Path]:
    files: list[Path] = []
    for path in paths:
        if path.is_dir() and not path.is_symlink():
            for root, dirs, names in os.walk(path):  # os.walk does not follow symlinked directories
                dirs.sort()
                files.extend(Path(root) / n for n in sorted(names) if not (Path(root) / n).is_symlink())
        elif path.exists() or path.is_symlink():
            files.append(path)
        else:
            raise ConfigError(f"{path}: no such file or directory")
    return files


def load_paths(paths: Sequence[Path], reader: Callable[[Path], tuple[dict[str, Any], list[str]]] = read_file
               ) -> Config:
    """Read and merge HCL/JSON files (directories expanded); raise one ConfigError listing every problem."""
    config = Config()
    problems: list[str] = []
    inherit: EnvFilter | None = None
    for path in _expand(paths):
        kwargs, found = reader(path)
        problems += found
        inherit = kwargs.pop("_inherit", inherit)
        consul = kwargs.pop("consul", None)
        part = Config(**kwargs)
        if consul:
            part = replace(part, consul=ConsulOptions(**consul))
        config = combine(config, part)
    if problems:
        raise ConfigError("consul-template configuration not usable:\n  " + "\n  ".join(problems))
    if inherit is not None and config.exec is not None:
        config = replace(config, exec=with_inherit(config.exec, inherit))
    return config
