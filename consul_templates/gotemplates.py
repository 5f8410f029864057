"""The Go template language: consul-template's `.ctmpl` files, rendered by Go's text/template (portside.gotemplate)
with consul-template's function library (consul_templates.ctfuncs), against the same watch store as the Jinja
path. The plug-in entry point is `compile_template(text, name, options)` (languages.py).

`GoTemplate.render(data)` is pure and returns the languages' `Outcome`: the text (None while a query has not
answered, a `key` does not exist, or a `safeLs` prefix is empty) and the queries the render used, so the runner
watches exactly those. Parsed once; each render binds its own data, environment and scratch pad.

The guard (`options.guard`, by the destination's syntax, guards.py): a value from Consul printed raw by an action
is refused when it holds a character that could change that syntax. The functions keep the mark on what they
derive from such a value (`join`, `printf`, `toUpper`, ...); consul-template's JSON encoders (`toJSON`, ...)
escape it and their output is not checked again. A refused value raises languages.RefusedValue, so the runner's
render_guarded() drops the service instance it came from, or fails the render for a KV value. With the `none`
syntax the output is consul-template's, byte for byte.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable
from typing import Any

from consul_templates.ctfuncs import REFUSED, Render, bind, function_map
from consul_templates.ctfuncs.source import StoreSource
from consul_templates.ctfuncs.sprig import NOT_IMPLEMENTED
from consul_templates.ctfuncs.types import first_dirty
from consul_templates.functions import locate
from consul_templates.gomemo import PURE, GoLoopMemo
from consul_templates.guards import GUARDS, Guard
from consul_templates.languages import CompileOptions, Outcome, RenderError, RenderInput, UnsafeValue, refusal
from portside.gotemplate import ParseError, Template, TemplateError

_UNDEFINED = re.compile(r'^template: [^:]*:(\d+): function "([^"]+)" not defined$')


def _explain_parse_error(exc: ParseError) -> str:
    """Go's parse error, or for a function consul-templates does not offer, which one and why."""
    m = _UNDEFINED.match(str(exc))
    if m:
        line, func = m.groups()
        if func in REFUSED:
            return f"line {line}: function {func!r} is not supported by consul-templates: it {REFUSED[func]}"
        if func.startswith("sprig_") and func[6:] in NOT_IMPLEMENTED:
            return f"line {line}: sprig function {func!r} is not implemented by consul-templates"
    return str(exc)


def _finalize(guard: Guard) -> Callable[[Any, str], str]:
    """The engine's hook on every printed action: a Consul string the guard refuses does not reach the file."""

    def check(value: Any, text: str) -> str:
        dirty = first_dirty(value, guard)
        if dirty is not None:
            raise UnsafeValue(dirty, str(guard.reason(dirty)))
        return text

    return check


class GoTemplate:
    """A compiled Go template (consul-template's options: delimiters, error_on_missing_key, function_denylist)."""

    def __init__(self, name: str, text: str, options: CompileOptions | None = None, *,
                 function_denylist: tuple[str, ...] = (), now: Callable[[], dt.datetime] | None = None) -> None:
        options = options or CompileOptions()
        self.name = name
        self.guard = options.guard
        self.now = now
        # consul-template names its template "" and executes it with nil data: `{{ . }}` is <no value>.
        self.compiled = Template(
            "", delims=(options.left_delimiter or "", options.right_delimiter or ""),
            funcs=function_map(self.guard, tuple(function_denylist)),
            missingkey="error" if options.error_on_missing_key else "zero",
            finalize=None if self.guard is GUARDS["none"] else _finalize(self.guard)).memoize(PURE)
        self.memo = GoLoopMemo()
        try:
            self.compiled.parse(text)
        except ParseError as exc:
            raise RenderError(f"template {name}: {_explain_parse_error(exc)}") from None

    def render(self, data: RenderInput) -> Outcome:
        source = StoreSource(data.store)
        text: str | None
        self.memo.begin(source)
        complete = False
        with bind(Render(source, data.environ, self.now)):
            try:
                text = self.compiled.execute(None, memo=self.memo)
                complete = True
            except TemplateError as exc:
                if source.missing:  # a first pass over empty data: the real data will render it
                    text = None
                else:
                    raise self._error(exc, data, source) from None
            finally:
                self.memo.end(complete)
        if source.missing or source.blocked:
            text = None
        return Outcome(text, frozenset(source.used), frozenset(source.missing), frozenset(source.blocked))

    def _error(self, exc: TemplateError, data: RenderInput, source: StoreSource) -> RenderError:
        used = frozenset(source.used)
        cause = _refused_in(exc)
        if cause is not None:
            where = f"{locate(str(cause.value), data.store, used)} ({_position(exc)})"
            return refusal(self.name, cause, where, used)
        return RenderError(f"template {self.name}: {exc}", used)


def _refused_in(exc: BaseException) -> UnsafeValue | None:
    """The guard's refusal behind an error, if any: also one raised in a template run by executeTemplate, which
    the engine reports as that function's error."""
    seen: BaseException | None = exc
    for _ in range(64):
        if seen is None or isinstance(seen, UnsafeValue):
            return seen
        seen = seen.__cause__ or seen.__context__
    return None


def _position(exc: TemplateError) -> str:
    """Go's "template: :LINE:COL: executing ..." position, as "line L col C"."""
    m = re.match(r"template: [^:]*:(\d+):(\d+):", str(exc))
    return f"line {m[1]} col {m[2]}" if m else "an action"


def compile_template(text: str, name: str, options: CompileOptions) -> GoTemplate:
    """The language plug-in entry point (languages.py)."""
    return GoTemplate(name, text, options)
