"""What the two loop memos share (loopmemo.py for Jinja2, gomemo.py for Go templates): the kept entries and whole
loops of the last render and of the current one, the store a kept text is checked against, and the check that
makes a whole loop cheap.

The check: an iteration that read exactly one service is kept while the catalog holds the same object for that
service. The store's view of a service is made from that catalog entry alone (watch.Store keeps its views by
the same object), so the same object means the same view: one dict lookup instead of a store read.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Generic, TypeVar

from consul_templates.functions import ABSENT

# an iteration that read one service: (datacenter, name, the catalog's value its view was made from)
ServiceCheck = tuple[Any, str, object] | None
E = TypeVar("E")
W = TypeVar("W")


class KeptRenders(Generic[E, W]):
    """The entries (E) and whole loops (W) of the last render and of the current one; hit and miss counts."""

    def __init__(self) -> None:
        self.before: dict[Any, E] = {}
        self.now: dict[Any, E] = {}
        self.walks_before: dict[Any, W] = {}
        self.walks_now: dict[Any, W] = {}
        self.store: Mapping[Any, Any] = {}
        self.sources: Mapping[Any, Mapping[str, Any]] | None = None
        self.hits = self.misses = 0

    def bind(self, store: Mapping[Any, Any]) -> None:
        """A render begins over `store`."""
        self.store = getattr(store, "fast", store)  # the store itself while nothing is filtered out
        # each datacenter's services by name, while every service read is the store's own view of them
        sources = getattr(self.store, "service_sources", None)
        self.sources = sources() if sources is not None else None

    def end(self, complete: bool) -> None:
        """After a render: keep what it used (all of it, if it finished), drop what it did not."""
        if complete:
            self.before, self.now = self.now, {}
            self.walks_before, self.walks_now = self.walks_now, {}
        else:
            self.before.update(self.now)
            self.now = {}
            self.walks_before.update(self.walks_now)
            self.walks_now = {}
        self.store, self.sources = {}, None

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
