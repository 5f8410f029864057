"""sprig's list, dict, regex, path and type functions (sprig.py has the rest and the list of what is not
offered). Lists come back as []interface{} (plain lists), dicts as map[string]interface{} (plain dicts), as
sprig returns them; `keys` and `values` are sorted by key, where Go's map order is random (README)."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from consul_templates.ctfuncs import goregex
from portside.gotemplate import GoSlice, sprint
from portside.gotemplate import values as gv

S, N, V, VS = "string", "int", "interface {}", "...interface {}"
D = "map[string]interface {}"


def _list(v: Any, name: str) -> list[Any]:
    if isinstance(v, list | tuple):
        return list(v)
    raise ValueError(f"Cannot {name} on type {gv.type_name(v)}")


def _deep_equal(a: Any, b: Any) -> bool:
    return bool(type(a) is type(b) and a == b)


def _uniq(v: Any) -> list[Any]:
    out: list[Any] = []
    for item in _list(v, "uniq"):
        if not any(_deep_equal(item, seen) for seen in out):
            out.append(item)
    return out


def _without(v: Any, *omit: Any) -> list[Any]:
    return [x for x in _list(v, "without") if not any(_deep_equal(x, o) for o in omit)]


def _has(needle: Any, haystack: Any) -> bool:
    if haystack is None:
        return False
    return any(_deep_equal(x, needle) for x in _list(haystack, "find has"))


def _compact(v: Any) -> list[Any]:
    from consul_templates.ctfuncs.sprig import empty

    return [x for x in _list(v, "compact") if not empty(x)]


def _first(v: Any) -> Any:
    items = _list(v, "find first")
    return items[0] if items else None


def _last(v: Any) -> Any:
    items = _list(v, "find last")
    return items[-1] if items else None


def _rest(v: Any) -> Any:
    items = _list(v, "find rest")
    return items[1:] if items else None


def _initial(v: Any) -> Any:
    items = _list(v, "find initial")
    return items[:-1] if items else None


def _chunk(size: int, v: Any) -> list[list[Any]]:
    items = _list(v, "chunk")
    return [items[i:i + size] for i in range(0, len(items), size)] if size > 0 else []


def _dict(*v: Any) -> dict[str, Any]:
    from consul_templates.ctfuncs.sprig import strval

    out: dict[str, Any] = {}
    for i in range(0, len(v), 2):
        out[strval(v[i])] = v[i + 1] if i + 1 < len(v) else ""
    return out


def _set(d: dict[str, Any], key: str, value: Any) -> dict[str, Any]:
    d[key] = value
    return d


def _unset(d: dict[str, Any], key: str) -> dict[str, Any]:
    d.pop(key, None)
    return d


def _keys(*dicts: Mapping[str, Any]) -> GoSlice:
    return GoSlice((k for d in dicts for k in sorted(d)), elem="string")


def _values(d: Mapping[str, Any]) -> list[Any]:
    return [d[k] for k in sorted(d)]


def _dig(*args: Any) -> Any:
    if len(args) < 3:
        raise ValueError("dig: needs at least a key, a default and a dict")
    *keys, default, d = args
    for k in keys:
        if not isinstance(d, Mapping) or k not in d:
            return default
        d = d[k]
    return d


def _path_clean(p: str) -> str:
    """Go's path.Clean."""
    if p == "":
        return "."
    rooted = p.startswith("/")
    parts: list[str] = []
    for part in p.split("/"):
        if part in ("", "."):
            continue
        if part == "..":
            if parts and parts[-1] != "..":
                parts.pop()
            elif not rooted:
                parts.append("..")
            continue
        parts.append(part)
    out = ("/" if rooted else "") + "/".join(parts)
    return out or ("/" if rooted else ".")


def _path_base(p: str) -> str:
    if p == "":
        return "."
    p = p.rstrip("/")
    return "/" if p == "" else p.rsplit("/", 1)[-1]


def _path_dir(p: str) -> str:
    return _path_clean(p[:p.rfind("/") + 1])


def _path_ext(p: str) -> str:
    for i in range(len(p) - 1, -1, -1):
        if p[i] == "/":
            break
        if p[i] == ".":
            return p[i:]
    return ""


def _regex_find_all(pattern: str, s: str, n: int) -> GoSlice:
    return GoSlice((m.group(0) for _, _, m in goregex.find_spans(goregex.compile_go(pattern), s, n)), elem="string")


def _regex_split(pattern: str, s: str, n: int) -> GoSlice:
    return GoSlice(goregex.split(goregex.compile_go(pattern), s, n), elem="string")


def _kind_of(v: Any) -> str:
    k = gv.kind_of(v)
    return {gv.INVALID: "invalid", gv.NIL: "invalid", gv.BOOL: "bool", gv.INT: "int", gv.UINT: "uint8",
            gv.FLOAT: "float64", gv.COMPLEX: "complex128", gv.STRING: "string", gv.SLICE: "slice", gv.MAP: "map",
            gv.STRUCT: "struct", gv.PTR: "ptr", gv.FUNC: "func"}.get(k, "invalid")


def _fail(msg: str) -> str:
    raise ValueError(msg)


FUNCS: dict[str, tuple[Any, tuple[str, ...]]] = {
    "list": (lambda *v: list(v), (VS,)), "tuple": (lambda *v: list(v), (VS,)),
    "first": (_first, (V,)), "mustFirst": (_first, (V,)), "last": (_last, (V,)), "mustLast": (_last, (V,)),
    "rest": (_rest, (V,)), "mustRest": (_rest, (V,)), "initial": (_initial, (V,)), "mustInitial": (_initial, (V,)),
    "append": (lambda v, x: [*_list(v, "push"), x], (V, V)), "push": (lambda v, x: [*_list(v, "push"), x], (V, V)),
    "mustAppend": (lambda v, x: [*_list(v, "push"), x], (V, V)),
    "prepend": (lambda v, x: [x, *_list(v, "prepend")], (V, V)),
    "mustPrepend": (lambda v, x: [x, *_list(v, "prepend")], (V, V)),
    "concat": (lambda *v: [x for lst in v for x in _list(lst, "concat")], (VS,)),
    "reverse": (lambda v: _list(v, "find reverse")[::-1], (V,)),
    "mustReverse": (lambda v: _list(v, "find reverse")[::-1], (V,)),
    "uniq": (_uniq, (V,)), "mustUniq": (_uniq, (V,)), "without": (_without, (V, VS)),
    "mustWithout": (_without, (V, VS)), "has": (_has, (V, V)), "mustHas": (_has, (V, V)),
    "compact": (_compact, (V,)), "mustCompact": (_compact, (V,)), "chunk": (_chunk, (N, V)),
    "mustChunk": (_chunk, (N, V)),
    "sortAlpha": (lambda v: GoSlice(sorted(x if isinstance(x, str) else sprint(x) for x in _list(v, "sort")),
                                    elem="string"), (V,)),
    "toStrings": (lambda v: GoSlice((x if isinstance(x, str) else sprint(x) for x in
                                     (v if isinstance(v, list | tuple) else [v]) if x is not None), elem="string"),
                  (V,)),
    "join": (lambda sep, v: sep.join(x if isinstance(x, str) else sprint(x) for x in
                                     (v if isinstance(v, list | tuple) else [v]) if x is not None), (S, V)),
    "split": (lambda sep, s: {f"_{i}": p for i, p in enumerate(s.split(sep) if sep else list(s))}, (S, S)),
    "splitList": (lambda sep, s: GoSlice(s.split(sep) if sep else list(s), elem="string"), (S, S)),
    "dict": (_dict, (VS,)), "get": (lambda d, k: d.get(k, ""), (D, S)), "set": (_set, (D, S, V)),
    "unset": (_unset, (D, S)), "hasKey": (lambda d, k: k in d, (D, S)),
    "pluck": (lambda k, *ds: [d[k] for d in ds if k in d], (S, "...map[string]interface {}")),
    "keys": (_keys, ("...map[string]interface {}",)), "values": (_values, (D,)),
    "pick": (lambda d, *ks: {k: d[k] for k in ks if k in d}, (D, "...string")),
    "omit": (lambda d, *ks: {k: v for k, v in d.items() if k not in ks}, (D, "...string")),
    "dig": (_dig, (VS,)),
    "regexMatch": (lambda p, s: goregex.compile_go(p).search(s) is not None, (S, S)),
    "mustRegexMatch": (lambda p, s: goregex.compile_go(p).search(s) is not None, (S, S)),
    "regexFind": (lambda p, s: (m.group(0) if (m := goregex.compile_go(p).search(s)) else ""), (S, S)),
    "regexFindAll": (_regex_find_all, (S, S, N)), "regexSplit": (_regex_split, (S, S, N)),
    "regexReplaceAll": (lambda p, s, r: goregex.replace_all(goregex.compile_go(p), s, r), (S, S, S)),
    "regexReplaceAllLiteral": (lambda p, s, r: goregex.replace_all(goregex.compile_go(p), s,
                                                                   r.replace("$", "$$")), (S, S, S)),
    "regexQuoteMeta": (lambda s: re.sub(r"([\\.+*?()|\[\]{}^$])", r"\\\1", s), (S,)),
    "base": (_path_base, (S,)), "dir": (_path_dir, (S,)), "clean": (_path_clean, (S,)), "ext": (_path_ext, (S,)),
    "isAbs": (lambda p: p.startswith("/"), (S,)),
    "typeOf": (gv.type_name, (V,)), "kindOf": (_kind_of, (V,)), "kindIs": (lambda k, v: _kind_of(v) == k, (S, V)),
    "typeIs": (lambda t, v: gv.type_name(v) == t, (S, V)), "deepEqual": (_deep_equal, (V, V)),
    "fail": (_fail, (S,)),
}
