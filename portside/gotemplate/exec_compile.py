"""Pipelines, commands and arguments -> closures (the shapes of Go's evalPipeline and evalCommand).

The common cases get straight-line closures (one command, `.Field` of a map); every other case goes through
the general functions of exec_eval, which mirror Go's.
"""

from __future__ import annotations

from typing import Any

from portside.gotemplate import nodes as N
from portside.gotemplate import values as V
from portside.gotemplate.exec_eval import (
    Arg,
    Cmd,
    Ev,
    _constant_value,
    chain_parent,
    eval_arg,
    eval_call,
    field_chain,
    field_step,
    ideal_constant,
    lookup_func,
    yields_iface,
)
from portside.gotemplate.exec_state import NOFINAL, State

MISSING = V.MISSING
_STRUCT_KINDS = (V.STRUCT, V.PTR)


def compile_pipeline(pipe: N.PipeNode | None) -> Ev:
    """Go's evalPipeline: each command's value is the next one's final argument; a nil interface becomes no
    value; the declared variables are pushed (or assigned)."""
    if pipe is None:
        return lambda st, dot: MISSING
    cmds = [compile_command(c) for c in pipe.cmds]
    names = [v.ident[0] for v in pipe.decl]
    if len(cmds) == 1 and not names:
        only = cmds[0]

        def ev1(st: State, dot: Any) -> Any:
            st.node = pipe
            v = only(st, dot, NOFINAL)
            return MISSING if v is None else v

        return ev1
    is_assign = pipe.is_assign

    def ev(st: State, dot: Any) -> Any:
        st.node = pipe
        v = NOFINAL
        for c in cmds:
            v = c(st, dot, v)
            if v is None:
                v = MISSING
        for name in names:
            if is_assign:
                st.set_var(name, v)
            else:
                st.vars.append([name, v, False])
        return v

    return ev


def single_command(pipe: N.PipeNode) -> Cmd | None:
    """The one command of a pipeline that declares nothing (the caller then skips the pipeline wrapper)."""
    return compile_command(pipe.cmds[0]) if len(pipe.cmds) == 1 and not pipe.decl else None


def _not_a_function(st: State, cmd: N.CommandNode, final: Any) -> None:
    if len(cmd.args) > 1 or final is not NOFINAL:
        raise st.error(f"can't give argument to non-function {cmd.args[0]}")


def compile_command(cmd: N.CommandNode) -> Cmd:
    first = cmd.args[0]
    rest = tuple(compile_arg(a) for a in cmd.args[1:])
    if isinstance(first, N.FieldNode):
        return _field_command(first, rest)
    if isinstance(first, N.ChainNode):
        return _chain_command(first, rest)
    if isinstance(first, N.IdentifierNode):
        return _function_command(cmd, first, rest)
    if isinstance(first, N.PipeNode):
        inner = compile_pipeline(first)

        def pipe_cmd(st: State, dot: Any, final: Any) -> Any:
            _not_a_function(st, cmd, final)
            return inner(st, dot)

        return pipe_cmd
    if isinstance(first, N.VariableNode):
        return _variable_command(cmd, first, rest)
    return _constant_command(cmd, first)


def _field_command(node: N.FieldNode, rest: tuple[Arg, ...]) -> Cmd:
    idents = node.ident
    if len(idents) == 1 and not rest:
        name = idents[0]

        attrs: dict[type, str | None] = {}  # class -> the attribute behind .name (a memo of a pure function)

        def field1(st: State, dot: Any, final: Any) -> Any:
            st.node = node
            if final is NOFINAL:
                t = type(dot)
                if t is dict:
                    v = dot.get(name, MISSING)
                    if v is not MISSING:
                        return v
                else:
                    attr = attrs.get(t, MISSING)
                    if attr is MISSING:
                        attr = attrs[t] = V.field_attr(t, name) if V.class_kind(t) in _STRUCT_KINDS else None
                    if attr is not None:
                        return getattr(dot, attr)
            return field_step(st, dot, name, node, rest, final, dot, st.dot_iface)

        return field1

    def field(st: State, dot: Any, final: Any) -> Any:
        st.node = node
        return field_chain(st, dot, dot, st.dot_iface, node, idents, rest, final)

    return field


def _chain_command(node: N.ChainNode, rest: tuple[Arg, ...]) -> Cmd:
    if isinstance(node.node, N.NilNode):
        def nil_chain(st: State, dot: Any, final: Any) -> Any:
            st.node = node
            raise st.error(f"indirection through explicit nil in {node}")

        return nil_chain
    inner = compile_arg(node.node)

    def chain(st: State, dot: Any, final: Any) -> Any:
        st.node = inner.node  # Go: at(chain), then evalArg's at(chain.Node)
        recv = inner.ev(st, dot) if inner.ev is not None else inner.ideal(st)
        return field_chain(st, dot, recv, False, node, node.field, rest, final)

    return chain


def _function_command(cmd: N.CommandNode, node: N.IdentifierNode, rest: tuple[Arg, ...]) -> Cmd:
    name = node.ident

    def function(st: State, dot: Any, final: Any) -> Any:
        st.node = node
        fn, builtin = lookup_func(st, name)
        return eval_call(st, dot, fn, NOFINAL, builtin, cmd, name, rest, final)

    return function


def _variable_command(cmd: N.CommandNode, node: N.VariableNode, rest: tuple[Arg, ...]) -> Cmd:
    name = node.ident[0]
    fields = node.ident[1:]

    def variable(st: State, dot: Any, final: Any) -> Any:
        st.node = node
        entry = st.var_entry(name)
        if not fields:
            _not_a_function(st, cmd, final)
            return entry[1]
        return field_chain(st, dot, entry[1], entry[2], node, fields, rest, final)

    return variable


def _constant_command(cmd: N.CommandNode, node: N.Node) -> Cmd:
    if isinstance(node, N.DotNode):
        def dot_cmd(st: State, dot: Any, final: Any) -> Any:
            st.node = node
            _not_a_function(st, cmd, final)
            return dot

        return dot_cmd
    if isinstance(node, N.NilNode):
        def nil_cmd(st: State, dot: Any, final: Any) -> Any:
            st.node = node
            _not_a_function(st, cmd, final)
            raise st.error("nil is not a command")

        return nil_cmd
    value = _constant_value(node)

    def const_cmd(st: State, dot: Any, final: Any) -> Any:
        st.node = node
        _not_a_function(st, cmd, final)
        return value(st)

    return const_cmd


def compile_arg(node: N.Node) -> Arg:
    """An argument of a call: how Go's evalArg will read it, decided once."""
    if isinstance(node, (N.BoolNode, N.StringNode, N.NumberNode)):
        return Arg(node, True, _constant_value(node), None, None)
    if isinstance(node, N.NilNode):
        return Arg(node, False, None, None, None)
    if isinstance(node, N.DotNode):
        return Arg(node, False, None, lambda st, dot: dot, lambda st, dot: (dot, st.dot_iface))
    if isinstance(node, N.FieldNode):
        return _field_arg(node, node.ident)
    if isinstance(node, N.VariableNode):
        return _variable_arg(node)
    if isinstance(node, N.PipeNode):
        return Arg(node, False, None, compile_pipeline(node), None)
    if isinstance(node, N.IdentifierNode):
        return Arg(node, False, None, _niladic(node), None)
    if isinstance(node, N.ChainNode):
        cmd = _chain_command(node, ())
        return Arg(node, False, None, lambda st, dot: cmd(st, dot, NOFINAL), None)
    raise AssertionError(f"unexpected argument node {node!r}")  # the parser makes no other kind


def _niladic(node: N.IdentifierNode) -> Ev:
    name = node.ident

    def call0(st: State, dot: Any) -> Any:
        st.node = node
        fn, builtin = lookup_func(st, name)
        return eval_call(st, dot, fn, NOFINAL, builtin, node, name, None, NOFINAL)

    return call0


def _field_arg(node: N.FieldNode, idents: tuple[str, ...]) -> Arg:
    cmd = _field_command(node, ())  # Go's evalFieldNode with no arguments: the command's code, fast paths too

    def ev(st: State, dot: Any) -> Any:
        return cmd(st, dot, NOFINAL)

    def ev_iface(st: State, dot: Any) -> Any:
        st.node = node
        recv, recv_iface = chain_parent(st, dot, dot, st.dot_iface, node, idents)
        return field_step(st, dot, idents[-1], node, None, NOFINAL, recv, recv_iface), yields_iface(recv)

    return Arg(node, False, None, ev, ev_iface)


def _variable_arg(node: N.VariableNode) -> Arg:
    name, fields = node.ident[0], node.ident[1:]

    def ev(st: State, dot: Any) -> Any:
        st.node = node
        entry = st.var_entry(name)
        if not fields:
            return entry[1]
        return field_chain(st, dot, entry[1], entry[2], node, fields, None, NOFINAL)

    def ev_iface(st: State, dot: Any) -> Any:
        st.node = node
        entry = st.var_entry(name)
        if not fields:
            return entry[1], entry[2]
        recv, recv_iface = chain_parent(st, dot, entry[1], entry[2], node, fields)
        return field_step(st, dot, fields[-1], node, None, NOFINAL, recv, recv_iface), yields_iface(recv)

    return Arg(node, False, None, ev, ev_iface)


__all__ = ["compile_arg", "compile_command", "compile_pipeline", "eval_arg", "ideal_constant"]
