"""Statements (Go's walk: text, actions, if, with, range, template, break, continue) compiled into closures
`(state, dot) -> None`, and the entry points that run a compiled tree."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from portside.gotemplate import nodes as N
from portside.gotemplate import values as V
from portside.gotemplate.errors import ExecDepthError, ExecError, TemplateError
from portside.gotemplate.exec_compile import compile_pipeline
from portside.gotemplate.exec_state import CALL_FRAMES, Break, Continue, State
from portside.gotemplate.gofmt import sprint_action, sprintf
from portside.gotemplate.gonum import format_float
from portside.gotemplate.gostr import quote

if TYPE_CHECKING:
    from portside.gotemplate.template import Template

Run = Callable[[State, Any], None]
MISSING = V.MISSING
# Frames a tree stacks besides its nesting: the action, pipeline, command, field and call closures, a function.
LEAF_FRAMES = 12


@dataclass(frozen=True, slots=True)
class Compiled:
    body: Run
    frames: int  # Python frames an execution of this tree may stack, nested templates aside


def compile_tree(root: N.ListNode) -> Compiled:
    c = _Compiler()
    body = c.list(root)
    return Compiled(body, 2 * c.max_depth + LEAF_FRAMES)


def _noop(st: State, dot: Any) -> None:
    return None


class _Compiler:
    def __init__(self) -> None:
        self.depth = 0
        self.max_depth = 0

    def list(self, lst: N.ListNode | None) -> Run:
        self.depth += 1
        self.max_depth = max(self.max_depth, self.depth)
        runs = [self.node(n) for n in lst.nodes if not isinstance(n, N.CommentNode)] if lst else []
        self.depth -= 1
        if not runs:
            return _noop
        if len(runs) == 1:
            return runs[0]
        seq = tuple(runs)

        def run_list(st: State, dot: Any) -> None:
            for r in seq:
                r(st, dot)

        return run_list

    def node(self, n: N.Node) -> Run:
        if isinstance(n, N.TextNode):
            text = n.text

            def run_text(st: State, dot: Any) -> None:
                st.write(text)

            return run_text
        if isinstance(n, N.ActionNode):
            return _action(n)
        if isinstance(n, (N.IfNode, N.WithNode)):
            return _if_with(n, self.list(n.list), self.list(n.else_list) if n.else_list else None)
        if isinstance(n, N.RangeNode):
            return _range(n, self.list(n.list), self.list(n.else_list) if n.else_list else None)
        if isinstance(n, N.TemplateNode):
            return _template(n)
        if isinstance(n, N.BreakNode):
            return _raise(n, Break)
        if isinstance(n, N.ContinueNode):
            return _raise(n, Continue)
        raise AssertionError(f"unknown node: {n}")  # the parser makes no other kind


def _raise(node: N.Node, exc: type[Exception]) -> Run:
    def run(st: State, dot: Any) -> None:
        st.node = node
        raise exc

    return run


def print_value(st: State, node: N.Node, v: Any) -> None:
    """Go's printValue: what an action writes for its value."""
    st.node = node
    t = type(v)
    if t is str:
        text = v
    elif t is int:
        text = str(v)
    elif v is MISSING:
        text = "<no value>"
    elif t is float:
        text = format_float(v, "g", -1)
    elif t is bool:
        text = "true" if v else "false"
    else:
        if V.kind_of(v) == V.FUNC:
            raise st.error(f"can't print {node} of type {V.type_name(v)}")
        text = sprint_action(v)
    if st.finalize is not None:
        try:
            text = st.finalize(v, text)
        except Exception as e:
            raise st.error(str(e)) from e
    st.write(text)


def _action(node: N.ActionNode) -> Run:
    ev = compile_pipeline(node.pipe)
    if node.pipe.decl:
        def run_assign(st: State, dot: Any) -> None:
            st.node = node
            ev(st, dot)

        return run_assign

    def run_action(st: State, dot: Any) -> None:
        st.node = node
        print_value(st, node, ev(st, dot))

    return run_action


def _if_with(node: N.BranchNode, body: Run, else_body: Run | None) -> Run:
    ev = compile_pipeline(node.pipe)
    is_with = isinstance(node, N.WithNode)

    def run_branch(st: State, dot: Any) -> None:
        st.node = node
        mark = len(st.vars)
        saved_iface = st.dot_iface
        try:
            v = ev(st, dot)
            if V.is_true(v):
                if is_with:
                    st.dot_iface = False
                    body(st, v)
                else:
                    body(st, dot)
            elif else_body is not None:
                else_body(st, dot)
        finally:
            st.dot_iface = saved_iface
            del st.vars[mark:]

    return run_branch


def _range(node: N.RangeNode, body: Run, else_body: Run | None) -> Run:
    ev = compile_pipeline(node.pipe)
    loop = _range_loop(node, body)

    def run_range(st: State, dot: Any) -> None:
        st.node = node
        mark = len(st.vars)
        saved_iface = st.dot_iface
        try:
            val = ev(st, dot)
            if loop(st, val):
                return
        except Break:
            return
        finally:
            st.dot_iface = saved_iface
            del st.vars[mark:]
        if else_body is not None:
            else_body(st, dot)

    return run_range


def _range_loop(node: N.RangeNode, body: Run) -> Callable[[State, Any], bool]:
    """One range over val; False when it ran no iteration (the else branch's turn)."""
    decl = [v.ident[0] for v in node.pipe.decl]
    ndecl, assign = len(decl), node.pipe.is_assign

    def one(st: State, index: Any, elem: Any, iface: bool, mark: int) -> None:
        if ndecl:
            if assign:
                st.set_var(decl[0], index if ndecl > 1 else elem, iface and ndecl == 1)
            else:
                st.vars[-1][1:] = (elem, iface)
        if ndecl > 1:
            if assign:
                st.set_var(decl[1], elem, iface)
            else:
                st.vars[-2][1:] = (index, False)
        st.dot_iface = iface
        try:
            body(st, elem)
        except Continue:
            pass
        finally:
            if len(st.vars) > mark:
                del st.vars[mark:]

    def loop(st: State, val: Any) -> bool:
        mark = len(st.vars)
        k = V.kind_of(val)
        if k == V.SLICE:
            iface = V.elem_is_iface(val)
            for i, elem in enumerate(val):
                one(st, i, elem, iface, mark)
            return len(val) > 0
        if k == V.MAP:
            iface = V.elem_is_iface(val)
            items = V.sorted_items(val)
            for key, elem in items:
                one(st, key, elem, iface, mark)
            return len(items) > 0
        if k in (V.INT, V.UINT):
            if ndecl > 1:
                raise st.error(f"can't use {sprintf('%v', val)} to iterate over more than one variable")
            for i in range(int(val)):
                one(st, MISSING, type(val)(i), False, mark)
            return int(val) > 0
        if k in (V.INVALID, V.NIL):
            return False
        shown = sprint_action(val) if k == V.PTR else sprintf("%v", val)
        raise st.error(f"range can't iterate over {shown}")

    return loop


def _template(node: N.TemplateNode) -> Run:
    ev = compile_pipeline(node.pipe)
    name = node.name

    def run_template(st: State, dot: Any) -> None:
        st.node = node
        tmpl = st.tmpl.lookup(name)
        if tmpl is None:
            raise st.error(f"template {quote(name)} not defined")
        compiled = tmpl.compiled()
        if compiled is None:
            raise st.error(f"template {quote(name)} not defined")
        new_dot = ev(st, dot)
        saved = (st.tmpl, st.vars, st.dot_iface)
        st.enter(compiled.frames)
        st.tmpl, st.vars, st.dot_iface = tmpl, [["$", new_dot, False]], False
        try:
            compiled.body(st, new_dot)
        finally:
            st.tmpl, st.vars, st.dot_iface = saved
            st.leave(compiled.frames)

    return run_template


def execute(tmpl: Template, data: Any, *, frames: int = 0, budget: int | None = None, depth: int = 0) -> str:
    """Run `tmpl` over `data` and return what it writes; ExecError (with .output) when it fails."""
    dot = MISSING if data is None else data
    st = State(tmpl, dot, frames, budget, depth)
    st.data = data
    compiled = tmpl.compiled()
    try:
        if compiled is None:
            raise st.error(f"{quote(tmpl.name)} is an incomplete or empty template")
        st.enter(compiled.frames)
        compiled.body(st, dot)
    except ExecError as e:
        e.output = "".join(st.out)
        raise
    except RecursionError:
        err = st.error(f"exceeded maximum template depth ({st.depth}): Python stack exhausted", ExecDepthError)
        err.output = "".join(st.out)
        raise err from None
    return "".join(st.out)


def run_nested(st: State, name: str, data: Any) -> str:
    """ExecContext.execute_template: another template of the set, within the caller's depth budget."""
    tmpl = st.tmpl.lookup(name)
    if tmpl is None:
        raise TemplateError(f"template: no template {quote(name)} associated with template {quote(st.tmpl.name)}")
    return execute(tmpl, data, frames=st.frames + CALL_FRAMES, budget=st.frame_budget, depth=st.depth)
