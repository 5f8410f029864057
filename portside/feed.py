"""Source: one datacenter's catalog kept in memory with a fixed number of connections, whatever its size.

Four blocking queries tell WHAT moved (see feeddiff.py for the rules): the service list, the critical checks,
the warning checks, the nodes. The services they name are then read with non-blocking /v1/health/service/<name>
requests through a pool of at most `pool_size` at once, and one new immutable `Catalog` is published with
the set of services that changed. What the three cannot attribute (an instance without checks, an address or
port change, a passing re-registration) is caught by a sweep of /v1/catalog/node-services/<node>, one read per
node through the same pool, each time the service list's index moves (coalesced: one sweep at a time).

Connections: 4 blocking queries + `pool_size`, however many services exist. Why two watches of one state each
rather than every check: measured on a dev agent with 50,000 checks, /v1/health/state/any is a 23.7 MB answer
that takes Consul 0.7 s on every check change, and filtered to `Status != "passing"` still 65 ms (Consul
evaluates the filter over every check); /v1/health/state/critical and /warning are read from Consul's index by
status, 1-3 ms, and only a few kB in a healthy fleet.

The blocking-query rules (index reset, backoff, filtered answers) are `ConsulClient.watch`'s. During an
outage the watches retry on their own and failed reads are retried with backoff: the last good catalog stays
published, and reachability is whatever the adapter reports for these same requests.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar

from portside.backoff import Backoff
from portside.catalog import Catalog, Check, Instance, Node, ServiceSummary, by_node, sort_key
from portside.catalogjson import Previous, decode_checks, decode_health, decode_nodes, decode_service_list
from portside.consul import Answer, ConsulError, WatchObserver, paths
from portside.feeddiff import (
    decode_node_services,
    diff_checks,
    diff_nodes,
    diff_summaries,
    diff_sweep,
    join_health,
    registrations,
)
from portside.feedfollow import Followed
from portside.run import cancel_all

log = logging.getLogger("portside.feed")

NOT_PASSING = ("critical", "warning")  # Consul's check states besides passing (maintenance is critical)
KEPT_ANSWERS = 256  # services whose last answer is kept to decode only what changed in the next (see _previous)
T = TypeVar("T")


class Reader(Protocol):
    """What the feed needs of the Consul adapter (ConsulClient has both)."""

    def watch(self, path: str, params: Any = (), *, wait: str = "5m", stale: bool = False,
              what: str | None = None, observer: WatchObserver | None = None) -> Any: ...

    async def get_indexed(self, path: str, params: Any = (), *, index: int = 0, wait: str = "5m",
                          stale: bool = False, what: str | None = None,
                          observer: WatchObserver | None = None) -> Answer: ...


def health_path(name: str) -> str:
    return paths.health_service(name)


def node_services_path(node: str) -> str:
    return paths.catalog_node_services(node)


class Pool:
    """At most `size` coroutines at once; `peak` records the most ever running together (tests assert it)."""

    def __init__(self, size: int) -> None:
        if size < 1:
            raise ValueError(f"pool size must be at least 1, not {size}")
        self.size = size
        self._sem = asyncio.Semaphore(size)
        self.running = 0
        self.peak = 0

    async def run(self, work: Callable[[], Awaitable[T]]) -> T:
        async with self._sem:
            self.running += 1
            self.peak = max(self.peak, self.running)
            try:
                return await work()
            finally:
                self.running -= 1


@dataclass(frozen=True)
class Change:
    """One publication: the new catalog and the services whose instances changed (or went)."""

    catalog: Catalog
    services: frozenset[str]
    nodes_changed: bool = False
    summaries_changed: bool = False


class Feed:
    """Keeps `catalog` up to date and calls each listener with a `Change` after every update."""

    def __init__(self, consul: Reader, *, datacenter: str | None = None, stale: bool = True, wait: str = "5m",
                 pool_size: int = 8, pool: Pool | None = None, sweep: bool = True, bulk_first_sync: bool = True,
                 observer: WatchObserver | None = None) -> None:
        self.consul = consul
        self.observer = observer  # told about every fetch (portside's Reachability: health and metrics)
        self.params: list[tuple[str, str]] = [("dc", datacenter)] if datacenter else []
        self.stale = stale
        self.wait = wait
        self.pool = pool or Pool(pool_size)  # feeds of several datacenters may share one pool
        self.sweep_enabled = sweep
        self.bulk_first_sync = bulk_first_sync
        self.catalog = Catalog()
        self.synced = asyncio.Event()  # the service list, the nodes and every listed service were read once
        self.listeners: list[Callable[[Change], None]] = []
        self.stats = {"fetches": 0, "fetch_errors": 0, "sweeps": 0, "swept_nodes": 0, "sweep_moved": 0,
                      "skipped_entries": 0, "publications": 0, "sweeps_by_service": 0, "followed_answers": 0}
        self._summaries: dict[str, ServiceSummary] | None = None
        self._checks: dict[tuple[str, str], Check] | None = None  # the not passing ones, once both states answered
        self._checks_in: dict[str, dict[tuple[str, str], Check]] = {}  # by state, as each watch last saw them
        self._nodes: dict[str, Node] | None = None
        self._compared: tuple[object, object] = (None, None)  # the nodes and summaries the last step compared
        self._unlisted: tuple[object, frozenset[str]] = (None, frozenset())  # see _gone
        self._index = 0
        self._todo: set[str] = set()
        self._sweep_due = False
        self._wake = asyncio.Event()
        self.last_error = ""
        self._by_node_cache: dict[str, set[str]] = {}
        self._by_node_of: Catalog | None = None
        self.followed = Followed(self._follow_watch, self._on_followed, self._unfollowed)
        self._answers: dict[str, Previous] = {}

    # ---- followed services (feedfollow.py) ----------------------------------------------------------------
    def follow(self, names: Iterable[str]) -> None:
        """Watch these services with a blocking query each (one connection each: the caller keeps the count
        within its budget); the others stay served by the feed's reads. Call it inside the event loop."""
        self.followed.sync(n for n in names if paths.usable(n))

    def _follow_watch(self, name: str) -> Any:
        return self._watch(health_path(name), self.params, f"watch service {name}")

    def _previous(self, name: str) -> Previous:
        """The last answer of a service that changes: the services read after the first sync, at most
        KEPT_ANSWERS of them (the least recently read goes), so memory does not grow with the catalog."""
        previous = self._answers.pop(name, None) or Previous()
        self._answers[name] = previous
        while len(self._answers) > KEPT_ANSWERS:
            del self._answers[next(iter(self._answers))]
        return previous

    def _on_followed(self, name: str, index: int, data: Any) -> None:
        decoded = decode_health(data, self._previous(name))
        self._index = max(self._index, index)
        self.stats["skipped_entries"] += decoded.skipped
        self.stats["followed_answers"] += 1
        current = self.catalog
        instances = decoded.value or None  # no instance: the service is gone (or not there yet)
        if current.services.get(name) == instances:
            return
        self.catalog = current.with_services({name: instances}, index)
        if self.synced.is_set():  # before that, the first sync's publication carries it
            self._publish(Change(self.catalog, frozenset({name})))

    def _unfollowed(self, name: str) -> None:
        self._todo.add(name)  # its data was its own query's: read it again
        self._wake.set()

    # ---- the three watches -----------------------------------------------------------------------------
    def _watch(self, path: str, params: list[tuple[str, str]], what: str) -> Any:
        return self.consul.watch(path, params, wait=self.wait, stale=self.stale, what=what, observer=self.observer)

    def _note(self, index: int, skipped: int) -> None:
        self._index = max(self._index, index)
        self.stats["skipped_entries"] += skipped
        self._wake.set()

    async def _watch_services(self) -> None:
        async for index, data in self._watch(paths.catalog_services(), self.params, "list catalog services"):
            decoded = decode_service_list(data)
            first = self._summaries is None
            fetch, _gone = diff_summaries(self._summaries, decoded.value)
            self._summaries = decoded.value
            self._todo |= fetch
            self._sweep_due = self._sweep_due or (not first and self.sweep_enabled)
            self._note(index, decoded.skipped)

    async def _watch_checks(self, state: str) -> None:
        async for index, data in self._watch(paths.health_state(state), self.params, f"read {state} checks"):
            decoded = decode_checks(data)
            log.debug("%s checks at index %d: %d", state, index, len(decoded.value))
            self._checks_in[state] = decoded.value
            if len(self._checks_in) == len(NOT_PASSING):
                merged = {key: check for s in NOT_PASSING for key, check in self._checks_in[s].items()}
                if self._checks is not None:
                    self._todo |= diff_checks(self._checks, merged, self._by_node)
                self._checks = merged
            self._note(index, decoded.skipped)

    async def _watch_nodes(self) -> None:
        async for index, data in self._watch(paths.catalog_nodes(), self.params, "read nodes"):
            decoded = decode_nodes(data)
            if self._nodes is not None:
                self._todo |= diff_nodes(self._nodes, decoded.value, self._by_node())
            self._nodes = decoded.value
            self._note(index, decoded.skipped)

    def _by_node(self) -> dict[str, set[str]]:
        if self._by_node_of is not self.catalog:
            self._by_node_cache, self._by_node_of = by_node(self.catalog), self.catalog
        return self._by_node_cache

    # ---- reads through the pool ------------------------------------------------------------------------
    async def _read(self, path: str, what: str) -> Answer | None:
        async def get() -> Answer:
            return await self.consul.get_indexed(path, self.params, stale=self.stale, what=what,
                                                 observer=self.observer)

        self.stats["fetches"] += 1
        try:
            return await self.pool.run(get)
        except ConsulError as exc:
            self.stats["fetch_errors"] += 1
            self.last_error = f"{what} {path}: {exc}"
            return None

    async def _fetch(self, name: str) -> tuple[str, tuple[Instance, ...] | None]:
        if not paths.usable(name):  # e.g. "..": no path can ask for it; the service stays empty
            log.warning("service %r: its name cannot be put into a Consul path; skipped", name)
            return name, ()
        got = await self._read(health_path(name), "read service health")
        if got is None:
            return name, None
        decoded = decode_health(got.data, self._previous(name) if self.synced.is_set() else None)
        self.stats["skipped_entries"] += decoded.skipped
        self._index = max(self._index, got.index)
        return name, decoded.value

    async def fetch_all(self, names: Iterable[str]) -> tuple[dict[str, tuple[Instance, ...]], set[str]]:
        """Read the named services through the pool: ({name: instances}, names that failed)."""
        results = await asyncio.gather(*(self._fetch(n) for n in sorted(names)))
        return {n: v for n, v in results if v is not None}, {n for n, v in results if v is None}

    async def sweep(self) -> tuple[set[str], bool]:
        """(services whose registrations moved since the catalog read them, whether every node answered)."""
        nodes = sorted(n for n in self._nodes or () if paths.usable(n))  # a node no path can name is not swept

        async def one(node: str) -> tuple[str, dict[str, tuple[str, int]] | None]:
            got = await self._read(node_services_path(node), "read node services")
            return node, None if got is None else decode_node_services(got.data)

        seen = dict(await asyncio.gather(*(one(n) for n in nodes)))
        complete = all(v is not None for v in seen.values())
        swept = {n: v for n, v in seen.items() if v is not None}
        self.stats["sweeps"] += 1
        self.stats["swept_nodes"] += len(swept)
        moved = diff_sweep(registrations(self.catalog), swept, self._summaries)
        self.stats["sweep_moved"] += len(moved)
        return moved, complete

    async def _bulk_read(self) -> dict[str, tuple[Instance, ...]]:
        """The whole catalog in 1 + (number of nodes) reads instead of one per service (the first sync): every
        check, and each node's registrations, joined here as /v1/health/service would. Empty when a read failed
        (then each service is read on its own). Measured at 5,000 services x 10 on a dev agent: 11 reads
        instead of 5,000. What changes between these reads is caught afterwards: the checks watch diffs against
        the checks read here, and the sweep compares registrations."""
        nodes = sorted(n for n in self._nodes or () if paths.usable(n))

        async def one(node: str) -> tuple[str, Answer | None]:
            return node, await self._read(node_services_path(node), "read node services")

        checks, per_node = await asyncio.gather(self._read(paths.health_state("any"), "read checks"),
                                                asyncio.gather(*(one(n) for n in nodes)))
        got = {n: answer for n, answer in per_node if answer is not None}
        if checks is None or len(got) != len(nodes):
            return {}
        joined, skipped = join_health({n: answer.data for n, answer in got.items()}, checks.data)
        self.stats["skipped_entries"] += skipped
        self._index = max([self._index, checks.index, *(answer.index for answer in got.values())])
        raw = checks.data if isinstance(checks.data, list) else []
        self._checks = decode_checks([c for c in raw if isinstance(c, dict) and c.get("Status") != "passing"]).value
        return {name: tuple(sorted(found, key=sort_key)) for name, found in joined.items()}

    # ---- the one writer ---------------------------------------------------------------------------------
    async def run(self) -> None:
        watches = [asyncio.create_task(c, name=f"feed-{n}") for n, c in (
            ("services", self._watch_services()), ("nodes", self._watch_nodes()),
            *((f"{state}-checks", self._watch_checks(state)) for state in NOT_PASSING))]
        try:
            await self._work(watches)
        finally:
            self.followed.close()
            await cancel_all(watches)

    async def _work(self, watches: list[asyncio.Task[None]]) -> None:
        backoff = Backoff(base=0.1, cap=5.0)
        while True:
            await self._wake.wait()
            self._wake.clear()
            for task in watches:
                if task.done():
                    task.result()  # a watch never ends on its own: re-raise what ended it
            if self._summaries is None or self._nodes is None or self._checks is None:
                continue
            failed, retry = await self._step()
            if failed or retry:
                self._todo |= failed
                delay = backoff.next_delay()
                log.warning("%d catalog read(s) failed (%s); keeping the last good data, retrying in %.2fs",
                            len(failed) + retry, self.last_error, delay)
                await asyncio.sleep(delay)
                self._wake.set()
            else:
                backoff.reset()

    async def _step(self) -> tuple[set[str], bool]:
        """Take what moved, read it, publish one catalog. Returns (names to read again, retry the sweep)."""
        summaries, nodes = self._summaries or {}, self._nodes or {}
        todo, self._todo = self._todo, set()
        sweep_failed = False
        if self._sweep_due and self.synced.is_set():
            self._sweep_due = False
            if len(summaries) <= len(nodes) + self.pool.size:
                # a small catalog: reading every service costs no more reads than the sweep, in one round trip
                # instead of two (the sweep, then the services it names)
                todo |= set(summaries)
                self.stats["sweeps_by_service"] += 1
            else:
                moved, complete = await self.sweep()
                todo |= moved
                sweep_failed = not complete
        # Summaries, nodes or the list may have moved while we swept: take the newest for this publication.
        summaries, nodes = self._summaries or summaries, self._nodes or nodes
        todo |= self._todo
        self._todo = set()
        todo -= self.followed.answered  # their own queries bring them
        bulk: dict[str, tuple[Instance, ...]] = {}
        if not self.synced.is_set() and self.bulk_first_sync and len(todo) > 2 * len(nodes) + 2:
            bulk = {n: v for n, v in (await self._bulk_read()).items() if n in todo}
            todo -= bulk.keys()
        fetched, failed = await self.fetch_all(todo & summaries.keys())
        fetched.update(bulk)
        own = self.followed.answered  # an answer of their own may be newer than what was read here
        current = self.catalog
        changes: dict[str, tuple[Instance, ...] | None] = {
            n: v for n, v in fetched.items() if current.services.get(n) != v and n not in own}
        changes.update(self._gone(current, summaries, own, bulk))
        # a watch hands over a new mapping each time it answers, and the catalog holds what the last step compared:
        # the same object again is unchanged (comparing 5,000 summaries cost ~1 ms per step)
        nodes_changed = nodes is not self._compared[0] and dict(current.nodes) != nodes
        summaries_changed = summaries is not self._compared[1] and dict(current.summaries) != summaries
        self._compared = (nodes, summaries)
        first = not self.synced.is_set() and summaries.keys() <= (current.services.keys() | fetched.keys() | own)
        if changes or nodes_changed or summaries_changed or first:
            catalog = current.with_services(changes, self._index)
            catalog = catalog.with_summaries(summaries) if summaries_changed else catalog
            catalog = catalog.with_nodes(nodes) if nodes_changed else catalog
            self.catalog = catalog
            if first:
                self.synced.set()
                log.info("catalog synced: %d services, %d instances, %d nodes", len(catalog.services),
                         catalog.instance_count(), len(catalog.nodes))
            self._publish(Change(catalog, frozenset(changes), nodes_changed, summaries_changed))
        if sweep_failed:
            self._sweep_due = True
        return failed, sweep_failed

    def _gone(self, current: Catalog, summaries: Mapping[str, ServiceSummary], own: set[str],
              bulk: Mapping[str, Any]) -> dict[str, None]:
        """The catalog's services the service list no longer names (their own queries aside), to drop. Looked
        for only when that can have changed: a new list, a change of the followed services, the first sync (its
        bulk read may bring names the list does not have yet). Every other step adds only listed names, so the
        last step's answer (none left) still holds: comparing 5,000 names cost ~1.4 ms of every change."""
        key = (summaries, frozenset(own))
        if summaries is self._unlisted[0] and key[1] == self._unlisted[1] and not bulk and self.synced.is_set():
            return {}
        self._unlisted = key
        return {n: None for n in current.services.keys() - summaries.keys() - own}

    def _publish(self, change: Change) -> None:
        self.stats["publications"] += 1
        if log.isEnabledFor(logging.DEBUG):
            names = sorted(change.services)
            log.debug("publication %d at index %d: %d service(s) %s%s", self.stats["publications"],
                      change.catalog.index, len(names), " ".join(names[:8]), " ..." if len(names) > 8 else "")
        for listener in self.listeners:
            try:
                listener(change)
            except Exception:  # one reader's bug must not stop the feed for the others
                log.exception("feed listener failed")
