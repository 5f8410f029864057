"""gopkg.in/yaml.v2 (v2.4.0, what consul-template uses) for `toYAML` and `parseYAML`.

PyYAML's emitter and parser are ports of the same libyaml code yaml.v2 carries, so the layout (indentation,
quoting, folding at 80 columns) is theirs; what yaml.v2 decides on top is done here: which style a string
asks for (double quotes when it reads as another type, literal block when it has a newline), map keys in
yaml.v2's "natural" order (numbers by value, digit runs by number), struct fields as lower-cased keys, Go's
float text, and the YAML 1.1 resolution of plain scalars when parsing (yes/on/off are booleans, 0x1F and
1_000 integers, timestamps stay strings; maps are map[interface {}]interface {}).
"""

from __future__ import annotations

import calendar
import dataclasses
import io
import math
import re
import unicodedata
from collections.abc import Mapping
from functools import cmp_to_key
from typing import Any

import yaml
from yaml import events as ev
from yaml import nodes as yn

from consul_templates.ctfuncs.types import Duration, Uint64
from portside.gotemplate import GoMap, GoSlice, sprint

_NULLS = {"", "~", "null", "Null", "NULL"}
_BOOLS = {**dict.fromkeys(("y", "Y", "yes", "Yes", "YES", "true", "True", "TRUE", "on", "On", "ON"), True),
          **dict.fromkeys(("n", "N", "no", "No", "NO", "false", "False", "FALSE", "off", "Off", "OFF"), False)}
_SPECIAL_FLOATS = {**dict.fromkeys((".nan", ".NaN", ".NAN"), math.nan),
                   **dict.fromkeys((".inf", ".Inf", ".INF", "+.inf", "+.Inf", "+.INF"), math.inf),
                   **dict.fromkeys(("-.inf", "-.Inf", "-.INF"), -math.inf)}
_YAML_FLOAT = re.compile(r"[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?")
_BASE60 = re.compile(r"[-+]?[0-9][0-9_]*(?::[0-5]?[0-9])+(?:\.[0-9_]*)?")
_TIMESTAMP_HEAD = re.compile(r"[0-9]{4}-")
_TIMESTAMP = re.compile(r"(?P<y>\d{4})-(?P<mo>\d{1,2})-(?P<d>\d{1,2})((?P<sep>[Tt ])(?P<h>\d{1,2}):(?P<mi>\d{1,2}):"
                        r"(?P<s>\d{1,2})(\.\d{1,9})?(?P<tz>Z|[-+]\d{2}:\d{2})?)?")
_DOT_FLOAT = re.compile(r"\.[0-9]+([eE][-+]?[0-9]+)?")
INT64_MIN, INT64_MAX, UINT64_MAX = -(2**63), 2**63 - 1, 2**64 - 1


def _go_parse_int(s: str) -> int | None:
    """strconv.ParseInt(s, 0, 64) without the int64 bound (checked by the caller): 0x, 0o, 0b, 0 prefixes."""
    body, sign = (s[1:], -1) if s[:1] == "-" else (s[1:], 1) if s[:1] == "+" else (s, 1)
    base, digits = 10, body
    low = body[:2].lower()
    if low in ("0x", "0o", "0b"):
        base, digits = {"0x": 16, "0o": 8, "0b": 2}[low], body[2:]
    elif body[:1] == "0" and len(body) > 1:
        base, digits = 8, body[1:]
    if not digits or not all(c.isascii() and c.isalnum() for c in digits):
        return None
    try:
        return sign * int(digits, base)
    except ValueError:
        return None


def resolve(text: str) -> tuple[str, Any]:
    """yaml.v2's resolve for an untagged plain scalar: (kind, value), kind one of str/null/bool/int/float/
    timestamp (a timestamp stays a string in interface{}, but is quoted by toYAML)."""
    if text in _NULLS:
        return "null", None
    head = text[0]
    if not (head in "+-.~yYnNtTfFoO" or "0" <= head <= "9"):
        return "str", text
    if text in _BOOLS:
        return "bool", _BOOLS[text]
    if text in _SPECIAL_FLOATS:
        return "float", _SPECIAL_FLOATS[text]
    if head == ".":
        return ("float", float(text)) if _DOT_FLOAT.fullmatch(text) else ("str", text)
    if head in "+-" or "0" <= head <= "9":
        if _is_timestamp(text):
            return "timestamp", text
        plain = text.replace("_", "")
        n = _go_parse_int(plain)
        if n is not None and INT64_MIN <= n <= INT64_MAX:
            return "int", n
        if n is not None and 0 <= n <= UINT64_MAX and plain[:1] != "-":
            return "int", Uint64(n)
        if _YAML_FLOAT.fullmatch(plain) and not math.isinf(float(plain)):
            return "float", float(plain)
    return "str", text


def _is_timestamp(text: str) -> bool:
    """yaml.v2's parseTimestamp: a date, or a date and time Go's time.Parse accepts (valid ranges)."""
    m = _TIMESTAMP.fullmatch(text) if _TIMESTAMP_HEAD.match(text) else None
    if m is None:
        return False
    year, month, day = int(m["y"]), int(m["mo"]), int(m["d"])
    if not 1 <= month <= 12 or not 1 <= day <= calendar.monthrange(year, month)[1]:
        return False
    if m["h"] is None:
        return True
    if m["sep"] == " " and m["tz"]:
        return False
    if m["sep"] in "Tt" and not m["tz"]:
        return False
    return int(m["h"]) < 24 and int(m["mi"]) < 60 and int(m["s"]) < 60


# ---- toYAML -------------------------------------------------------------------------------------------------
def format_float(f: float) -> str:
    """strconv.FormatFloat(f, 'g', -1, 64) (what fmt's %v prints) with yaml.v2's names for the specials."""
    if math.isnan(f):
        return ".nan"
    if math.isinf(f):
        return ".inf" if f > 0 else "-.inf"
    return str(sprint(f))


class _Emitter(yaml.emitter.Emitter):
    def check_empty_document(self) -> bool:
        """libyaml (and so yaml.v2) never treats a document as empty: no "---" before an empty root scalar."""
        return False


def _scalar(value: str, style: str | None = None) -> ev.ScalarEvent:
    return ev.ScalarEvent(None, None, (True, True), value, style=style)


def _string_event(s: str) -> ev.ScalarEvent:
    kind, _ = resolve(s)
    plain_ok = kind == "str" and not (s[:1] in "+-0123456789" and ":" in s and _BASE60.fullmatch(s))
    if "\n" in s:
        return _scalar(s, "|")
    return _scalar(s, None if plain_ok else '"')


def _events(v: Any, out: list[Any]) -> None:
    if v is None or type(v).__name__ == "_Missing":
        out.append(_scalar("null"))
    elif isinstance(v, bool):
        out.append(_scalar("true" if v else "false"))
    elif isinstance(v, int):
        out.append(_scalar(str(int(v))))
    elif isinstance(v, float):
        out.append(_scalar(format_float(v)))
    elif isinstance(v, str):
        out.append(_string_event(v))
    elif isinstance(v, Duration):
        out.append(_string_event(str(v)))
    elif isinstance(v, Mapping):
        out.append(ev.MappingStartEvent(None, None, True, flow_style=False))
        for k in sorted(v, key=cmp_to_key(_key_cmp)):
            _events(k, out)
            _events(v[k], out)
        out.append(ev.MappingEndEvent())
    elif isinstance(v, list | tuple):
        if isinstance(v, GoSlice) and v.go_type.startswith("<-chan"):
            raise ValueError(f"cannot marshal type: {v.go_type}")
        out.append(ev.SequenceStartEvent(None, None, True, flow_style=False))
        for item in v:
            _events(item, out)
        out.append(ev.SequenceEndEvent())
    elif dataclasses.is_dataclass(v):
        out.append(ev.MappingStartEvent(None, None, True, flow_style=False))
        for f in dataclasses.fields(v):
            if f.name[:1].isupper():
                out.append(_string_event(f.name.lower()))
                _events(getattr(v, f.name), out)
        out.append(ev.MappingEndEvent())
    else:
        raise ValueError(f"cannot marshal type: {type(v).__name__}")


def marshal(value: Any) -> str:
    """yaml.Marshal: one document, no explicit start or end marker."""
    events: list[Any] = [ev.StreamStartEvent(encoding=None), ev.DocumentStartEvent(explicit=False)]
    _events(value, events)
    events += [ev.DocumentEndEvent(explicit=False), ev.StreamEndEvent()]
    buf = io.StringIO()
    emitter = _Emitter(buf, allow_unicode=True, width=80, indent=2)
    for event in events:
        emitter.emit(event)
    text = buf.getvalue()
    # A plain scalar at the root leaves PyYAML's document "open ended" ("..."); yaml.v2 clears that flag.
    return text[:-4] if text.endswith("\n...\n") else text


def _key_float(k: Any) -> float | None:
    if isinstance(k, bool):
        return 1.0 if k else 0.0
    if isinstance(k, int | float):
        return float(k)
    return None


def _kind_rank(k: Any) -> int:
    """reflect.Kind order: Bool 1 < Int 2 < Uint 7 < Float 14 < Map 21 < Slice 23 < String 24 (nil: 0)."""
    if k is None:
        return 0
    if isinstance(k, bool):
        return 1
    if isinstance(k, Uint64):
        return 7
    if isinstance(k, int):
        return 2
    if isinstance(k, float):
        return 14
    return 24 if isinstance(k, str) else 25


def _key_cmp(a: Any, b: Any) -> int:
    return -1 if _key_less(a, b) else (1 if _key_less(b, a) else 0)


def _key_less(a: Any, b: Any) -> bool:
    """yaml.v2's keyList.Less."""
    af, bf = _key_float(a), _key_float(b)
    if af is not None and bf is not None:
        if af != bf:
            return af < bf
        return _kind_rank(a) < _kind_rank(b) if _kind_rank(a) != _kind_rank(b) else a < b
    if not isinstance(a, str) or not isinstance(b, str):
        return _kind_rank(a) < _kind_rank(b)
    for i in range(min(len(a), len(b))):
        ca, cb = a[i], b[i]
        if ca == cb:
            continue
        al, bl = _is_letter(ca), _is_letter(cb)
        if al and bl:
            return ca < cb
        if al or bl:
            return bl
        return _digit_run_less(a, b, i)
    return len(a) < len(b)


def _is_letter(c: str) -> bool:
    return unicodedata.category(c).startswith("L")


def _digit_run_less(a: str, b: str, i: int) -> bool:
    an = bn = 0
    if a[i] == "0" or b[i] == "0":
        j = i - 1
        while j >= 0 and _is_digit(a[j]):
            if a[j] != "0":
                an = bn = 1
                break
            j -= 1
    ai = i
    while ai < len(a) and _is_digit(a[ai]):
        an = an * 10 + (ord(a[ai]) - 48)
        ai += 1
    bi = i
    while bi < len(b) and _is_digit(b[bi]):
        bn = bn * 10 + (ord(b[bi]) - 48)
        bi += 1
    if an != bn:
        return an < bn
    if ai != bi:
        return ai < bi
    return a[i] < b[i]


def _is_digit(c: str) -> bool:
    return unicodedata.category(c) == "Nd"


# ---- parseYAML ----------------------------------------------------------------------------------------------
class _Loader(yaml.SafeLoader):
    """Composes the node graph only; no implicit resolution (yaml.v2's rules are applied in _value)."""

    yaml_implicit_resolvers: dict[Any, Any] = {}

    def compose_scalar_node(self, anchor: Any) -> Any:
        event = self.peek_event()
        node = super().compose_scalar_node(anchor)
        node.go_plain = bool(event.implicit[0]) and event.style is None
        return node


def unmarshal(text: str) -> Any:
    """yaml.Unmarshal into interface{}: the first document only."""
    loader = _Loader(text)
    try:
        node = _first_node(loader)
    except yaml.YAMLError as exc:
        raise ValueError(f"yaml: {_problem(exc)}") from None
    finally:
        loader.dispose()
    return None if node is None else _value(node)


def _first_node(loader: _Loader) -> Any:
    loader.get_event()  # stream start
    if loader.check_event(ev.StreamEndEvent):
        return None
    return loader.compose_document()


def _problem(exc: yaml.YAMLError) -> str:
    mark = getattr(exc, "problem_mark", None)
    problem = getattr(exc, "problem", None) or str(exc)
    return f"line {mark.line + 1}: {problem}" if mark is not None else problem


def _value(node: Any) -> Any:
    if isinstance(node, yn.ScalarNode):
        tag = node.tag.rsplit(":", 1)[-1]
        if getattr(node, "go_plain", False) or (tag in ("int", "float", "bool", "null") and not node.tag.startswith("!")
                                                 and node.tag != "tag:yaml.org,2002:str"):
            return resolve(node.value)[1]
        return node.value
    if isinstance(node, yn.SequenceNode):
        return [_value(n) for n in node.value]
    out = GoMap(key="interface {}", elem="interface {}")
    for key_node, value_node in node.value:
        key = _value(key_node)
        if isinstance(key_node, yn.ScalarNode) and key_node.value == "<<" and getattr(key_node, "go_plain", False):
            _merge(out, value_node)
            continue
        if isinstance(key, list | dict):
            raise ValueError(f"yaml: invalid map key: {key!r}")
        out[key] = _value(value_node)
    return out


def _merge(out: GoMap, node: Any) -> None:
    if isinstance(node, yn.MappingNode):
        out.update(_value(node))
    elif isinstance(node, yn.SequenceNode):
        for item in reversed(node.value):
            if not isinstance(item, yn.MappingNode):
                raise ValueError("yaml: map merge requires map or sequence of maps as the value")
            out.update(_value(item))
    else:
        raise ValueError("yaml: map merge requires map or sequence of maps as the value")
