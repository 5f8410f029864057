"""consul-template's grouping and reshaping functions: byKey, byTag, byPort, byMeta, explode, explodeMap,
mergeMap(WithOverride), loop. Maps come back with consul-template's Go types, so a missing key reads as the
element's zero value and `printf "%T"` names the same type."""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Mapping
from typing import Any

from consul_templates.ctfuncs.encoding import go_parse_int
from consul_templates.ctfuncs.types import HealthService, KeyPair
from portside.gotemplate import GoMap, GoSlice
from portside.gotemplate.values import type_name


def by_key(pairs: list[KeyPair]) -> GoMap:
    """Group pairs by their first path segment; the segment is cut from each Key; bare tops are dropped."""
    out = GoMap(key="string", elem="map[string]*dependency.KeyPair")
    for pair in pairs:
        top, _, rest = pair.Key.partition("/")
        if rest == "":
            continue
        group = out.get(top)
        if group is None:
            group = out[top] = GoMap(key="string", elem="*dependency.KeyPair")
        group[rest] = dataclasses.replace(pair, Key=rest)
    return out


def _elem_type(value: Any) -> str:
    return type_name(value)


def by_tag(services: Any) -> GoMap:
    """Services (`services` or `service` results) by tag, each list in the input's order."""
    out = GoMap(key="string", elem="[]interface {}")
    if services is None:
        return out
    if _elem_type(services) not in ("[]*dependency.CatalogSnippet", "[]*dependency.HealthService"):
        raise ValueError(f"byTag: wrong argument type {_elem_type(services)}")
    for s in services:
        for tag in s.Tags:
            out.setdefault(tag, []).append(s)
    return out


def by_port(services: Any) -> GoMap:
    out = GoMap(key="int", elem="[]interface {}")
    if services is None:
        return out
    if _elem_type(services) != "[]*dependency.HealthService":
        raise ValueError(f"byPort: wrong argument type {_elem_type(services)}")
    for s in services:
        out.setdefault(s.Port, []).append(s)
    return out


LOOP_LIMIT = 1_000_000
CHANNEL = "<-chan int64"  # Go's loop gives a channel: ranged like a list, but no JSON/YAML/TOML of it
_NOT_KEY = re.compile(r"[^a-zA-Z0-9_-]")


def by_meta(meta: str, services: list[HealthService]) -> GoMap:
    """Group by one or more ServiceMeta values ("a,b|int"): missing values read `_no_<key>_` (or 0 for
    `|int`, zero-padded to 5 digits), characters outside [a-zA-Z0-9_-] become `_`, parts joined by `_`."""
    out = GoMap(key="string", elem="[]*dependency.HealthService")
    keys = meta.split(",")
    for s in services:
        parts = []
        for key in keys:
            real = key.removesuffix("|int")
            value = s.ServiceMeta.get(real, "")
            if value == "":
                value = "0" if key.endswith("|int") else f"_no_{real}_"
            if key.endswith("|int"):
                try:
                    value = f"{go_parse_int(value, 'Atoi'):05d}"
                except ValueError as exc:
                    raise ValueError(f"cannot parse {value} as number : {exc}") from None
            parts.append(_NOT_KEY.sub("_", value))
        out.setdefault("_".join(parts), GoSlice(elem="*dependency.HealthService")).append(s)
    return out


def _explode_into(m: dict[str, Any], key: str, value: Any, path: str) -> None:
    if "/" in key:
        top, _, rest = key.partition("/")
        nest = m.setdefault(top, {})
        if not isinstance(nest, dict):
            raise ValueError(f"not a map: {_q(path)}: {_q(top)} already has value {_q(nest)}")
        _explode_into(nest, rest, value, key)
    elif key != "":
        m[key] = value


def _q(v: Any) -> str:
    text = str(v)
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def explode(pairs: list[KeyPair]) -> dict[str, Any]:
    """Pairs -> nested map[string]interface{} by their Key paths."""
    out: dict[str, Any] = {}
    for pair in pairs:
        try:
            _explode_into(out, pair.Key, pair.Value, pair.Key)
        except ValueError as exc:
            raise ValueError(f"explode: {exc}") from None
    return out


def explode_map(flat: Mapping[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key in sorted(flat):
        try:
            _explode_into(out, key, flat[key], key)
        except ValueError as exc:
            raise ValueError(f"explodeMap: {exc}") from None
    return out


def _merge(dst: dict[str, Any], src: Mapping[str, Any], override: bool) -> dict[str, Any]:
    """mergo.Map: keys missing (or empty) in dst come from src, nested maps merged; with override src wins."""
    out = dict(dst)
    for k, v in src.items():
        cur = out.get(k)
        if isinstance(cur, dict) and isinstance(v, Mapping):
            out[k] = _merge(cur, v, override)
        elif k not in out or _empty(cur) or (override and not _empty(v)):
            out[k] = v
    return out


def _empty(v: Any) -> bool:
    return v is None or v == "" or v == 0 or v is False or (isinstance(v, list | dict) and not v)


def merge_map(dst: dict[str, Any], src: dict[str, Any]) -> dict[str, Any]:
    return _merge(dst, src, override=False)


def merge_map_with_override(dst: dict[str, Any], src: dict[str, Any]) -> dict[str, Any]:
    return _merge(dst, src, override=True)


def _to_int(v: Any) -> int:
    if isinstance(v, str):
        from consul_templates.ctfuncs.encoding import parse_int

        return parse_int(v)
    if isinstance(v, int) and not isinstance(v, bool):
        return int(v)
    type_name = {float: "float64", bool: "bool", type(None): "<nil>"}.get(type(v), type(v).__name__)
    raise ValueError(f"loop: bad argument type: {type_name}")


def loop(*args: Any) -> GoSlice:
    """loop N (0..N-1) or loop A B (A..B-1). Go hands out a channel; a list ranges the same way."""
    if len(args) not in (1, 2):
        raise ValueError(f"loop: wrong number of arguments, expected 1 or 2, but got {len(args)}")
    start, stop = (0, args[0]) if len(args) == 1 else args
    a, b = _to_int(start), _to_int(stop)
    if b - a > LOOP_LIMIT:  # Go's channel is lazy, this list is not: a bound instead of unbounded memory
        raise ValueError(f"loop: {b - a} iterations is more than consul-templates allows ({LOOP_LIMIT})")
    return GoSlice(range(a, b), elem="int64", name=CHANNEL)

