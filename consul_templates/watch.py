"""Source: the data templates read, with a bounded number of connections to Consul.

- `service`, `services`, `nodes` come from the catalog feed (portside.feed) of their datacenter, started when a
  template first reads that datacenter: a fixed handful of connections whatever the number of services, and a
  service no template reads costs nothing beyond the feed's diff.
- `key`, `ls`, `tree` are KV blocking queries, one per dependency while they fit the connection budget (the
  adapter's cap minus the feeds' connections and their read pool); beyond that, neighbours are coalesced into one
  recursive query on their common prefix (kvplan.py).
- `datacenters` has no blocking index: it is polled.
During a Consul outage the feeds and watches retry on their own and nothing is written to the store: the last
good data stays and the templates keep rendering from it.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any, Protocol

from consul_templates import kvplan
from consul_templates.functions import DATACENTERS, NODES, SERVICE, SERVICES, Dependency
from portside.backoff import Backoff
from portside.catalog import Catalog
from portside.consul import ConsulError
from portside.feed import Change, Feed, Pool
from portside.run import cancel_all

log = logging.getLogger("consul_templates.watch")

POLL_INTERVAL = 60.0  # datacenters have no blocking index: poll them
DEFAULT_CAP = 64  # connections to the agent when the adapter does not say (its own default)
FEED_WATCHES = 3  # blocking queries per datacenter feed
RESERVE = 2  # the datacenters poll and a spare


class Source(Protocol):
    """What watches and feeds need from the Consul adapter (ConsulClient satisfies it; tests may fake it)."""

    def watch(self, path: str, params: Any = (), *, wait: str = "5m", stale: bool = False,
              what: str | None = None) -> Any: ...

    async def datacenters(self) -> list[str]: ...


class Store(Mapping[Dependency, Any]):
    """The decoded data of each dependency that has answered at least once, and the synced catalog of each
    datacenter feed (catalog dependencies are views of it, computed when read). Read-only to templates."""

    def __init__(self) -> None:
        self._data: dict[Dependency, Any] = {}
        self.catalogs: dict[str | None, Catalog] = {}
        self._views: dict[Dependency, tuple[object, Any]] = {}  # dep -> (the catalog part it was made of, view)

    def __getitem__(self, dep: Dependency) -> Any:
        if not dep.from_catalog or dep in self._data:  # a value put explicitly (tests, --once snapshots) wins
            return self._data[dep]
        catalog = self.catalogs[dep.dc]
        source = dep.source(catalog)
        memo = self._views.get(dep)
        if memo is not None and memo[0] is source:
            return memo[1]
        value = dep.view(catalog)
        self._views[dep] = (source, value)
        return value

    def __iter__(self) -> Iterator[Dependency]:
        return iter([*self._data, *self._views])

    def __len__(self) -> int:
        return len(self._data) + len(self._views)

    def put(self, dep: Dependency, value: Any) -> bool:
        """Store a new value; True when it differs from what was there (or nothing was)."""
        if dep in self._data and self._data[dep] == value:
            return False
        self._data[dep] = value
        return True

    def refresh(self, dep: Dependency) -> bool:
        """Recompute a catalog dependency's view; True when it differs from the one last read."""
        before = self._views.pop(dep, None)
        return before is None or self[dep] != before[1]

    def drop(self, dep: Dependency) -> None:
        self._data.pop(dep, None)
        self._views.pop(dep, None)


class Watches:
    """The running feeds and watches; `on_change(dep)` is called after a dependency's value changed."""

    def __init__(self, source: Source, store: Store, on_change: Callable[[Dependency], None], *,
                 query_wait: str = "60s", stale: bool = False, poll_interval: float = POLL_INTERVAL,
                 once: bool = False, pool_size: int = 8, cap: int | None = None) -> None:
        self.source = source
        self.store = store
        self.on_change = on_change
        self.query_wait = query_wait
        self.stale = stale
        self.poll_interval = poll_interval
        self.once = once  # --once: one answer per dependency is all a render needs; no connection held after
        self.cap = cap or int(getattr(source, "max_connections", 0) or DEFAULT_CAP)
        self.pool = Pool(pool_size)
        self.feeds: dict[str | None, tuple[Feed, asyncio.Task[None]]] = {}
        self._catalog_deps: set[Dependency] = set()
        self._kv: dict[kvplan.KVWatch, tuple[frozenset[Dependency], asyncio.Task[None]]] = {}
        self._kv_raw: dict[kvplan.KVWatch, Any] = {}  # each KV watch's last answer, to serve a dependency it gains
        self._polls: dict[Dependency, asyncio.Task[None]] = {}

    def __len__(self) -> int:
        """Blocking queries held (the feeds' three each, KV watches); the read pool comes on top."""
        return FEED_WATCHES * len(self.feeds) + len(self._kv)

    def kv_budget(self) -> int:
        return max(1, self.cap - FEED_WATCHES * len(self.feeds) - self.pool.size - RESERVE)

    def sync(self, wanted: Iterable[Dependency]) -> None:
        wanted = set(wanted)
        for dep in list(self._catalog_deps | set(self._polls) | {d for m, _ in self._kv.values() for d in m}):
            if dep not in wanted:
                self.store.drop(dep)
        self._catalog_deps = {d for d in wanted if d.from_catalog}
        self._sync_feeds({d.dc for d in self._catalog_deps})
        self._sync_polls({d for d in wanted if d.kind == DATACENTERS})
        self._sync_kv({d for d in wanted if not d.from_catalog and d.kind != DATACENTERS})

    async def close(self) -> None:
        tasks = [t for _, t in self.feeds.values()] + [t for _, t in self._kv.values()] + list(self._polls.values())
        self.feeds.clear()
        self._kv.clear()
        self._polls.clear()
        await cancel_all(tasks)

    # ---- catalog feeds ---------------------------------------------------------------------------------
    def _sync_feeds(self, dcs: set[str | None]) -> None:
        for dc in list(self.feeds):
            if dc not in dcs:
                self.feeds.pop(dc)[1].cancel()
                self.store.catalogs.pop(dc, None)
                log.debug("stopped the catalog feed of %s", dc or "the local datacenter")
        for dc in dcs - self.feeds.keys():
            feed = Feed(self.source, datacenter=dc, stale=self.stale, wait=self.query_wait,  # type: ignore[arg-type]
                        pool=self.pool)
            feed.listeners.append(lambda change, dc=dc: self._on_catalog(dc, change))  # type: ignore[misc]
            self.feeds[dc] = (feed, asyncio.create_task(self._guard(feed.run(), f"catalog feed {dc or ''}")))

    def _on_catalog(self, dc: str | None, change: Change) -> None:
        first = dc not in self.store.catalogs
        self.store.catalogs[dc] = change.catalog
        for dep in [d for d in self._catalog_deps if d.dc == dc]:
            moved = first or (dep.kind == SERVICE and dep.name in change.services) \
                or (dep.kind == SERVICES and change.summaries_changed) or (dep.kind == NODES and change.nodes_changed)
            if moved and self.store.refresh(dep):
                self.on_change(dep)

    # ---- KV --------------------------------------------------------------------------------------------
    def _sync_kv(self, deps: set[Dependency]) -> None:
        plan = kvplan.plan(deps, self.kv_budget())
        if len(plan) < len(deps):
            log.info("%d KV dependencies served by %d blocking queries (connection budget %d)", len(deps), len(plan),
                     self.kv_budget())
        for watch in list(self._kv):
            if watch not in plan:
                self._kv.pop(watch)[1].cancel()
                self._kv_raw.pop(watch, None)
        for watch, members in plan.items():
            if watch in self._kv:
                old, task = self._kv[watch]
                self._kv[watch] = (members, task)
                if watch in self._kv_raw:
                    self._take(watch, members - old, self._kv_raw[watch])
            else:
                self._kv[watch] = (members, asyncio.create_task(self._guard(self._run_kv(watch), f"watch {watch}")))

    def _take(self, watch: kvplan.KVWatch, deps: Iterable[Dependency], raw: Any) -> None:
        for dep in deps:
            try:
                value = dep.decode(kvplan.derive(watch, dep, raw))
            except (KeyError, TypeError, ValueError, AttributeError) as exc:
                log.warning("watch %s: unexpected answer from Consul (%s: %s); keeping the last good data",
                            dep, type(exc).__name__, exc)
                continue
            if self.store.put(dep, value):
                self.on_change(dep)

    async def _run_kv(self, watch: kvplan.KVWatch) -> None:
        path, params = watch.query()
        async for _, raw in self.source.watch(path, params, wait=self.query_wait, stale=self.stale,
                                              what=f"watch {watch.prefix!r}"):
            self._kv_raw[watch] = raw
            self._take(watch, self._kv.get(watch, (frozenset(), None))[0], raw)
            if self.once:
                break

    # ---- datacenters -----------------------------------------------------------------------------------
    def _sync_polls(self, deps: set[Dependency]) -> None:
        for dep in list(self._polls):
            if dep not in deps:
                self._polls.pop(dep).cancel()
        for dep in deps - self._polls.keys():
            self._polls[dep] = asyncio.create_task(self._guard(self._poll(dep), f"poll {dep}"))

    async def _poll(self, dep: Dependency) -> None:
        """Datacenters: no X-Consul-Index (py-consul's indexed GET refuses the answer), so poll the plain list."""
        backoff = Backoff()
        while True:
            try:
                raw = await self.source.datacenters()
            except ConsulError as exc:
                delay = backoff.next_delay()
                log.warning("poll %s: %s; retrying in %.2fs", dep, exc, delay)
                await asyncio.sleep(delay)
                continue
            backoff.reset()
            if self.store.put(dep, dep.decode(raw)):
                self.on_change(dep)
            if self.once:
                return
            await asyncio.sleep(self.poll_interval)

    @staticmethod
    async def _guard(work: Any, what: str) -> None:
        try:
            await work
        except asyncio.CancelledError:
            raise
        except Exception:  # a bug must not silently end a watch: say so loudly, the template keeps its data
            log.exception("%s stopped", what)
