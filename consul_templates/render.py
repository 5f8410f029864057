"""The Jinja2 template language: `ImmutableSandboxedEnvironment`, strict undefined, and a `finalize` that hands
every `{{ expression }}` to the template's guard (see guards.py: what is refused depends on the file's syntax).

A refused value fails the render (the live file stays), unless it belongs to a service instance, which
languages.render_guarded() then drops. A value that must carry such characters goes through an explicit
encoder (`nginx_quote`, `json`) whose output is marked `Checked`. Template text itself is trusted; output
already checked (macro calls, `{% set %}` blocks) stays `Checked`.
"""

from __future__ import annotations

import dataclasses
import json
import re
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import jinja2
from jinja2.sandbox import ImmutableSandboxedEnvironment

from consul_templates.functions import (
    EMPTY_UPSTREAM,
    Instance,
    KeyPair,
    Node,
    Reads,
    ServiceSummary,
    locate,
    make_functions,
)
from consul_templates.guards import GUARDS, Guard
from consul_templates.languages import (
    CompileOptions,
    Outcome,
    RenderError,
    RenderInput,
    UnsafeValue,
    refusal,
)
from consul_templates.loopmemo import MEMO_LOOP_NAME, MEMO_NAME, LoopMemo, Trusted, plan

__all__ = ["Checked", "Outcome", "RenderError", "Template", "UnsafeValue", "compile_template", "nginx_quote"]

_NGINX_BAD = re.compile(r"[\x00-\x1f\x7f$]")
_OUR_TYPES = frozenset({Instance, KeyPair, Node, ServiceSummary})


class Checked(str):
    """Text that has been made safe for the output (by a filter, or as already-checked template output)."""

    __slots__ = ()


def make_finalize(guard: Guard) -> Callable[[Any], Any]:
    """`finalize` for one syntax: let through only values that cannot change the structure of the file."""

    def finalize(value: Any) -> Any:
        t = type(value)
        if t is str:
            reason = guard.reason(value)
            if reason is not None:
                raise UnsafeValue(value, reason)
            return value
        if t is Checked or t is int or t is float or t is bool:
            return value
        if t is Trusted:
            return value.text
        if value is None:
            raise UnsafeValue(value, "is None (use |default or key_or_default)")
        if isinstance(value, jinja2.Undefined):
            return value  # StrictUndefined raises with its own message on str()
        text = str(value)
        reason = guard.reason(text)
        if reason is not None:
            raise UnsafeValue(value, f"is a {type(value).__name__} whose text {reason}")
        return text

    return finalize


finalize = make_finalize(GUARDS["nginx"])  # the default syntax's rule


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


def make_environment(search_path: Path | None = None, guard: Guard = GUARDS["nginx"], *,
                     left: str | None = None, right: str | None = None) -> jinja2.Environment:
    delimiters = {"variable_start_string": left or "{{", "variable_end_string": right or "}}"}
    env = _Environment(
        undefined=jinja2.StrictUndefined, finalize=make_finalize(guard), autoescape=False, trim_blocks=True,
        lstrip_blocks=True, keep_trailing_newline=True, auto_reload=False,
        loader=jinja2.FileSystemLoader(str(search_path)) if search_path else None, **delimiters,
    )
    env.filters["nginx_quote"] = nginx_quote
    env.filters["json"] = to_json
    env.globals["empty_upstream"] = empty_upstream
    return env


class Template:
    """A compiled Jinja2 template; `render(data)` is pure (store and environ in, Outcome out)."""

    def __init__(self, name: str, text: str, search_path: Path | None = None,
                 options: CompileOptions | None = None) -> None:
        options = options or CompileOptions(search_path=search_path)
        self.name = name
        self.env = make_environment(options.search_path or search_path, options.guard,
                                    left=options.left_delimiter, right=options.right_delimiter)
        try:
            tree = self.env.parse(text)
            self.memo = self.env.filters[MEMO_NAME] = LoopMemo(self.env.concat)  # type: ignore[attr-defined]
            self.env.filters[MEMO_LOOP_NAME] = self.memo.loop
            self.memo.blocks = plan(self.env, tree)
            self.compiled = self.env.from_string(tree)
        except jinja2.TemplateSyntaxError as exc:
            raise RenderError(f"template {name}: syntax error at line {exc.lineno}: {exc.message}") from None
        except RecursionError:
            raise RenderError(f"template {name}: nested too deeply to compile") from None

    def render(self, data: RenderInput) -> Outcome:
        reads = Reads()
        functions = make_functions(data.store, reads, data.environ)
        self.memo.begin(data.store, reads, functions)
        text: str | None = None
        try:
            text = self._render(functions, reads, data)
        finally:
            self.memo.end(complete=text is not None and not reads.missing)
        if reads.missing or reads.blocked:
            text = None
        return Outcome(text, frozenset(reads.used), frozenset(reads.missing), frozenset(reads.blocked))

    def _render(self, functions: dict[str, Any], reads: Reads, data: RenderInput) -> str | None:
        try:
            return self._join(functions)
        except UnsafeValue as exc:
            if not reads.missing:  # an incomplete pass: the placeholder data does not count
                used = frozenset(reads.used)
                raise refusal(self.name, exc, locate(str(exc.value), data.store, used), used) from None
        except RecursionError:
            if not reads.missing:
                raise RenderError(f"template {self.name}: recursion too deep (a macro or include calling itself?)",
                                  frozenset(reads.used)) from None
        except (jinja2.TemplateError, TypeError, ValueError, LookupError, ArithmeticError, AttributeError) as exc:
            if not reads.missing:
                raise RenderError(f"template {self.name}: {type(exc).__name__}: {exc}", frozenset(reads.used)) from None
        return None


    def _join(self, functions: dict[str, Any]) -> str:
        """jinja2's Template.render, but joined into a plain str: its concat makes a Checked (a copy of the whole
        file) and the caller a str of that (another)."""
        compiled = self.compiled
        try:
            return "".join(compiled.root_render_func(compiled.new_context(functions)))
        except Exception:
            compiled.environment.handle_exception()  # re-raises, with the template's lines in the traceback
            raise


def compile_template(text: str, name: str, options: CompileOptions) -> Template:
    """The language plug-in entry point (see languages.py)."""
    return Template(name, text, options=options)
