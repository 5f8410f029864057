"""Render a template against the data store: Jinja2's ImmutableSandboxedEnvironment, strict undefined, and a
`finalize` that refuses any value able to change nginx syntax.

Every `{{ expression }}` passes through `finalize`: strings with `;`, `{`, `}`, quotes, `#`, a backslash,
whitespace or control characters are refused, which fails the render (the live file stays). A value that must
carry such characters goes through an explicit filter (`nginx_quote`, `json`) whose output is marked `Checked`.
Template text itself is trusted; output already checked (macro calls, `{% set %}` blocks) stays `Checked`.
"""

from __future__ import annotations

import dataclasses
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jinja2
from jinja2.sandbox import ImmutableSandboxedEnvironment

from consul_templates.functions import (
    EMPTY_UPSTREAM,
    Dependency,
    Instance,
    KeyPair,
    Node,
    Reads,
    ServiceSummary,
    locate,
    make_functions,
)

UNSAFE = re.compile(r"[;{}'\"#\\\s\x00-\x1f\x7f]")
_NGINX_BAD = re.compile(r"[\x00-\x1f\x7f$]")
_OUR_TYPES = frozenset({Instance, KeyPair, Node, ServiceSummary})


class Checked(str):
    """Text that has been made safe for the output (by a filter, or as already-checked template output)."""

    __slots__ = ()


class UnsafeValue(ValueError):
    def __init__(self, value: object, reason: str) -> None:
        super().__init__(reason)
        self.value = value
        self.reason = reason


class RenderError(Exception):
    """A render failed for a reason that more data will not fix; the message names template and value.
    `used` holds the dependencies read before the failure: they stay watched, so new data can fix it."""

    def __init__(self, message: str, used: frozenset[Dependency] = frozenset()) -> None:
        super().__init__(message)
        self.used = used


def finalize(value: Any) -> Any:
    """Let through only values that cannot change the syntax of the file around them."""
    t = type(value)
    if t is str:
        if UNSAFE.search(value):
            raise UnsafeValue(value, "contains a character that could change nginx syntax (;{}'\"#\\, space, newline)")
        return value
    if t is Checked or t is int or t is float or t is bool:
        return value
    if value is None:
        raise UnsafeValue(value, "is None (use |default or key_or_default)")
    if isinstance(value, jinja2.Undefined):
        return value  # StrictUndefined raises with its own message on str()
    text = str(value)
    if UNSAFE.search(text):
        raise UnsafeValue(value, f"is a {type(value).__name__} whose text could change nginx syntax")
    return text


def nginx_quote(value: Any) -> Checked:
    """A double-quoted nginx string. nginx has no escape for `$` or control characters: those are refused."""
    text = str(value)
    if _NGINX_BAD.search(text):
        raise UnsafeValue(value, "cannot be quoted for nginx (control character or $)")
    return Checked('"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"')


def _plain(value: Any) -> Any:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        out = {f.name: _plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
        return out
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value


def to_json(value: Any, indent: int | None = None) -> Checked:
    """JSON text (keys sorted, so output is deterministic); for JSON files, or a JSON string in nginx."""
    return Checked(json.dumps(_plain(value), sort_keys=True, indent=indent, ensure_ascii=True))


def empty_upstream() -> Checked:
    """The placeholder server for an upstream with no instance: nginx refuses an empty `upstream {}`."""
    return Checked(EMPTY_UPSTREAM)


def _checked_concat(parts: Any) -> Checked:
    return Checked("".join(parts))


class _Environment(ImmutableSandboxedEnvironment):
    # Macro results, {% set %} blocks and whole renders are joined with this: their parts were checked.
    concat = staticmethod(_checked_concat)  # type: ignore[assignment]

    def getattr(self, obj: Any, attribute: str) -> Any:
        # Fast path for the hot loop (10k instances): our frozen data holds only plain values (str, int,
        # tuples, mappings), no callables, so public fields need none of the sandbox's checks.
        if type(obj) in _OUR_TYPES and not attribute.startswith("_"):
            try:
                return getattr(obj, attribute)
            except AttributeError:
                pass
        return super().getattr(obj, attribute)


def make_environment(search_path: Path | None = None) -> jinja2.Environment:
    env = _Environment(
        undefined=jinja2.StrictUndefined, finalize=finalize, autoescape=False, trim_blocks=True,
        lstrip_blocks=True, keep_trailing_newline=True, auto_reload=False,
        loader=jinja2.FileSystemLoader(str(search_path)) if search_path else None,
    )
    env.filters["nginx_quote"] = nginx_quote
    env.filters["json"] = to_json
    env.globals["empty_upstream"] = empty_upstream
    return env


@dataclass(frozen=True)
class Outcome:
    """One render: `text` is None when the data is incomplete (missing or blocked dependencies)."""

    text: str | None
    used: frozenset[Dependency]
    missing: frozenset[Dependency]
    blocked: frozenset[Dependency]

    @property
    def complete(self) -> bool:
        return self.text is not None


class Template:
    """A compiled template; `render(store)` is pure (store and environ in, Outcome out)."""

    def __init__(self, name: str, text: str, search_path: Path | None = None) -> None:
        self.name = name
        self.env = make_environment(search_path)
        try:
            self.compiled = self.env.from_string(text)
        except jinja2.TemplateSyntaxError as exc:
            raise RenderError(f"template {name}: syntax error at line {exc.lineno}: {exc.message}") from None

    def render(self, store: Mapping[Dependency, Any], environ: Mapping[str, str]) -> Outcome:
        reads = Reads()
        functions = make_functions(store, reads, environ)
        text: str | None
        try:
            text = str(self.compiled.render(functions))
        except UnsafeValue as exc:
            if reads.missing:  # an incomplete pass; the placeholder data does not count
                text = None
            else:
                source = locate(str(exc.value), store, reads.used)
                raise RenderError(
                    f"template {self.name}: refused value {exc.value!r} from {source}: it {exc.reason}; "
                    "pass it through nginx_quote or json if it is meant to be text", frozenset(reads.used),
                ) from None
        except jinja2.TemplateError as exc:
            if reads.missing:
                text = None
            else:
                raise RenderError(f"template {self.name}: {type(exc).__name__}: {exc}", frozenset(reads.used)) from None
        except (TypeError, ValueError, LookupError, ArithmeticError, AttributeError) as exc:
            if reads.missing:
                text = None
            else:
                raise RenderError(f"template {self.name}: {type(exc).__name__}: {exc}", frozenset(reads.used)) from None
        if reads.missing or reads.blocked:
            text = None
        return Outcome(text, frozenset(reads.used), frozenset(reads.missing), frozenset(reads.blocked))
