"""Source: other datacenters, each mirrored on demand by a catalog feed of its own (`Feed(dc=...)`).

A name like `web.service.dc2.consul` starts a `Site` for dc2 the first time it is asked: the same feed as the
local one (four blocking queries and a bounded read pool, through the local agent and its servers over the WAN)
and a zone of dc2's names only (`ZoneConfig.bare_names=False`: `web.service.dc2.consul`, never
`web.service.consul`), built off the loop by a `ZonePublisher` like the local zone. The first query is held
(`Pending`) until dc2's first sync is served, at most `wait` seconds (then SERVFAIL, never a guessed NXDOMAIN).
Then dc2's parts are lent to the local zone's table (leases.py): later questions take the fast path like local
names, and dc2's changes reach the table part by part. A site nobody asked about for `idle` seconds is stopped
and forgotten. At most `max_sites` are mirrored at once (each holds 4 blocking queries and a read pool of
`pool_size` against the agent's connection cap, which the local mirror must never run short of): a question
for one more datacenter is SERVFAIL until one of them goes idle.

Which datacenters exist comes from /v1/catalog/datacenters (no blocking index: polled), which also gives them in
Consul's round-trip-time order, the order prepared queries fail over in. A name of a datacenter not in that list
is NXDOMAIN; such a miss asks Consul again, at most every UNKNOWN_REFRESH seconds (random names cannot make
us poll faster).

Each site has its own Reachability: a partitioned dc2 makes its answers come from its last good data and shows in
`dns_balancer_datacenter_reachable{datacenter="dc2"}`, without marking local answers stale."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Mapping
from concurrent.futures import Executor
from dataclasses import replace
from functools import partial

from dns_balancer.leases import Leases, without
from dns_balancer.mirror import ZonePublisher
from dns_balancer.pending import Pending
from dns_balancer.records import NOERROR, NXDOMAIN, SERVFAIL, Answer
from dns_balancer.zone import APEX, Part, Update, Zone, ZoneConfig
from portside.backoff import Backoff
from portside.catalog import Catalog
from portside.consul import ConsulClient, ConsulError, Reachability
from portside.feed import Feed
from portside.supervise import Supervisor

log = logging.getLogger("dns_balancer.remote")

DATACENTERS_POLL = 30.0  # seconds between reads of /v1/catalog/datacenters
UNKNOWN_REFRESH = 5.0  # at most one extra read per this many seconds when a name names an unknown datacenter


class Site:
    """One other datacenter: its feed, its zone, its reachability, when it was last asked about."""

    def __init__(self, name: str, consul: ConsulClient, config: ZoneConfig, executor: Executor | None, *,
                 stale: bool, pool_size: int, on_change: Callable[[str], None], leases: Leases) -> None:
        self.name = name
        self.owner = f"dc:{name}"  # its key prefix in the local zone while its parts are lent there
        self.on_change = on_change
        self.leases = leases
        self.reachability = Reachability(lambda ok, detail: self._reachability(ok, detail))
        self.feed = Feed(consul, datacenter=name, stale=stale, pool_size=pool_size, observer=self.reachability)
        self.publisher = ZonePublisher(self, replace(config, datacenter=name, bare_names=False), executor)
        self.publisher.synced = self.feed.synced.is_set
        self.publisher.applied = self._applied
        self.feed.listeners.append(self.publisher.on_change)
        self.zone: Zone | None = None
        self.ready = asyncio.Event()  # the first zone built from a synced catalog is here
        loop = asyncio.get_running_loop()
        self.started = self.last_used = loop.time()
        self.first_sync: float | None = None  # seconds from start to that first zone

    def set_zone(self, zone: Zone, ready: bool = True) -> None:
        self.zone = zone
        if ready and not self.ready.is_set():
            self.first_sync = asyncio.get_running_loop().time() - self.started
            log.info("datacenter %s: mirrored (%d services, %d healthy instances) %.3f s after it was first asked",
                     self.name, len(zone.parts) - 2, zone.instances, self.first_sync)
            self.ready.set()
        self.on_change(self.name)

    def _applied(self, result: Zone | Update) -> None:
        """A change of dc2's zone: the parts lent to the local zone follow it (a whole new zone is taken back
        and lent again by the next question)."""
        if isinstance(result, Zone):
            self.leases.take_back(self.owner)
        else:
            self.leases.update(self.owner, self._lendable(result.parts))

    def lend(self) -> None:
        """Lend every part of the synced zone (its SOA/NS apart: the local zone answers for the apex)."""
        assert self.zone is not None
        if not self.leases.is_lent(self.owner):
            self.leases.lend(self.owner, self._lendable(self.zone.parts), self._expired)

    def _lendable(self, parts: Mapping[str, Part | None]) -> dict[str, Part | None]:
        """The parts as lent: marked as this datacenter's (the local zone encodes their answers with its name),
        the SOA/NS apart."""
        return {k: p if p is None else replace(p, dc=self.name) for k, p in without(parts, (APEX,)).items()}

    def _expired(self, _keys: frozenset[str]) -> None:
        self.last_used = asyncio.get_running_loop().time()  # asked, maybe, until now: counted as used

    def _reachability(self, ok: bool, detail: str) -> None:
        if ok:
            log.info("datacenter %s reachable again: its answers follow its catalog again", self.name)
        else:
            log.warning("datacenter %s unreachable (%s): serving its last good data", self.name, detail)
        self.on_change(self.name)

    @property
    def catalog(self) -> Catalog | None:
        """The synced catalog (None before the first sync)."""
        return self.feed.catalog if self.ready.is_set() else None

    async def wait_ready(self, timeout: float) -> bool:
        try:
            async with asyncio.timeout(timeout):
                await self.ready.wait()
        except TimeoutError:
            return False
        return True

    def answer(self, key: bytes) -> Answer | int:
        """From the synced zone: the answer, or NOERROR (the name exists, not with that type) or NXDOMAIN."""
        assert self.zone is not None
        found = self.zone.table.get(key) or self.zone.lookup(key)
        if found is not None:
            return found
        return NOERROR if self.zone.exists(key[:-2]) else NXDOMAIN


class RemoteDatacenters:
    """The known datacenters (nearest first) and the sites mirrored now. `listeners` hear a datacenter's name
    when its data, reachability or presence changed ("" when the list of datacenters did)."""

    def __init__(self, consul: ConsulClient, config: ZoneConfig, executor: Executor | None, tasks: Supervisor,
                 leases: Leases, *, stale: bool = True, pool_size: int = 4, idle: float = 300.0,
                 wait: float = 3.0, max_sites: int = 4) -> None:
        self.consul = consul
        self.config = config
        self.executor = executor
        self.tasks = tasks
        self.stale = stale
        self.pool_size = pool_size
        self.idle = idle
        self.wait = wait
        self.known: tuple[str, ...] | None = None  # every datacenter, in Consul's RTT order; None until read once
        self._known_lower: dict[str, str] = {}
        self.sites: dict[str, Site] = {}
        self.max_sites = max_sites
        self._refused: set[str] = set()  # datacenters refused for the cap (each logged once)
        self.leases = leases
        self.listeners: list[Callable[[str], None]] = []
        self.stats = {"started": 0, "stopped": 0, "datacenter_reads": 0, "datacenter_read_errors": 0}
        self._known_event = asyncio.Event()
        self._refresh = asyncio.Event()
        self._refresh_after = 0.0
        self._running = False

    # ---- the list of datacenters -----------------------------------------------------------------------
    def ensure_running(self) -> None:
        """Start polling the list of datacenters and reaping idle sites (on first demand)."""
        if not self._running:
            self._running = True
            self.tasks.start("datacenters", self._poll, name="datacenters poll")
            self.tasks.start("remote idle", self._reap, name="remote datacenters idle stop")

    async def _poll(self) -> None:
        backoff = Backoff(base=0.2, cap=DATACENTERS_POLL)
        while True:
            self.stats["datacenter_reads"] += 1
            try:
                found = tuple(await self.consul.datacenters())
            except ConsulError as exc:
                self.stats["datacenter_read_errors"] += 1
                delay = backoff.next_delay()
                log.warning("cannot list the datacenters (%s); keeping the last list, retrying in %.1fs", exc, delay)
                await asyncio.sleep(delay)
                continue
            backoff.reset()
            if found != self.known:
                log.info("datacenters, nearest first: %s", ", ".join(found))
                self.known = found
                self._known_lower = {dc.lower(): dc for dc in found}
                self._notify("")
            self._known_event.set()
            self._refresh.clear()
            with contextlib.suppress(TimeoutError):  # asyncio.timeout, not wait_for: a cancel is never lost
                async with asyncio.timeout(DATACENTERS_POLL):
                    await self._refresh.wait()

    async def wait_known(self) -> bool:
        try:
            async with asyncio.timeout(self.wait):
                await self._known_event.wait()
        except TimeoutError:
            return False
        return True

    def _refresh_soon(self) -> None:
        now = asyncio.get_running_loop().time()
        if now >= self._refresh_after:
            self._refresh_after = now + UNKNOWN_REFRESH
            self._refresh.set()

    # ---- sites -----------------------------------------------------------------------------------------
    def touch(self, name: str) -> Site | None:
        """The site of datacenter `name`, started if it is not mirrored yet (None when `max_sites` are already
        mirrored: each holds connections to the agent, which the local mirror must never run short of)."""
        site = self.sites.get(name)
        if site is None:
            if len(self.sites) >= self.max_sites:
                if name not in self._refused:
                    self._refused.add(name)
                    log.warning("datacenter %s: not mirrored, %d other datacenters are (--remote-max): SERVFAIL",
                                name, len(self.sites))
                return None
            site = Site(name, self.consul, self.config, self.executor, stale=self.stale, pool_size=self.pool_size,
                        on_change=self._notify, leases=self.leases)
            self.sites[name] = site
            self.stats["started"] += 1
            self.tasks.start(("site", name), site.feed.run, name=f"mirror of datacenter {name}")
            log.info("datacenter %s: asked for the first time; mirroring it", name)
        else:
            site.last_used = asyncio.get_running_loop().time()
        return site

    def lookup(self, name: str, key: bytes) -> Answer | Pending | int:
        """A question for datacenter `name` (lowercased; not the local one) that the local table missed."""
        self.ensure_running()
        if self.known is None:
            return Pending(self.wait_known)  # asked again once the list is here
        actual = self._known_lower.get(name)
        if actual is None:
            self._refresh_soon()
            return NXDOMAIN
        site = self.touch(actual)
        if site is None:
            return SERVFAIL
        if site.zone is None or not site.ready.is_set():
            return Pending(partial(site.wait_ready, self.wait))
        site.lend()
        return site.answer(key)

    async def _reap(self) -> None:
        while True:
            await asyncio.sleep(max(0.25, self.idle / 4))
            now = asyncio.get_running_loop().time()
            for name, site in list(self.sites.items()):
                if now - site.last_used > self.idle:
                    self.stop(name, f"not asked about for {self.idle:.0f} s")

    def stop(self, name: str, why: str) -> None:
        site = self.sites.pop(name, None)
        if site is not None:
            self.tasks.discard(("site", name))
            self.leases.take_back(site.owner)
            self.stats["stopped"] += 1
            log.info("datacenter %s: %s; stopped mirroring it", name, why)
            self._notify(name)

    def _notify(self, name: str) -> None:
        for listener in self.listeners:
            try:
                listener(name)
            except Exception:  # one reader's bug must not stop the others
                log.exception("remote datacenter listener failed")
