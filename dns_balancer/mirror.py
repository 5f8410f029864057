"""Source: Consul's catalog mirrored in memory with blocking queries -> a new immutable Snapshot per change.

One watch on /v1/catalog/services starts and stops one /v1/health/service/<name> watch per service; one on
/v1/catalog/nodes keeps the nodes. All go through `ConsulClient.watch` (the blocking-query rules live there).
When Consul cannot be reached the watches retry with backoff and the last good snapshot stays published;
the `observer` (portside's `Reachability`) sees every fetch, so the daemon can say it serves stale data."""

from __future__ import annotations

import asyncio
import functools
import logging
from collections.abc import Callable

from dns_balancer.snapshot import Snapshot, instances_from_health, nodes_from_catalog
from portside.consul import ConsulClient, WatchObserver, paths
from portside.supervise import Supervisor

log = logging.getLogger("dns_balancer.mirror")


def health_path(name: str) -> str:
    return paths.health_service(name)


class Mirror:
    """Keeps `snapshot` up to date and calls `publish(snapshot)` after each change."""

    def __init__(
        self, consul: ConsulClient, publish: Callable[[Snapshot], None], *, datacenter: str | None = None,
        stale: bool = True, wait: str = "5m", observer: WatchObserver | None = None,
        tasks: Supervisor | None = None,
    ) -> None:
        self.consul = consul
        self.observer = observer
        self.tasks = tasks or Supervisor()  # each watch runs supervised: restarted when it fails
        self.publish = publish
        self.params: list[tuple[str, str]] = [("dc", datacenter)] if datacenter else []
        self.stale = stale
        self.wait = wait
        self.snapshot = Snapshot()
        self.synced = asyncio.Event()  # set once the catalog, the nodes and every service were read once
        self._catalog_names: set[str] | None = None
        self._loaded: set[str] = set()
        self._nodes_loaded = False
        self._watched: set[str] = set()
        self._refused: set[str] = set()

    def _set(self, snapshot: Snapshot) -> None:
        self.snapshot = snapshot
        self.publish(snapshot)

    def _check_synced(self) -> None:
        if not self.synced.is_set() and self._nodes_loaded and self._catalog_names is not None:
            if self._catalog_names <= self._loaded:
                self.synced.set()
                self.publish(self.snapshot)
                log.info("mirror synced: %d services, %d nodes", len(self.snapshot.services),
                         len(self.snapshot.nodes))

    async def run(self) -> None:
        self.tasks.start("mirror nodes", self._watch_nodes)
        try:
            async for _, services in self.consul.watch(
                paths.catalog_services(), self.params, wait=self.wait, stale=self.stale, what="list catalog services",
                observer=self.observer,
            ):
                names = {str(n) for n in services} if isinstance(services, dict) else set()
                refused = {n for n in names if not paths.usable(n)}  # e.g. "..": no path could ask for it
                if refused - self._refused:
                    log.warning("services whose name cannot be asked for, skipped: %s", ", ".join(sorted(refused)))
                self._refused = refused
                names -= refused
                for name in sorted(names - self._watched):
                    self.tasks.start(f"mirror {name}", functools.partial(self._watch_service, name))
                gone = self._watched - names
                self._watched = names
                for name in gone:
                    self.tasks.discard(f"mirror {name}")
                    self._loaded.discard(name)
                if gone:
                    log.info("services gone: %s", ", ".join(sorted(gone)))
                    self._set(self.snapshot.without_services(gone))
                self._catalog_names = names
                self._check_synced()
        finally:
            for name in ["nodes", *self._watched]:
                self.tasks.discard(f"mirror {name}")
            self._watched = set()

    async def _watch_service(self, name: str) -> None:
        async for index, entries in self.consul.watch(
            health_path(name), self.params, wait=self.wait, stale=self.stale, what="read service health",
            observer=self.observer,
        ):
            instances = instances_from_health(entries)
            if self.snapshot.services.get(name) != instances:
                self._set(self.snapshot.with_service(name, instances, index))
            self._loaded.add(name)
            self._check_synced()

    async def _watch_nodes(self) -> None:
        async for index, entries in self.consul.watch(
            paths.catalog_nodes(), self.params, wait=self.wait, stale=self.stale, what="read nodes",
            observer=self.observer,
        ):
            nodes, dc = nodes_from_catalog(entries)
            if dict(self.snapshot.nodes) != nodes or (dc and dc != self.snapshot.datacenter):
                self._set(self.snapshot.with_nodes(nodes, dc, index))
            self._nodes_loaded = True
            self._check_synced()
