"""Source: the data templates read, with a bounded number of connections to Consul.

- `service`, `services`, `nodes` come from the catalog feed (portside.feed) of their datacenter, started when a
  template first reads that datacenter: a fixed handful of connections whatever the number of services. The
  services templates read are followed by the feed with a blocking query each while they fit the connection
  budget (a change then arrives in one round trip, as consul-template's own query brings it); past the budget
  the feed's reads serve the rest, and each second the services that changed most are followed in their place.
- `key`, `ls`, `tree` are KV blocking queries, one per dependency while they fit the connection budget (the
  adapter's cap minus the feeds' connections, their read pool and the followed services); beyond that,
  neighbours are coalesced into one recursive query on their common prefix (kvplan.py).
- `datacenters` (and the agent's node name for Go templates) has no blocking index: it is polled.
- any other dependency (the Go templates' queries bring their own path and decoder) is one blocking query each,
  started while the budget allows and queued beyond it (logged), never over the cap.
Every task runs supervised (portside.supervise): one that fails is restarted, one that keeps failing shows in
/health.
During a Consul outage the feeds and watches retry on their own and nothing is written to the store: the last
good data stays and the templates keep rendering from it.
"""

from __future__ import annotations

import asyncio
import functools
import logging
from collections.abc import Callable, Iterable, Iterator, Mapping, Set
from typing import Any, Protocol

from consul_templates import kvplan
from consul_templates.functions import ABSENT, NODES, SERVICE, SERVICES, Dependency
from portside.backoff import Backoff
from portside.catalog import Catalog
from portside.consul import ConsulError, WatchObserver, paths
from portside.feed import Change, Feed, Pool
from portside.feedfollow import most_moved
from portside.supervise import Supervisor

log = logging.getLogger("consul_templates.watch")

POLL_INTERVAL = 60.0  # datacenters have no blocking index: poll them
DEFAULT_CAP = 64  # connections to the agent when the adapter does not say (its own default)
FEED_WATCHES = 4  # blocking queries per datacenter feed
RESERVE = 2  # the datacenters poll and a spare
QUEUED_GAP = 1.0  # seconds between rounds of reading the queries beyond the budget
REVIEW = 1.0  # seconds between choices of the services to follow, when more are read than can be followed


class Source(Protocol):
    """What watches and feeds need from the Consul adapter (ConsulClient satisfies it; tests may fake it)."""

    def watch(self, path: str, params: Any = (), *, wait: str = "5m", stale: bool = False,
              what: str | None = None, observer: WatchObserver | None = None) -> Any: ...

    async def datacenters(self) -> list[str]: ...


class Store(Mapping[Dependency, Any]):
    """The decoded data of each dependency that has answered at least once, and the synced catalog of each
    datacenter feed (catalog dependencies are views of it, computed when read). Read-only to templates."""

    def __init__(self) -> None:
        self._data: dict[Dependency, Any] = {}
        self.catalogs: dict[str | None, Catalog] = {}
        self._views: dict[Dependency, tuple[object, Any]] = {}  # dep -> (the catalog part it was made of, view)
        self._catalog_puts = False  # whether a catalog dependency was ever put explicitly (tests, --once)

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

    def get(self, dep: Dependency, default: Any = None) -> Any:
        # __getitem__'s catalog path inlined: a render over the catalog asks this once per service and change
        catalog = self.catalogs.get(dep.dc)
        if catalog is not None and dep.from_catalog and (not self._catalog_puts or dep not in self._data):
            memo = self._views.get(dep)
            if memo is not None and memo[0] is dep.source(catalog):
                return memo[1]
        try:
            return self[dep]
        except KeyError:
            return default

    def service_sources(self) -> dict[str | None, Mapping[str, Any]] | None:
        """Each datacenter's services by name, what every service dependency's view is made from
        (`Dependency.source`); None once a catalog dependency was put explicitly (its value is not a view)."""
        if self._catalog_puts:
            return None
        return {dc: catalog.services for dc, catalog in self.catalogs.items()}

    def service_catalogs(self) -> dict[str | None, Catalog] | None:
        """Each datacenter's catalog, of which `service_sources` are the services (None when those are)."""
        if self._catalog_puts:
            return None
        return dict(self.catalogs)

    def source_of(self, dep: Dependency, value: Any) -> object:
        """The catalog's value `value` was made from, when `value` is this store's current view of the service
        dependency `dep` (the same view comes back while that object stays); ABSENT otherwise."""
        catalog = self.catalogs.get(dep.dc)
        if catalog is None or self._catalog_puts or dep.kind != SERVICE or not dep.from_catalog:
            return ABSENT
        memo = self._views.get(dep)
        source = dep.source(catalog)
        return source if memo is not None and memo[1] is value and memo[0] is source else ABSENT

    def __iter__(self) -> Iterator[Dependency]:
        return iter([*self._data, *self._views])

    def __len__(self) -> int:
        return len(self._data) + len(self._views)

    def put(self, dep: Dependency, value: Any) -> bool:
        """Store a new value; True when it differs from what was there (or nothing was)."""
        self._catalog_puts = self._catalog_puts or dep.from_catalog
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
                 once: bool = False, pool_size: int = 8, cap: int | None = None,
                 observer: WatchObserver | None = None, tasks: Supervisor | None = None) -> None:
        self.source = source
        self.observer = observer  # sees every fetch (portside's Reachability: the daemon's health and metrics)
        self.tasks = tasks or Supervisor()  # a watch that fails is restarted; one that keeps failing shows in /health
        self.store = store
        self.on_change = on_change
        self.query_wait = query_wait
        self.stale = stale
        self.poll_interval = poll_interval
        self.once = once  # --once: one answer per dependency is all a render needs; no connection held after
        settings = getattr(source, "settings", None)
        self.cap = cap or int(getattr(settings, "max_connections", 0) or DEFAULT_CAP)
        self.pool = Pool(pool_size)
        self.feeds: dict[str | None, Feed] = {}
        self._catalog_deps: set[Dependency] = set()
        self._service_deps: dict[str | None, dict[str, list[Dependency]]] = {}  # by dc, then service name
        self._kv: dict[kvplan.KVWatch, frozenset[Dependency]] = {}
        self._kv_raw: dict[kvplan.KVWatch, Any] = {}  # each KV watch's last answer, to serve a dependency it gains
        self._single: set[Dependency] = set()  # polled, or watched on their own
        self.queued: set[Dependency] = set()  # wanted, but beyond the connection budget for now
        self._synced: frozenset[Dependency] | None = None  # what the last sync set up, and how many it followed
        self._synced_followed = 0
        self._room = 0  # services that may be followed, as the last sync found
        self._moved: dict[tuple[str | None, str], int] = {}  # changes per service read, since the last review
        self._rates: dict[tuple[str | None, str], int] = {}  # the same, over the last review's second

    def __len__(self) -> int:
        """Blocking queries held (the feeds' three each, followed services, KV and other watches); the read pool
        comes on top."""
        return (FEED_WATCHES * len(self.feeds) + self.followed() + len(self._kv)
                + sum(d.blocking for d in self._single))

    def followed(self) -> int:
        return sum(len(feed.followed) for feed in self.feeds.values())

    def kv_budget(self) -> int:
        return max(1, self.cap - FEED_WATCHES * len(self.feeds) - self.pool.size - RESERVE - self.followed())

    def sync(self, wanted: Iterable[Dependency]) -> None:
        wanted = frozenset(wanted)
        # What a sync sets up depends only on the wanted set, so the same set again (every render of a change
        # that moved no dependency) has nothing to do: at 5,000 services the full pass cost ~10 ms per change.
        # A followed service whose task failed leaves its feed and must be set up again: the count tells.
        if wanted == self._synced and self.followed() == self._synced_followed:
            return
        for dep in (self._catalog_deps | self._single | {d for m in self._kv.values() for d in m}) - wanted:
            self.store.drop(dep)
        self._catalog_deps = {d for d in wanted if d.from_catalog}
        self._service_deps = {}
        for d in self._catalog_deps:  # a service's name is never empty: "" holds the lists
            self._service_deps.setdefault(d.dc, {}).setdefault(d.name if d.kind == SERVICE else "", []).append(d)
        self._sync_feeds({d.dc for d in self._catalog_deps})
        kv = {d for d in wanted if not d.from_catalog and kvplan.kv_target(d) is not None}
        others = wanted - self._catalog_deps - kv
        # the others first (polls hold no connection; Go queries cannot be coalesced), KV shares what is left
        blocking = sorted((d for d in others if d.blocking), key=str)
        room = max(0, self.cap - FEED_WATCHES * len(self.feeds) - self.pool.size - RESERVE - (1 if kv else 0))
        queued = set(blocking[room:])
        if queued and queued != self.queued:
            log.warning("%d queries beyond the connection budget (%d under the cap of %d) are read without blocking, "
                        "in turn, through the read pool: %s", len(queued), room, self.cap,
                        ", ".join(map(str, sorted(queued, key=str)[:3])))
        self.queued = queued
        self._sync_single(others - queued)
        self._sync_followed(room - len(blocking) + len(queued))
        if queued:
            self.tasks.start("queued reads", self._read_queued, must_run=False)
        else:
            self.tasks.discard("queued reads")
        self._sync_kv(kv)
        self._synced, self._synced_followed = wanted, self.followed()

    async def close(self) -> None:
        self._synced = None
        self.feeds.clear()
        self._kv.clear()
        self._single.clear()
        await self.tasks.close()

    # ---- catalog feeds ---------------------------------------------------------------------------------
    def _sync_feeds(self, dcs: set[str | None]) -> None:
        for dc in list(self.feeds):
            if dc not in dcs:
                del self.feeds[dc]
                self.tasks.discard(f"catalog feed {dc or ''}")
                self.store.catalogs.pop(dc, None)
                log.debug("stopped the catalog feed of %s", dc or "the local datacenter")
        for dc in dcs - self.feeds.keys():
            feed = Feed(self.source, datacenter=dc, stale=self.stale, wait=self.query_wait,  # type: ignore[arg-type]
                        pool=self.pool, observer=self.observer)
            feed.listeners.append(lambda change, dc=dc: self._on_catalog(dc, change))  # type: ignore[misc]
            self.feeds[dc] = feed
            self.tasks.start(f"catalog feed {dc or ''}", feed.run)

    def _sync_followed(self, room: int) -> None:
        """Follow the services templates read, per datacenter, as many as `room` allows: those that changed most
        in the last review's second (most_moved), then those already followed, then by name. At 5,000 services a
        health flip of one not followed reached the file in 12.2 ms, two round trips (the checks watch, then a
        read); followed, in one."""
        self._room = room
        wanted: dict[str | None, set[str]] = {}
        for dep in self._catalog_deps:
            if dep.kind == SERVICE and paths.usable(dep.name):
                wanted.setdefault(dep.dc, set()).add(dep.name)
        kept = {(dc, n) for dc, feed in self.feeds.items() for n in feed.followed.names & wanted.get(dc, set())}
        movers = [dn for dn in self._rates if dn not in kept and dn[1] in wanted.get(dn[0], ())]
        chosen = most_moved([*kept, *movers], self._rates, kept, room, _by_name)
        if len(chosen) < room:
            taken = set(chosen)
            chosen += sorted((dn for dc, names in wanted.items() for n in names if (dn := (dc, n)) not in taken),
                             key=_by_name)[:room - len(chosen)]
        for dc, feed in self.feeds.items():
            feed.follow(n for d, n in chosen if d == dc)
        if sum(map(len, wanted.values())) > room and not self.once:
            self.tasks.start("follow review", self._review, must_run=False)
        else:
            self.tasks.discard("follow review")

    async def _review(self) -> None:
        while True:
            await asyncio.sleep(REVIEW)
            self._rates, self._moved = self._moved, {}
            if self._rates:  # nothing moved: the choice stands (followed first, then by name)
                self._sync_followed(self._room)

    def _on_catalog(self, dc: str | None, change: Change) -> None:
        first = dc not in self.store.catalogs
        self.store.catalogs[dc] = change.catalog
        if first:
            moved = [d for d in self._catalog_deps if d.dc == dc]
        else:  # only what the change touched: a template over 5,000 services reads 5,000 dependencies
            by_name = self._service_deps.get(dc, {})
            moved = [d for name in change.services for d in by_name.get(name, ())]
            for name in change.services:
                if name in by_name:
                    self._moved[(dc, name)] = self._moved.get((dc, name), 0) + 1
            lists = by_name.get("", ())  # services() and nodes()
            moved += [d for d in lists if (d.kind == SERVICES and change.summaries_changed)
                      or (d.kind == NODES and change.nodes_changed)]
        for dep in moved:
            if self.store.refresh(dep):
                self.on_change(dep)

    # ---- KV --------------------------------------------------------------------------------------------
    def _sync_kv(self, deps: set[Dependency]) -> None:
        plan = kvplan.plan(deps, self.kv_budget() - sum(d.blocking for d in self._single))
        if len(plan) < len(deps):
            log.info("%d KV dependencies served by %d blocking queries (connection budget %d)", len(deps), len(plan),
                     self.kv_budget())
        for watch in list(self._kv):
            if watch not in plan:
                del self._kv[watch]
                self.tasks.discard(f"kv {watch}")
                self._kv_raw.pop(watch, None)
        for watch, members in plan.items():
            if watch in self._kv:
                old = self._kv[watch]
                self._kv[watch] = members
                if watch in self._kv_raw:
                    self._take(watch, members - old, self._kv_raw[watch])
            else:
                self._kv[watch] = members
                self.tasks.start(f"kv {watch}", functools.partial(self._run_kv, watch), must_run=False)

    def _take(self, watch: kvplan.KVWatch, deps: Iterable[Dependency], raw: Any) -> None:
        for dep in deps:
            self._put(dep, kvplan.derive(watch, dep, raw))

    async def _run_kv(self, watch: kvplan.KVWatch) -> None:
        try:
            path, params = watch.query()
        except ValueError as exc:  # a name no Consul path can carry (e.g. key("../x")): that one read is refused
            log.error("watch %s refused: %s", watch, exc)
            return
        async for _, raw in self.source.watch(path, params, wait=self.query_wait, stale=self.stale,
                                              what=f"watch {watch.prefix!r}", observer=self.observer):
            self._kv_raw[watch] = raw
            self._take(watch, self._kv.get(watch, frozenset()), raw)
            if self.once:
                return
        raise RuntimeError(f"watch {watch} ended")  # ConsulClient.watch never ends: restart it

    # ---- polls, and queries watched on their own ---------------------------------------------------------
    def _sync_single(self, deps: Set[Dependency]) -> None:
        for dep in self._single - deps:
            self.tasks.discard(f"watch {dep!r}")
        for dep in deps - self._single:
            self.tasks.start(f"watch {dep!r}", functools.partial(self._run, dep), must_run=False)
        self._single = set(deps)

    async def _run(self, dep: Dependency) -> None:
        try:
            path, params = dep.query()
        except ValueError as exc:  # a name no Consul path can carry: that one read is refused
            log.error("watch %s refused: %s", dep, exc)
            return
        if not dep.blocking:
            await self._poll(dep)
            return
        async for _, raw in self.source.watch(path, params, wait=self.query_wait, stale=self.stale,
                                              what=f"watch {dep}", observer=self.observer):
            self._put(dep, raw)
            if self.once:
                return
        raise RuntimeError(f"watch {dep} ended")  # ConsulClient.watch never ends: restart it

    async def _read_queued(self) -> None:
        """Queries beyond the budget: read without blocking, one at a time through the read pool, round after
        round (QUEUED_GAP apart): slower to follow a change than a blocking query of their own, never over the
        cap, never starved."""
        while self.queued:
            for dep in sorted(self.queued, key=str):
                try:
                    path, params = dep.query()
                    answer = await self.pool.run(functools.partial(
                        self.source.get_indexed, path, params, stale=self.stale, what=f"read {dep}",  # type: ignore[attr-defined]
                        observer=self.observer))
                except ValueError as exc:  # a name no Consul path can carry
                    log.error("read %s refused: %s", dep, exc)
                    continue
                except ConsulError as exc:
                    log.warning("read %s: %s; trying again next round", dep, exc)
                    continue
                if dep in self.queued:
                    self._put(dep, answer.data)
                if self.once and all(d in self.store for d in self.queued):
                    return
            await asyncio.sleep(QUEUED_GAP)

    def _put(self, dep: Dependency, raw: Any) -> None:
        try:
            value = dep.decode(raw)
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            log.warning("watch %s: unexpected answer from Consul (%s: %s); keeping the last good data",
                        dep, type(exc).__name__, exc)
            return
        if self.store.put(dep, value):
            self.on_change(dep)

    async def _poll(self, dep: Dependency) -> None:
        """Datacenters (and the agent's own node name for Go templates' `node`): no X-Consul-Index (py-consul's
        indexed GET refuses the answer), so poll the plain answer; a dependency may say how with `poll(source)`."""
        backoff = Backoff()
        fetch = getattr(dep, "poll", None)
        while True:
            try:
                raw = await (fetch(self.source) if fetch is not None else self.source.datacenters())
            except ConsulError as exc:
                delay = backoff.next_delay()
                log.warning("poll %s: %s; retrying in %.2fs", dep, exc, delay)
                await asyncio.sleep(delay)
                continue
            backoff.reset()
            self._put(dep, raw)
            if self.once:
                return
            await asyncio.sleep(self.poll_interval)


def _by_name(dn: tuple[str | None, str]) -> tuple[str, str]:
    return dn[0] or "", dn[1]
