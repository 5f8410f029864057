"""Re-use a `{% for %}` iteration's text when nothing it read has changed since the last render.

A template over a whole catalog (`for s in services()` with `service(s.name)` inside) renders every instance on
every change, though one change moves one service: at 5,000 services x 10 instances that is ~100 ms of Python
per change. This keeps the whole-file contract (the file is still written whole, and is exactly what a full
render gives) and skips the work whose inputs are unchanged.

`plan()` rewrites, at compile time, each loop whose body is provably a function of its inputs: the loop
variables, the outer variables it names, and what it reads through the store functions (`service`, `key`,
...). Such a body becomes a call of `LoopMemo`, which renders it as a template of its own and keeps the text
with what it read: the store value of each dependency, by identity (the store hands out the same immutable
value until that dependency changes). A later iteration with the same inputs whose reads all return the same
values gets the kept text. Anything that could make the text depend on something else keeps the loop as it
is: `loop`, `{% set %}`, macros, includes, calls other than the store functions and a list of pure ones,
filters or tests outside Jinja's pure built-ins and ours. At run time an iteration is kept only when its inputs
cannot change while alive (strings, numbers, the catalog's frozen values, tuples of them): a `namespace()` or an
outer loop object passed in is rendered every time.

A loop handed over whole (one loop variable, no else, no condition) over the same objects as in the last render
is checked faster: an iteration that read one service is kept while the catalog holds the same object for that
service (the store's view of a service is made from it alone), one dict lookup instead of a store read.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from operator import is_
from typing import Any, cast

import jinja2
from jinja2 import nodes

from consul_templates.functions import ABSENT, Instance, KeyPair, Node, ServiceSummary
from consul_templates.memobase import Checks, KeptRenders, Positions, ServiceCheck
from portside.catalog import Check, FrozenMap

MEMO_NAME = "__portside_loop_memo"
MEMO_LOOP_NAME = "__portside_loop_memo_all"

# the template functions that only read the store (functions.make_functions); env() reads the environment
STORE_READERS = frozenset({"services", "service", "key", "key_or_default", "tree", "ls", "nodes", "datacenters"})
PURE_GLOBALS = frozenset({"empty_upstream", "range", "dict"})
PURE_FILTERS = frozenset(jinja2.filters.FILTERS) - {"random"} | {"nginx_quote", "json"}
PURE_TESTS = frozenset(jinja2.tests.TESTS)
PURE_METHODS = frozenset({"upper", "lower", "title", "capitalize", "strip", "lstrip", "rstrip", "split", "rsplit",
                          "replace", "startswith", "endswith", "join", "format", "count", "find", "items", "keys",
                          "values", "get"})
RESERVED = frozenset({"loop", "self", "caller", "varargs", "kwargs", "super", MEMO_NAME, MEMO_LOOP_NAME})
_PLAIN = (nodes.Output, nodes.TemplateData, nodes.Const, nodes.Getattr, nodes.Getitem, nodes.Slice,
          nodes.CondExpr, nodes.If, nodes.Compare, nodes.Operand, nodes.BinExpr, nodes.UnaryExpr, nodes.Concat,
          nodes.List, nodes.Tuple, nodes.Dict, nodes.Pair, nodes.Keyword)


class _Impure(Exception):
    """The body may depend on something the memo does not see."""


def _free_names(body: list[nodes.Node], bound: frozenset[str]) -> list[str]:
    """Names `body` loads that it does not bind, in first-seen order; raises _Impure for anything else."""
    free: dict[str, None] = {}
    for node in body:
        _visit(node, bound, free)
    return list(free)


def _visit(node: nodes.Node, bound: frozenset[str], free: dict[str, None]) -> None:
    if isinstance(node, nodes.Name):
        if node.ctx != "load" or node.name in RESERVED:
            raise _Impure(node.name)
        if node.name not in bound:
            free[node.name] = None
        return
    if isinstance(node, nodes.For):
        if node.recursive:
            raise _Impure("recursive loop")
        _visit(node.iter, bound, free)
        inner = bound | {"loop", *_target_names(node.target)}
        for child in (*node.body, *([node.test] if node.test else [])):
            _visit(child, inner, free)
        for child in node.else_:
            _visit(child, bound, free)
        return
    if isinstance(node, nodes.Call):
        _check_callee(node.node, bound)
    elif isinstance(node, nodes.Filter):
        if node.name not in PURE_FILTERS or _names_random(node):
            raise _Impure(f"filter {node.name}")
    elif isinstance(node, nodes.Test):
        if node.name not in PURE_TESTS:
            raise _Impure(f"test {node.name}")
    elif not isinstance(node, _PLAIN):
        raise _Impure(type(node).__name__)
    for child in node.iter_child_nodes():
        if isinstance(node, nodes.Call) and child is node.node and isinstance(child, nodes.Name):
            continue  # a store function or a pure global, checked above
        _visit(child, bound, free)


def _check_callee(callee: nodes.Node, bound: frozenset[str]) -> None:
    if isinstance(callee, nodes.Name):
        if callee.name in bound or callee.name not in STORE_READERS | PURE_GLOBALS:
            raise _Impure(f"call of {callee.name}")
    elif not (isinstance(callee, nodes.Getattr) and callee.attr in PURE_METHODS):
        raise _Impure("call")


def _target_names(target: nodes.Node) -> list[str]:
    if isinstance(target, nodes.Name):
        return [target.name]
    return [n.name for n in target.find_all(nodes.Name)]


def _names_random(node: nodes.Filter) -> bool:
    """map('random') and the like pick a filter by name."""
    return any(isinstance(a, nodes.Const) and a.value == "random" for a in node.args)


Blocks = list[tuple[jinja2.Template, tuple[str, ...]]]


def plan(env: jinja2.Environment, tree: nodes.Template) -> Blocks:
    """Rewrite every outermost memoizable loop of `tree` in place; return each one's body as a template, with
    the names its call passes (the loop variables, then the outer names the body reads). The rewritten loops call
    env.filters[MEMO_NAME] (one iteration) or [MEMO_LOOP_NAME] (a whole loop), which must be a LoopMemo's
    `__call__` and `loop`, holding these blocks, when `tree` is compiled."""
    blocks: Blocks = []
    _rewrite(env, tree, blocks)
    return blocks


def _rewrite(env: jinja2.Environment, node: nodes.Node, blocks: Blocks) -> None:
    for field in node.fields:
        value = getattr(node, field)
        if isinstance(value, list):
            setattr(node, field, [_statement(env, child, blocks) if isinstance(child, nodes.Node) else child
                                  for child in value])
        elif isinstance(value, nodes.Node):
            _rewrite(env, value, blocks)


def _statement(env: jinja2.Environment, node: nodes.Node, blocks: Blocks) -> nodes.Node:
    """`node`, or what replaces it when it is a memoizable loop; a loop that is not is searched inside."""
    if isinstance(node, nodes.For) and not node.recursive:
        targets = _target_names(node.target)
        try:
            names = (*targets, *_free_names(node.body, frozenset(targets)))
        except _Impure:
            names = ()
        if names and not any(n in RESERVED for n in targets):
            return _memoized(env, node, names, blocks)
    _rewrite(env, node, blocks)
    return node


def _memoized(env: jinja2.Environment, loop: nodes.For, names: tuple[str, ...], blocks: Blocks) -> nodes.Node:
    lineno = loop.lineno
    blocks.append((env.from_string(nodes.Template(loop.body, lineno=lineno)), names))
    block = nodes.Const(len(blocks) - 1, lineno=lineno)
    # filters, not functions: Jinja calls a filter directly, a function through the sandbox's checks
    if isinstance(loop.target, nodes.Name) and not loop.else_ and loop.test is None:
        # the whole loop in one call: no Jinja machinery per iteration (5,000 iterations cost ~20 ms with it)
        free = [nodes.Name(n, "load", lineno=lineno) for n in names[1:]]
        return nodes.Output([nodes.Filter(loop.iter, MEMO_LOOP_NAME, [block, *free], [], None, None,
                                          lineno=lineno)], lineno=lineno)
    args = [nodes.Name(n, "load", lineno=lineno) for n in names]
    loop.body = [nodes.Output([nodes.Filter(block, MEMO_NAME, args, [], None, None, lineno=lineno)], lineno=lineno)]
    return loop


# reads, text, the arguments (kept alive), the dependencies read (a set: adding it to another rehashes nothing)
# Values an iteration may be keyed on by identity: they cannot change while alive. A namespace(), a cycler or an
# outer `loop` can (`{% set ns.c = ns.c + 1 %}` between iterations): an iteration given one is rendered, not kept.
_FROZEN = frozenset({str, int, float, bool, type(None), Instance, ServiceSummary, Node, KeyPair, Check, FrozenMap})


def _immutable(value: Any, depth: int = 0) -> bool:
    kind = type(value)
    if kind in _FROZEN:
        return True
    if kind is tuple or kind is frozenset:
        return depth < 4 and all(_immutable(v, depth + 1) for v in value)
    return isinstance(value, str | int | float)  # their subclasses (Checked, Markup) are as immutable


Entry = tuple[tuple[tuple[Any, Any], ...], str, tuple[Any, ...], frozenset[Any]]
WalkCheck = ServiceCheck
# a whole loop: its items and outer values (kept alive: the ids of these objects are its keys), and per
# iteration the key, entry, text and check; the union of what they read; where each key is
Walk = tuple[tuple[Any, ...], tuple[Any, ...], list[tuple[int, ...]], list[Entry], list[str], Checks, frozenset[Any],
             Positions]


class Trusted:
    """A whole memoized loop's output, made of checked parts, on its way to `finalize`. Not a Checked: building
    a str subclass copies the text, and writing it out copies it again into a plain str; at 5,000 services
    that was two more copies of 1.5 MB on every change. `finalize` hands the plain text on as it is."""

    __slots__ = ("text",)

    def __init__(self, text: str) -> None:
        self.text = text


class LoopMemo(KeptRenders[Entry, Walk]):
    """The kept texts of one template's memoized loops, from the last render and the current one."""

    def __init__(self, concat: Callable[[Iterable[str]], str]) -> None:
        super().__init__()
        self.blocks: list[tuple[jinja2.Template, tuple[str, ...]]] = []
        self.concat = concat
        self.reads: Any = None
        self.context: dict[str, Any] = {}

    def begin(self, store: Mapping[Any, Any], reads: Any, context: dict[str, Any]) -> None:
        self.bind(store)
        self.reads, self.context = reads, context

    def end(self, complete: bool) -> None:
        super().end(complete)
        self.reads, self.context = None, {}

    def __call__(self, block: int, *args: Any) -> str:
        if not all(map(_immutable, args)):
            self.misses += 1
            return self._render(block, args)[0]
        # An entry keeps its arguments alive, so an entry found under their ids was made for these very objects.
        key = (block, *map(id, args))
        entry = self.find(key)
        if entry is not None:
            get = self.store.get
            for dep, value in entry[0]:
                if get(dep, ABSENT) is not value:
                    break
            else:
                self.hits += 1
                self.now[key] = entry
                self._replay(entry)
                return entry[1]
        self.misses += 1
        text, trail = self._render(block, args)
        if all(value is not ABSENT and value is not None for _, value in trail):
            # a read with no data (yet) is not kept: it must be read again
            self.now[key] = (trail, text, args, frozenset(dep for dep, _ in trail))
        return text

    def loop(self, items: Any, block: int, *free: Any) -> Trusted:
        """A whole loop (one loop variable, no else, no condition): each iteration as __call__ gives it. The
        same steps, inlined: this runs once per service of a template over the catalog, on every change."""
        now, find, get, used, outer = self.now, self.find, self.store.get, self.reads.used, self.reads.trail
        free_ids = tuple(map(id, free))
        if not all(map(_immutable, free)):
            return Trusted("".join([self(block, item, *free) for item in items]))
        # the same loop over the same objects as before (the store functions hand out new lists of them)
        walkable = self.sources is not None and outer is None and type(items) in (list, tuple)
        wkey = (block, *free_ids)
        walk = (self.walks_now.get(wkey) or self.walks_before.get(wkey)) if walkable else None
        if walk is not None and len(walk[0]) == len(items) and all(map(is_, walk[0], items)):
            return self._rewalk(wkey, walk, block)
        parts = []
        hits = 0
        for item in items:
            if type(item) not in _FROZEN and not _immutable(item):
                walkable = False
                parts.append(self(block, item, *free))
                continue
            key = (block, id(item), *free_ids)
            entry = find(key)
            if entry is not None:
                trail = entry[0]
                for dep, value in trail:
                    if get(dep, ABSENT) is not value:
                        break
                else:
                    now[key] = entry
                    used.update(entry[3])
                    if outer is not None:
                        outer.extend(trail)
                    parts.append(entry[1])
                    hits += 1
                    continue
            parts.append(self(block, item, *free))  # renders it (the kept text, if any, read something else)
        self.hits += hits
        if walkable:
            keys = [(block, id(item), *free_ids) for item in items]
            self._keep_walk(wkey, tuple(items), free, keys, [now.get(k) for k in keys], parts)
        return Trusted("".join(parts))

    # ---- a whole loop again: check each iteration by the catalog value it was made from -------------------------
    # A service's view is a function of its entry in the catalog, which keeps the same object while the service
    # does not change; checking that identity costs a dict lookup per iteration where the reads cost a store
    # lookup each, so a template over 5,000 services re-checks its loop in a fraction of the time.
    def _rewalk(self, wkey: tuple[int, ...], walk: Walk, block: int) -> Trusted:
        """The walk is updated in place once every changed iteration is kept (its lists are 5,000 long: copying
        them, and later freeing the copies, cost ~1 ms per change in a daemon); what it holds after is what a
        new walk would hold, and only this loop's walks share those lists."""
        items, free, keys, entries, parts, checks, reads, positions = walk
        sources = self.sources
        assert sources is not None
        again = checks.failing(sources, self.catalogs)
        self.hits += len(items) - len(again)
        # lent, not copied into `now`: a changed iteration goes the per-iteration way (kept if what it read is
        # unchanged, rendered otherwise), and only an entry kept in this render is in `now` after it
        self.lend(positions, entries)
        texts = {i: self(block, items[i], *free) for i in again}
        found = {i: self.now.get(keys[i]) for i in again}
        if None in found.values():
            # an iteration read something with no data yet: it must be read again, and the walk is left as it
            # was; the kept iterations' reads (the rendered ones counted theirs) are still this render's
            self.reads.used.update(*(e[3] for i, e in enumerate(entries) if i not in found))
            out = list(parts)
            for i, text in texts.items():
                out[i] = text
            return Trusted("".join(out))
        kept = cast("dict[int, Entry]", found)
        if any(e[3] != entries[i][3] for i, e in kept.items()):
            reads = frozenset().union(*(e[3] for i, e in enumerate(entries) if i not in kept),
                                      *(e[3] for e in kept.values()))
        for i, entry in kept.items():
            entries[i], parts[i] = entry, texts[i]
        if again:
            checks.update({i: self._check(entries[i]) for i in again})
        checks.verify(self.catalogs)  # each holds now: kept because it held, or made in this render
        self.walks_now[wkey] = (items, free, keys, entries, parts, checks, reads, positions)
        self.reads.used.update(reads)
        return Trusted("".join(parts))

    def _keep_walk(self, wkey: tuple[int, ...], items: tuple[Any, ...], free: tuple[Any, ...],
                   keys: list[tuple[int, ...]], entries: list[Entry | None], parts: list[str]) -> None:
        """Keep a loop whose every iteration was kept, with the check of each."""
        if None in entries:
            # an iteration read something with no data yet: it must be read again, and no walk is kept; the
            # kept iterations' reads (the rendered ones counted theirs) are still this render's
            self.reads.used.update(*(e[3] for e in entries if e is not None))
            return
        kept: list[Entry] = entries  # type: ignore[assignment]
        checks = Checks([self._check(e) for e in kept])
        checks.verify(self.catalogs)  # each holds now: kept because it held, or made in this render
        reads = frozenset().union(*(e[3] for e in kept))
        self.walks_now[wkey] = (items, free, keys, kept, parts, checks, reads, Positions(keys))
        self.reads.used.update(reads)

    def _check(self, entry: Entry) -> WalkCheck:
        return self.service_check(entry[0])

    def _replay(self, entry: Entry) -> None:
        """A kept text's reads count as this render's reads (what the watches follow)."""
        self.reads.used.update(entry[3])
        if self.reads.trail is not None:
            self.reads.trail.extend(entry[0])

    def _render(self, block: int, args: tuple[Any, ...]) -> tuple[str, tuple[tuple[Any, Any], ...]]:
        template, names = self.blocks[block]
        outer = self.reads.trail
        trail: list[tuple[Any, Any]] = []
        self.reads.trail = trail
        try:
            context = template.new_context({**self.context, **dict(zip(names, args, strict=True))})
            text = self.concat(template.root_render_func(context))
        finally:
            self.reads.trail = outer
            if outer is not None:
                outer.extend(trail)
        return text, tuple(trail)

