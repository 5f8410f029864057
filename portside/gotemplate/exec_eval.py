"""Evaluation of pipelines, commands, fields and calls (Go's evalPipeline ... evalCall), compiled once per tree
into closures `(state, dot[, final]) -> value`.

Each closure records the node it evaluates in `state.node` where Go's `s.at(node)` does, so an error names the
node Go names.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

from portside.gotemplate import nodes as N
from portside.gotemplate import values as V
from portside.gotemplate.builtins import BUILTINS, INT_LIKE, RV, Iface
from portside.gotemplate.errors import ExecDepthError
from portside.gotemplate.exec_state import MISSING_ERROR, MISSING_ZERO, NOFINAL, State
from portside.gotemplate.funcs import ArgError, ExecContext, GoFunc, as_gofunc, can_be_nil, constant_arg, validate_type
from portside.gotemplate.gostr import quote

Ev = Callable[[State, Any], Any]
Cmd = Callable[[State, Any, Any], Any]
MISSING = V.MISSING
IFACE = V.IFACE_TYPES
_SLICE = BUILTINS["slice"]


class Arg:
    """A compiled argument: a constant (its Go reading depends on the parameter type), nil, or an evaluator."""

    __slots__ = ("node", "const", "ideal", "ev", "ev_iface")

    def __init__(self, node: N.Node, const: bool, ideal: Any, ev: Ev | None, ev_iface: Ev | None) -> None:
        self.node, self.const, self.ideal, self.ev, self.ev_iface = node, const, ideal, ev, ev_iface


# ---- constants --------------------------------------------------------------------------------------------
def ideal_constant(st: State, node: N.NumberNode) -> Any:
    """Go's idealConstant: a number written in the template, as an int, float64 or complex128."""
    st.node = node
    text = node.text
    if node.is_complex:
        return node.complex128
    is_hex_int = len(text) > 2 and text[0] == "0" and text[1] in "xX" and not any(c in text for c in "pP")
    if node.is_float and not is_hex_int and text[0] != "'" and any(c in text for c in ".eEpP"):
        return node.float64
    if node.is_int:
        return node.int64
    if node.is_uint:
        raise st.error(f"{text} overflows int")
    return MISSING


def _constant_value(node: N.Node) -> Callable[[State], Any]:
    if isinstance(node, N.NumberNode):
        return lambda st: ideal_constant(st, node)
    value = node.true if isinstance(node, N.BoolNode) else node.text  # type: ignore[attr-defined]
    return lambda st: value


# ---- arguments and calls ------------------------------------------------------------------------------------
def eval_arg(st: State, dot: Any, typ: str, a: Arg) -> Any:
    """Go's evalArg: the argument for a parameter of Go type `typ` ("reflect.Value" for the builtins)."""
    st.node = a.node
    if a.ev is not None:
        v = a.ev(st, dot)
        if typ == RV:
            return v
        if typ in IFACE:
            return None if v is MISSING else v
        try:
            return validate_type(v, typ)
        except ArgError as e:
            raise st.error(str(e)) from None
    if not a.const:  # nil
        if typ == RV:
            return MISSING
        if can_be_nil(typ):
            return V.zero_value(typ)
        raise st.error(f"cannot assign nil to {typ}")
    if typ == RV or typ in IFACE:
        return a.ideal(st)
    try:
        return constant_arg(a.node, typ)
    except ArgError as e:
        raise st.error(str(e)) from None


def lookup_func(st: State, name: str) -> tuple[GoFunc, bool]:
    fn = st.funcs.get(name)
    if fn is not None:
        return fn, False
    fn = BUILTINS.get(name)
    if fn is None:
        raise st.error(f"{quote(name)} is not a defined function")
    return fn, True


def eval_call(st: State, dot: Any, fn: GoFunc, recv: Any, builtin: bool, node: N.Node, name: str,
              args: tuple[Arg, ...] | None, final: Any) -> Any:
    """Go's evalCall. `recv` is the method's receiver (NOFINAL for a function)."""
    args = args or ()
    num_in = len(args) + (final is not NOFINAL)
    params = fn.params
    if fn.variadic:
        if num_in < len(params) - 1:
            raise st.error(f"wrong number of args for {name}: want at least {len(params) - 1} got {len(args)}")
    elif num_in != len(params):
        raise st.error(f"wrong number of args for {name}: want {len(params)} got {num_in}")
    if builtin and name in ("and", "or"):
        return _and_or(st, dot, name == "or", args, final)
    if builtin and fn is _SLICE:
        argv = [_slice_arg(st, dot, a) for a in args]
    elif fn.variadic:
        last = len(params) - 1
        velem = params[-1][3:]
        argv = [eval_arg(st, dot, params[i] if i < last else velem, a) for i, a in enumerate(args)]
    else:
        argv = [eval_arg(st, dot, params[i], a) for i, a in enumerate(args)]
    if final is not NOFINAL:
        typ = fn.param_type(num_in - 1, num_in)
        argv.append(final if typ == RV else None if final is MISSING and typ in IFACE else _validate(st, final, typ))
    try:
        if builtin and name == "call":
            return call_value(str(args[0].node) if args else _value_string(final), argv[0], argv[1:])
        if fn.context:
            argv.insert(0, _context(st))
        return fn.fn(*argv) if recv is NOFINAL else fn.fn(recv, *argv)
    except (ExecDepthError, RecursionError):
        raise
    except Exception as e:  # Go: a function's error (or recovered panic) fails the execution here
        st.node = node
        raise st.error(f"error calling {name}: {e}") from e


def _validate(st: State, value: Any, typ: str) -> Any:
    try:
        return validate_type(value, typ)
    except ArgError as e:
        raise st.error(str(e)) from None


def _and_or(st: State, dot: Any, is_or: bool, args: tuple[Arg, ...], final: Any) -> Any:
    v: Any = MISSING
    for a in args:
        v = eval_arg(st, dot, RV, a)
        if V.is_true(v) == is_or:
            return v
    if final is not NOFINAL:
        v = final
    return v


def _slice_arg(st: State, dot: Any, a: Arg) -> Any:
    """`slice` sees a value read from an interface {} container as interface-typed (and refuses it as an index)."""
    if a.ev_iface is None:
        return eval_arg(st, dot, RV, a)
    st.node = a.node
    v, iface = a.ev_iface(st, dot)
    return Iface(v) if iface and v is not MISSING else v


def _value_string(v: Any) -> str:
    """reflect.Value.String(): a string's text, else "<T Value>"."""
    return v if isinstance(v, str) else f"<{V.type_name(v)} Value>"


def _context(st: State) -> ExecContext:
    from portside.gotemplate.exec_walk import run_nested

    return ExecContext(st.tmpl, st.data, lambda name, data: run_nested(st, name, data))


def call_value(name: str, fn: Any, args: list[Any]) -> Any:
    """The `call` builtin: Go's call() with its argument checks (prepareArg)."""
    fn = fn.v if isinstance(fn, Iface) else fn
    if fn is None or fn is MISSING:
        raise RuntimeError("call of nil")
    if V.kind_of(fn) != V.FUNC:
        raise RuntimeError(f"non-function {name} of type {V.type_name(fn)}")
    spec = as_gofunc(fn)
    n = len(spec.params)
    if spec.variadic and len(args) < n - 1:
        raise RuntimeError(f"wrong number of args for {name}: got {len(args)} want at least {n - 1}")
    if not spec.variadic and len(args) != n:
        raise RuntimeError(f"wrong number of args for {name}: got {len(args)} want {n}")
    argv = []
    for i, arg in enumerate(args):
        arg = arg.v if isinstance(arg, Iface) else arg
        arg = MISSING if arg is None else arg
        typ = spec.param_type(i, len(args))
        if arg is MISSING:
            if not can_be_nil(typ):
                raise RuntimeError(f"arg {i}: value is nil; should be of type {typ}")
            arg = V.zero_value(typ)
        elif typ not in IFACE and V.type_name(arg) != typ:
            if not (typ in INT_LIKE and V.type_name(arg) in INT_LIKE):  # Go converts between integer types
                raise RuntimeError(f"arg {i}: value has type {V.type_name(arg)}; should be {typ}")
            arg = V.Uint8(int(arg) & 0xFF) if typ == "uint8" else int(arg)
        argv.append(arg)
    return spec.fn(*argv)


# ---- fields -----------------------------------------------------------------------------------------------
def _method_spec(cls: type, name: str) -> GoFunc | None:
    """The Go method `name` of a struct class, as a GoFunc taking the receiver first."""
    meth = V.struct_info(cls).methods.get(name)
    if meth is None:
        return None
    if isinstance(meth, GoFunc):
        return meth if meth.declared else GoFunc(meth.fn, _params_after_self(meth.fn), context=meth.context)
    if isinstance(meth, staticmethod):
        fn = meth.__func__
        return GoFunc(lambda _recv, *a: fn(*a), as_gofunc(fn).params)
    return GoFunc(meth, _params_after_self(meth))


method_spec: Callable[[type, str], GoFunc | None] = functools.lru_cache(maxsize=1024)(_method_spec)


def _params_after_self(fn: Callable[..., Any]) -> tuple[str, ...]:
    params = as_gofunc(fn).params
    return params[1:] if params and not params[0].startswith("...") else params


def yields_iface(container: Any) -> bool:
    """Whether a field read from `container` is an interface value (a plain dict's are)."""
    return type(container) is dict or (isinstance(container, V.GoMap) and container.elem in IFACE)


def missing_key(st: State, recv: Any, name: str) -> Any:
    if st.missingkey == MISSING_ERROR:
        raise st.error(f"map has no entry for key {quote(name)}")
    if st.missingkey == MISSING_ZERO:
        return V.zero_value(recv.elem) if isinstance(recv, V.GoMap) else None
    return MISSING


def field_step(st: State, dot: Any, name: str, node: N.Node, args: tuple[Arg, ...] | None, final: Any,
               recv: Any, recv_iface: bool) -> Any:
    """Go's evalField: `.name` of recv (a map key, a struct field, or a method call with args)."""
    if type(recv) is dict:
        if args or final is not NOFINAL:
            raise st.error(f"{name} is not a method but has arguments")
        v = recv.get(name, MISSING)
        if v is not MISSING or name in recv:
            return v
        if not recv or type(next(iter(recv))) is str:
            return missing_key(st, recv, name)
    elif recv is MISSING:
        if st.missingkey == MISSING_ERROR:
            raise st.error(f"nil data; no entry for key {quote(name)}")
        return MISSING
    elif recv is None:
        raise st.error(f"nil pointer evaluating interface {{}}.{name}")
    else:
        found, v = _field_other(st, dot, name, node, args, final, recv, recv_iface)
        if found:
            return v
    typ = "interface {}" if recv_iface else V.type_name(recv)
    raise st.error(f"can't evaluate field {name} in type {typ}")


def _field_other(st: State, dot: Any, name: str, node: N.Node, args: tuple[Arg, ...] | None, final: Any,
                 recv: Any, recv_iface: bool) -> tuple[bool, Any]:
    cls = type(recv)
    k = V.class_kind(cls)
    if k in (V.STRUCT, V.PTR):
        attr = V.field_attr(cls, name)
        if attr is not None:
            if args or final is not NOFINAL:
                raise st.error(f"{name} has arguments but cannot be invoked as function")
            return True, getattr(recv, attr)
        spec = method_spec(cls, name)
        if spec is not None:
            return True, eval_call(st, dot, spec, recv, False, node, name, args, final)
        attr = V.struct_info(cls).field_map.get(name)
        if attr is not None:
            if not name[:1].isupper():
                typ = "interface {}" if recv_iface else V.type_name(recv)
                raise st.error(f"{name} is an unexported field of struct type {typ}")
            if args or final is not NOFINAL:
                raise st.error(f"{name} has arguments but cannot be invoked as function")
            return True, getattr(recv, attr)
    elif k == V.MAP and (V.dict_key_type(recv) == "string" or V.dict_key_type(recv) in IFACE):
        if args or final is not NOFINAL:
            raise st.error(f"{name} is not a method but has arguments")
        if name in recv:
            return True, recv[name]
        return True, missing_key(st, recv, name)
    return False, None


def chain_parent(st: State, dot: Any, recv: Any, recv_iface: bool, node: N.Node,
                 idents: tuple[str, ...]) -> tuple[Any, bool]:
    """All but the last step of a field chain: (the last receiver, whether it is an interface value)."""
    for name in idents[:-1]:
        nxt = field_step(st, dot, name, node, None, NOFINAL, recv, recv_iface)
        recv_iface = yields_iface(recv)
        recv = nxt
    return recv, recv_iface


def field_chain(st: State, dot: Any, recv: Any, recv_iface: bool, node: N.Node, idents: tuple[str, ...],
                args: tuple[Arg, ...] | None, final: Any) -> Any:
    if len(idents) > 1:
        recv, recv_iface = chain_parent(st, dot, recv, recv_iface, node, idents)
    return field_step(st, dot, idents[-1], node, args, final, recv, recv_iface)

