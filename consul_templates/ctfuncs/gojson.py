"""Go's encoding/json for the template values: `toJSON`, `toJSONPretty`, `toUnescapedJSON(Pretty)`, and
`parseJSON` (json.Unmarshal into interface{}).

What differs from Python's json module, and is Go's here: `<`, `>`, `&` escaped as \\u003c.. (unless unescaped),
U+2028/U+2029 always escaped, \\b and \\f short forms (Go 1.22+), map keys sorted by their text, floats in Go's
shortest form switching to exponent notation below 1e-6 and from 1e21 ("1e+21"), NaN/Inf refused, nil maps and
slices `null`, struct fields in declaration order; numbers parsed as float64; a JSON text with duplicate keys
keeps the last.
"""

from __future__ import annotations

import dataclasses
import json
import math
from collections.abc import Mapping
from typing import Any

from consul_templates.ctfuncs.types import NilMap, NilSlice
from portside.gotemplate import GoMap, GoSlice

_ESCAPES = {'"': '\\"', "\\": "\\\\", "\n": "\\n", "\r": "\\r", "\t": "\\t", "\b": "\\b", "\f": "\\f",
            "\u2028": "\\u2028", "\u2029": "\\u2029"}
_HTML = {"<": "\\u003c", ">": "\\u003e", "&": "\\u0026"}


class JSONError(ValueError):
    """Go's json.Marshal error, worded as Go words it."""


def quote(s: str, escape_html: bool = True) -> str:
    out = ['"']
    for ch in s:
        c = ord(ch)
        if 0x20 <= c < 0x7F and ch not in '"\\<>&':
            out.append(ch)
        elif ch in _ESCAPES:
            out.append(_ESCAPES[ch])
        elif ch in _HTML:
            out.append(_HTML[ch] if escape_html else ch)
        elif c < 0x20:
            out.append(f"\\u{c:04x}")
        elif 0xD800 <= c <= 0xDFFF:  # a byte that was not UTF-8 (surrogateescape): Go writes U+FFFD
            out.append("\ufffd")
        else:
            out.append(ch)
    out.append('"')
    return "".join(out)


def format_float(f: float) -> str:
    """encoding/json's float64: shortest digits, 'f' form, or 'e' form below 1e-6 and from 1e21 with Go's
    exponent (at least two digits, "e-07" shortened to "e-7")."""
    if math.isnan(f) or math.isinf(f):
        raise JSONError(f"json: unsupported value: {'NaN' if math.isnan(f) else ('+Inf' if f > 0 else '-Inf')}")
    if f == 0:
        return "-0" if math.copysign(1, f) < 0 else "0"
    digits, exp = shortest_digits(f)
    sign = "-" if f < 0 else ""
    a = abs(f)
    if a < 1e-6 or a >= 1e21:
        mantissa = digits[0] + ("." + digits[1:] if len(digits) > 1 else "")
        e = f"{'-' if exp < 0 else '+'}{abs(exp):02d}"
        if e.startswith("-0"):
            e = "-" + e[2:]
        return f"{sign}{mantissa}e{e}"
    if exp >= len(digits) - 1:
        return sign + digits + "0" * (exp - len(digits) + 1)
    if exp >= 0:
        return sign + digits[:exp + 1] + "." + digits[exp + 1:]
    return sign + "0." + "0" * (-exp - 1) + digits


def shortest_digits(f: float) -> tuple[str, int]:
    """The shortest round-trip decimal digits of |f| (Python's repr is shortest, as Go's -1 precision) and
    the decimal exponent of the first digit: 1234.5 -> ("12345", 3), 0.001 -> ("1", -3)."""
    text = repr(abs(f))
    mant, _, e = text.partition("e")
    whole, _, frac = mant.partition(".")
    all_digits = whole + frac
    stripped = all_digits.lstrip("0")
    exp = (int(e) if e else 0) + len(whole) - 1 - (len(all_digits) - len(stripped))
    return stripped.rstrip("0") or "0", exp


def marshal(value: Any, *, escape_html: bool = True, indent: str | None = None) -> str:
    """json.Marshal (indent None) or json.MarshalIndent(value, "", indent)."""
    out: list[str] = []
    _encode(value, out, escape_html, indent, 0)
    return "".join(out)


def _encode(v: Any, out: list[str], esc: bool, indent: str | None, depth: int) -> None:
    if depth > 1000:
        raise JSONError("json: unsupported value: encountered a cycle or nesting too deep")
    if v is None or type(v).__name__ == "_Missing":
        out.append("null")
    elif isinstance(v, bool):
        out.append("true" if v else "false")
    elif isinstance(v, int):
        out.append(str(int(v)))
    elif isinstance(v, float):
        out.append(format_float(v))
    elif isinstance(v, str):
        out.append(quote(v, esc))
    elif isinstance(v, NilMap | NilSlice):
        out.append("null")
    elif isinstance(v, Mapping):
        _encode_pairs(_map_items(v), "{", "}", out, esc, indent, depth)
    elif isinstance(v, list | tuple):
        if isinstance(v, GoSlice) and v.go_type.startswith("<-chan"):
            raise JSONError(f"json: unsupported type: {v.go_type}")
        _encode_items(v, out, esc, indent, depth)
    else:
        _encode_pairs(_struct_items(v), "{", "}", out, esc, indent, depth)


def _map_items(m: Mapping[Any, Any]) -> list[tuple[str, Any]]:
    if isinstance(m, GoMap) and m.key not in ("string", "int", "int64", "uint64"):
        raise JSONError(f"json: unsupported type: {m.go_type}")
    items = []
    for k, val in m.items():
        if isinstance(k, bool) or not isinstance(k, str | int):
            raise JSONError(f"json: unsupported type: map[{type(k).__name__}]interface {{}}")
        items.append((str(k), val))
    items.sort(key=lambda kv: kv[0])
    return items


def _struct_items(v: Any) -> list[tuple[str, Any]]:
    hook = getattr(v, "go_json_fields", None)
    if hook is not None:
        return list(hook())
    if dataclasses.is_dataclass(v):
        return [(f.name, getattr(v, f.name)) for f in dataclasses.fields(v) if f.name[:1].isupper()]
    fields = getattr(type(v), "__go_fields__", None)
    if fields is not None:
        return [(g, getattr(v, a)) for g, a in (fields.items() if isinstance(fields, Mapping) else zip(fields, fields,
                                                                                                        strict=True))]
    if hasattr(v, "String"):
        return [("", v.String())]  # a Stringer with no exported fields: not reached for our types
    raise JSONError(f"json: unsupported type: {type(v).__name__}")


def _newline(out: list[str], indent: str | None, depth: int) -> None:
    if indent is not None:
        out.append("\n" + indent * depth)


def _encode_pairs(items: list[tuple[str, Any]], open_: str, close: str, out: list[str], esc: bool,
                  indent: str | None, depth: int) -> None:
    if not items:
        out.append(open_ + close)
        return
    out.append(open_)
    for i, (k, val) in enumerate(items):
        if i:
            out.append(",")
        _newline(out, indent, depth + 1)
        out.append(quote(k, esc))
        out.append(": " if indent is not None else ":")
        _encode(val, out, esc, indent, depth + 1)
    _newline(out, indent, depth)
    out.append(close)


def _encode_items(items: Any, out: list[str], esc: bool, indent: str | None, depth: int) -> None:
    if not items:
        out.append("[]")
        return
    out.append("[")
    for i, val in enumerate(items):
        if i:
            out.append(",")
        _newline(out, indent, depth + 1)
        _encode(val, out, esc, indent, depth + 1)
    _newline(out, indent, depth)
    out.append("]")


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"invalid character '{name[0]}' looking for beginning of value")


def unmarshal(text: str) -> Any:
    """json.Unmarshal into interface{}: objects -> map[string]interface{}, numbers -> float64."""
    try:
        return json.loads(text, parse_int=float, parse_constant=_refuse_constant)
    except json.JSONDecodeError as exc:
        raise ValueError(_go_syntax_error(text, exc)) from None


def _go_syntax_error(text: str, exc: json.JSONDecodeError) -> str:
    if exc.pos >= len(text.rstrip()):
        return "unexpected end of JSON input"
    ch = text[exc.pos]
    if exc.msg.startswith("Extra data"):
        return f"invalid character {_char(ch)} after top-level value"
    return f"invalid character {_char(ch)} looking for beginning of value"


def _char(ch: str) -> str:
    return "'\\''" if ch == "'" else f"'{ch}'" if ch.isprintable() else f"'\\x{ord(ch):02x}'"
