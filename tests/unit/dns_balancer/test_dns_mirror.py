"""Mirror with a scripted stand-in for the Consul client: watches start and stop with the catalog, snapshots
follow the health results, the first full sync is detected."""

from __future__ import annotations

import asyncio
from collections import defaultdict
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from dns_balancer.mirror import Mirror, health_path
from dns_balancer.snapshot import Snapshot


class ScriptedConsul:
    """`watch(path)` yields whatever the test puts on that path's queue."""

    def __init__(self) -> None:
        self.queues: dict[str, asyncio.Queue[tuple[int, Any]]] = defaultdict(asyncio.Queue)
        self.active: set[str] = set()

    async def watch(self, path: str, params: Any = (), **_: Any) -> AsyncIterator[tuple[int, Any]]:
        self.active.add(path)
        try:
            while True:
                yield await self.queues[path].get()
        finally:
            self.active.discard(path)

    def put(self, path: str, index: int, data: Any) -> None:
        self.queues[path].put_nowait((index, data))


def entry(service: str, sid: str, address: str) -> dict:
    return {"Node": {"Node": "n1", "Address": "127.0.0.1"},
            "Service": {"ID": sid, "Service": service, "Address": address, "Port": 80}, "Checks": []}


async def turn() -> None:
    for _ in range(5):
        await asyncio.sleep(0)


@asynccontextmanager
async def running_mirror() -> AsyncIterator[tuple[ScriptedConsul, Mirror, list[Snapshot]]]:
    """A Mirror on a ScriptedConsul, running for the duration of the block; what it published."""
    consul = ScriptedConsul()
    published: list[Snapshot] = []
    mirror = Mirror(consul, published.append)  # type: ignore[arg-type]
    task = asyncio.create_task(mirror.run())
    try:
        await turn()
        yield consul, mirror, published
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


async def test_watches_follow_the_catalog_and_sync_is_detected():
    async with running_mirror() as (consul, mirror, published):
        consul.put("/v1/catalog/nodes", 3, [{"Node": "n1", "Address": "127.0.0.1", "Datacenter": "dc9"}])
        consul.put("/v1/catalog/services", 5, {"web": [], "api": []})
        await turn()
        assert {health_path("web"), health_path("api")} <= consul.active
        assert not mirror.synced.is_set()
        consul.put(health_path("web"), 6, [entry("web", "w1", "127.0.0.2")])
        await turn()
        assert not mirror.synced.is_set()  # api not read yet
        consul.put(health_path("api"), 7, [])
        await turn()
        assert mirror.synced.is_set()
        snap = published[-1]
        assert snap.datacenter == "dc9" and [i.id for i in snap.services["web"]] == ["w1"]
        assert snap.services["api"] == () and snap.index == 7

        consul.put(health_path("web"), 8, [entry("web", "w1", "127.0.0.2"), entry("web", "w2", "127.0.0.3")])
        await turn()
        assert len(published[-1].services["web"]) == 2

        consul.put("/v1/catalog/services", 9, {"web": []})
        await turn()
        assert health_path("api") not in consul.active
        assert "api" not in published[-1].services and "web" in published[-1].services
    assert not consul.active  # every watch stopped with the mirror


async def test_unchanged_health_results_publish_nothing():
    async with running_mirror() as (consul, _, published):
        consul.put("/v1/catalog/nodes", 1, [])
        consul.put("/v1/catalog/services", 1, {"web": []})
        await turn()
        consul.put(health_path("web"), 2, [entry("web", "w1", "127.0.0.2")])
        await turn()
        count = len(published)
        consul.put(health_path("web"), 3, [entry("web", "w1", "127.0.0.2")])  # new index, same data
        await turn()
        assert len(published) == count
