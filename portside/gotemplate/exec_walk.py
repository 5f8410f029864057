"""Statements (Go's walk: text, actions, if, with, range, template, break, continue) compiled into closures
`(state, dot) -> None`, and the entry points that run a compiled tree."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from portside.gotemplate import nodes as N
from portside.gotemplate import values as V
from portside.gotemplate.errors import ExecDepthError, ExecError, TemplateError
from portside.gotemplate.exec_compile import compile_pipeline, single_command
from portside.gotemplate.exec_state import NOFINAL, Break, Continue, State
from portside.gotemplate.gofmt import sprint_action, sprintf
from portside.gotemplate.gonum import format_float
from portside.gotemplate.gostr import quote
from portside.gotemplate.memo import RangeMemo, SlicePairs, memo_items, pure_range

if TYPE_CHECKING:
    from portside.gotemplate.template import Template

Run = Callable[[State, Any], None]
MISSING = V.MISSING
# Python frames per construct on the way down a tree (a list's loop, an if/with, a range's loop and iteration,
# a template call) and per parenthesised pipeline level; a pipeline's own evaluation (action, pipeline,
# command, field, call, the function) is counted once, at the leaf.
_FRAMES = {"list": 1, "branch": 1, "range": 3, "template": 1, "paren": 5, "pipeline": 8}


@dataclass(frozen=True, slots=True)
class Compiled:
    body: Run
    frames: int  # frames the deepest statement path of this tree stacks (a template call there nests more)
    leaf: int  # frames the deepest pipeline evaluation adds on top


def compile_tree(root: N.ListNode, pure: frozenset[str] | None = None) -> Compiled:
    """`pure`: the functions the caller vouches for (memo.py); None compiles no memo site."""
    c = _Compiler(pure)
    body = c.list(root)
    return Compiled(body, c.max_path, c.max_leaf)


def _noop(st: State, dot: Any) -> None:
    return None


def _paren_depth(node: N.Node | None) -> int:
    """How deep parenthesised pipelines nest in a pipeline."""
    if isinstance(node, N.PipeNode):
        return max((_paren_depth(a) for c in node.cmds for a in c.args), default=0) + 1
    if isinstance(node, N.ChainNode):
        return _paren_depth(node.node)
    return 0


class _Compiler:
    def __init__(self, pure: frozenset[str] | None = None) -> None:
        self.pure = pure
        self.in_site = False  # compiling a memo site's body: its inner ranges run as written
        self.path = 0
        self.max_path = 0
        self.max_leaf = 0

    def _down(self, frames: int) -> None:
        self.path += frames
        self.max_path = max(self.max_path, self.path)

    def _leaf(self, pipe: N.PipeNode | None) -> None:
        self.max_leaf = max(self.max_leaf, _FRAMES["pipeline"] + _FRAMES["paren"] * _paren_depth(pipe))

    def list(self, lst: N.ListNode | None) -> Run:
        self._down(_FRAMES["list"])
        runs = [self.node(n) for n in lst.nodes if not isinstance(n, N.CommentNode)] if lst else []
        self.path -= _FRAMES["list"]
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
            self._leaf(n.pipe)
            return _action(n)
        if isinstance(n, N.BranchNode):
            return self.branch(n)
        if isinstance(n, N.TemplateNode):
            self._leaf(n.pipe)
            self._down(_FRAMES["template"])
            self.path -= _FRAMES["template"]
            return _template(n)
        if isinstance(n, N.BreakNode):
            return _raise(n, Break)
        if isinstance(n, N.ContinueNode):
            return _raise(n, Continue)
        raise AssertionError(f"unknown node: {n}")  # the parser makes no other kind

    def branch(self, n: N.BranchNode) -> Run:
        frames = _FRAMES["range" if isinstance(n, N.RangeNode) else "branch"]
        self._leaf(n.pipe)
        self._down(frames)
        site = (isinstance(n, N.RangeNode) and self.pure is not None and not self.in_site
                and pure_range(n, self.pure))
        self.in_site, outer = self.in_site or site, self.in_site
        body = self.list(n.list)
        self.in_site = outer
        else_body = self.list(n.else_list) if n.else_list else None
        self.path -= frames
        if isinstance(n, N.RangeNode):
            return _range(n, body, else_body, site)
        return _if_with(n, body, else_body)


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
    elif isinstance(v, str) and not hasattr(v, "String"):  # a str subclass (a caller's marked string): as str
        text = str.__str__(v)
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
    pipe = node.pipe
    if pipe.decl:
        ev = compile_pipeline(pipe)

        def run_assign(st: State, dot: Any) -> None:
            st.node = node
            ev(st, dot)

        return run_assign
    cmd = single_command(pipe)
    if cmd is None:
        ev = compile_pipeline(pipe)

        def run_pipeline(st: State, dot: Any) -> None:
            st.node = node
            print_value(st, node, ev(st, dot))

        return run_pipeline
    one = cmd

    def run_action(st: State, dot: Any) -> None:
        st.node = pipe  # Go: at(action), then evalPipeline's at(pipe)
        v = one(st, dot, NOFINAL)
        if type(v) is str and st.finalize is None:
            st.write(v)
        else:
            print_value(st, node, MISSING if v is None else v)

    return run_action


def _declares(lst: N.ListNode | None) -> bool:
    """Whether running the list pushes variables that outlive its statements (a control structure, which pops
    its own, does not count)."""
    return lst is not None and any(isinstance(n, N.ActionNode) and n.pipe.decl for n in lst.nodes)


def _if_with(node: N.BranchNode, body: Run, else_body: Run | None) -> Run:
    ev = compile_pipeline(node.pipe)
    if isinstance(node, N.IfNode) and not (node.pipe.decl or _declares(node.list) or _declares(node.else_list)):
        def run_if(st: State, dot: Any) -> None:  # nothing to pop, dot unchanged: no bookkeeping
            st.node = node
            if V.is_true(ev(st, dot)):
                body(st, dot)
            elif else_body is not None:
                else_body(st, dot)

        return run_if
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


def _range(node: N.RangeNode, body: Run, else_body: Run | None, site: bool = False) -> Run:
    ev = compile_pipeline(node.pipe)
    loop = _range_loop(node, body, site)

    def run_range(st: State, dot: Any) -> None:
        st.node = node
        mark = len(st.vars)
        saved_iface = st.dot_iface
        try:
            val = ev(st, dot)
            if not loop(st, val) and else_body is not None:
                st.dot_iface = saved_iface
                else_body(st, dot)
        except Break:
            return
        finally:
            st.dot_iface = saved_iface
            del st.vars[mark:]

    return run_range


def _range_loop(node: N.RangeNode, body: Run, site: bool) -> Callable[[State, Any], bool]:
    """One range over val; False when it ran no iteration (the else branch's turn)."""
    run_items = memo_items(node, _range_items(node, body)) if site else _range_items(node, body)
    ndecl = len(node.pipe.decl)

    def loop(st: State, val: Any) -> bool:
        k = V.kind_of(val)
        if k == V.SLICE:
            pairs = SlicePairs(val) if not isinstance(val, (bytes, bytearray)) else enumerate(map(V.Uint8, val))
            run_items(st, pairs, V.elem_is_iface(val))
            return len(val) > 0
        if k == V.MAP:
            items = V.sorted_items(val)
            run_items(st, items, V.elem_is_iface(val))
            return len(items) > 0
        if k in (V.INT, V.UINT):
            if ndecl > 1:
                raise st.error(f"can't use {sprintf('%v', val)} to iterate over more than one variable")
            run_items(st, ((MISSING, type(val)(i)) for i in range(int(val))), False)
            return int(val) > 0
        if k in (V.INVALID, V.NIL):
            return False
        shown = sprint_action(val) if k == V.PTR else sprintf("%v", val)
        raise st.error(f"range can't iterate over {shown}")

    return loop


def _range_items(node: N.RangeNode, body: Run) -> Callable[[State, Any, bool], None]:
    """Go's oneIteration over (index, element) pairs: set the range's variables, run the body with the element
    as dot, catch {{continue}}, pop what the body declared."""
    decl = [v.ident[0] for v in node.pipe.decl]
    ndecl, assign = len(decl), node.pipe.is_assign
    pops = _declares(node.list)

    def run_items(st: State, pairs: Any, iface: bool) -> None:
        mark = len(st.vars)
        st.dot_iface = iface
        for index, elem in pairs:
            if ndecl:
                if assign:
                    st.set_var(decl[0], index if ndecl > 1 else elem, iface and ndecl == 1)
                    if ndecl > 1:
                        st.set_var(decl[1], elem, iface)
                else:
                    st.vars[-1][1:] = (elem, iface)
                    if ndecl > 1:
                        st.vars[-2][1:] = (index, False)
            try:
                body(st, elem)
            except Continue:
                pass
            if pops or len(st.vars) > mark:
                del st.vars[mark:]

    return run_items


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
        saved = (st.tmpl, st.vars, st.dot_iface, st.leaf)
        st.enter(compiled.frames, compiled.leaf)
        try:
            new_dot = ev(st, dot)
            st.tmpl, st.vars, st.dot_iface, st.leaf = tmpl, [["$", new_dot, False]], False, compiled.leaf
            compiled.body(st, new_dot)
        finally:
            st.tmpl, st.vars, st.dot_iface, st.leaf = saved
            st.leave(compiled.frames)

    return run_template


def execute(tmpl: Template, data: Any, *, frames: int = 0, budget: int | None = None, depth: int = 0,
            memo: RangeMemo | None = None) -> str:
    """Run `tmpl` over `data` and return what it writes; ExecError (with .output) when it fails. `memo` keeps
    the iterations of the memo sites (memo.py) between executions."""
    dot = MISSING if data is None else data
    st = State(tmpl, dot, frames, budget, depth)
    st.data = data
    st.memo = memo
    compiled = tmpl.compiled()
    try:
        if compiled is None:
            raise st.error(f"{quote(tmpl.name)} is an incomplete or empty template")
        st.enter(compiled.frames, compiled.leaf)
        st.leaf = compiled.leaf
        compiled.body(st, dot)
    except ExecError as e:
        e.output = "".join(st.out)
        raise
    except RecursionError:
        err = st.error("Python stack exhausted (templates or a value nested too deeply)", ExecDepthError)
        err.output = "".join(st.out)
        raise err from None
    return "".join(st.out)


def run_nested(st: State, name: str, data: Any) -> str:
    """ExecContext.execute_template: another template of the set, within the caller's depth budget."""
    tmpl = st.tmpl.lookup(name)
    if tmpl is None:
        raise TemplateError(f"template: no template {quote(name)} associated with template {quote(st.tmpl.name)}")
    return execute(tmpl, data, frames=st.nested_frames(), budget=st.frame_budget, depth=st.depth, memo=st.memo)
