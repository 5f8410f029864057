"""Prepared queries over DNS (`<name>.query.consul`), evaluated against the mirrored catalogs.

Why not `/v1/query/<id>/execute` per question (with a cache)? Measured in the two-datacenter cluster
(bench/dns_multidc.py, README): an execution costs a round trip to the agent and a server (and one more across the
WAN when it fails over) per question or per cache miss, so the answer is either slow or as old as the cache;
here a question is a table lookup, and a failover follows the mirrored health the moment the feed sees it.
The rules are Consul's (portside.prepared, pure and unit-tested); the definitions come from a blocking query
on /v1/query, started by the first `.query.` question, stopped when no query name was asked for `idle` seconds.

Names: `<name>.query[.<local dc>].<domain>` and RFC 2782 `_<name>._tcp.query[.<local dc>].<domain>`, A, AAAA,
SRV (targets in the datacenter that answered: `<node>.node.dc2.consul` or `<hex>.addr.dc2.consul`), ANY; the
TTL is the query's `DNS.TTL`, else `--ttl`. A name no query has is NXDOMAIN, so is a query with no instance
anywhere; a query this module does not evaluate (templates, Connect, peers, sameness groups, failover targets)
is SERVFAIL, never a guess. Another datacenter's queries (`<name>.query.dc2.consul`) are not served (SERVFAIL).

Each asked name is evaluated off the loop whenever an input changes (the definitions, the local catalog, a
mirrored datacenter, the list of datacenters) into a part of its own, which is lent to the local zone's table
while the name is asked (leases.py): questions then take the fast path like local names. A query that may fail
over keeps its failover datacenters mirrored while it is asked, so the failover answer is ready before it is
needed; the first question of a name is held until its answer is built (at most `wait` s)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import Executor
from dataclasses import dataclass, field
from functools import partial

from dns_balancer.answers import Encoder, Fixed, Group
from dns_balancer.leases import Leases
from dns_balancer.pending import Pending
from dns_balancer.records import NOERROR, NXDOMAIN, SERVFAIL, Answer, BadName, encode_name, valid_label
from dns_balancer.remote import RemoteDatacenters
from dns_balancer.zone import Part, ZoneConfig
from portside.catalog import Catalog
from portside.consul import ConsulClient, WatchObserver, paths
from portside.feed import Feed
from portside.prepared import Definitions, PreparedQuery, Result, decode_definitions, execute, failover_order
from portside.supervise import Supervisor

log = logging.getLogger("dns_balancer.queries")
OWNER = "query"  # the key prefix of query names lent to the local zone
MAX_ASKED = 512  # query names evaluated at once (each one a definition: Consul's data, so bounded here too)


@dataclass(frozen=True)
class Entry:
    """What one asked name came to: a result to serve, or an rcode (`verdict`) when there is nothing to serve."""

    query: PreparedQuery | None = None
    result: Result | None = None
    failover: tuple[str, ...] = ()  # the datacenters it may fail over to: kept mirrored while it is asked
    verdict: int | None = None


@dataclass(frozen=True)
class Built:
    entries: Mapping[str, Entry] = field(default_factory=dict)
    parts: Mapping[str, Part] = field(default_factory=dict)  # the encoded answers of each name that has some
    errors: Mapping[str, str] = field(default_factory=dict)  # names whose evaluation failed (SERVFAIL), and why


@dataclass(frozen=True)
class Inputs:
    """Everything an evaluation reads, taken on the loop and handed to the worker thread."""

    names: frozenset[str]
    definitions: Definitions
    catalogs: Mapping[str, Catalog]
    by_distance: tuple[str, ...]
    local: str
    unreachable: frozenset[str]
    config: ZoneConfig


def query_name(parts: tuple[str, ...]) -> str | None:
    """The query name of the labels before `query`: `name` or RFC 2782's `_name._tcp`."""
    if len(parts) == 1:
        return parts[0]
    if len(parts) == 2 and parts[1] == "_tcp" and parts[0].startswith("_") and len(parts[0]) > 1:
        return parts[0][1:]
    return None


def _entry(name: str, inputs: Inputs) -> Entry:
    query = inputs.definitions.resolve(name)
    if query is None:
        return Entry(verdict=SERVFAIL if inputs.definitions.template_may_match(name) else NXDOMAIN)
    if query.unsupported:
        return Entry(query, verdict=SERVFAIL)
    result = execute(query, inputs.catalogs, inputs.by_distance, inputs.local, inputs.unreachable)
    return Entry(query, result, tuple(failover_order(query, inputs.by_distance, inputs.local)))


def name_answers(encoder: Encoder, name: bytes, group: Group) -> dict[int, Answer]:
    """A, AAAA, SRV, ANY of one query name (wire form), by qtype: the TTL and the SRV targets' datacenter are
    the encoder's."""
    return {int.from_bytes(key[-2:], "big"): answer for key, answer in encoder.entries(name, group).items()}


def _part(name: str, entry: Entry, inputs: Inputs) -> Part | None:
    """Every form of one query name (with and without the local datacenter, RFC 2782, each domain), encoded now
    (`Fixed`: the zone it is lent to has neither its TTL nor its datacenter)."""
    result, cfg = entry.result, inputs.config
    if result is None or not result.instances or not valid_label(name):
        return None
    ttl = cfg.ttl if entry.query is None or entry.query.ttl is None else entry.query.ttl
    encoder = Encoder(ttl, result.datacenter)
    recipes: dict[bytes, Fixed] = {}
    ents: set[bytes] = set()
    for domain in cfg.domains():
        group = Group(result.instances, domain, [])
        for prefix in ((name, "query"), (f"_{name}", "_tcp", "query"))[: 2 if valid_label(f"_{name}") else 1]:
            for qlabels in (prefix + domain, prefix + (inputs.local.lower(), *domain)):
                try:
                    wire = encode_name(qlabels)
                except BadName:
                    continue
                answers = name_answers(encoder, wire, group)
                if answers:
                    recipes[wire] = Fixed(answers)
                    ents.update(_ancestors(wire, len(qlabels) - len(domain)))
    return Part(recipes, frozenset(ents), (), result.instances, len(result.instances))


def _ancestors(wire: bytes, depth: int) -> list[bytes]:
    """The `depth` ancestors of a name (wire form) down to its apex: they exist while the name does."""
    out = []
    for _ in range(depth):
        wire = wire[wire[0] + 1 :]
        out.append(wire)
    return out


def evaluate(inputs: Inputs) -> Built:
    """Pure: each asked name's entry and the encoded answers of those that have instances."""
    entries: dict[str, Entry] = {}
    parts: dict[str, Part] = {}
    errors: dict[str, str] = {}
    for name in sorted(inputs.names):
        try:  # a definition is Consul data: one that breaks the encoding costs its own name, never the others
            entry = _entry(name, inputs)
            part = _part(name, entry, inputs)
        except Exception as exc:  # noqa: BLE001 - reported by the caller, answered SERVFAIL
            entries[name], errors[name] = Entry(verdict=SERVFAIL), f"{type(exc).__name__}: {exc}"
            continue
        entries[name] = entry
        if part is not None:
            parts[name] = part
    return Built(entries, parts, errors)


class PreparedAnswers:
    """The asked query names, their built answers, the definitions watch. `lookup` is the answer path's entry."""

    def __init__(self, consul: ConsulClient, local_feed: Feed, remote: RemoteDatacenters, config: ZoneConfig,
                 executor: Executor | None, tasks: Supervisor, leases: Leases, *, local: Callable[[], str | None],
                 datacenter: str | None = None, stale: bool = True, idle: float = 300.0, wait: float = 3.0,
                 observer: WatchObserver | None = None) -> None:
        self.consul = consul
        self.local_feed = local_feed
        self.remote = remote
        self.config = config
        self.executor = executor
        self.tasks = tasks
        self.local = local
        self.leases = leases
        self.params = [("dc", datacenter)] if datacenter else []
        self.stale = stale
        self.idle = idle
        self.wait = wait
        self.observer = observer  # the local datacenter's Reachability: a refused /v1/query shows in /metrics
        self.definitions: Definitions | None = None
        self.active: dict[str, float] = {}  # asked name -> when it was last asked
        self.built = Built()
        self.stats = {"builds": 0, "build_errors": 0, "skipped_definitions": 0}
        self._changed = asyncio.Event()  # set (and replaced) after each build
        self._defined = asyncio.Event()  # the definitions were read
        self._busy = self._dirty = self._running = False
        local_feed.listeners.append(lambda _change: self.schedule())
        remote.listeners.append(lambda _name: self.schedule())

    # ---- the answer path -------------------------------------------------------------------------------
    def lookup(self, parts: tuple[str, ...], key: bytes) -> Answer | Pending | int:
        name = query_name(parts)
        if name is None:
            return NXDOMAIN
        self._ensure_running()
        if name not in self.active:
            return self._first(name)
        self.active[name] = asyncio.get_running_loop().time()
        entry = self.built.entries.get(name)
        if entry is None:
            return Pending(partial(self._wait_for, name))
        for dc in entry.failover:
            self.remote.touch(dc)  # None beyond --remote-max: that failover then waits, and times out
        if entry.verdict is not None:
            return entry.verdict
        if entry.result is not None and entry.result.waiting_for:
            return Pending(partial(self._wait_for, name))
        part = self.built.parts.get(name)
        if part is None:
            return NXDOMAIN  # no instance anywhere
        if name not in self.leases.lent(OWNER):
            self.leases.lend(OWNER, {name: part}, self._expired)
        recipe = part.recipes.get(key[:-2])
        found = recipe.answers.get(int.from_bytes(key[-2:], "big")) if isinstance(recipe, Fixed) else None
        if found is not None:
            return found
        return NOERROR if key[:-2] in part.recipes or key[:-2] in part.ents else NXDOMAIN

    def _first(self, name: str) -> Pending | int:
        """A name not asked lately: kept (and evaluated) only when a definition has it, so random names cost
        nothing but their NXDOMAIN; at most MAX_ASKED names at once."""
        definitions = self.definitions
        if definitions is None:
            return Pending(self._wait_definitions)  # asked again once they are here
        if definitions.resolve(name) is None:
            return SERVFAIL if definitions.template_may_match(name) else NXDOMAIN
        if len(self.active) >= MAX_ASKED:
            log.warning("prepared query %s: %d query names are asked already: SERVFAIL", name, MAX_ASKED)
            return SERVFAIL
        self.active[name] = asyncio.get_running_loop().time()
        self.schedule()
        return Pending(partial(self._wait_for, name))

    async def _wait_definitions(self) -> bool:
        try:
            async with asyncio.timeout(self.wait):
                await self._defined.wait()
        except TimeoutError:
            return False
        return True

    def _expired(self, names: frozenset[str]) -> None:
        now = asyncio.get_running_loop().time()
        for name in names:  # asked, maybe, until now: counted as used
            if name in self.active:
                self.active[name] = now

    async def _wait_for(self, name: str) -> bool:
        """Until `name` has an entry that is not waiting for a datacenter, at most `wait` seconds."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.wait
        while True:
            entry = self.built.entries.get(name)
            if entry is not None and (entry.result is None or entry.result.waiting_for is None):
                return True
            if entry is not None and entry.result is not None and entry.result.waiting_for:
                self.remote.touch(entry.result.waiting_for)
            changed = self._changed
            try:  # asyncio.timeout, not wait_for: in a loop, a cancel must never be lost
                async with asyncio.timeout_at(deadline):
                    await changed.wait()
            except TimeoutError:
                return False

    # ---- definitions, idle names ----------------------------------------------------------------------
    def _ensure_running(self) -> None:
        if not self._running:
            self._running = True
            self.remote.ensure_running()
            self.tasks.start("prepared queries", self._watch, name="prepared query definitions")

    async def _watch(self) -> None:
        reaper = asyncio.create_task(self._reap())
        try:
            async for _, data in self.consul.watch(paths.prepared_queries(), self.params, stale=self.stale,
                                                   what="list prepared queries", observer=self.observer):
                decoded = decode_definitions(data)
                self.stats["skipped_definitions"] += decoded.skipped
                self.definitions = decoded.value
                self._defined.set()
                self.schedule()
        finally:
            reaper.cancel()

    async def _reap(self) -> None:
        while True:
            await asyncio.sleep(max(0.25, self.idle / 4))
            now = asyncio.get_running_loop().time()
            gone = [n for n, t in self.active.items() if now - t > self.idle]
            for name in gone:
                del self.active[name]
            self.leases.update(OWNER, dict.fromkeys(gone))
            if gone:
                self.schedule()
            if not self.active:
                log.info("no prepared query asked for %.0f s: stopped reading their definitions", self.idle)
                self._running = False
                self.definitions = None
                self._defined = asyncio.Event()
                self.built = Built()
                self.leases.take_back(OWNER)
                self.tasks.discard("prepared queries")
                return

    # ---- evaluation, off the loop ---------------------------------------------------------------------
    def schedule(self) -> None:
        if not self.active:
            return
        self._dirty = True
        if not self._busy:
            self._busy = True
            asyncio.get_running_loop().call_soon(self._start)

    def _inputs(self) -> Inputs | None:
        local = self.local()
        if self.definitions is None or local is None or self.remote.known is None:
            return None
        if not self.local_feed.synced.is_set():
            return None
        catalogs = {local: self.local_feed.catalog}
        unreachable = set()
        for name, site in self.remote.sites.items():
            if site.catalog is not None:
                catalogs[name] = site.catalog
            if not site.reachability.reachable:
                unreachable.add(name)
        return Inputs(frozenset(self.active), self.definitions, catalogs, self.remote.known, local,
                      frozenset(unreachable), self.config)

    def _start(self) -> None:
        inputs = self._inputs() if self._dirty else None
        self._dirty = False
        if inputs is None:
            self._busy = False
            return
        future = asyncio.get_running_loop().run_in_executor(self.executor, evaluate, inputs)
        future.add_done_callback(self._done)

    def _done(self, future: asyncio.Future[Built]) -> None:
        if not future.cancelled():
            exc = future.exception()
            if exc is not None:
                self.stats["build_errors"] += 1
                log.error("prepared query evaluation failed; still serving the previous answers", exc_info=exc)
            elif self._running:
                self.built = future.result()
                for name, why in self.built.errors.items():
                    log.error("prepared query %s: cannot be answered (%s): SERVFAIL", name, why)
                self.leases.update(OWNER, {n: self.built.parts.get(n) for n in self.leases.lent(OWNER)})
                self.stats["builds"] += 1
                changed, self._changed = self._changed, asyncio.Event()
                changed.set()
        self._start()


def datacenters_of(entries: Iterable[Entry]) -> set[str]:
    """The datacenters whose instances some entry serves now (for metrics and tests)."""
    return {e.result.datacenter for e in entries if e.result is not None and e.result.instances}
