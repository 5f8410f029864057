"""Wiring: mirror (the catalog feed) -> zone (updated per changed service, coalesced) -> responder -> server,
plus /health and /metrics. `serve(config, stop)` is the daemon's main coroutine for `portside.run.run`."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from concurrent.futures import Executor
from dataclasses import dataclass, field

from dns_balancer.access import Access, Network
from dns_balancer.elsewhere import HoldingForwarder, Router
from dns_balancer.follow import AskedFollower, room
from dns_balancer.leases import Leases
from dns_balancer.metrics import Sources, make_registry
from dns_balancer.mirror import BuildThread, Mirror, ZonePublisher
from dns_balancer.multidc_metrics import MultiDcCollector
from dns_balancer.pauses import bound_gil_wait, settle_heap
from dns_balancer.queries import PreparedAnswers
from dns_balancer.remote import RemoteDatacenters
from dns_balancer.server import DnsServer, ServerConfig
from dns_balancer.snapshot import Snapshot
from dns_balancer.wire import Responder
from dns_balancer.zone import ZoneConfig, build_zone
from portside.address import Address
from portside.consul import ConsulClient, Reachability
from portside.observe import serve_observability
from portside.settings import ConsulSettings
from portside.supervise import Supervisor

log = logging.getLogger("dns_balancer")


@dataclass(frozen=True)
class DaemonConfig:
    consul: ConsulSettings
    zone: ZoneConfig = field(default_factory=ZoneConfig)
    server: ServerConfig = field(default_factory=ServerConfig)
    a_record_limit: int = 0
    recursors: tuple[tuple[str, int], ...] = ()
    recursor_timeout: float = 2.0
    http_addr: Address | None = Address("127.0.0.1", 9600)
    stale_reads: bool = True
    datacenter: str | None = None  # ask Consul for this datacenter's catalog (None: the agent's own)
    fetch_pool: int = 8  # reads of changed services at once (the feed's blocking queries are 3 more)
    allow_from: tuple[Network, ...] | None = None  # None: every client may ask
    recursion_from: tuple[Network, ...] | None = None  # clients that may use the recursors
    remote_idle: float = 300.0  # stop mirroring another datacenter (or reading prepared queries) unasked this long
    remote_wait: float = 3.0  # hold a first question for another datacenter or a prepared query at most this long
    remote_max: int = 4  # other datacenters mirrored at once (each: 4 blocking queries + fetch_pool // 2 reads)
    follow_asked: int = 16  # asked local services followed with a blocking query each, within the connection cap


def other_datacenters(config: DaemonConfig, consul: ConsulClient, responder: Responder, mirror: Mirror,
                      builder: Executor, tasks: Supervisor, reachability: Reachability,
                      ) -> tuple[RemoteDatacenters, PreparedAnswers, Callable[[], str | None]]:
    """Other datacenters and prepared queries, asked through the responder's `Elsewhere`; both start on demand."""

    def local() -> str | None:
        """The local datacenter's name once known (the zone's own rule answers before the first sync)."""
        return config.datacenter or (responder.zone.datacenter if mirror.synced.is_set() else None)

    leases = Leases(responder, config.remote_idle / 2)  # lent to the fast path, taken back to see who still asks
    remote = RemoteDatacenters(consul, config.zone, builder, tasks, leases, stale=config.stale_reads,
                               pool_size=max(1, config.fetch_pool // 2), idle=config.remote_idle,
                               wait=config.remote_wait, max_sites=config.remote_max)
    queries = PreparedAnswers(consul, mirror.feed, remote, config.zone, builder, tasks, leases, local=local,
                              datacenter=config.datacenter, stale=config.stale_reads, idle=config.remote_idle,
                              wait=config.remote_wait, observer=reachability)
    responder.elsewhere = Router(remote, queries, local)
    return remote, queries, local


async def serve(config: DaemonConfig, stop: asyncio.Event, ready: asyncio.Event | None = None) -> int:
    bound_gil_wait()
    responder = Responder(recursion=bool(config.recursors), a_record_limit=config.a_record_limit,
                          on_ready=settle_heap)
    responder.set_zone(build_zone(Snapshot(), config.zone), ready=False)  # our apexes from the start: SERVFAIL
    forwarder = HoldingForwarder(config.recursors, config.recursor_timeout, responder=responder,
                                 wait=config.remote_wait)
    access = Access(config.allow_from, config.recursion_from if config.recursors else None)
    server = DnsServer(responder, config.server, forwarder, access)
    builder = BuildThread()
    publisher = ZonePublisher(responder, config.zone, builder)
    consul = await ConsulClient.open(config.consul)
    tasks = Supervisor()  # the mirrors: restarted when they fail, named by /health when they keep failing

    def on_reachability(ok: bool, detail: str) -> None:
        responder.stale = not ok
        if ok:
            log.info("Consul reachable again at %s: answers follow the catalog again", config.consul.address)
        else:
            log.warning("Consul unreachable (%s): serving the last good data until it is back", detail)

    reachability = Reachability(on_reachability)
    mirror = Mirror(consul, publisher, datacenter=config.datacenter, stale=config.stale_reads,
                    pool_size=config.fetch_pool, observer=reachability)
    remote, queries, local = other_datacenters(config, consul, responder, mirror, builder, tasks, reachability)
    stack = contextlib.AsyncExitStack()
    try:
        try:
            await server.start()
        except OSError as exc:
            log.error("cannot answer DNS on %s:%d: %s", config.server.host, config.server.port, exc)
            return 2
        registry = make_registry(Sources(responder, server, mirror, reachability, forwarder,
                                         lambda: publisher.rebuilds, lambda: publisher.updates,
                                         lambda: publisher.failures),
                                 MultiDcCollector(remote, queries, forwarder, reachability, local))

        async def health() -> dict[str, bool]:
            # synced = the first zone built from a full catalog is being served (not just read)
            return {"dns": server.listening, "mirror_synced": mirror.synced.is_set() and responder.ready,
                    **tasks.health()}

        try:
            await stack.enter_async_context(serve_observability(health, registry, config.http_addr))
        except OSError as exc:
            log.error("cannot serve /health and /metrics on %s: %s", config.http_addr, exc)
            return 2
        tasks.start("mirror", mirror.run)
        limit = room(config.consul.max_connections, config.follow_asked, config.fetch_pool, config.remote_max)
        if limit < config.follow_asked:
            log.info("following at most %d asked services (of --follow-asked %d): what the connection cap of %d "
                     "leaves", limit, config.follow_asked, config.consul.max_connections)
        if limit > 0:  # a task the supervisor runs must not end
            follower = AskedFollower(mirror.feed, lambda: responder.zone, lambda: responder.rotation, limit)
            tasks.start("follow asked", follower.run)
        if ready is not None:
            ready.set()
        await stop.wait()
        return 0
    finally:
        await tasks.close()
        await server.close()
        await stack.aclose()
        await consul.close()
        builder.shutdown(wait=False, cancel_futures=True)
