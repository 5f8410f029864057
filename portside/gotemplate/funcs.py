"""Functions callable from a template: Python callables with an optional Go signature, and the execution hook.

Go checks a function's arguments against its parameter types (reflect); a Python callable has none, so it gets
`interface {}` parameters unless it declares Go types with `GoFunc`/`go_func`. The rules applied to a declared
type are Go's `evalArg`/`validateType`: a constant must suit the type ("expected integer; found "x""), an
evaluated value must have it ("wrong type for value; expected string; got int").
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any

from portside.gotemplate import nodes as N
from portside.gotemplate import values as V


class ArgError(Exception):
    """An argument Go would refuse; the executor reports it at the argument's node."""


class ExecContext:
    """Given first to a function declared with context=True: the executing template set, the data given to
    execute(), and `execute_template(name, data=None) -> str`, which runs a template of the set within this
    execution's depth budget."""

    __slots__ = ("template", "data", "_run")

    def __init__(self, template: Any, data: Any, run: Callable[[str, Any], str]) -> None:
        self.template = template
        self.data = data
        self._run = run

    def execute_template(self, name: str, data: Any = None) -> str:
        return self._run(name, data)


class GoFunc:
    """A template function with Go's view of it: parameter types (a trailing "...T" is variadic) and whether
    it receives the ExecContext first. Calling a GoFunc calls the function."""

    __slots__ = ("fn", "params", "variadic", "context", "declared", "result", "__name__")

    def __init__(self, fn: Callable[..., Any], params: tuple[str, ...] | list[str] | None = None, *,
                 context: bool = False, result: str | None = None) -> None:
        self.fn = fn
        self.context = context
        self.result = result
        self.__name__ = getattr(fn, "__name__", "func")
        self.declared = params is not None
        if params is None:
            params = _params_of(fn, skip=1 if context else 0)
        self.params = tuple(params)
        self.variadic = bool(self.params) and self.params[-1].startswith("...")

    def __call__(self, *args: Any) -> Any:
        return self.fn(*args)

    def __get__(self, obj: Any, owner: Any = None) -> Any:
        return self if obj is None else self.bind(obj)

    def bind(self, obj: Any) -> GoFunc:
        """The method of `obj` this GoFunc stands for (a GoFunc class attribute is a typed Go method)."""
        fn = self.fn
        bound = GoFunc(lambda *a: fn(obj, *a), self.params, context=self.context, result=self.result)
        bound.__name__ = self.__name__
        return bound

    @property
    def num_in(self) -> int:
        return len(self.params)

    def param_type(self, i: int, num_args: int) -> str:
        """The type argument i (of num_args) is checked against."""
        if self.variadic and i >= len(self.params) - 1:
            return self.params[-1][3:]
        return self.params[i]

    def __repr__(self) -> str:
        return f"GoFunc({self.__name__}, {self.params})"


def go_func(*params: str, context: bool = False, result: str | None = None) -> Callable[[Callable[..., Any]], GoFunc]:
    """Decorator: `@go_func("string", "...interface {}")` declares a function's Go parameter types (and, for
    `%T` and error texts only, its result type)."""

    def wrap(fn: Callable[..., Any]) -> GoFunc:
        return GoFunc(fn, params, context=context, result=result)

    return wrap


def _params_of(fn: Callable[..., Any], skip: int) -> tuple[str, ...]:
    """interface {} parameters from a Python signature: the required positional ones are fixed; optional ones
    or *args make the function variadic (Go has no optional parameters); an unknown signature is variadic."""
    try:
        sig = inspect.signature(fn)
    except (TypeError, ValueError):
        return ("...interface {}",)
    fixed = 0
    variadic = False
    for p in sig.parameters.values():
        if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD):
            if p.default is p.empty and not variadic:
                fixed += 1
            else:
                variadic = True
        elif p.kind == p.VAR_POSITIONAL:
            variadic = True
    params = ["interface {}"] * fixed + (["...interface {}"] if variadic else [])
    return tuple(params[skip:]) if skip <= fixed else tuple(params[fixed:])


def as_gofunc(fn: Any) -> GoFunc:
    return fn if isinstance(fn, GoFunc) else GoFunc(fn)


def can_be_nil(typ: str) -> bool:
    return typ in V.IFACE_TYPES or typ.startswith(("*", "[]", "map[", "func", "chan"))


def _underlying(v: Any) -> str:
    if isinstance(v, V.GoSlice):
        return "[]" + v.elem
    if isinstance(v, V.GoMap):
        return f"map[{v.key}]{v.elem}"
    return V.type_name(v)


def validate_type(value: Any, typ: str | None) -> Any:
    """Go's validateType: an evaluated value offered to a parameter of type `typ` (None: no type)."""
    if value is V.MISSING:
        if typ is None:
            return None
        if can_be_nil(typ):
            return V.zero_value(typ)
        raise ArgError(f"invalid value; expected {typ}")
    if typ is None or typ in V.IFACE_TYPES:
        return value
    if value is None:
        raise ArgError(f"wrong type for value; expected {typ}; got interface {{}}")
    vt = V.type_name(value)
    if vt == typ or vt == "*" + typ:
        return value
    if _underlying(value) == typ and not ("." in vt and "." in typ):
        return value
    raise ArgError(f"wrong type for value; expected {typ}; got {vt}")


_INT_TYPES = frozenset({"int", "int8", "int16", "int32", "int64"})
_UINT_TYPES = frozenset({"uint", "uint8", "uint16", "uint32", "uint64", "uintptr", "byte"})


def constant_arg(node: Any, typ: str) -> Any:
    """Go's evalBool/evalString/evalInteger/... : a constant written in the template, for a typed parameter.
    `node` is a BoolNode, StringNode or NumberNode (the executor handles the rest)."""
    if typ == "bool":
        if isinstance(node, N.BoolNode):
            return node.true
        raise ArgError(f"expected bool; found {node}")
    if typ == "string":
        if isinstance(node, N.StringNode):
            return node.text
        raise ArgError(f"expected string; found {node}")
    if typ in _INT_TYPES:
        if isinstance(node, N.NumberNode) and node.is_int:
            return node.int64
        raise ArgError(f"expected integer; found {node}")
    if typ in _UINT_TYPES:
        if isinstance(node, N.NumberNode) and node.is_uint:
            return V.Uint8(node.uint64) if typ in ("uint8", "byte") else node.uint64
        raise ArgError(f"expected unsigned integer; found {node}")
    if typ in ("float64", "float32"):
        if isinstance(node, N.NumberNode) and node.is_float:
            return node.float64
        raise ArgError(f"expected float; found {node}")
    if typ in ("complex128", "complex64"):
        if isinstance(node, N.NumberNode) and node.is_complex:
            return node.complex128
        raise ArgError(f"expected complex; found {node}")
    raise ArgError(f"can't handle {node} for arg of type {typ}")
