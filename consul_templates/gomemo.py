"""Re-use a Go `range` iteration's text when nothing it read has changed since the last render: the `.ctmpl`
twin of loopmemo.py.

A consul-template file over a whole catalog (`range services` with `range service .Name` inside) runs every
instance through the engine on every change, though one change moves one service: at 5,000 services x 10
instances that is ~400 ms per change. The engine (portside.gotemplate.memo) finds, at compile time, the ranges
whose bodies depend only on their element and on the functions named in PURE; `GoLoopMemo` keeps each such
iteration's text with what it read: the store value of each dependency, by identity (the store hands out the
same immutable value until that dependency changes). An iteration over the same element whose reads all return
the same values gets the kept text; the file is still rendered whole, and is byte for byte what a full render
gives.

Keyed only on values that cannot change while alive (strings, numbers, consul-template's frozen records); any
other element runs every time. A read that had no data yet, or that blocks the render (a `key` that does not
exist, an empty `safeLs`), is never kept: it must be read again.
"""

from __future__ import annotations

from operator import is_
from typing import Any

from consul_templates.ctfuncs.source import ABSENT, BLOCKED, StoreSource
from consul_templates.ctfuncs.types import CONSUL_TYPES
from consul_templates.memobase import Checks, KeptRenders, Positions, ServiceCheck

# Go's builtins but `call` (it calls whatever function value it is given)
_BUILTINS = {"and", "or", "not", "len", "index", "slice", "print", "printf", "println", "eq", "ne", "lt", "le", "gt",
             "ge", "html", "js", "urlquery"}
# the functions that only read the store, through StoreSource (what they read is what the memo checks)
_STORE_READERS = {"service", "services", "key", "keyExists", "keyOrDefault", "ls", "safeLs", "tree", "safeTree",
                  "nodes", "node", "datacenters"}
# functions of their arguments alone; not env, timestamp, scratch, executeTemplate, loop, plugin, the sprig
# library or mergeMap (which writes into its first argument)
_PURE_LIBRARY = {
    "add", "subtract", "multiply", "divide", "modulo", "minimum", "maximum", "base64Decode", "base64Encode",
    "base64URLDecode", "base64URLEncode", "byKey", "byMeta", "byPort", "byTag", "contains", "containsAll",
    "containsAny", "containsNone", "containsNotAll", "explode", "explodeMap", "in", "indent", "join", "split",
    "splitToMap", "md5sum", "sha256Hex", "hmacSHA256Hex", "parseBool", "parseFloat", "parseInt", "parseJSON",
    "parseUint", "parseYAML", "regexMatch", "regexReplaceAll", "replaceAll", "toJSON", "toJSONPretty",
    "toUnescapedJSON", "toUnescapedJSONPretty", "toLower", "toUpper", "toTitle", "toTOML", "toYAML", "trim",
    "trimPrefix", "trimSuffix", "trimSpace"}
PURE = frozenset(_BUILTINS | _STORE_READERS | _PURE_LIBRARY)

_FROZEN = frozenset({str, int, float, bool, type(None), *CONSUL_TYPES})


def _keyable(value: Any) -> bool:
    return type(value) in _FROZEN or isinstance(value, str | int | float)  # Tainted, Uint64: as immutable


# an iteration's element (kept alive: its id is part of the key), reads, text, the dependencies it read, and for
# an iteration that read one service: (datacenter, name, the catalog's value its view was made from)
Entry = tuple[Any, tuple[tuple[Any, Any], ...], str, frozenset[Any], ServiceCheck]
# a whole range: its elements (kept alive: their ids are the entries' keys), each one's key and entry, the
# union of what they read, their checks, where each key is, and each one's text
Walk = tuple[tuple[Any, ...], list[tuple[Any, ...]], list[Entry], frozenset[Any], Checks, Positions, list[str]]


class GoLoopMemo(KeptRenders[Entry, Walk]):
    """The kept iterations of one template's memo sites, from the last render and the current one
    (portside.gotemplate.memo.RangeMemo)."""

    def __init__(self) -> None:
        super().__init__()
        self._open: tuple[tuple[int, bool], Walk, list[int]] | None = None  # the walk a range is going through
        self.source: StoreSource | None = None

    def begin(self, source: StoreSource) -> None:
        self.source = source
        self.bind(source.store)

    def end(self, complete: bool) -> None:
        super().end(complete)
        self.source = None

    def get(self, site: int, key: tuple[Any, Any, Any]) -> str | None:
        iface, index, elem = key
        if not (_keyable(elem) and _keyable(index)):
            return None
        k = (site, iface, index, id(elem))
        entry = self.find(k)
        if entry is None or entry[0] is not elem:
            return None
        source = self.source
        assert source is not None
        if not self.still(entry[4]):
            get = self.store.get
            for dep, value in entry[1]:
                if get(dep, ABSENT) is not value:
                    return None
        self.hits += 1
        self.now[k] = entry
        source.used.update(entry[3])
        if source.trail is not None:
            source.trail.extend(entry[1])
        return entry[2]

    # ---- a whole range ------------------------------------------------------------------------------------------
    # The same range over the same elements as before (the store hands out the same list until the service list
    # moves): each iteration that read one service is kept while the catalog holds the same object for it, in one
    # pass; the others are left to get() and, if need be, a run.
    def walk(self, site: int, iface: bool, elems: list[Any]) -> tuple[list[str], list[int]] | None:
        wkey = (site, iface)
        w = self.walks_now.get(wkey) or self.walks_before.get(wkey)
        sources, source = self.sources, self.source
        assert source is not None
        if (w is None or sources is None or source.trail is not None or len(w[0]) != len(elems)
                or not all(map(is_, w[0], elems))):
            self._open = None
            return None
        again = w[4].failing(sources, self.catalogs)
        self.hits += len(elems) - len(again)
        # lent, not copied into `now`: an iteration left open is found there by get(), checked as before, and
        # only an entry kept in this run is in `now` when walked() looks
        self.lend(w[5], w[2])
        self._open = (wkey, w, again)
        return w[6], again

    def walked(self, site: int, iface: bool, elems: list[Any], done: bool) -> None:
        """Count the range's reads and keep it as a walk when every iteration of it is kept (one that read no
        data yet is not). The iterations left open counted their own reads.

        A walk is updated in place (its lists are 5,000 long; copying them, and later freeing the copies, cost
        ~1 ms per change in a daemon): what it holds after is what a new walk would hold, and only this site's
        walks share those lists."""
        opened, self._open = self._open, None
        source = self.source
        assert source is not None
        wkey = (site, iface)
        if opened is None or opened[0] != wkey:
            self._keep_walk(wkey, elems)  # ran through get() and keep(), which counted each one's reads
            return
        _, w, again = opened
        elems_, keys, entries, reads, checks, positions, texts = w
        found = [self.now.get(keys[i]) for i in again] if done else [None]
        if None in found:
            # not kept (or the range raised): the other iterations' reads count all the same; the walk is left
            # as it was, and its open iterations are tested again next time
            left = set(again)
            source.used.update(*(e[3] for j, e in enumerate(entries) if j not in left))
            return
        same = all(e[3] == entries[i][3] for i, e in zip(again, found, strict=True))  # type: ignore[index]
        for i, entry in zip(again, found, strict=True):
            entries[i], texts[i] = entry, entry[2]  # type: ignore[index,assignment]
        if not same:
            reads = frozenset().union(*(e[3] for e in entries))
        source.used.update(reads)
        if again:
            checks.update({i: entries[i][4] for i in again})
        checks.verify(self.catalogs)  # each holds now: kept because it held, or made in this run
        self.walks_now[wkey] = (elems_, keys, entries, reads, checks, positions, texts)

    def _keep_walk(self, wkey: tuple[int, bool], elems: list[Any]) -> None:
        keys = [(wkey[0], wkey[1], None, id(e)) for e in elems]
        entries = [self.now.get(k) for k in keys]
        if all(e is not None for e in entries):
            kept: list[Entry] = entries  # type: ignore[assignment]
            checks = Checks([e[4] for e in kept])
            checks.verify(self.catalogs)
            self.walks_now[wkey] = (tuple(elems), keys, kept, frozenset().union(*(e[3] for e in kept)), checks,
                                    Positions(keys), [e[2] for e in kept])

    def start(self) -> Any:
        source = self.source
        assert source is not None
        outer, source.trail = source.trail, []
        return outer, source.trail

    def keep(self, site: int, key: tuple[Any, Any, Any], text: str, token: Any) -> None:
        self.misses += 1
        trail = self._close(token)
        iface, index, elem = key
        if _keyable(elem) and _keyable(index) and all(v is not ABSENT and v is not None and v is not BLOCKED
                                                      for _, v in trail):
            self.now[(site, iface, index, id(elem))] = (elem, tuple(trail), text, frozenset(d for d, _ in trail),
                                                        self.service_check(trail))

    def abort(self, token: Any) -> None:
        self._close(token)

    def _close(self, token: Any) -> list[tuple[Any, Any]]:
        """The iteration's reads; they count as the enclosing iteration's too, if one is being recorded."""
        outer, trail = token
        source = self.source
        assert source is not None
        source.trail = outer
        if outer is not None:
            outer.extend(trail)
        return trail  # type: ignore[no-any-return]
