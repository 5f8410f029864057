"""Wiring: Docker events -> metadata -> Consul actions, with drain on kill/stop, reconcile and agent watch.

Docker events (events.py) -> per-container ordered handling (here) -> services_for (metadata.py)
-> register / maintenance / deregister through writer.py (bounded, ownership-checked). Reconcile (reconcile.py)
runs at start, after each Docker reconnect and every -resync seconds; a fast poll of the agent (agent_watch.py)
queues a `restore` of what an agent restart lost, handled here in the container's own turn."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import time
from collections.abc import Iterable, Mapping
from typing import Any

from portside.consul import ConsulClient, ConsulError
from portside.supervise import Supervisor
from registrator.agent_watch import AgentWatch
from registrator.checks import docker_status_to_consul
from registrator.config import Config
from registrator.docker import DockerEngine, DockerError
from registrator.events import Dispatcher, Event, docker_events
from registrator.kvwriter import KVWriter
from registrator.metadata import WARNINGS, Problem, Service, container_name, services_for
from registrator.metrics import Metrics
from registrator.ports import parent_of
from registrator.reconcile import owned_ids, plan
from registrator.writer import ConsulWriter

log = logging.getLogger("registrator")
DRAIN_SIGNALS = {"15", "9", "2", "3", "SIGTERM", "SIGKILL", "SIGINT", "SIGQUIT", "TERM", "KILL", "INT", "QUIT"}
SYNC_ACTIONS = ("start", "unpause", "rename", "connect", "disconnect", "sync")


def success_like(exit_code: str) -> bool:
    """-deregister on-success: 0, or any code with bit 128 set (killed by a signal: `docker stop` ends in 143,
    SIGKILL in 137), as gliderlabs decides; an exit code Docker did not report counts as 0."""
    try:
        code = int(exit_code or "0")
    except ValueError:
        return False
    return code == 0 or code & 128 == 128


class Registrator:
    def __init__(self, cfg: Config, docker: DockerEngine, consul: ConsulClient, metrics: Metrics) -> None:
        self.cfg = cfg
        self.docker = docker
        self.metrics = metrics
        self.wanted: dict[str, list[Service]] = {}  # container id -> services we want registered
        self.kept: dict[str, list[Service]] = {}  # exited containers kept visible (-deregister on-success/never)
        self.drain_started: dict[str, float] = {}
        self.paused: set[str] = set()
        self.running: set[str] = set()  # containers known to run: they hold their service IDs
        self.synced_at: dict[str, float] = {}  # container -> when it was last inspected running (monotonic)
        self.reported: dict[str, set[str]] = {}  # container id -> the problems logged for it
        self.snapshot: Mapping[str, Mapping[str, Any]] | None = None  # the agent, while a reconcile's syncs run
        self.writer = (ConsulWriter(consul, cfg, metrics, self.running.__contains__) if cfg.kv_prefix is None
                       else KVWriter(consul, cfg, metrics, self.running.__contains__, cfg.kv_prefix))
        self.dispatch = Dispatcher(self.handle)
        # read when scraped: summing on every event would cost O(containers) per event in a burst
        metrics.queue_depth.set_function(lambda: self.dispatch.depth)
        metrics.services.set_function(lambda: sum(len(v) for v in self.wanted.values()))
        self.agent_watch = AgentWatch(self.writer, self.wanted, self.dispatch, lambda: self.reconcile(), cfg.agent_poll)
        self.tasks = Supervisor()  # event loop, agent poll, resync: restarted when they fail, named by /health
        self.since = time.time_ns()  # Docker events are replayed from here when the event loop starts again
        self._consuming = False

    # ---- per-container handling (called in order for each container) ---------------------------
    async def handle(self, ev: Event) -> None:
        self.metrics.events.labels(ev.action).inc()
        cid = ev.container_id
        if ev.action in SYNC_ACTIONS:
            await self.sync_container(cid, ev.action)
        elif ev.action == "restore":
            await self.restore(cid, set(ev.attributes.get("ids", "").split()))
        elif ev.action == "health_status":
            await self.push_health(cid, ev.status, self.wanted.get(cid, []))
        elif ev.action in ("kill", "stop"):
            if ev.action == "stop" or ev.attributes.get("signal", "").upper() in DRAIN_SIGNALS:
                await self.drain(cid, "container stopping")
        elif ev.action == "pause":
            self.paused.add(cid)
            await self.writer.maintenance(self.wanted.get(cid, []), True, "container paused")
        elif ev.action == "die":
            await self.on_die(cid, ev.attributes.get("exitCode", "0"))
        elif ev.action == "destroy":
            self.running.discard(cid)
            self.reported.pop(cid, None)
            await self._deregister(cid, [s.id for s in self.wanted.pop(cid, []) + self.kept.pop(cid, [])])

    def report(self, cid: str, problems: Iterable[Problem]) -> None:
        """Log each problem of a container once (a start comes with a network connect; -resync looks again)."""
        seen = self.reported.setdefault(cid, set())
        for p in problems:
            if str(p) not in seen:
                seen.add(str(p))
                if p.kind not in WARNINGS:
                    self.metrics.skipped.labels(p.kind).inc()
                log.warning("%s", p)

    async def _deregister(self, cid: str, ids: Iterable[str]) -> None:
        await asyncio.gather(*(self.writer.deregister(sid, cid) for sid in ids))

    async def sync_container(self, cid: str, action: str = "sync") -> None:
        info = await self.docker.inspect(cid)
        if info is None:  # gone before we could look: forget it
            log.info("container %s vanished before inspect; skipped", cid[:12])
            self.running.discard(cid)
            await self._deregister(cid, [s.id for s in self.wanted.pop(cid, [])])
            return
        state = info.get("State") or {}
        if not state.get("Running"):
            return  # exited meanwhile; its die event follows in order
        self.running.add(cid)
        self.synced_at[cid] = time.monotonic()
        if state.get("Paused"):
            self.paused.add(cid)
        else:
            self.paused.discard(cid)
        if action == "start":
            self.drain_started.pop(cid, None)  # a new start: a drain it lived through is over
        parent = None
        if parent_id := parent_of(info):  # gliderlabs registers such a child at its parent's address
            with contextlib.suppress(DockerError):
                parent = await self.docker.inspect(parent_id)
        services, problems = services_for(info, self.cfg, parent)
        name = container_name(info)
        del info  # not held while waiting for Consul: a burst would keep hundreds of them
        self.report(cid, problems)
        before = {s.id for s in self.wanted.get(cid, [])} | {s.id for s in self.kept.pop(cid, [])}
        self.wanted[cid] = services
        done = [s for s in services if await self.writer.register(s, snapshot=self.snapshot)]
        if reason := self.maintenance_reason(cid):  # a re-registration may have dropped it (reconcile, rename)
            await self.writer.maintenance(services, True, reason)
        elif action == "unpause" or before:
            await self.writer.maintenance(services, False, "")
        await self._deregister(cid, before - {s.id for s in services})
        if done:
            log.info("container %s: registered %s", name, ", ".join(f"{s.name}@{s.address}:{s.port}" for s in done))

    def maintenance_reason(self, cid: str) -> str | None:
        """Why the container's services are to be in maintenance now (None: they are not)."""
        if cid in self.drain_started:
            return "container stopping"
        return "container paused" if cid in self.paused else None

    async def restore(self, cid: str, ids: set[str]) -> None:
        """Re-register what the agent lost, with the maintenance and health status the services had."""
        self.agent_watch.restoring.discard(cid)
        back = [s for s in self.wanted.get(cid, []) if s.id in ids and await self.writer.register(s)]
        if reason := self.maintenance_reason(cid):
            await self.writer.maintenance(back, True, reason)
        if any(s.docker_health for s in back):
            with contextlib.suppress(DockerError):
                info = await self.docker.inspect(cid)
                status = (((info or {}).get("State") or {}).get("Health") or {}).get("Status", "starting")
                await self.push_health(cid, status, back)

    async def push_health(self, cid: str, docker_status: str, services: Iterable[Service]) -> None:
        status = docker_status_to_consul(docker_status, self.cfg.health_starting)
        for svc in services:
            if svc.docker_health:
                await self.writer.check_update(svc, status, f"docker: {docker_status}")

    async def drain(self, cid: str, reason: str) -> None:
        services = self.wanted.get(cid, [])
        if services and cid not in self.drain_started:
            self.drain_started[cid] = time.monotonic()
            await self.writer.maintenance(services, True, reason)

    async def on_die(self, cid: str, exit_code: str) -> None:
        self.running.discard(cid)
        self.paused.discard(cid)
        self.reported.pop(cid, None)
        services = self.wanted.pop(cid, [])
        started = self.drain_started.pop(cid, None)
        mode = self.cfg.deregister
        if mode == "never" or (mode == "on-success" and not success_like(exit_code)):
            self.kept[cid] = services
            return
        if started is not None and self.cfg.drain_seconds > 0:
            await asyncio.sleep(max(0.0, self.cfg.drain_seconds - (time.monotonic() - started)))
        await self._deregister(cid, [s.id for s in services])

    # ---- reconcile -----------------------------------------------------------------------------
    async def reconcile(self) -> None:
        """List the containers once, sync each running one (inspect + register, bounded) with the agent's services
        listed once beforehand, then register what is still missing and clean up (-cleanup)."""
        t0 = time.monotonic()
        try:
            listing = await self.docker.containers()
            running = {c.id for c in listing if c.state in ("running", "paused")}
            # A container started since the listing was asked for is not in it, yet runs: its own start event
            # syncs it. The listing must not make it look gone (cleanup would deregister it until the next resync).
            late = self.running & self._synced_since(t0)
            self.running.clear()
            self.running.update(running | late)
            actual = await self.writer.agent_services()
            self.writer.adopt(actual)
            self.snapshot = actual
            try:
                await asyncio.gather(*(self.dispatch.submit(Event(cid, "sync", {})) for cid in running))
            finally:
                self.snapshot = None
            await self._settle({c.id for c in listing}, running, t0)
        except (ConsulError, DockerError, OSError) as exc:
            self.metrics.errors.labels("reconcile").inc()
            log.error("reconcile failed: %s", exc)
        finally:
            self.metrics.reconcile.observe(time.monotonic() - t0)

    def _synced_since(self, t: float) -> set[str]:
        return {cid for cid, at in self.synced_at.items() if at >= t}

    async def _settle(self, present: set[str], running: set[str], listed_at: float) -> None:
        running = running | (self.running & self._synced_since(listed_at))  # started since the listing
        for cid in [c for c in self.wanted if c not in running]:
            self.wanted.pop(cid, None)
        for cid in [c for c in self.kept if c not in present]:
            self.kept.pop(cid, None)
        for cid in [c for c in self.reported if c not in running]:
            self.reported.pop(cid, None)
        for cid in [c for c in self.synced_at if c not in running]:
            del self.synced_at[cid]
        actual = await self.writer.agent_services()
        desired = [s for v in self.wanted.values() for s in v]
        keep = [s.id for v in self.kept.values() for s in v]
        p = plan(desired, actual, self.cfg.node_id, cleanup=self.cfg.cleanup, keep=keep,
                 adopt_gliderlabs=self.cfg.adopt_gliderlabs)
        await asyncio.gather(*(self.writer.register(svc) for svc in p.register))
        for sid in p.deregister:
            log.info("cleanup: deregistering %s (no running container)", sid)
        await asyncio.gather(*(self.writer.deregister(sid, gliderlabs=actual.get(sid)) for sid in p.deregister))

    async def deregister_owned(self) -> None:
        if isinstance(self.writer, KVWriter):  # only the keys this process wrote: KV cannot prove more ours
            await asyncio.gather(*(self.writer.deregister(sid) for sid in self.writer.owned()))
            return
        try:
            actual = await self.writer.agent_services()
        except ConsulError as exc:
            log.error("deregister on exit: %s", exc)
            return
        self.writer.adopt(actual)
        await asyncio.gather(*(self.writer.deregister(sid) for sid in sorted(owned_ids(actual, self.cfg.node_id))))

    # ---- main loop -----------------------------------------------------------------------------
    async def run(self, stop: asyncio.Event) -> None:
        self.since = time.time_ns()
        # the agent poll and the resync return only once `stop` is set; the event loop never does
        if self.cfg.kv_prefix is None:  # KV entries live on the servers: an agent restart loses none of them
            self.tasks.start("agent poll", functools.partial(self.agent_watch.run, stop), must_run=False)
        if self.cfg.resync > 0:
            self.tasks.start("resync", functools.partial(self._resync, stop), must_run=False)
        await self.reconcile()
        self.tasks.start("docker events", self._consume)
        try:
            await stop.wait()
        finally:
            await self.tasks.close()
            await self.dispatch.close()
            if self.cfg.deregister_on_exit:
                await self.deregister_owned()

    async def _consume(self) -> None:
        if self._consuming:  # started again after a failure: events may have been missed meanwhile
            await self.reconcile()
        self._consuming = True
        async for ev in docker_events(self.docker, self.since, self.reconcile):
            self.since = max(self.since, ev.time_nano)
            self.dispatch.submit(ev)

    async def _resync(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(stop.wait(), self.cfg.resync)
            if not stop.is_set():
                await self.reconcile()
