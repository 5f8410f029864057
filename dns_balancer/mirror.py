"""Source: Consul's catalog mirrored in memory with blocking queries -> a new immutable Snapshot per change.

One watch on /v1/catalog/services starts and stops one /v1/health/service/<name> watch per service; one on
/v1/catalog/nodes keeps the nodes. All go through `ConsulClient.watch` (the blocking-query rules live there).
When Consul cannot be reached the watches retry with backoff and the last good snapshot stays published;
`ObservedConsul` notices, so the daemon can say it serves stale data."""

from __future__ import annotations

import asyncio
import logging
import urllib.parse
from collections.abc import Callable, Sequence
from typing import Any

from dns_balancer.snapshot import Snapshot, instances_from_health, nodes_from_catalog
from portside.consul import ConsulClient, ConsulError
from portside.run import cancel_all
from portside.settings import ConsulSettings

log = logging.getLogger("dns_balancer.mirror")


class ObservedConsul(ConsulClient):
    """A ConsulClient that remembers which paths are failing. `watch()` retries errors itself and keeps going;
    this subclass sees each fetch (watch calls `get_indexed`) so reachability can be reported."""

    def __init__(self, settings: ConsulSettings, raw: Any) -> None:
        super().__init__(settings, raw)
        self.failing: set[str] = set()
        self.errors = 0
        self.on_reachability: Callable[[bool, str], None] | None = None

    async def get_indexed(
        self, path: str, params: Sequence[tuple[str, str]] = (), *, index: int = 0, wait: str = "5m",
        stale: bool = False, what: str | None = None,
    ) -> tuple[int, Any]:
        try:
            result = await super().get_indexed(path, params, index=index, wait=wait, stale=stale, what=what)
        except ConsulError as exc:
            self.errors += 1
            was_ok = not self.failing
            self.failing.add(path)
            if was_ok and self.on_reachability:
                self.on_reachability(False, str(exc))
            raise
        self.forget(path)
        return result

    def forget(self, path: str) -> None:
        if path in self.failing:
            self.failing.discard(path)
            if not self.failing and self.on_reachability:
                self.on_reachability(True, path)

    @property
    def reachable(self) -> bool:
        return not self.failing


def health_path(name: str) -> str:
    return f"/v1/health/service/{urllib.parse.quote(name, safe='')}"


class Mirror:
    """Keeps `snapshot` up to date and calls `publish(snapshot)` after each change."""

    def __init__(
        self, consul: ObservedConsul, publish: Callable[[Snapshot], None], *, datacenter: str | None = None,
        stale: bool = True, wait: str = "5m",
    ) -> None:
        self.consul = consul
        self.publish = publish
        self.params: list[tuple[str, str]] = [("dc", datacenter)] if datacenter else []
        self.stale = stale
        self.wait = wait
        self.snapshot = Snapshot()
        self.synced = asyncio.Event()  # set once the catalog, the nodes and every service were read once
        self._catalog_names: set[str] | None = None
        self._loaded: set[str] = set()
        self._nodes_loaded = False
        self._tasks: dict[str, asyncio.Task[None]] = {}

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
        nodes = asyncio.create_task(self._watch_nodes(), name="mirror-nodes")
        try:
            async for _, services in self.consul.watch(
                "/v1/catalog/services", self.params, wait=self.wait, stale=self.stale, what="list catalog services"
            ):
                names = {str(n) for n in services} if isinstance(services, dict) else set()
                for name in sorted(names - self._tasks.keys()):
                    self._tasks[name] = asyncio.create_task(self._watch_service(name), name=f"mirror-{name}")
                gone = self._tasks.keys() - names
                for name in gone:
                    self._tasks.pop(name).cancel()
                    self.consul.forget(health_path(name))
                    self._loaded.discard(name)
                if gone:
                    log.info("services gone: %s", ", ".join(sorted(gone)))
                    self._set(self.snapshot.without_services(gone))
                self._catalog_names = names
                self._check_synced()
        finally:
            tasks = [nodes, *self._tasks.values()]
            self._tasks.clear()
            await cancel_all(tasks)

    async def _watch_service(self, name: str) -> None:
        async for index, entries in self.consul.watch(
            health_path(name), self.params, wait=self.wait, stale=self.stale, what="read service health"
        ):
            instances = instances_from_health(entries)
            if self.snapshot.services.get(name) != instances:
                self._set(self.snapshot.with_service(name, instances, index))
            self._loaded.add(name)
            self._check_synced()

    async def _watch_nodes(self) -> None:
        async for index, entries in self.consul.watch(
            "/v1/catalog/nodes", self.params, wait=self.wait, stale=self.stale, what="read nodes"
        ):
            nodes, dc = nodes_from_catalog(entries)
            if dict(self.snapshot.nodes) != nodes or (dc and dc != self.snapshot.datacenter):
                self._set(self.snapshot.with_nodes(nodes, dc, index))
            self._nodes_loaded = True
            self._check_synced()
