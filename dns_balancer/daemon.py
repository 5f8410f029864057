"""Wiring: mirror (Consul watches) -> zone (rebuilt per change, coalesced per loop turn) -> responder -> server,
plus /health and /metrics. `serve(config, stop)` is the daemon's main coroutine for `portside.run.run`."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from concurrent.futures import Executor, ThreadPoolExecutor
from dataclasses import dataclass, field

from dns_balancer.access import Access, Network
from dns_balancer.forward import Forwarder
from dns_balancer.metrics import Sources, make_registry
from dns_balancer.mirror import Mirror, ObservedConsul
from dns_balancer.pauses import bound_gil_wait, settle_heap
from dns_balancer.server import DnsServer, ServerConfig
from dns_balancer.snapshot import Snapshot
from dns_balancer.wire import Responder
from dns_balancer.zone import Zone, ZoneConfig, build_zone
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
    allow_from: tuple[Network, ...] | None = None  # None: every client may ask
    recursion_from: tuple[Network, ...] | None = None  # clients that may use the recursors


class ZonePublisher:
    """Turns snapshots into zones. The build (pure, CPU-bound: ~150 ms for a 2000-instance service) runs in a
    worker thread so the loop keeps answering meanwhile; changes that arrive during a build are coalesced into
    the next one, which starts from the newest snapshot."""

    def __init__(self, responder: Responder, config: ZoneConfig, executor: Executor | None = None) -> None:
        self.responder = responder
        self.config = config
        self.executor = executor
        self.zone: Zone | None = None
        self.pending: Snapshot | None = None
        self.busy = False  # a build is scheduled or running
        self.rebuilds = 0
        self.synced: Callable[[], bool] = lambda: True  # until then, in-zone misses are SERVFAIL, not NXDOMAIN
        self.settled = False  # the heap is frozen once the first synced zone is served

    def publish(self, snapshot: Snapshot) -> None:
        self.pending = snapshot
        if not self.busy:
            self.busy = True
            asyncio.get_running_loop().call_soon(self._start)  # one build for all changes of this loop turn

    def _start(self) -> None:
        snapshot, self.pending = self.pending, None
        if snapshot is None:
            self.busy = False
            return
        loop = asyncio.get_running_loop()
        future = loop.run_in_executor(self.executor, build_zone, snapshot, self.config, self.zone)
        future.add_done_callback(self._done)

    def _done(self, future: asyncio.Future[Zone]) -> None:
        if future.cancelled():
            self.busy = False
            return
        exc = future.exception()
        if exc is not None:  # keep serving the previous zone
            log.error("zone rebuild failed; still serving the previous zone", exc_info=exc)
        else:
            self.zone = future.result()
            self.rebuilds += 1
            ready = self.synced()
            self.responder.set_zone(self.zone, ready=ready)
            if ready and not self.settled:
                self.settled = True
                settle_heap()
        self._start()


async def serve(config: DaemonConfig, stop: asyncio.Event, ready: asyncio.Event | None = None) -> int:
    bound_gil_wait()
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
    mirror = Mirror(consul, publisher.publish, datacenter=config.datacenter, stale=config.stale_reads)
    publisher.synced = mirror.synced.is_set
    runner = None
    tasks: list[asyncio.Task[object]] = []
    try:
        try:
            await server.start()
        except OSError as exc:
            log.error("cannot answer DNS on %s:%d: %s", config.server.host, config.server.port, exc)
            return 2
        if config.http_addr:
            registry = make_registry(Sources(responder, server, mirror, consul, forwarder, lambda: publisher.rebuilds))

            async def health() -> dict[str, bool]:
                return {"dns": server.listening, "mirror_synced": mirror.synced.is_set()}

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
