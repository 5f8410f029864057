"""Source: one watch per dependency, each a blocking query through `ConsulClient.watch`, feeding a `Store`.

`Watches.sync(wanted)` starts the watches templates now read and stops those no template reads any more.
During a Consul outage `ConsulClient.watch` backs off and retries on its own, and nothing is written to the
store: the last good data stays and the templates keep rendering from it.
"""

from __future__ import annotations

import asyncio
import functools
import logging
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any, Protocol

from consul_templates.functions import Dependency
from portside.backoff import Backoff
from portside.consul import ConsulError, WatchObserver
from portside.supervise import Supervisor

log = logging.getLogger("consul_templates.watch")

POLL_INTERVAL = 60.0  # datacenters have no blocking index: poll them


class Source(Protocol):
    """What a watch needs from the Consul adapter (ConsulClient satisfies it; tests may fake it)."""

    def watch(self, path: str, params: Any = (), *, wait: str = "5m", stale: bool = False,
              what: str | None = None, observer: WatchObserver | None = None) -> Any: ...

    async def datacenters(self) -> list[str]: ...


class Store(Mapping[Dependency, Any]):
    """The decoded data of each dependency that has answered at least once. Read-only to templates."""

    def __init__(self) -> None:
        self._data: dict[Dependency, Any] = {}

    def __getitem__(self, dep: Dependency) -> Any:
        return self._data[dep]

    def __iter__(self) -> Iterator[Dependency]:
        return iter(self._data)

    def __len__(self) -> int:
        return len(self._data)

    def put(self, dep: Dependency, value: Any) -> bool:
        """Store a new value; True when it differs from what was there (or nothing was)."""
        if dep in self._data and self._data[dep] == value:
            return False
        self._data[dep] = value
        return True

    def drop(self, dep: Dependency) -> None:
        self._data.pop(dep, None)


class Watches:
    """The set of running watches; `on_change(dep)` is called after the store took a changed value."""

    def __init__(self, source: Source, store: Store, on_change: Callable[[Dependency], None], *,
                 query_wait: str = "60s", stale: bool = False, poll_interval: float = POLL_INTERVAL,
                 once: bool = False, observer: WatchObserver | None = None, tasks: Supervisor | None = None) -> None:
        self.source = source
        self.observer = observer  # sees every fetch (portside's Reachability: the daemon's health and metrics)
        self.store = store
        self.on_change = on_change
        self.query_wait = query_wait
        self.stale = stale
        self.poll_interval = poll_interval
        self.once = once  # --once: one answer per dependency is all a render needs; no connection held after
        self.tasks = tasks or Supervisor()  # a watch that fails is restarted; one that keeps failing shows in /health
        self._watched: set[Dependency] = set()

    def __len__(self) -> int:
        return len(self._watched)

    def sync(self, wanted: Iterable[Dependency]) -> None:
        wanted = set(wanted)
        for dep in self._watched - wanted:
            self.tasks.discard(dep)
            self.store.drop(dep)
            log.debug("stopped watching %s", dep)
        for dep in wanted - self._watched:
            # a watch returns only on purpose (--once, a refused read); ending otherwise raises, and is restarted
            # keyed by the dependency itself: two dependencies may print alike (their names are only for logs)
            self.tasks.start(dep, functools.partial(self._run, dep), must_run=False, name=f"watch {dep}")
            log.debug("watching %s", dep)
        self._watched = wanted

    async def close(self) -> None:
        self._watched = set()
        await self.tasks.close()

    def _take(self, dep: Dependency, raw: Any) -> None:
        try:
            value = dep.decode(raw)
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            log.warning("watch %s: unexpected answer from Consul (%s: %s); keeping the last good data",
                        dep, type(exc).__name__, exc)
            return
        if self.store.put(dep, value):
            self.on_change(dep)

    async def _run(self, dep: Dependency) -> None:
        try:
            path, params = dep.query()
        except ValueError as exc:  # a name no Consul path can carry (e.g. key("../x")): that one read is refused
            log.error("watch %s refused: %s", dep, exc)
            return
        if not dep.blocking:
            await self._poll(dep)
            return
        async for _, raw in self.source.watch(path, params, wait=self.query_wait, stale=self.stale,
                                              what=f"watch {dep}", observer=self.observer):
            self._take(dep, raw)
            if self.once:
                return
        raise RuntimeError(f"watch {dep} ended")  # ConsulClient.watch never ends: restart it

    async def _poll(self, dep: Dependency) -> None:
        """Datacenters (and the agent's own node name for Go templates' `node`): no X-Consul-Index (py-consul's
        indexed GET refuses the answer), so poll the plain answer; a dependency may say how with `poll(source)`."""
        backoff = Backoff()
        fetch = getattr(dep, "poll", None)
        while True:
            try:
                raw = await (fetch(self.source) if fetch is not None else self.source.datacenters())
            except ConsulError as exc:
                delay = backoff.next_delay()
                log.warning("poll %s: %s; retrying in %.2fs", dep, exc, delay)
                await asyncio.sleep(delay)
                continue
            backoff.reset()
            self._take(dep, raw)
            if self.once:
                return
            await asyncio.sleep(self.poll_interval)
