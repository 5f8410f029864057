"""Source: the catalog feed (portside.feed) -> the zone, updated in place one changed service at a time.

The feed keeps the catalog with a fixed number of connections to Consul and says which services changed;
`ZonePublisher` re-encodes only those services' parts, in a worker thread when they are large (a 2,000-instance
service takes ~150 ms: the loop keeps answering meanwhile), on the loop when small (INLINE_INSTANCES), and swaps
them into the zone on the loop. Changes that arrive during a build are coalesced into the next one. A config
or datacenter change rebuilds the whole zone. When Consul cannot be reached the feed keeps the last good
catalog; the `observer` (portside's `Reachability`) sees every fetch, so the daemon can say it serves stale
data."""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Callable, Iterable
from concurrent.futures import Executor, Future
from functools import partial
from typing import Any, Protocol

from dns_balancer.snapshot import Snapshot
from dns_balancer.zone import Update, Zone, ZoneConfig, build_zone, plan, zone_datacenter
from portside.consul import ConsulClient, WatchObserver
from portside.feed import Change, Feed, health_path

log = logging.getLogger("dns_balancer.mirror")
RETRY_AFTER = 1.0  # seconds between a failed zone build and the next (a whole zone)
# An update of at most this many instances (no node change) is planned on the loop: handing it to a worker thread
# and back cost ~1.3 ms of a health flip's 2.3 ms from the feed to the zone (thread start, then the wake-up of
# the loop), where the plan itself is ~0.1-0.5 ms and holds the GIL, so the loop waits for it either way.
INLINE_INSTANCES = 64

__all__ = ["Mirror", "ZonePublisher", "health_path"]


class ZoneSink(Protocol):
    """Where built zones go: the Responder for the local datacenter, a remote datacenter's site for another."""

    def set_zone(self, zone: Zone, ready: bool = True) -> None: ...


class BuildThread(Executor):
    """Runs each zone build in a daemon thread of its own (the publisher runs one at a time). A first build of a
    large catalog takes minutes on a busy machine; a pool's worker would be joined at exit, so SIGTERM during it
    would wait for the build to finish instead of stopping the daemon."""

    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Future[Any]:
        future: Future[Any] = Future()

        def run() -> None:
            if not future.set_running_or_notify_cancel():
                return
            try:
                future.set_result(fn(*args, **kwargs))
            except BaseException as exc:  # handed to the publisher, which logs it and keeps the previous zone
                future.set_exception(exc)

        threading.Thread(target=run, name="zone-build", daemon=True).start()
        return future


def _settled(work: Callable[[], Zone | Update]) -> asyncio.Future[Zone | Update]:
    """`work` run here, its result (or exception) in a done future, as a worker's would be."""
    future: asyncio.Future[Zone | Update] = asyncio.get_running_loop().create_future()
    try:
        future.set_result(work())
    except Exception as exc:  # noqa: BLE001 - handed to _done, which logs it and keeps the previous zone
        future.set_exception(exc)
    return future


class ZonePublisher:
    """Turns feed changes into zone updates, off the loop, one build at a time, coalescing what arrives
    meanwhile. `synced()` says whether misses may be NXDOMAIN yet (SERVFAIL until the first sync)."""

    def __init__(self, responder: ZoneSink, config: ZoneConfig, executor: Executor | None = None) -> None:
        self.responder = responder
        self.config = config
        self.executor = executor
        self.zone: Zone | None = None
        self.snapshot: Snapshot | None = None  # the newest catalog handed to us
        self.changed: set[str] = set()
        self.nodes_changed = False
        self.busy = False  # a build is scheduled or running
        self.dirty = False  # something was published since the last build started
        self.rebuild_next = False  # the last build failed: the next is a whole zone, after RETRY_AFTER
        self.failures = 0
        self._building: tuple[set[str], bool] = (set(), False)  # what the running build was asked to carry
        self.rebuilds = 0  # whole-zone builds
        self.updates = 0  # incremental updates
        self.synced: Callable[[], bool] = lambda: True
        self.applied: Callable[[Zone | Update], None] | None = None  # told each result once it is in the zone

    def publish(self, snapshot: Snapshot, changed: Iterable[str] | None = None, nodes_changed: bool = True) -> None:
        """A new catalog; `changed` names the services that moved (None: any of them may have)."""
        self.snapshot = snapshot
        if changed is None:
            self.changed |= set(snapshot.services) | set(self.zone.parts if self.zone else ())
        else:
            self.changed |= set(changed)
        self.nodes_changed = self.nodes_changed or nodes_changed
        self.dirty = True
        if not self.busy:
            self.busy = True
            asyncio.get_running_loop().call_soon(self._start)  # one build for all changes of this loop turn

    def on_change(self, change: Change) -> None:
        self.publish(change.catalog, change.services, change.nodes_changed)

    def _start(self) -> None:
        snapshot, zone = self.snapshot, self.zone
        if snapshot is None or not self.dirty:
            self.busy = False
            return
        changed, nodes = self.changed, self.nodes_changed
        self.changed, self.nodes_changed, self.dirty = set(), False, False
        self._building = (changed, nodes)
        work: Callable[[], Zone | Update]
        if (zone is None or self.rebuild_next or zone.config != self.config
                or zone.datacenter != zone_datacenter(snapshot, self.config)):
            work = partial(build_zone, snapshot, self.config, zone)
        else:
            work = partial(plan, snapshot, changed, zone, nodes)
            if not nodes and sum(len(snapshot.services.get(n, ())) for n in changed) <= INLINE_INSTANCES:
                self._done(_settled(work))
                return
        future: asyncio.Future[Zone | Update] = asyncio.get_running_loop().run_in_executor(self.executor, work)
        future.add_done_callback(self._done)

    def _done(self, future: asyncio.Future[Zone | Update]) -> None:
        if future.cancelled():
            self.busy = False
            return
        try:
            result = future.result()
            if isinstance(result, Zone):
                self.zone = result
                self.rebuilds += 1
            elif self.zone is not None:
                self.zone.apply(result)
                self.updates += 1
            if self.zone is not None:
                self.responder.set_zone(self.zone, ready=self.synced())
                if log.isEnabledFor(logging.DEBUG):
                    names = sorted(k for k in result.parts if not k.startswith("\0")) if isinstance(result, Update) \
                        else ["(whole zone)"]
                    log.debug("zone updated: %s%s", " ".join(names[:8]), " ..." if len(names) > 8 else "")
                if self.applied is not None:
                    self.applied(result)
        except Exception as exc:  # noqa: BLE001 - whatever it was, the services it carried must not stay stale
            self._failed(exc)
            return
        self.rebuild_next = False
        self._start()

    def _failed(self, exc: Exception) -> None:
        """Keep serving the previous zone, but not for good: the services the failed build carried would
        otherwise stay stale until they change again. Their names go back into the queue, and the next build
        is a whole zone (whatever the update tripped on, or a zone left half updated, is not met again), after a
        pause so that a build that keeps failing does not spin."""
        self.failures += 1
        self.rebuild_next = True
        changed, nodes = self._building
        self.changed |= changed
        self.nodes_changed = self.nodes_changed or nodes
        self.dirty = True
        log.error("zone update failed; still serving the previous zone, building the whole zone again in %.1fs",
                  RETRY_AFTER, exc_info=exc)
        asyncio.get_running_loop().call_later(RETRY_AFTER, self._start)


class Mirror:
    """The feed, wired to a publisher: `run()` until cancelled; `snapshot` and `synced` for metrics/health."""

    def __init__(self, consul: ConsulClient, publisher: ZonePublisher, *, datacenter: str | None = None,
                 stale: bool = True, wait: str = "5m", pool_size: int = 8,
                 observer: WatchObserver | None = None) -> None:
        self.feed = Feed(consul, datacenter=datacenter, stale=stale, wait=wait, pool_size=pool_size,
                         observer=observer)
        self.feed.listeners.append(publisher.on_change)
        publisher.synced = self.feed.synced.is_set

    @property
    def snapshot(self) -> Snapshot:
        return self.feed.catalog

    @property
    def synced(self) -> asyncio.Event:
        return self.feed.synced

    async def run(self) -> None:
        await self.feed.run()
