"""Read and compile the templates of a Config: the I/O step between parsing the configuration and running it.
Done once at start and once per SIGHUP; the Runner is handed the result, so nothing is compiled twice."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from consul_templates.config import Config, ConfigError, TemplateSpec
from consul_templates.guards import GUARDS
from consul_templates.languages import CompileOptions, Renderer, RenderError, compiler


@dataclass(frozen=True)
class Loaded:
    """A configuration with every template compiled (keyed by spec; specs are frozen and hashable)."""

    config: Config
    renderers: Mapping[TemplateSpec, Renderer]


def read_source(spec: TemplateSpec) -> str:
    if spec.source is None:
        return spec.contents or ""
    try:
        return spec.source.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"template {spec.name}: cannot read template {spec.source}: {exc}") from None


def options_for(spec: TemplateSpec) -> CompileOptions:
    search: Path | None = spec.source.parent if spec.source else None
    return CompileOptions(guard=GUARDS[spec.syntax], left_delimiter=spec.left_delimiter,
                          right_delimiter=spec.right_delimiter, error_on_missing_key=spec.error_on_missing_key,
                          search_path=search)


def compile_spec(spec: TemplateSpec) -> Renderer:
    """Read and compile one template; ConfigError or RenderError (syntax, unknown language) on failure."""
    text = read_source(spec)
    try:
        return compiler(spec.language)(text, spec.name, options_for(spec))
    except RecursionError:
        raise RenderError(f"template {spec.name}: nested too deeply to compile") from None


def load(config: Config) -> Loaded:
    return Loaded(config, {spec: compile_spec(spec) for spec in config.templates})
