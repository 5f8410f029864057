"""The Python value model of Go values: kinds, type names, structs, truth, zero values, map order.

None is a nil `interface {}`; MISSING is Go's invalid reflect.Value (a missing map key, nil data), printed
"<no value>" by an action. Go's `interface {}` containers (plain list, tuple, dict) hold values that the
executor sees as interface-typed until a pipeline unwraps them, which only shows in error texts.
"""

from __future__ import annotations

import dataclasses
import functools
import inspect
from collections.abc import Callable, Iterable, Mapping
from typing import Any

# Kinds, as Go's reflect.Kind groups them for text/template and fmt.
INVALID, NIL, BOOL, INT, UINT, FLOAT, COMPLEX, STRING, SLICE, MAP, STRUCT, PTR, FUNC = range(13)


class _Missing:
    """Go's invalid reflect.Value: no value at all (not even nil)."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "<no value>"

    def __bool__(self) -> bool:
        return False


MISSING: Any = _Missing()


class Uint8(int):
    """A Go uint8 (a byte): what `index` gives for a string."""

    __slots__ = ()
    __go_type__ = "uint8"


class GoSlice(list):  # type: ignore[type-arg]
    """A list with a Go element type: `GoSlice(["a"], elem="string")` is a []string.

    `name` makes it a named type (e.g. "dependency.ServiceTags") for `%T` and error texts."""

    __slots__ = ("elem", "go_type")

    def __init__(self, items: Iterable[Any] = (), elem: str = "interface {}", name: str | None = None) -> None:
        super().__init__(items)
        self.elem = elem
        self.go_type = name or f"[]{elem}"


class GoMap(dict):  # type: ignore[type-arg]
    """A dict with Go key and element types: `GoMap(m, key="string", elem="string")` is a map[string]string;
    a missing key gives the element's zero value under missingkey=zero, as Go's typed maps do."""

    __slots__ = ("key", "elem", "go_type")

    def __init__(self, data: Mapping[Any, Any] | Iterable[tuple[Any, Any]] = (), key: str = "string",
                 elem: str = "interface {}", name: str | None = None) -> None:
        super().__init__(data)
        self.key = key
        self.elem = elem
        self.go_type = name or f"map[{key}]{elem}"


IFACE_TYPES = frozenset({"interface {}", "any", "interface{}"})


@dataclasses.dataclass(frozen=True, slots=True)
class StructInfo:
    """How a Python class stands for a Go struct: its type name, fields (Go name -> attribute), methods."""

    go_type: str
    fields: tuple[tuple[str, str], ...]
    field_map: Mapping[str, str]
    methods: Mapping[str, Any]
    is_struct: bool  # False for an object outside the protocol (printed with str(), no fields)

    @property
    def pointer(self) -> bool:
        return self.go_type.startswith("*")


def _is_method(val: Any) -> bool:
    """A function, a staticmethod, or a typed method (a GoFunc, which has bind)."""
    return inspect.isfunction(val) or isinstance(val, staticmethod) or hasattr(val, "bind")


def _default_type_name(cls: type) -> str:
    return f"{cls.__module__.rsplit('.', 1)[-1]}.{cls.__name__}"


def _build_struct_info(cls: type) -> StructInfo:
    declared = getattr(cls, "__go_fields__", None)
    fields: tuple[tuple[str, str], ...]
    if declared is not None:
        items = declared.items() if isinstance(declared, Mapping) else ((n, n) for n in declared)
        fields = tuple((str(g), str(a)) for g, a in items)
        is_struct = True
    elif dataclasses.is_dataclass(cls):
        fields = tuple((f.name, f.name) for f in dataclasses.fields(cls))
        is_struct = True
    else:
        fields, is_struct = (), False
    names = {g for g, _ in fields} | {a for _, a in fields}
    methods: dict[str, Any] = {}
    for klass in reversed(cls.__mro__):
        for attr, val in vars(klass).items():
            if attr[:1].isupper() and attr not in names and _is_method(val):
                methods[attr] = val
    go_type = getattr(cls, "__go_type__", None) or _default_type_name(cls)
    return StructInfo(go_type, fields, dict(fields), methods, is_struct)


# Classes are few and their description never changes: computed once per class.
struct_info: Callable[[type], StructInfo] = functools.lru_cache(maxsize=512)(_build_struct_info)


_EXACT_KINDS = {str: STRING, int: INT, bool: BOOL, float: FLOAT, list: SLICE, tuple: SLICE, dict: MAP}


def kind_of(v: Any) -> int:
    k = _EXACT_KINDS.get(type(v))
    if k is not None:
        return k
    if v is None:
        return NIL
    if v is MISSING:
        return INVALID
    return class_kind(type(v))


def _class_kind(cls: type) -> int:
    for base, kind in ((bool, BOOL), (Uint8, UINT), (int, INT), (float, FLOAT), (complex, COMPLEX), (str, STRING),
                       (list, SLICE), (tuple, SLICE), (bytes, SLICE), (bytearray, SLICE), (Mapping, MAP)):
        if issubclass(cls, base):
            return kind
    info = struct_info(cls)
    if issubclass(cls, type) or (not info.is_struct and any("__call__" in vars(k) for k in cls.__mro__)):
        return FUNC
    return PTR if info.pointer else STRUCT


# The kind of every instance of a class is the class's: computed once per class.
class_kind: Callable[[type], int] = functools.lru_cache(maxsize=1024)(_class_kind)


def _field_attr(cls: type, name: str) -> str | None:
    """The attribute behind `.name` when it is an exported field, not shadowed by a method (the fast path)."""
    info = struct_info(cls)
    if name in info.methods or not name[:1].isupper():
        return None
    return info.field_map.get(name)


field_attr: Callable[[type, str], str | None] = functools.lru_cache(maxsize=4096)(_field_attr)


def dict_key_type(d: Mapping[Any, Any]) -> str:
    if isinstance(d, GoMap):
        return d.key
    if not d:
        return "string"
    first = next(iter(d))
    return {str: "string", int: "int", float: "float64", bool: "bool"}.get(type(first), "interface {}")


def func_type_name(v: Any) -> str:
    """A function's Go type: from a GoFunc's declared parameters and result, else all interface {}."""
    params = getattr(v, "params", None)
    if params is None:
        return "func(...interface {}) interface {}"
    result = getattr(v, "result", None) or "interface {}"
    return "func(" + ", ".join(params) + ") " + result


_BASIC_NAMES = {str: "string", int: "int", bool: "bool", float: "float64"}


def type_name(v: Any) -> str:
    """Go's reflect type string for %T and error texts ("<nil>" for a nil interface, as %T prints it)."""
    basic = _BASIC_NAMES.get(type(v))
    if basic is not None:
        return basic
    k = kind_of(v)
    if k == FLOAT:
        return "float64"
    if k == COMPLEX:
        return "complex128"
    if k in (NIL, INVALID):
        return "<nil>"
    if k == UINT:
        return "uint8"
    if k == SLICE:
        if isinstance(v, (bytes, bytearray)):
            return "[]uint8"
        return v.go_type if isinstance(v, GoSlice) else "[]interface {}"
    if k == MAP:
        return v.go_type if isinstance(v, GoMap) else f"map[{dict_key_type(v)}]interface {{}}"
    if k == FUNC:
        return func_type_name(v)
    if k in (STRUCT, PTR):
        return struct_info(type(v)).go_type
    return {BOOL: "bool", INT: "int", STRING: "string"}[k]


def elem_is_iface(container: Any) -> bool:
    """Whether the elements of a list or map are Go interface values (plain Python containers: yes)."""
    if isinstance(container, (bytes, bytearray)):
        return False
    if isinstance(container, GoSlice | GoMap):
        return container.elem in IFACE_TYPES
    return isinstance(container, (list, tuple, dict))


def is_true(v: Any) -> bool:
    """Go's template truth: false, 0, nil, "" and empty collections are false; structs are true."""
    t = type(v)
    if t is str:
        return v != ""
    if t is bool:
        return bool(v)
    if t is int or t is float:
        return v != 0
    if v is None or v is MISSING:
        return False
    if isinstance(v, (list, tuple, dict, str)) or isinstance(v, Mapping):
        return len(v) > 0
    if isinstance(v, (int, float, complex)):
        return v != 0
    return True


def zero_value(go_type: str) -> Any:
    """The zero value of a Go type given by name (structs: None, which is the best we can do without one)."""
    if go_type == "string":
        return ""
    if go_type == "bool":
        return False
    if go_type == "uint8" or go_type == "byte":
        return Uint8(0)
    if go_type in ("int", "int8", "int16", "int32", "int64", "uint", "uint16", "uint32", "uint64", "rune"):
        return 0
    if go_type in ("float64", "float32"):
        return 0.0
    if go_type in ("complex128", "complex64"):
        return 0j
    if go_type.startswith("[]"):
        return GoSlice(elem=go_type[2:])
    if go_type.startswith("map["):
        key, elem = split_map_type(go_type)
        return GoMap(key=key, elem=elem)
    return None


def split_map_type(go_type: str) -> tuple[str, str]:
    """"map[K]V" -> (K, V), brackets in K allowed."""
    depth = 0
    for i in range(4, len(go_type)):
        c = go_type[i]
        if c == "[":
            depth += 1
        elif c == "]":
            if depth == 0:
                return go_type[4:i], go_type[i + 1:]
            depth -= 1
    raise ValueError(f"not a map type: {go_type}")


def _sort_key(k: Any) -> tuple[Any, ...]:
    kind = kind_of(k)
    if kind == FLOAT and k != k:
        return (kind, 0, float("-inf"))
    if kind in (INT, UINT, FLOAT, BOOL):
        return (INT, 1, k)
    if kind == STRING:
        return (kind, 1, k.encode("utf-8", "surrogateescape"))
    return (kind, 1, repr(k))


def sorted_items(m: Mapping[Any, Any]) -> list[tuple[Any, Any]]:
    """A map's entries in Go's fmtsort order (numbers by value, strings by bytes)."""
    try:
        return sorted(m.items())
    except TypeError:
        return sorted(m.items(), key=lambda kv: _sort_key(kv[0]))


def get_field(obj: Any, info: StructInfo, name: str, default: Any) -> Any:
    attr = info.field_map.get(name)
    if attr is None:
        return default
    return getattr(obj, attr)


def struct_values(obj: Any) -> list[tuple[str, Any]]:
    info = struct_info(type(obj))
    return [(g, getattr(obj, a)) for g, a in info.fields]


def bound_method(obj: Any, name: str) -> Callable[..., Any] | None:
    """The Go method `name` of a struct object, bound to it, or None."""
    if name not in struct_info(type(obj)).methods:
        return None
    return getattr(obj, name)  # type: ignore[no-any-return]
