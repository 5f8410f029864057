"""Ranges whose iterations a caller may keep between executions (not in Go: an optimisation the caller opts into).

A template executed again and again over mostly unchanged data (consul-template's `range services` with
`range service .Name` inside, re-rendered on every catalog change) spends its time re-running iterations whose
text cannot have changed. `Template.memoize(pure)` names the functions the caller vouches for: functions whose
result depends only on their arguments and on reads the caller's memo sees. A `range` whose body can then only
depend on its element (and index) and on those functions is a memo site: at run time each iteration asks the
`RangeMemo` given to `execute` for its kept text, and hands over the text it wrote when it had to run.

What makes a body a function of its element, checked on the parse tree (`pure_range`):
- every variable it reads or assigns is declared inside the body (or by the range itself): no `$`, no outer
  variable, so nothing set between iterations can reach it;
- every function it calls is one the caller named pure (so no `call`, no function the caller did not vouch for);
- no `{{template}}`/`{{block}}` (another tree, which this check does not see);
- no `{{break}}`/`{{continue}}` of this range (an inner range's own are fine): its iterations are independent.
Fields and methods of the element are read as they are; the memo decides at run time which elements it keys on
(values that cannot change while alive), and renders the others every time.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, Protocol

from portside.gotemplate import nodes as N

if TYPE_CHECKING:
    from portside.gotemplate.exec_state import State

RunItems = Callable[["State", Any, bool], None]  # exec_walk's run_items: a range's (index, element) pairs


class RangeMemo(Protocol):
    """The caller's store of kept iterations for one execution (`Template.execute(data, memo=...)`)."""

    def get(self, site: int, key: tuple[Any, ...]) -> str | None:
        """The kept text of the iteration at `site` (the range node's id) with `key` (whether dot is an
        interface value, the index or None when the body cannot see it, the element), or None: then it runs and
        `keep` or `abort` follows."""

    def start(self) -> Any:
        """An iteration begins to run: what it reads from now on is its own (returns what `keep` needs)."""

    def keep(self, site: int, key: tuple[Any, ...], text: str, token: Any) -> None:
        """The iteration ran and wrote `text`."""

    def abort(self, token: Any) -> None:
        """The iteration raised: nothing is kept."""

    def walk(self, site: int, iface: bool, elems: list[Any]) -> tuple[Sequence[str], Sequence[int]] | None:
        """A range whose body cannot see the index, as a whole, before its iterations: the kept text of each
        element and the positions (ascending) where that text may be stale, for `get` and maybe a run to decide;
        None when the memo has nothing to say. The texts are the memo's own: read, never changed."""

    def walked(self, site: int, iface: bool, elems: list[Any], done: bool) -> None:
        """The range is over (after `walk`, always): `done` is False if an iteration raised."""


def pure_range(node: N.RangeNode, pure: frozenset[str]) -> bool:
    """Whether the range's body is a function of its element, index and the `pure` functions (module docstring)."""
    pipe = node.pipe
    if pipe.is_assign:  # `range $x = ...` sets an outer variable on every iteration
        return False
    declared = {v.ident[0] for v in pipe.decl}
    return _list(node.list, pure, declared, 0)


def _list(lst: N.ListNode | None, pure: frozenset[str], declared: set[str], loops: int) -> bool:
    return lst is None or all(_node(n, pure, declared, loops) for n in lst.nodes)


def _node(n: N.Node, pure: frozenset[str], declared: set[str], loops: int) -> bool:
    if isinstance(n, N.TextNode | N.CommentNode):
        return True
    if isinstance(n, N.ActionNode):
        return _pipe(n.pipe, pure, declared)
    if isinstance(n, N.BranchNode):
        inner = loops + 1 if isinstance(n, N.RangeNode) else loops
        scope = set(declared)  # what the structure declares ends at its {{end}}
        return (_pipe(n.pipe, pure, scope) and _list(n.list, pure, scope, inner)
                and _list(n.else_list, pure, scope, loops))
    if isinstance(n, N.BreakNode | N.ContinueNode):
        return loops > 0
    return False  # {{template}}, and anything the parser may make later


def _pipe(pipe: N.PipeNode | None, pure: frozenset[str], declared: set[str]) -> bool:
    if pipe is None:
        return True
    if not all(_arg(a, pure, declared) for c in pipe.cmds for a in c.args):
        return False
    names = {v.ident[0] for v in pipe.decl}
    if pipe.is_assign:
        return names <= declared
    declared |= names  # in the current scope: a nested structure works on a copy
    return True


def _arg(a: N.Node, pure: frozenset[str], declared: set[str]) -> bool:
    if isinstance(a, N.IdentifierNode):
        return a.ident in pure
    if isinstance(a, N.VariableNode):
        return a.ident[0] in declared
    if isinstance(a, N.ChainNode):
        return _arg(a.node, pure, declared)
    if isinstance(a, N.PipeNode):
        return _pipe(a, pure, declared)
    return isinstance(a, N.FieldNode | N.DotNode | N.NilNode | N.BoolNode | N.NumberNode | N.StringNode)


class SlicePairs:
    """A slice's (index, element) pairs, made one at a time as a range runs them; a memo site reads the elements
    as they are (at 5,000 elements the pairs cost ~1 ms in allocation and garbage collection per render)."""

    __slots__ = ("items",)

    def __init__(self, items: list[Any]) -> None:
        self.items = items

    def __iter__(self) -> Any:
        return enumerate(self.items)


def memo_items(node: N.RangeNode, plain: RunItems) -> RunItems:
    """run_items of a memo site: an iteration the execution's memo has kept is written as kept; one it has not
    runs as `plain` runs it, into a buffer of its own, and is handed to the memo."""
    site = id(node)
    indexed = len(node.pipe.decl) > 1  # the body sees the index only through a second variable

    def run_items(st: State, pairs: Any, iface: bool) -> None:
        memo = st.memo
        if memo is None:
            plain(st, pairs, iface)
            return
        if not indexed:
            if type(pairs) is SlicePairs:
                _walk(st, memo, site, pairs.items, None, iface, plain)
            else:
                listed = list(pairs)
                _walk(st, memo, site, [e for _, e in listed], [i for i, _ in listed], iface, plain)
            return
        for index, elem in pairs:
            key = (iface, index, elem)
            text = memo.get(site, key)
            if text is None:
                text = _run_kept(st, memo, site, key, index, plain)
            st.write(text)

    return run_items


def _walk(st: State, memo: RangeMemo, site: int, elems: list[Any], indexes: list[Any] | None, iface: bool,
          plain: RunItems) -> None:
    """A range the memo may answer as a whole: 5,000 kept iterations cost one call and one extend. `indexes`:
    each element's index or key (None: its position)."""
    kept = memo.walk(site, iface, elems)
    done = False
    try:
        if kept is None:
            for i, elem in enumerate(elems):
                st.write(_iteration(st, memo, site, iface, i if indexes is None else indexes[i], elem, plain))
        else:
            _patched(st, memo, site, iface, elems, indexes, plain, *kept)
        done = True
    finally:
        memo.walked(site, iface, elems, done)


def _patched(st: State, memo: RangeMemo, site: int, iface: bool, elems: list[Any], indexes: list[Any] | None,
             plain: RunItems, texts: Sequence[str], again: Sequence[int]) -> None:
    """The kept texts written as they are, in one extend (neither copied nor joined first: at 5,000 services
    each pass over them cost ~0.3-0.5 ms in a daemon), then each position in `again` overwritten with what
    its iteration gives. An iteration that raises leaves the output as a plain range leaves it: what came
    before it, then what it wrote."""
    out = st.out
    base = len(out)
    out.extend(texts)
    end = len(out)
    for i in again:
        try:
            out[base + i] = _iteration(st, memo, site, iface, i if indexes is None else indexes[i], elems[i], plain)
        except BaseException:
            partial = out[end:]  # what the failing iteration wrote (after the kept texts)
            del out[base + i:]
            out.extend(partial)
            raise


def _iteration(st: State, memo: RangeMemo, site: int, iface: bool, index: Any, elem: Any, plain: RunItems) -> str:
    key = (iface, None, elem)
    text = memo.get(site, key)
    return _run_kept(st, memo, site, key, index, plain) if text is None else text


def _run_kept(st: State, memo: RangeMemo, site: int, key: tuple[Any, Any, Any], index: Any, plain: RunItems) -> str:
    """One iteration, run, its text handed to the memo. What it wrote before an error is still written."""
    out, write = st.out, st.write
    buf: list[str] = []
    st.out, st.write = buf, buf.append
    token = memo.start()
    try:
        plain(st, ((index, key[2]),), key[0])
    except BaseException:
        memo.abort(token)
        st.out, st.write = out, write
        out.extend(buf)
        raise
    st.out, st.write = out, write
    text = "".join(buf)
    memo.keep(site, key, text, token)
    return text
