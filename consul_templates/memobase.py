"""What the two loop memos share (loopmemo.py for Jinja2, gomemo.py for Go templates): the kept entries and whole
loops of the last render and of the current one, the store a kept text is checked against, and the check that
makes a whole loop cheap.

The check: an iteration that read exactly one service is kept while the catalog holds the same object for that
service. The store's view of a service is made from that catalog entry alone (watch.Store keeps its views by
the same object), so the same object means the same view: one dict lookup instead of a store read.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from itertools import compress
from operator import is_, not_
from typing import Any, Generic, TypeVar

from consul_templates.functions import ABSENT

# an iteration that read one service: (datacenter, name, the catalog's value its view was made from)
ServiceCheck = tuple[Any, str, object] | None
_NEVER = object()  # what no catalog value is: an iteration without a check is always looked at again
_MIXED = object()  # checks of more than one datacenter (or none)


class Checks:
    """A whole loop's checks, one per iteration, kept as two lists when they are of one datacenter so that
    testing them all is one pass of C-level map (at 5,000 iterations ~0.3 ms instead of ~1.5 ms in a loop).

    Better still, `verified` is the catalog they all held in (set by the memo once they did): the next test
    asks the current catalog which services moved since then (`Catalog.moved_since`) and tests only their
    iterations. In a daemon the full pass took ~1.2-1.8 ms of every change at 5,000 services."""

    __slots__ = ("items", "dc", "names", "objects", "verified", "_index")

    def __init__(self, items: list[ServiceCheck]) -> None:
        self.items = items
        dcs = {c[0] for c in items if c is not None}
        self.dc = next(iter(dcs)) if len(dcs) == 1 else _MIXED
        self.names = [None if c is None else c[1] for c in items]
        self.objects = [_NEVER if c is None else c[2] for c in items]
        self.verified: Any = None
        self._index: dict[Any, list[int]] | None = None

    def update(self, changes: Mapping[int, ServiceCheck]) -> None:
        """Some checks replaced, in place: a walk is updated in place, and holds its checks alone."""
        items = self.items
        for i, check in changes.items():
            items[i] = check
        self.verified = None
        if self.dc is _MIXED or any(c is not None and c[0] != self.dc for c in changes.values()):
            self.__init__(items)  # type: ignore[misc]
            return
        index = self._index
        for i, check in changes.items():
            name = None if check is None else check[1]
            if index is not None and name != self.names[i]:
                # an iteration that now reads another service (or none) is listed under that name too: the index
                # may list an iteration under more names than it reads (each candidate is tested anyway)
                listed = index.setdefault(name, [])
                if i not in listed:
                    listed.append(i)
            self.names[i] = name
            self.objects[i] = _NEVER if check is None else check[2]

    def failing(self, sources: Mapping[Any, Mapping[str, Any]], catalogs: Mapping[Any, Any] | None = None) -> list[int]:
        """The iterations whose check does not hold now (those without a check included), in order. `catalogs`
        (each datacenter's Catalog, whose `services` are `sources`) lets a verified set test only what moved."""
        moved = self._moved(catalogs)
        if moved is not None:
            current: Mapping[Any, Any] = sources.get(self.dc) or {}
            index, names, objects = self._indexed(), self.names, self.objects
            candidates = sorted({i for name in moved for i in index.get(name, ())} | set(index.get(None, ())))
            return [i for i in candidates if current.get(names[i]) is not objects[i]]
        if self.dc is not _MIXED:
            services: Mapping[Any, Any] | None = sources.get(self.dc)
            if services is None:
                return list(range(len(self.items)))
            same = list(map(is_, map(services.get, self.names), self.objects))
            return [] if all(same) else list(compress(range(len(same)), map(not_, same)))
        out = []
        for i, check in enumerate(self.items):  # checks of several datacenters
            if check is not None:
                services = sources.get(check[0])
                if services is not None and services.get(check[1]) is check[2]:
                    continue
            out.append(i)
        return out

    def _moved(self, catalogs: Mapping[Any, Any] | None) -> frozenset[str] | None:
        if self.verified is None or catalogs is None or self.dc is _MIXED:
            return None
        now = catalogs.get(self.dc)
        return None if now is None else now.moved_since(self.verified)

    def _indexed(self) -> dict[Any, list[int]]:
        """Service name -> the iterations that read it, and maybe some that read it once (None: those with no
        check, always tested)."""
        if self._index is None:
            index: dict[Any, list[int]] = {}
            for i, name in enumerate(self.names):
                index.setdefault(name, []).append(i)
            self._index = index
        return self._index

    def verify(self, catalogs: Mapping[Any, Any] | None) -> None:
        """Every check holds in the current catalogs (the memo just tested or made them all)."""
        self.verified = None if catalogs is None or self.dc is _MIXED else catalogs.get(self.dc)


E = TypeVar("E")
W = TypeVar("W")
_LENT_KEPT = 16  # loans carried over renders that did not finish (each only saves running its iterations again)


class Positions:
    """Where each key of a whole loop's entries is: the loop's kept entries are lent to the render as they are
    (`KeptRenders.lend`) instead of copied one by one into `now`, which cost ~0.5 ms per render at 5,000. The map
    is made the first time one of them is looked for, and shared by the loop's later versions (same keys)."""

    __slots__ = ("keys", "_at")

    def __init__(self, keys: Sequence[Any]) -> None:
        self.keys = keys
        self._at: dict[Any, int] | None = None

    def find(self, key: Any, entries: Sequence[Any]) -> Any:
        at = self._at
        if at is None:
            at = self._at = {k: i for i, k in enumerate(self.keys)}
        i = at.get(key)
        return None if i is None else entries[i]


class KeptRenders(Generic[E, W]):
    """The entries (E) and whole loops (W) of the last render and of the current one; hit and miss counts.

    An entry is found in `now` or `before` (kept one by one) or in a whole loop's entries lent to the render; a
    found entry is only a candidate: the memo checks what it read before it is used, and moves it into `now`."""

    def __init__(self) -> None:
        self.before: dict[Any, E] = {}
        self.now: dict[Any, E] = {}
        self.lent_before: list[tuple[Positions, Sequence[E]]] = []
        self.lent_now: list[tuple[Positions, Sequence[E]]] = []
        self.walks_before: dict[Any, W] = {}
        self.walks_now: dict[Any, W] = {}
        self.store: Mapping[Any, Any] = {}
        self.sources: Mapping[Any, Mapping[str, Any]] | None = None
        self.catalogs: Mapping[Any, Any] | None = None  # each datacenter's Catalog, while `sources` are theirs
        self.hits = self.misses = 0

    def bind(self, store: Mapping[Any, Any]) -> None:
        """A render begins over `store`."""
        self.store = getattr(store, "fast", store)  # the store itself while nothing is filtered out
        # each datacenter's services by name, while every service read is the store's own view of them
        sources = getattr(self.store, "service_sources", None)
        self.sources = sources() if sources is not None else None
        catalogs = getattr(self.store, "service_catalogs", None)
        self.catalogs = catalogs() if catalogs is not None and self.sources is not None else None

    def find(self, key: Any) -> E | None:
        """The entry kept under `key`, if any (to be checked)."""
        entry = self.now.get(key) or self.before.get(key)
        if entry is None:
            for positions, entries in self.lent_now:
                entry = positions.find(key, entries)
                if entry is not None:
                    return entry  # type: ignore[no-any-return]
            for positions, entries in self.lent_before:
                entry = positions.find(key, entries)
                if entry is not None:
                    return entry  # type: ignore[no-any-return]
        return entry

    def lend(self, positions: Positions, entries: Sequence[E]) -> None:
        """A whole loop's entries, findable in this render and the next without being copied into `now`."""
        self.lent_now.append((positions, entries))

    def end(self, complete: bool) -> None:
        """After a render: keep what it used (all of it, if it finished), drop what it did not."""
        if complete:
            self.before, self.now = self.now, {}
            self.walks_before, self.walks_now = self.walks_now, {}
            self.lent_before, self.lent_now = self.lent_now, []
        else:
            self.before.update(self.now)
            self.now = {}
            self.walks_before.update(self.walks_now)
            self.walks_now = {}
            self.lent_before = (self.lent_now + self.lent_before)[:_LENT_KEPT]
            self.lent_now = []
        self.store, self.sources, self.catalogs = {}, None, None

    def service_check(self, trail: Sequence[tuple[Any, Any]]) -> ServiceCheck:
        """The check of an iteration that read `trail`: for one service read, what its view was made from."""
        if len(trail) != 1:
            return None
        dep, value = trail[0]
        source_of = getattr(self.store, "source_of", None)
        source = source_of(dep, value) if source_of is not None else ABSENT
        return None if source is ABSENT else (dep.dc, dep.name, source)

    def still(self, check: ServiceCheck) -> bool:
        """Whether an iteration with this check reads the same view now."""
        if check is None or self.sources is None:
            return False
        services = self.sources.get(check[0])
        return services is not None and services.get(check[1]) is check[2]
