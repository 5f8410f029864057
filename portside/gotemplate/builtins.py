"""The predefined functions (text/template/funcs.go): len, index, slice, not, eq/ne/lt/le/gt/ge, print*,
html, js, urlquery. `and`, `or` and `call` need the executor (lazy arguments, the callee's node) and live there.

Parameters typed "reflect.Value" see values as Go's builtins do: MISSING (an invalid value) apart from None (a
nil interface), and a value read from an `interface {}` container as an `Iface`, which only `slice` notices.
Errors are raised as exceptions and become "error calling NAME: MESSAGE".
"""

from __future__ import annotations

from typing import Any

from portside.gotemplate import values as V
from portside.gotemplate.escape import html_escape, js_escape, url_query_escape
from portside.gotemplate.funcs import GoFunc
from portside.gotemplate.gofmt import sprint, sprintf, sprintln
from portside.gotemplate.gostr import byte_len, from_bytes, go_bytes

RV = "reflect.Value"
_ZERO_VALUE_TYPE = "reflect: call of reflect.Value.Type on zero Value"


class Iface:
    """A value as Go holds it in an `interface {}` (read from a plain dict or list), for `slice`'s indexes."""

    __slots__ = ("v",)

    def __init__(self, v: Any) -> None:
        self.v = v


def _ind(v: Any) -> Any:
    """indirectInterface: a nil interface is no value at all."""
    if isinstance(v, Iface):
        v = v.v
    return V.MISSING if v is None else v


def _type_of(v: Any) -> str:
    if v is V.MISSING:
        raise RuntimeError(_ZERO_VALUE_TYPE)
    return V.type_name(v)


def _deref_type(v: Any) -> str:
    return V.type_name(v).lstrip("*") if V.kind_of(v) == V.PTR else _type_of(v)


def length(item: Any) -> int:
    item = item.v if isinstance(item, Iface) else item
    if item is None:
        raise RuntimeError("len of nil pointer")
    k = V.kind_of(item)
    if k == V.STRING:
        return byte_len(item)
    if k in (V.SLICE, V.MAP):
        return len(item)
    raise RuntimeError(f"len of type {_deref_type(item)}")


def _index_arg(index: Any, cap: int) -> int:
    if isinstance(index, Iface):
        raise RuntimeError("cannot index slice/array with type interface {}")
    k = V.kind_of(index)
    if k in (V.INT, V.UINT):
        x = int(index)
    elif index is V.MISSING:
        raise RuntimeError("cannot index slice/array with nil")
    else:
        raise RuntimeError(f"cannot index slice/array with type {_type_of(index)}")
    if x < 0 or x > cap:
        raise RuntimeError(f"index out of range: {x}")
    return x


INT_LIKE = frozenset({"int", "int8", "int16", "int32", "int64", "uint", "uint8", "uint16", "uint32", "uint64",
                      "uintptr"})


def _map_key(index: Any, key_type: str) -> Any:
    """prepareArg: the index offered as a key of type key_type."""
    if index is V.MISSING:
        if key_type in V.IFACE_TYPES or key_type.startswith(("*", "[]", "map[", "func", "chan")):
            return None
        raise RuntimeError(f"value is nil; should be of type {key_type}")
    vt = V.type_name(index)
    if vt == key_type or key_type in V.IFACE_TYPES or (vt in INT_LIKE and key_type in INT_LIKE):
        return index
    raise RuntimeError(f"value has type {vt}; should be {key_type}")


def index(item: Any, *indexes: Any) -> Any:
    item = _ind(item)
    if item is V.MISSING:
        raise RuntimeError("index of untyped nil")
    for idx in indexes:
        idx = _ind(idx)
        if item is None:
            raise RuntimeError("index of nil pointer")
        k = V.kind_of(item)
        if k in (V.SLICE, V.STRING):
            n = byte_len(item) if k == V.STRING else len(item)
            x = _index_arg(idx, n)
            if x == n:
                raise RuntimeError("reflect: string index out of range" if k == V.STRING else
                                   "reflect: slice index out of range")
            if k == V.STRING:
                item = V.Uint8(go_bytes(item)[x])
            else:
                item = V.Uint8(item[x]) if isinstance(item, (bytes, bytearray)) else item[x]
        elif k == V.MAP:
            key_type = V.dict_key_type(item)
            key = _map_key(idx, key_type)
            if key in item:
                item = item[key]
            else:
                item = V.zero_value(item.elem) if isinstance(item, V.GoMap) else None
        else:
            raise RuntimeError(f"can't index item of type {_deref_type(item)}")
    return item


def slice_(item: Any, *indexes: Any) -> Any:
    item = _ind(item)
    if item is V.MISSING:
        raise RuntimeError("slice of untyped nil")
    if len(indexes) > 3:
        raise RuntimeError(f"too many slice indexes: {len(indexes)}")
    k = V.kind_of(item)
    if k == V.STRING:
        if len(indexes) == 3:
            raise RuntimeError("cannot 3-index slice a string")
        n = byte_len(item)
    elif k == V.SLICE:
        n = len(item)
    else:
        raise RuntimeError(f"can't slice item of type {_deref_type(item)}")
    idx = [0, n, n]
    for i, index in enumerate(indexes):
        idx[i] = _index_arg(index, n)
    if idx[0] > idx[1]:
        raise RuntimeError(f"invalid slice index: {idx[0]} > {idx[1]}")
    if len(indexes) == 3 and idx[1] > idx[2]:
        raise RuntimeError(f"invalid slice index: {idx[1]} > {idx[2]}")
    if k == V.STRING:
        return from_bytes(go_bytes(item)[idx[0]:idx[1]])
    part = item[idx[0]:idx[1]]
    if isinstance(item, (bytes, bytearray)):
        return bytes(part)
    return V.GoSlice(part, item.elem, item.go_type) if isinstance(item, V.GoSlice) else list(part)


def not_(arg: Any) -> bool:
    return not V.is_true(_ind(arg))


_BASIC = frozenset({V.BOOL, V.INT, V.UINT, V.FLOAT, V.COMPLEX, V.STRING})


def _basic_kind(v: Any) -> int:
    k = V.kind_of(v)
    return k if k in _BASIC else V.INVALID


def _is_nil(v: Any) -> bool:
    return v is V.MISSING or v is None


def _comparable(v: Any) -> bool:
    k = V.kind_of(v)
    if k in (V.SLICE, V.MAP, V.FUNC):
        return False
    if k == V.STRUCT:
        return all(_comparable(x) for _, x in V.struct_values(v))
    return True


def _equal_other(a: Any, b: Any) -> bool:
    ka, kb = V.kind_of(a), V.kind_of(b)
    if ka != kb and a is not V.MISSING and b is not V.MISSING:
        raise RuntimeError(f"non-comparable types {sprintf('%s', a)}: {V.type_name(a)}, "
                           f"{V.type_name(b)}: {sprintf('%v', b)}")
    if _is_nil(a) or _is_nil(b):
        return _is_nil(a) == _is_nil(b)
    if not _comparable(b):
        raise RuntimeError(f"non-comparable type {sprintf('%s', b)}: {V.type_name(b)}")
    if kb == V.PTR:
        return a is b
    return V.type_name(a) == V.type_name(b) and V.struct_values(a) == V.struct_values(b)


def eq(arg1: Any, *arg2: Any) -> bool:
    arg1 = _ind(arg1)
    if not arg2:
        raise RuntimeError("missing argument for comparison")
    k1 = _basic_kind(arg1)
    for arg in arg2:
        arg = _ind(arg)
        k2 = _basic_kind(arg)
        if k1 != k2:
            if {k1, k2} == {V.INT, V.UINT}:
                truth = int(arg1) == int(arg)
            elif arg1 is not V.MISSING and arg is not V.MISSING:
                raise RuntimeError(f"incompatible types for comparison: {V.type_name(arg1)} and {V.type_name(arg)}")
            else:
                truth = False
        elif k1 != V.INVALID:
            truth = arg1 == arg
        else:
            truth = _equal_other(arg1, arg)
        if truth:
            return True
    return False


def ne(arg1: Any, arg2: Any) -> bool:
    return not eq(arg1, arg2)


def lt(arg1: Any, arg2: Any) -> bool:
    arg1, arg2 = _ind(arg1), _ind(arg2)
    k1, k2 = _basic_kind(arg1), _basic_kind(arg2)
    if k1 == V.INVALID or k2 == V.INVALID:
        raise RuntimeError("invalid type for comparison")
    if k1 != k2:
        if {k1, k2} == {V.INT, V.UINT}:
            return int(arg1) < int(arg2)
        raise RuntimeError(f"incompatible types for comparison: {V.type_name(arg1)} and {V.type_name(arg2)}")
    if k1 in (V.BOOL, V.COMPLEX):
        raise RuntimeError("invalid type for comparison")
    if k1 == V.STRING:
        return go_bytes(arg1) < go_bytes(arg2)  # type: ignore[no-any-return]
    return arg1 < arg2  # type: ignore[no-any-return]


def le(arg1: Any, arg2: Any) -> bool:
    return lt(arg1, arg2) or eq(arg1, arg2)


def gt(arg1: Any, arg2: Any) -> bool:
    return not le(arg1, arg2)


def ge(arg1: Any, arg2: Any) -> bool:
    return not lt(arg1, arg2)


def _printable(v: Any) -> Any:
    """printableValue for the escapers: no value prints "<no value>"."""
    return "<no value>" if v is None or v is V.MISSING else v


def _eval_args(args: tuple[Any, ...]) -> str:
    if len(args) == 1 and type(args[0]) is str:
        return args[0]  # type: ignore[no-any-return]
    return sprint(*(_printable(a) for a in args))


def _html(*args: Any) -> str:
    return html_escape(_eval_args(args))


def _js(*args: Any) -> str:
    return js_escape(_eval_args(args))


def _urlquery(*args: Any) -> str:
    return url_query_escape(_eval_args(args))


def _len(item: Any) -> int:
    return length(item)


BUILTINS: dict[str, GoFunc] = {
    "and": GoFunc(lambda *a: None, (RV, "..." + RV)),
    "or": GoFunc(lambda *a: None, (RV, "..." + RV)),
    "call": GoFunc(lambda *a: None, (RV, "..." + RV)),
    "not": GoFunc(not_, (RV,)),
    "len": GoFunc(_len, (RV,)),
    "index": GoFunc(index, (RV, "..." + RV)),
    "slice": GoFunc(slice_, (RV, "..." + RV)),
    "eq": GoFunc(eq, (RV, "..." + RV)),
    "ne": GoFunc(ne, (RV, RV)),
    "lt": GoFunc(lt, (RV, RV)),
    "le": GoFunc(le, (RV, RV)),
    "gt": GoFunc(gt, (RV, RV)),
    "ge": GoFunc(ge, (RV, RV)),
    "html": GoFunc(_html, ("...interface {}",)),
    "js": GoFunc(_js, ("...interface {}",)),
    "urlquery": GoFunc(_urlquery, ("...interface {}",)),
    "print": GoFunc(sprint, ("...interface {}",)),
    "println": GoFunc(sprintln, ("...interface {}",)),
    "printf": GoFunc(sprintf, ("string", "...interface {}")),
}
