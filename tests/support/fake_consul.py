"""An in-memory stand-in for Consul's catalog reads, for unit tests of the feed and its readers: health
entries by service, the catalog-wide answers derived from them, one index for everything, blocking watches
woken by `bump()`, and a count of reads running at once."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Any

from portside.consul import Answer, ConsulError, ConsulUnreachable


class FakeConsul:
    """Health entries by service; catalog-wide answers derived from them; one index for everything."""

    def __init__(self, services: int, instances: int = 2, nodes: int = 3, datacenter: str = "dc1") -> None:
        self.index = 10
        self.entries: dict[str, list[dict]] = {}
        self.nodes = [{"Node": f"n{k}", "Address": f"127.0.0.{k + 1}", "Datacenter": datacenter}
                      for k in range(nodes)]
        for s in range(services):
            for i in range(instances):
                self.add(f"svc{s}", f"svc{s}-{i}", self.nodes[(s + i) % nodes]["Node"], bump=False)
        self.changed = asyncio.Condition()
        self.running = 0
        self.peak = 0
        self.down = False
        self.reads: list[str] = []

    def add(self, name: str, sid: str, node: str, status: str = "passing", bump: bool = True,
            tags: tuple[str, ...] = (), address: str = "") -> None:
        self.index += 1
        entry = {"Node": next(n for n in self.nodes if n["Node"] == node),
                 "Service": {"ID": sid, "Service": name, "Port": 80, "Tags": list(tags), "Address": address,
                             "ModifyIndex": self.index},
                 "Checks": [{"Node": node, "CheckID": f"c:{sid}", "Status": status, "ServiceID": sid,
                             "ServiceName": name, "ModifyIndex": self.index}] if status else []}
        self.entries.setdefault(name, []).append(entry)

    def set_status(self, sid: str, status: str) -> None:
        self.index += 1
        for entries in self.entries.values():
            for e in entries:
                for c in e["Checks"]:
                    if c["ServiceID"] == sid:
                        c["Status"], c["ModifyIndex"] = status, self.index

    async def bump(self) -> None:
        async with self.changed:
            self.changed.notify_all()

    def answer(self, path: str, params: Any) -> Any:
        all_entries = [e for es in self.entries.values() for e in es]
        if path == "/v1/catalog/services":
            return {name: [] for name in self.entries}
        if path == "/v1/catalog/nodes":
            return self.nodes
        if path.startswith("/v1/health/state/"):
            checks = [c for e in all_entries for c in e["Checks"]]
            state = path.rsplit("/", 1)[1]
            return checks if state == "any" else [c for c in checks if c["Status"] == state]
        if path.startswith("/v1/catalog/node-services/"):
            node = path.rsplit("/", 1)[1]
            return {"Node": next(n for n in self.nodes if n["Node"] == node),
                    "Services": [e["Service"] for e in all_entries if e["Node"]["Node"] == node]}
        return self.entries.get(path.rsplit("/", 1)[1], [])

    async def get_indexed(self, path: str, params: Any = (), **_: Any) -> Answer:
        self.reads.append(path)
        if self.down:
            raise ConsulUnreachable("GET", "connection refused")
        self.running += 1
        self.peak = max(self.peak, self.running)
        try:
            await asyncio.sleep(0.001)
            return Answer(self.index, self.answer(path, params))
        finally:
            self.running -= 1

    async def watch(self, path: str, params: Any = (), **_: Any) -> AsyncIterator[tuple[int, Any]]:
        last = -1
        while True:
            if self.index != last and not self.down:
                last = self.index
                yield self.index, self.answer(path, params)
            async with self.changed:
                await self.changed.wait()




class FakeWan:
    """Several datacenters behind one agent, as `?dc=` reads see them: one FakeConsul each (the first is the
    agent's own), prepared query definitions (`queries`, /v1/query), `datacenters()` in the order given, and
    `down` datacenters whose reads fail as a partitioned one's do (HTTP 500)."""

    def __init__(self, **dcs: FakeConsul) -> None:
        self.dcs = dcs
        self.local = next(iter(dcs))
        self.queries: list[dict] = []
        self.query_index = 5
        self.down: set[str] = set()
        self.datacenter_reads = 0
        self.changed = asyncio.Condition()

    def _dc(self, params: Any) -> str:
        return dict(params).get("dc", self.local)

    def _check(self, dc: str) -> FakeConsul:
        if dc in self.down or dc not in self.dcs:
            raise ConsulError("GET", "rpc error making call: No path to datacenter", 500)
        return self.dcs[dc]

    async def datacenters(self) -> list[str]:
        self.datacenter_reads += 1
        return list(self.dcs)

    async def set_queries(self, queries: list[dict]) -> None:
        self.queries = queries
        self.query_index += 1
        async with self.changed:
            self.changed.notify_all()

    async def get_indexed(self, path: str, params: Any = (), **kw: Any) -> Answer:
        observer, target = kw.get("observer"), f"{path}?{params}"
        if path == "/v1/query":
            return Answer(self.query_index, self.queries)
        try:
            answer = await self._check(self._dc(params)).get_indexed(path, params, **kw)
        except ConsulError as exc:
            if observer is not None:
                observer.on_error(target, exc)
            raise
        if observer is not None:
            observer.on_answer(target)
        return answer

    async def watch(self, path: str, params: Any = (), **kw: Any) -> AsyncIterator[tuple[int, Any]]:
        """Like ConsulClient.watch: a change is handed out once; a failing datacenter is retried (and the observer
        told) until it answers again, which a long-poll notices within 50 ms here."""
        observer, target, dc, last = kw.get("observer"), f"{path}?{params}", self._dc(params), -1
        while True:
            if path == "/v1/query":
                index, data, wake = self.query_index, self.queries, self.changed
            else:
                try:
                    fake = self._check(dc)
                except ConsulError as exc:
                    if observer is not None:
                        observer.on_error(target, exc)
                    await asyncio.sleep(0.02)
                    continue
                index, data, wake = fake.index, fake.answer(path, params), fake.changed
                if observer is not None:
                    observer.on_answer(target)
            if index != last:
                last = index
                yield index, data
            async with wake:
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(0.05):
                        await wake.wait()
