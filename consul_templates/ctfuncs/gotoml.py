"""BurntSushi/toml v1.5.0's encoder (what consul-template's `toTOML` uses), for the template values.

Its layout: plain keys first then tables, each group sorted; a blank line before each top-level table; table
contents indented two spaces per level; arrays inline unless every element is a table; nil values skipped;
floats in Go's shortest fixed form with ".0" added; keys quoted only when not bare.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from typing import Any

from consul_templates.ctfuncs.gojson import shortest_digits
from consul_templates.ctfuncs.types import Duration, NilMap, NilSlice
from portside.gotemplate import GoMap

INDENT = "  "
_BARE = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-")
_ESC = {'"': '\\"', "\\": "\\\\", "\b": "\\b", "\t": "\\t", "\n": "\\n", "\f": "\\f", "\r": "\\r"}


class TOMLError(ValueError):
    pass


def _quoted(s: str) -> str:
    out = []
    for ch in s:
        if ch in _ESC:
            out.append(_ESC[ch])
        elif ord(ch) < 0x20 or ord(ch) == 0x7F:
            out.append(f"\\u{ord(ch):04x}")
        else:
            out.append(ch)
    return '"' + "".join(out) + '"'


def _key_part(k: str) -> str:
    if k == "":
        return '""'
    return k if all(c in _BARE for c in k) else _quoted(k)


def _float(f: float) -> str:
    if math.isnan(f):
        return ("-" if math.copysign(1, f) < 0 else "") + "nan"
    if math.isinf(f):
        return "-inf" if f < 0 else "inf"
    if f == 0:
        return "-0.0" if math.copysign(1, f) < 0 else "0.0"
    digits, exp = shortest_digits(f)
    sign = "-" if f < 0 else ""
    if exp >= len(digits) - 1:
        return sign + digits + "0" * (exp - len(digits) + 1) + ".0"
    if exp >= 0:
        return sign + digits[:exp + 1] + "." + digits[exp + 1:]
    return sign + "0." + "0" * (-exp - 1) + digits


def _is_nil(v: Any) -> bool:
    return v is None or type(v).__name__ == "_Missing" or isinstance(v, NilMap | NilSlice)


def _is_struct(v: Any) -> bool:
    return dataclasses.is_dataclass(v) and not isinstance(v, type)


def _is_table(v: Any) -> bool:
    if _is_nil(v):
        return False
    if isinstance(v, Mapping) or _is_struct(v):
        return True
    return isinstance(v, list | tuple) and _is_table_array(v)


def _is_table_array(v: list[Any] | tuple[Any, ...]) -> bool:
    if not v:
        return False
    result = True
    for item in v:
        if _is_nil(item):
            raise TOMLError("toml: cannot encode array with nil element")
        if not (isinstance(item, Mapping) or _is_struct(item)):
            result = False
    return result


class _Encoder:
    def __init__(self) -> None:
        self.out: list[str] = []

    def write(self, s: str) -> None:
        self.out.append(s)

    def newline(self) -> None:
        if self.out:
            self.out.append("\n")

    def encode(self, key: list[str], v: Any) -> None:
        if _is_nil(v):
            return
        if isinstance(v, Mapping) or _is_struct(v):
            self.table(key, v)
        elif isinstance(v, list | tuple) and _is_table_array(v):
            self.array_of_tables(key, v)
        else:
            self.key_value(key, v, inline=False)

    def key_value(self, key: list[str], v: Any, inline: bool) -> None:
        if not key:
            self.element(v)
            return
        self.write(f"{INDENT * (len(key) - 1)}{_key_part(key[-1])} = ")
        self.element(v)
        if not inline:
            self.newline()

    def table(self, key: list[str], v: Any) -> None:
        if len(key) == 1:
            self.newline()
        if key:
            self.write(f"{INDENT * (len(key) - 1)}[{'.'.join(_key_part(k) for k in key)}]")
            self.newline()
        self.members(key, v, inline=False)

    def array_of_tables(self, key: list[str], v: list[Any] | tuple[Any, ...]) -> None:
        if not key:
            raise TOMLError("toml: top-level values must be Go maps or structs")
        for item in v:
            self.newline()
            self.write(f"{INDENT * (len(key) - 1)}[[{'.'.join(_key_part(k) for k in key)}]]")
            self.newline()
            self.members(key, item, inline=False)

    def members(self, key: list[str], v: Any, inline: bool) -> None:
        items = _members(v)
        direct = [(k, val) for k, val in items if not _is_table(val)]
        sub = [(k, val) for k, val in items if _is_table(val)]
        if isinstance(v, Mapping):
            direct.sort(key=lambda kv: kv[0])
            sub.sort(key=lambda kv: kv[0])
        if inline:
            self.write("{")
        groups = [(direct, bool(sub)), (sub, False)]
        for group, trailing in groups:
            live = [(k, val) for k, val in group if not _is_nil(val)]
            for i, (k, val) in enumerate(live):
                if inline:
                    self.key_value([k], val, inline=True)
                    if trailing or i != len(live) - 1:
                        self.write(", ")
                else:
                    self.encode([*key, k], val)
        if inline:
            self.write("}")

    def element(self, v: Any) -> None:
        if isinstance(v, bool):
            self.write("true" if v else "false")
        elif isinstance(v, int):
            self.write(str(int(v)))
        elif isinstance(v, float):
            self.write(_float(v))
        elif isinstance(v, str):
            self.write(_quoted(v))
        elif isinstance(v, Duration):
            self.write(_quoted(str(v)))
        elif isinstance(v, list | tuple):
            self.write("[")
            for i, item in enumerate(v):
                if _is_nil(item):
                    raise TOMLError("toml: cannot encode array with nil element")
                self.element(item)
                if i != len(v) - 1:
                    self.write(", ")
            self.write("]")
        elif isinstance(v, Mapping) or _is_struct(v):
            self.members([], v, inline=True)
        else:
            raise TOMLError(f"toml: unsupported type: {type(v).__name__}")


def _members(v: Any) -> list[tuple[str, Any]]:
    if isinstance(v, Mapping):
        if isinstance(v, GoMap) and v.key != "string":
            raise TOMLError("toml: cannot encode a map with non-string key type")
        if not all(isinstance(k, str) for k in v):
            raise TOMLError("toml: cannot encode a map with non-string key type")
        return list(v.items())
    return [(f.name, getattr(v, f.name)) for f in dataclasses.fields(v) if f.name[:1].isupper()]


def marshal(value: Any) -> str:
    """toml.NewEncoder(buf).Encode(value)."""
    enc = _Encoder()
    if _is_nil(value):
        return ""
    if isinstance(value, list | tuple) and _is_table_array(value):
        raise TOMLError("toml: top-level values must be Go maps or structs")
    enc.encode([], value)
    return "".join(enc.out)
