"""Wiring: mirror (the catalog feed) -> zone (updated per changed service, coalesced) -> responder -> server,
plus /health and /metrics. `serve(config, stop)` is the daemon's main coroutine for `portside.run.run`."""

from __future__ import annotations

import asyncio
import logging
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from dns_balancer.access import Access, Network
from dns_balancer.forward import Forwarder
from dns_balancer.metrics import Sources, make_registry
from dns_balancer.mirror import Mirror, ObservedConsul, ZonePublisher
from dns_balancer.server import DnsServer, ServerConfig
from dns_balancer.snapshot import Snapshot
from dns_balancer.wire import Responder
from dns_balancer.zone import ZoneConfig, build_zone
from portside.observe import make_app, serve_http
from portside.run import cancel_all
from portside.settings import ConsulSettings

log = logging.getLogger("dns_balancer")


@dataclass(frozen=True)
class DaemonConfig:
    consul: ConsulSettings
    zone: ZoneConfig = field(default_factory=ZoneConfig)
    server: ServerConfig = field(default_factory=ServerConfig)
    a_record_limit: int = 0
    recursors: tuple[tuple[str, int], ...] = ()
    recursor_timeout: float = 2.0
    http_addr: str | None = "127.0.0.1:9600"
    stale_reads: bool = True
    datacenter: str | None = None  # ask Consul for this datacenter's catalog (None: the agent's own)
    fetch_pool: int = 8  # reads of changed services at once (the feed's blocking queries are 3 more)
    allow_from: tuple[Network, ...] | None = None  # None: every client may ask
    recursion_from: tuple[Network, ...] | None = None  # clients that may use the recursors


async def serve(config: DaemonConfig, stop: asyncio.Event, ready: asyncio.Event | None = None) -> int:
    responder = Responder(recursion=bool(config.recursors), a_record_limit=config.a_record_limit)
    responder.set_zone(build_zone(Snapshot(), config.zone), ready=False)  # our apexes from the start: SERVFAIL
    forwarder = Forwarder(config.recursors, config.recursor_timeout)
    access = Access(config.allow_from, config.recursion_from if config.recursors else None)
    server = DnsServer(responder, config.server, forwarder, access)
    builder = ThreadPoolExecutor(max_workers=1, thread_name_prefix="zone-build")
    publisher = ZonePublisher(responder, config.zone, builder)
    consul = await ObservedConsul.open(config.consul)

    def on_reachability(ok: bool, detail: str) -> None:
        responder.stale = not ok
        if ok:
            log.info("Consul reachable again at %s: answers follow the catalog again", config.consul.address)
        else:
            log.warning("Consul unreachable (%s): serving the last good data until it is back", detail)

    consul.on_reachability = on_reachability
    mirror = Mirror(consul, publisher, datacenter=config.datacenter, stale=config.stale_reads,
                    pool_size=config.fetch_pool)
    runner = None
    tasks: list[asyncio.Task[object]] = []
    try:
        try:
            await server.start()
        except OSError as exc:
            log.error("cannot answer DNS on %s:%d: %s", config.server.host, config.server.port, exc)
            return 2
        if config.http_addr:
            registry = make_registry(Sources(responder, server, mirror, consul, forwarder, lambda: publisher.rebuilds,
                                        lambda: publisher.updates))

            async def health() -> dict[str, bool]:
                # synced = the first zone built from a full catalog is being served (not just read)
                return {"dns": server.listening, "mirror_synced": mirror.synced.is_set() and responder.ready}

            try:
                runner = await serve_http(make_app(registry, health), config.http_addr)
            except (OSError, ValueError) as exc:
                log.error("cannot serve /health and /metrics on %s: %s", config.http_addr, exc)
                return 2
            log.info("/health and /metrics on http://%s", config.http_addr)
        tasks.append(asyncio.create_task(mirror.run(), name="mirror"))
        if ready is not None:
            ready.set()
        stopped = asyncio.create_task(stop.wait())
        done, _ = await asyncio.wait([stopped, tasks[0]], return_when=asyncio.FIRST_COMPLETED)
        stopped.cancel()
        if tasks[0] in done and not stop.is_set():
            log.error("mirror stopped: %r", tasks[0].exception())
            return 1
        return 0
    finally:
        await cancel_all(tasks)
        await server.close()
        if runner is not None:
            await runner.cleanup()
        await consul.close()
        builder.shutdown(wait=False, cancel_futures=True)
