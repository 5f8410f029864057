"""Effect: the Consul KV backend (`consulkv://`): one KV entry per service, gliderlabs' layout
`<prefix>/<service-name>/<service-id> = <ip>:<port>`, written on registration, deleted on deregistration.

It stands in for ConsulWriter, sharing its bound on requests in flight and its refusal book. What KV cannot hold:
- checks, Docker health and maintenance have no place in a KV entry: nothing is sent (gliderlabs' KV backend has
  none either). `docker stop` therefore leaves the key until the container dies, and the die deletes it;
- ownership: a KV entry carries no Meta. This node writes its entries with Flags `kv_marker(node)` and with a
  check-and-set, and writes over an existing entry only when it has that marker, or has none (gliderlabs' Flags 0)
  and the ID is this node's own form for this very container: a container's SERVICE_ID cannot replace an entry
  another node or a person wrote (gliderlabs would). The marker proves nothing against a client holding key rights,
  so only keys this process wrote are deleted; -cleanup and --deregister-on-exit list nothing from Consul (as
  gliderlabs, whose KV backend lists no services), and a container that died while registrator was down leaves
  its key behind.
- a name or an ID that would not be exactly one key segment (`/`, `.`, `..`, empty) is refused, logged, never sent.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable, Mapping
from typing import Any

from portside.consul import ConsulClient, ConsulError, paths
from registrator.config import Config
from registrator.metadata import Problem, Service
from registrator.metrics import Metrics
from registrator.registry import kv_decision, kv_key, kv_marker, kv_value
from registrator.writer import ConsulWriter

log = logging.getLogger("registrator")


class KVWriter(ConsulWriter):
    def __init__(self, consul: ConsulClient, cfg: Config, metrics: Metrics, running: Any, prefix: str) -> None:
        super().__init__(consul, cfg, metrics, running)
        self.prefix = prefix
        self.keys: dict[str, str] = {}  # service id -> the key this process wrote for it
        self.marker = kv_marker(cfg.node_id)

    async def agent_services(self) -> dict[str, dict[str, Any]]:
        """KV holds no service this node could prove its own: reconcile registers (puts) everything wanted again,
        and cleanup finds nothing to remove."""
        return {}

    def adopt(self, actual: Mapping[str, Mapping[str, Any]]) -> None:
        return None

    async def register(self, svc: Service, *, snapshot: Mapping[str, Mapping[str, Any]] | None = None) -> bool:
        value = kv_value(svc.address, svc.port)
        fp = f"{svc.name}\0{value}"
        if not self.refusals.due(svc.id, fp, time.monotonic()):
            return False
        try:
            key = kv_key(self.prefix, svc.name, svc.id)
        except paths.UnsafeSegment as exc:
            if self.refusals.refused(svc.id, fp, str(exc), for_good=True, now=time.monotonic()):
                self.metrics.skipped.labels("service_id").inc()
                log.warning("%s", Problem(svc.container, svc.id_key or "service", f"{svc.name}/{svc.id}",
                                          f"not a safe Consul KV key: {exc}", "not written to Consul KV",
                                          "service_id"))
            return False
        if why := self._held_elsewhere(svc):
            self._conflict(svc, why)
            return False
        old = self.keys.get(svc.id)
        try:
            if not await self._write(svc, key, value):
                return False
        except ConsulError as exc:
            self._refused(svc, fp, exc)
            return False
        finally:
            self.registered_at[svc.id] = time.monotonic()
        self._conflicts.pop(svc.id, None)
        self.keys[svc.id] = key
        self.ours[svc.id] = svc.container_id
        if old is not None and old != key:  # renamed: the entry under the old name is this one's no more
            await self._delete(svc.id, old)
        self.metrics.registrations.inc()
        if self.refusals.accepted(svc.id):
            log.info("register %s (%s): written to Consul KV now", svc.id, svc.name)
        return True

    def _held_elsewhere(self, svc: Service) -> str | None:
        holder = self.ours.get(svc.id)
        if holder and holder != svc.container_id and self.running(holder):
            return f"the ID is held by container {holder[:12]}, running on this node"
        return None

    async def _write(self, svc: Service, key: str, value: str) -> bool:
        """Check-and-set the entry if it is ours to write (see the module's docstring); False: left alone."""
        async with self._slots:
            existing = await self.consul.kv_get(key)
        decision = kv_decision(existing, marker=self.marker, value=value,
                               adopt=self.adopt_gliderlabs and not svc.id_key)
        if decision.action == "refuse":
            self._conflict(svc, decision.reason)
            return False
        if decision.action == "put":
            async with self._slots:
                if not await self.consul.kv_put(key, value, flags=self.marker, cas=decision.cas):
                    log.info("register %s: KV key %s changed while being written; tried again later", svc.id, key)
                    return False
        return True

    def _conflict(self, svc: Service, why: str) -> None:
        if self._conflicts.get(svc.id) != why:
            self._conflicts[svc.id] = why
            self.metrics.skipped.labels("owner").inc()
            log.warning("%s", Problem(svc.container, svc.id_key or "service ID", svc.id, why,
                                      "the existing KV entry left alone, this one not written", "owner"))

    def due(self, svc: Service) -> bool:
        return self.refusals.due(svc.id, f"{svc.name}\0{kv_value(svc.address, svc.port)}", time.monotonic())

    async def deregister(self, sid: str, container_id: str | None = None,
                         gliderlabs: Mapping[str, Any] | None = None) -> None:
        """Delete the key this process wrote for `sid` (that container's, when given); nothing else."""
        key = self.keys.get(sid)
        if key is None or not self.holds(sid, container_id):
            log.debug("deregister %s: no KV key of ours, left alone", sid)
            return
        if await self._delete(sid, key):
            self.keys.pop(sid, None)
            self.ours.pop(sid, None)
            self.registered_at.pop(sid, None)
            self.refusals.forget(sid)

    async def _delete(self, sid: str, key: str) -> bool:
        try:
            async with self._slots:
                await self.consul.kv_delete(key)
        except ConsulError as exc:
            self.metrics.errors.labels("consul").inc()
            log.error("deregister %s: deleting KV key %s failed: %s", sid, key, exc)
            return False
        self.metrics.deregistrations.inc()
        return True

    def owned(self) -> list[str]:
        """The service IDs whose keys this process wrote (--deregister-on-exit deletes those)."""
        return sorted(self.keys)

    async def maintenance(self, services: Iterable[Service], enable: bool, reason: str) -> None:
        return None  # no place for it in a KV entry: the key stays until the container dies

    async def check_update(self, svc: Service, status: str, note: str) -> None:
        return None
