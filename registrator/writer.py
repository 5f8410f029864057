"""Effect: every request the registrator makes to Consul, in one place.

- Bounded: at most `--consul-concurrency` requests in flight over every path (event bursts, reconcile, the agent
  poll). Consul answers 429 to an address holding more than `limits.http_max_conns_per_client` (200) connections,
  and that address is shared by every other client on the host: an unbounded burst got *their* reads refused.
- Ownership (reconcile.claim_refused): an ID is registered over only when it is free or this node's own,
  deregistered and put in maintenance only when this node's container holds it.
- Refusals (refusals.py): a 400 is retried with a growing delay and reported once per change."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from portside.consul import ConsulBadValue, ConsulClient, ConsulError, ConsulRejected
from registrator.config import Config
from registrator.metadata import OWNER_CONTAINER, OWNER_NODE, Problem, Service
from registrator.metrics import Metrics
from registrator.reconcile import adoptable, claim_refused, gliderlabs_service, owner
from registrator.refusals import RefusalBook, fingerprint

log = logging.getLogger("registrator")


def for_good(exc: ConsulError) -> bool:
    """Whether re-sending the same definition cannot help: Consul's 400 (the definition is wrong), or a value the
    adapter refuses before sending. Other 4xx answers (429: too many connections) pass."""
    return isinstance(exc, ConsulBadValue) or (isinstance(exc, ConsulRejected) and exc.status == 400)


class ConsulWriter:
    def __init__(self, consul: ConsulClient, cfg: Config, metrics: Metrics, running: Callable[[str], bool]) -> None:
        self.consul = consul
        self.node_id = cfg.node_id
        self.adopt_gliderlabs = cfg.adopt_gliderlabs
        self.metrics = metrics
        self.running = running  # whether a container of this node runs (it may hold its IDs)
        self._slots = asyncio.Semaphore(max(1, cfg.consul_concurrency))
        self.ours: dict[str, str] = {}  # service id -> the container holding it, for what this node registered
        self.refusals = RefusalBook(base=cfg.agent_poll, cap=cfg.refused_retry_cap)
        # service id -> when its last registration attempt ended (done or refused): the agent poll retries those
        # the agent does not have, but not one whose PUT is still in flight
        self.registered_at: dict[str, float] = {}
        self._conflicts: dict[str, str] = {}  # service id -> the ownership conflict last reported
        self._listing: asyncio.Future[dict[str, dict[str, Any]]] | None = None  # a listing not yet sent
        self._tasks: set[asyncio.Task[None]] = set()

    # ---- reads -------------------------------------------------------------------------------
    async def agent_services(self) -> dict[str, dict[str, Any]]:
        async with self._slots:
            return await self.consul.agent_services()

    async def _agent_service(self, sid: str) -> Mapping[str, Any] | None:
        """The agent's service `sid` as it is now (None: absent), from a listing sent after this call; callers
        waiting at the same time share one listing (a burst of starts costs a few listings, not one each)."""
        if self._listing is None:
            self._listing = asyncio.get_running_loop().create_future()
            task = asyncio.create_task(self._list(self._listing))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        listing = await asyncio.shield(self._listing)
        return listing.get(sid)

    async def _list(self, result: asyncio.Future[dict[str, dict[str, Any]]]) -> None:
        async with self._slots:
            self._listing = None  # from here on a newcomer needs a listing sent after it asked
            try:
                result.set_result(await self.consul.agent_services())
            except ConsulError as exc:
                result.set_exception(exc)

    def adopt(self, actual: Mapping[str, Mapping[str, Any]]) -> None:
        """Learn from a full listing: this node's services are ours (after a restart of ours too), and one that
        someone else registered over since is no longer."""
        for sid, entry in actual.items():
            node, container = owner(entry)
            if node == self.node_id:
                self.ours.setdefault(sid, container or "")
            elif sid in self.ours:
                log.warning("service %s was registered over by %s: no longer ours, left alone", sid,
                            f"node {node!r}" if node else "someone else")
                del self.ours[sid]

    # ---- writes ------------------------------------------------------------------------------
    async def _claim(self, svc: Service, snapshot: Mapping[str, Mapping[str, Any]] | None) -> bool:
        holder = self.ours.get(svc.id)
        if holder == svc.container_id:
            return True
        if holder is not None:
            existing: Mapping[str, Any] | None = {"Meta": {OWNER_NODE: self.node_id, OWNER_CONTAINER: holder}}
        elif snapshot is not None:
            existing = snapshot.get(svc.id)
        else:
            existing = await self._agent_service(svc.id)
        adopt = self.adopt_gliderlabs and holder is None and adoptable(svc, existing, self.node_id)
        why = claim_refused(existing, self.node_id, svc.container_id, self.running, adopt=adopt)
        if adopt:
            log.info("service %s: registered by gliderlabs, taken over by container %s", svc.id, svc.container)
        if why is None:
            self._conflicts.pop(svc.id, None)
            self.ours[svc.id] = svc.container_id
            return True
        if self._conflicts.get(svc.id) != why:
            self._conflicts[svc.id] = why
            self.metrics.skipped.labels("owner").inc()
            log.warning("%s", Problem(svc.container, svc.id_key or "service ID", svc.id, why,
                                      "the existing service left alone, this one skipped", "owner"))
        return False

    async def register(self, svc: Service, *, snapshot: Mapping[str, Mapping[str, Any]] | None = None) -> bool:
        """Register `svc` if it is ours to write and, when Consul refused this very definition, the delay is over.
        `snapshot`: a fresh listing of the agent, to decide ownership without a request per service."""
        definition = svc.definition()
        fp = fingerprint(definition)
        if not self.refusals.due(svc.id, fp, time.monotonic()):
            return False
        try:
            if not await self._claim(svc, snapshot):
                return False
            async with self._slots:
                await self.consul.register_service(definition)
        except ConsulError as exc:
            self._refused(svc, fp, exc)
            return False
        finally:
            self.registered_at[svc.id] = time.monotonic()
        self.metrics.registrations.inc()
        if self.refusals.accepted(svc.id):
            log.info("register %s (%s): accepted by Consul now", svc.id, svc.name)
        return True

    def _refused(self, svc: Service, fp: str, exc: ConsulError) -> None:
        good = for_good(exc)
        self.metrics.errors.labels("consul_refused" if good else "consul").inc()
        news = self.refusals.refused(svc.id, fp, str(exc), for_good=good, now=time.monotonic())
        if news:
            log.error("register %s (%s) failed: %s%s", svc.id, svc.name, exc,
                      "; retried with a growing delay, reported again when it changes" if good else "")
        else:
            log.debug("register %s (%s) refused again: %s", svc.id, svc.name, exc)

    def due(self, svc: Service) -> bool:
        """Whether a registration of `svc` would be sent now (a refused one only when its delay is over)."""
        return self.refusals.due(svc.id, fingerprint(svc.definition()), time.monotonic())

    def holds(self, sid: str, container_id: str | None = None) -> bool:
        """Whether this node (and, when given, that container) holds the ID."""
        holder = self.ours.get(sid)
        return holder is not None and (container_id is None or holder == container_id)

    async def deregister(self, sid: str, container_id: str | None = None,
                         gliderlabs: Mapping[str, Any] | None = None) -> None:
        """Deregister an ID this node holds (that container's, when given), or, given its agent entry, one gliderlabs
        left on this node (-cleanup with adoption on); anything else is left alone."""
        left = gliderlabs is not None and self.adopt_gliderlabs and gliderlabs_service(sid, gliderlabs, self.node_id)
        if not left and not self.holds(sid, container_id):
            log.debug("deregister %s: not ours (held by %s), left alone", sid, self.ours.get(sid, "nobody"))
            return
        try:
            async with self._slots:
                await self.consul.deregister_service(sid)
            self.metrics.deregistrations.inc()
        except ConsulError as exc:
            self.metrics.errors.labels("consul").inc()
            log.error("deregister %s failed: %s", sid, exc)
            return
        self.ours.pop(sid, None)
        self.registered_at.pop(sid, None)
        self.refusals.forget(sid)

    async def maintenance(self, services: Iterable[Service], enable: bool, reason: str) -> None:
        for svc in services:
            if not self.holds(svc.id, svc.container_id):
                continue
            try:
                async with self._slots:
                    await self.consul.service_maintenance(svc.id, enable, reason)
            except ConsulError as exc:
                self.metrics.errors.labels("consul").inc()
                log.error("maintenance %s on %s failed: %s", "on" if enable else "off", svc.id, exc)

    async def check_update(self, svc: Service, status: str, note: str) -> None:
        if not self.holds(svc.id, svc.container_id):
            return
        try:
            async with self._slots:
                await self.consul.check_update(f"{svc.id}:docker-health", status, note)
        except ConsulError as exc:
            self.metrics.errors.labels("consul").inc()
            log.error("health update of %s failed: %s", svc.id, exc)
