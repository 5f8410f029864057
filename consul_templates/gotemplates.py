"""Go-language templates: consul-template's `.ctmpl` files, rendered by Go's text/template (portside.gotemplate)
with consul-template's function library (consul_templates.ctfuncs), against the same watch store as the Jinja
path.

`GoTemplate(name, text).render(store, environ)` is pure and returns the same `Outcome` as render.Template: the
text (None while a query has not answered, a `key` does not exist, or a `safeLs` prefix is empty) and the
queries the render used, so the runner watches exactly those. Parsed once; each render binds its own data.

The guard (`guard="nginx"`, the default): a value from Consul printed raw by an action is refused when it holds a
character that could change nginx syntax (render.UNSAFE: `;{}'"#\\`, white space, control characters), as the
Jinja path refuses it; the functions keep that mark on what they derive from such a value (`join`, `printf`,
`toJSON`, ...). `guard="off"` renders what consul-template renders, byte for byte.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable, Mapping
from typing import Any

from consul_templates.ctfuncs import REFUSED, Render, bind, function_map
from consul_templates.ctfuncs.source import StoreSource
from consul_templates.ctfuncs.sprig import NOT_IMPLEMENTED
from consul_templates.ctfuncs.types import is_dirty
from consul_templates.functions import locate
from consul_templates.render import Outcome, RenderError, UnsafeValue
from portside.gotemplate import ParseError, Template, TemplateError

GUARDS = ("nginx", "off")
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


def _refuse(value: Any, text: str) -> str:
    """The finalize hook of the nginx guard: every action's value passes here before it is written."""
    if is_dirty(value):
        raise UnsafeValue(value if isinstance(value, str) else text,
                          "contains a character that could change nginx syntax (;{}'\"#\\, space, newline)")
    return text


class GoTemplate:
    """A compiled Go template; `render(store, environ)` is pure (store snapshot and environment in, Outcome out).

    `delims`: consul-template's left_delimiter/right_delimiter; `err_missing_key`: its error_on_missing_key
    (missingkey=error, else missingkey=zero as consul-template sets); `function_denylist`: its globs of
    functions that fail when called; `guard`: "nginx" (default) or "off"."""

    def __init__(self, name: str, text: str, *, delims: tuple[str, str] = ("", ""), err_missing_key: bool = False,
                 guard: str = "nginx", function_denylist: tuple[str, ...] = (),
                 now: Callable[[], dt.datetime] | None = None) -> None:
        if guard not in GUARDS:
            raise ValueError(f"guard must be one of {', '.join(GUARDS)}, not {guard!r}")
        self.name = name
        self.guard = guard
        self.now = now
        # consul-template names its template "" and executes it with nil data: `{{ . }}` is <no value>.
        self.compiled = Template("", delims=delims, funcs=function_map(tuple(function_denylist)),
                                 missingkey="error" if err_missing_key else "zero",
                                 finalize=_refuse if guard == "nginx" else None)
        try:
            self.compiled.parse(text)
        except ParseError as exc:
            raise RenderError(f"template {name}: {_explain_parse_error(exc)}") from None

    def render(self, store: Mapping[Any, Any], environ: Mapping[str, str]) -> Outcome:
        source = StoreSource(store)
        text: str | None
        with bind(Render(source, environ, self.now)):
            try:
                text = self.compiled.execute(None)
            except TemplateError as exc:
                if source.missing:  # a first pass over empty data: the real data will render it
                    text = None
                else:
                    raise self._error(exc, store, source) from None
        if source.missing or source.blocked:
            text = None
        return Outcome(text, frozenset(source.used), frozenset(source.missing), frozenset(source.blocked))

    def _error(self, exc: TemplateError, store: Mapping[Any, Any], source: StoreSource) -> RenderError:
        cause = exc.__cause__
        used = frozenset(source.used)
        if isinstance(cause, UnsafeValue):
            value = str(cause.value)
            return RenderError(
                f"template {self.name}: refused value {value!r} from {locate(value, store, source.used)}: "
                f"it {cause.reason}; "
                f"at {_position(exc)} (guard = \"nginx\"; a template that does not write nginx syntax can set "
                f"guard = \"off\")", used)
        return RenderError(f"template {self.name}: {exc}", used)


def _position(exc: TemplateError) -> str:
    """Go's "template: :LINE:COL: executing ..." position, as "line L col C"."""
    m = re.match(r"template: [^:]*:(\d+):(\d+):", str(exc))
    return f"line {m[1]} col {m[2]}" if m else "an action"

