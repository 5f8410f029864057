"""Source: a fast poll of the agent's services, for what an agent restart (or outage) lost.

What is missing is not re-registered here but queued as a `restore` event in its container's own turn: handled
beside the container's events, a re-registration in flight could undo a `die` handled meanwhile (a ghost until
the next cleanup), and a draining or paused container would come back without its maintenance."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import defaultdict
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from portside.consul import ConsulError
from registrator.events import Dispatcher, Event
from registrator.metadata import Service
from registrator.reconcile import missing
from registrator.writer import ConsulWriter

log = logging.getLogger("registrator")


class AgentWatch:
    def __init__(self, writer: ConsulWriter, wanted: Mapping[str, list[Service]], dispatch: Dispatcher,
                 reconcile: Callable[[], Awaitable[None]], interval: float) -> None:
        self.writer = writer
        self.wanted = wanted  # container id -> services we want registered (the daemon's, read only here)
        self.dispatch = dispatch
        self.reconcile = reconcile
        self.interval = interval
        self.restoring: set[str] = set()  # containers with a restore queued (the handler discards them)

    async def run(self, stop: asyncio.Event) -> None:
        """Every `interval`: queue restores; once the agent answers again after being unreachable, reconcile in
        full instead: an agent with persisted state comes back with services whose containers went away."""
        unreachable = False
        while not stop.is_set():
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(stop.wait(), self.interval)
            if stop.is_set():
                return
            polled = time.monotonic()
            try:
                actual = await self.writer.agent_services()
            except ConsulError as exc:
                log.debug("agent poll: %s", exc)
                unreachable = True
                continue
            if unreachable:
                unreachable = False
                log.info("Consul agent answers again: reconciling")
                await self.reconcile()
                continue
            self.writer.adopt(actual)
            self.queue_restores(actual, polled)

    def queue_restores(self, actual: Mapping[str, Any], polled: float) -> None:
        """Queue the registration of what the agent does not have: lost (it had it), refused before and due again,
        or an ID someone else held and has given up. Only what had settled before the poll asked: a registration
        still in flight is not missing."""
        w = self.writer
        settled = [s for v in self.wanted.values() for s in v if w.registered_at.get(s.id, polled) < polled]
        gone = missing(settled, actual)
        lost = {s.id for s in gone if w.holds(s.id, s.container_id) and s.id not in w.refusals}
        if lost:
            log.warning("Consul agent lost %d of our services (restarted?); re-registering", len(lost))
        by_container: dict[str, list[str]] = defaultdict(list)
        for svc in gone:
            if svc.id in lost or w.due(svc):
                by_container[svc.container_id].append(svc.id)
        for cid, ids in by_container.items():
            if cid not in self.restoring:
                self.restoring.add(cid)
                self.dispatch.submit(Event(cid, "restore", {"ids": " ".join(ids)}))
