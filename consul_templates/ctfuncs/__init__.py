"""consul-template's function library (template/funcs.go of v0.41.1) for the Go template engine.

`function_map()` gives every function by its consul-template name, as `GoFunc`s with consul-template's Go
parameter types (so a wrong argument fails as it fails there). The functions are built once per compiled
template; what changes per render (the data, the environment, the scratch pad) is bound in a `Render` that
the renderer installs for the duration of one execution (`bind`).

Values derived from Consul data stay marked (types.Tainted) through the pure functions: when any argument
carries a Consul string the guard would refuse, the result is marked too, so `join`, `printf`, `toUpper`, ...
cannot launder it.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import fnmatch
from collections.abc import Callable, Iterator, Mapping
from contextvars import ContextVar
from typing import Any

from consul_templates.ctfuncs import encoding as enc
from consul_templates.ctfuncs import grouping, mathfuncs, sprig
from consul_templates.ctfuncs import textfuncs as txt
from consul_templates.ctfuncs.data import DataFuncs
from consul_templates.ctfuncs.misc import REFUSED, Scratch, env_funcs, timestamp_func
from consul_templates.ctfuncs.source import Source
from consul_templates.ctfuncs.types import first_dirty, is_tainted, mark
from consul_templates.guards import GUARDS, Guard
from portside.gotemplate import ExecContext, GoFunc
from portside.gotemplate.builtins import BUILTINS

__all__ = ["REFUSED", "Render", "bind", "function_map"]


class Render:
    """What one execution of a template reads: its data source, environment, clock and scratch pad."""

    def __init__(self, source: Source, environ: Mapping[str, str],
                 now: Callable[[], dt.datetime] | None = None) -> None:
        self.data = DataFuncs(source)
        self.env = env_funcs(environ)
        self.scratch = Scratch()
        self.timestamp = timestamp_func(now or (lambda: dt.datetime.now(dt.UTC)))


_CURRENT: ContextVar[Render] = ContextVar("consul_templates.ctfuncs.render")


@contextlib.contextmanager
def bind(render: Render) -> Iterator[Render]:
    """Make `render` the one the functions read for the duration of an execution (per context: concurrent
    renders in other threads or tasks are not affected)."""
    token = _CURRENT.set(render)
    try:
        yield render
    finally:
        _CURRENT.reset(token)


def _current() -> Render:
    try:
        return _CURRENT.get()
    except LookupError:
        raise RuntimeError("consul-template function called outside a render") from None


def _data(method: str, params: tuple[str, ...]) -> GoFunc:
    def call(*args: Any) -> Any:
        return getattr(_current().data, method)(*args)

    call.__name__ = method
    return GoFunc(call, params)


def _env(name: str, params: tuple[str, ...]) -> GoFunc:
    def call(*args: Any) -> Any:
        return _current().env[name](*args)

    return GoFunc(call, params)


def _pure(fn: Callable[..., Any], params: tuple[str, ...], guard: Guard, decoder: bool = False) -> GoFunc:
    """A pure function whose result keeps the mark of any Consul string it was given that the guard refuses
    (what it derives from clean values and template text is the template's own: not marked). A decoder can make
    refused characters out of clean ones (base64 of `;`, JSON's \u003b): its result is marked when any argument
    came from Consul, and the guard judges the decoded text."""
    if guard.name == "none":
        return GoFunc(fn, params)

    def call(*args: Any) -> Any:
        result = fn(*args)
        if decoder:
            return mark(result) if any(is_tainted(a) for a in args) else result
        return mark(result) if any(first_dirty(a, guard) is not None for a in args) else result

    call.__name__ = getattr(fn, "__name__", "func")
    return GoFunc(call, params)


def _execute_template(ctx: ExecContext, name: str, *data: Any) -> str:
    if len(data) > 1:
        raise ValueError(f"executeTemplate: wrong number of arguments, expected 1 or 2, but got {len(data) + 1}")
    return ctx.execute_template(name, data[0] if data else None)


def _denied(*_: Any) -> str:
    raise ValueError("function is disabled")


S, N, V, VS = "string", "int", "interface {}", "...interface {}"
_PURE: dict[str, tuple[Callable[..., Any], tuple[str, ...]]] = {
    "base64Decode": (enc.base64_decode, (S,)), "base64Encode": (enc.base64_encode, (S,)),
    "base64URLDecode": (enc.base64_url_decode, (S,)), "base64URLEncode": (enc.base64_url_encode, (S,)),
    "byKey": (grouping.by_key, ("[]*dependency.KeyPair",)), "byPort": (grouping.by_port, (V,)),
    "byTag": (grouping.by_tag, (V,)), "byMeta": (grouping.by_meta, (S, "[]*dependency.HealthService")),
    "contains": (txt.contains, (V, V)), "containsAll": (txt.contains_some(True, True), ("[]interface {}", V)),
    "containsAny": (txt.contains_some(False, False), ("[]interface {}", V)),
    "containsNone": (txt.contains_some(True, False), ("[]interface {}", V)),
    "containsNotAll": (txt.contains_some(False, True), ("[]interface {}", V)),
    "explode": (grouping.explode, ("[]*dependency.KeyPair",)),
    "explodeMap": (grouping.explode_map, ("map[string]interface {}",)),
    "mergeMap": (grouping.merge_map, ("map[string]interface {}", "map[string]interface {}")),
    "mergeMapWithOverride": (grouping.merge_map_with_override, ("map[string]interface {}",
                                                                "map[string]interface {}")),
    "in": (txt.in_, (V, V)), "indent": (txt.indent, (N, S)), "loop": (grouping.loop, (VS,)),
    "join": (txt.join, (S, "[]string")), "trim": (txt.trim, (S, S)), "trimPrefix": (txt.trim_prefix, (S, S)),
    "trimSuffix": (txt.trim_suffix, (S, S)), "trimSpace": (txt.trim_space, (S,)),
    "parseBool": (enc.parse_bool, (S,)), "parseFloat": (enc.parse_float, (S,)), "parseInt": (enc.parse_int, (S,)),
    "parseJSON": (enc.parse_json, (S,)), "parseUint": (enc.parse_uint, (S,)), "parseYAML": (enc.parse_yaml, (S,)),
    "regexReplaceAll": (txt.regex_replace_all, (S, S, S)), "regexMatch": (txt.regex_match, (S, S)),
    "replaceAll": (txt.replace_all, (S, S, S)), "sha256Hex": (enc.sha256_hex, (S,)), "md5sum": (enc.md5sum, (S,)),
    "hmacSHA256Hex": (enc.hmac_sha256_hex, (S, S)), "toLower": (txt.to_lower, (S,)),
    "toJSON": (enc.to_json, (V,)), "toJSONPretty": (enc.to_json_pretty, (V,)),
    "toUnescapedJSON": (enc.to_unescaped_json, (V,)), "toUnescapedJSONPretty": (enc.to_unescaped_json_pretty, (V,)),
    "toTitle": (txt.to_title, (S,)), "toTOML": (enc.to_toml, (V,)), "toUpper": (txt.to_upper, (S,)),
    "toYAML": (enc.to_yaml, (V,)), "split": (txt.split, (S, S)), "splitToMap": (txt.split_to_map, (S, S, S)),
    "add": (mathfuncs.add, (V, V)), "subtract": (mathfuncs.subtract, (V, V)),
    "multiply": (mathfuncs.multiply, (V, V)), "divide": (mathfuncs.divide, (V, V)),
    "modulo": (mathfuncs.modulo, (V, V)), "minimum": (mathfuncs.minimum, (V, V)),
    "maximum": (mathfuncs.maximum, (V, V)),
}
_DATA: dict[str, tuple[str, tuple[str, ...]]] = {
    "service": ("service", ("...string",)), "services": ("services", ("...string",)),
    "node": ("node", ("...string",)), "nodes": ("nodes", ("...string",)),
    "datacenters": ("datacenters", ("...bool",)), "key": ("key", (S,)), "keyExists": ("key_exists", (S,)),
    "keyOrDefault": ("key_or_default", (S, S)), "ls": ("ls", (S,)), "safeLs": ("safe_ls", (S,)),
    "tree": ("tree", (S,)), "safeTree": ("safe_tree", (S,)),
}
# text/template builtins that build strings: re-wrapped so a Consul string keeps its mark through them.
_MARKING_BUILTINS = ("print", "printf", "println", "html", "js", "urlquery", "slice")
# Encoders: what they return is escaped for its syntax (a value cannot leave its JSON string), so it is not
# checked again, as guards.py says of every encoder (`json`, `nginx_quote`, consul-template's toJSON); toYAML
# too, in a file whose syntax is yaml.
DECODERS = frozenset({"base64Decode", "base64URLDecode", "parseJSON", "parseYAML", "sprig_b64dec", "sprig_b32dec",
                      "sprig_fromJson", "sprig_mustFromJson"})
ENCODERS = frozenset({"toJSON", "toJSONPretty", "toUnescapedJSON", "toUnescapedJSONPretty", "sprig_toJson",
                      "sprig_mustToJson", "sprig_toPrettyJson", "sprig_mustToPrettyJson", "sprig_toRawJson",
                      "sprig_mustToRawJson"})


def function_map(guard: Guard = GUARDS["nginx"], denylist: tuple[str, ...] = ()) -> dict[str, GoFunc]:
    """Every function of consul-template this renderer offers (plus sprig_*), keeping `guard`'s mark on what
    they derive; names matching a `denylist` glob (consul-template's function_denylist) fail with "function is
    disabled" when called."""
    none = GUARDS["none"]
    encoders = ENCODERS | ({"toYAML"} if guard.name == "yaml" else set())  # YAML's own encoder, in a YAML file
    funcs: dict[str, GoFunc] = {name: _pure(fn, params, none if name in encoders else guard, name in DECODERS)
                                for name, (fn, params) in _PURE.items()}
    funcs.update({name: _data(method, params) for name, (method, params) in _DATA.items()})
    funcs.update({name: _env(name, params) for name, params in (("env", (S,)), ("mustEnv", (S,)),
                                                                 ("envOrDefault", (S, S)))})
    funcs["scratch"] = GoFunc(lambda: _current().scratch, ())
    funcs["timestamp"] = GoFunc(lambda *layout: _current().timestamp(*layout), ("...string",))
    funcs["executeTemplate"] = GoFunc(_execute_template, (S, VS), context=True)
    for name in _MARKING_BUILTINS:
        builtin = BUILTINS[name]
        funcs[name] = _pure(builtin.fn, builtin.params, guard)
    funcs.update({f"sprig_{name}": _pure(fn, params, none if f"sprig_{name}" in ENCODERS else guard,
                                         f"sprig_{name}" in DECODERS)
                  for name, (fn, params) in sprig.FUNCS.items()})
    for pattern in denylist:
        for name in list(funcs):
            if fnmatch.fnmatchcase(name, pattern):
                funcs[name] = GoFunc(_denied, ("...string",))
    return funcs
