"""Wiring: Docker events -> metadata -> Consul actions, with drain on kill/stop, reconcile and agent watch.

Docker events (events.py) -> per-container ordered handling (here) -> services_for (metadata.py)
-> register / maintenance / deregister through portside.consul. Reconcile (reconcile.py) runs at start,
after each Docker reconnect and every -resync seconds; a fast poll of the agent re-registers what an
agent restart lost."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import time
from typing import Any

import aiodocker

from portside.consul import ConsulClient, ConsulError
from portside.supervise import Supervisor
from registrator.checks import docker_status_to_consul
from registrator.config import Config
from registrator.events import Dispatcher, Event, docker_events
from registrator.metadata import Service, container_name, services_for
from registrator.metrics import Metrics
from registrator.reconcile import missing, owned_ids, plan

log = logging.getLogger("registrator")
DRAIN_SIGNALS = {"15", "9", "2", "3", "SIGTERM", "SIGKILL", "SIGINT", "SIGQUIT", "TERM", "KILL", "INT", "QUIT"}


class Registrator:
    def __init__(self, cfg: Config, docker: aiodocker.Docker, consul: ConsulClient, metrics: Metrics) -> None:
        self.cfg = cfg
        self.docker = docker
        self.consul = consul
        self.metrics = metrics
        self.wanted: dict[str, list[Service]] = {}  # container id -> services we want registered
        self.kept: dict[str, list[Service]] = {}  # exited containers kept visible (-deregister on-success/never)
        self.drain_started: dict[str, float] = {}
        # service id -> when its last registration attempt ended (done or refused): the agent poll retries those
        # the agent does not have, but not one whose PUT is still in flight
        self.registered_at: dict[str, float] = {}
        self.dispatch = Dispatcher(self.handle)
        self.tasks = Supervisor()  # event loop, agent poll, resync: restarted when they fail, named by /health
        self.since = time.time_ns()  # Docker events are replayed from here when the event loop starts again
        self._consuming = False

    # ---- effects -----------------------------------------------------------------------------
    async def _register(self, svc: Service) -> bool:
        try:
            await self.consul.register_service(svc.definition())
            self.metrics.registrations.inc()
            return True
        except ConsulError as exc:
            self.metrics.errors.labels("consul").inc()
            log.error("register %s (%s) failed: %s", svc.id, svc.name, exc)
            return False
        finally:
            self.registered_at[svc.id] = time.monotonic()

    async def _deregister(self, sid: str) -> None:
        try:
            await self.consul.deregister_service(sid)
            self.registered_at.pop(sid, None)
            self.metrics.deregistrations.inc()
        except ConsulError as exc:
            self.metrics.errors.labels("consul").inc()
            log.error("deregister %s failed: %s", sid, exc)

    async def _maintenance(self, services: list[Service], enable: bool, reason: str) -> None:
        for svc in services:
            try:
                await self.consul.service_maintenance(svc.id, enable, reason)
            except ConsulError as exc:
                self.metrics.errors.labels("consul").inc()
                log.error("maintenance %s on %s failed: %s", "on" if enable else "off", svc.id, exc)

    # ---- per-container handling (called in order for each container) ---------------------------
    async def handle(self, ev: Event) -> None:
        self.metrics.events.labels(ev.action).inc()
        self.metrics.queue_depth.set(self.dispatch.depth)
        cid = ev.container_id
        if ev.action in ("start", "unpause", "rename", "connect", "disconnect", "sync"):
            await self.sync_container(cid, unpaused=ev.action == "unpause")
        elif ev.action == "health_status":
            await self.push_health(cid, ev.status)
        elif ev.action in ("kill", "stop"):
            if ev.action == "stop" or ev.attributes.get("signal", "").upper() in DRAIN_SIGNALS:
                await self.drain(cid, "container stopping")
        elif ev.action == "pause":
            await self._maintenance(self.wanted.get(cid, []), True, "container paused")
        elif ev.action == "die":
            await self.on_die(cid, ev.attributes.get("exitCode", "0"))
        elif ev.action == "destroy":
            services = self.wanted.pop(cid, []) + self.kept.pop(cid, [])
            for svc in services:
                await self._deregister(svc.id)
        self.metrics.services.set(sum(len(v) for v in self.wanted.values()))

    async def sync_container(self, cid: str, unpaused: bool = False) -> None:
        try:
            info: dict[str, Any] = await self.docker._query_json(f"containers/{cid}/json")
        except aiodocker.DockerError as exc:
            if exc.status == 404:  # gone before we could look: forget it
                log.info("container %s vanished before inspect; skipped", cid[:12])
                for svc in self.wanted.pop(cid, []):
                    await self._deregister(svc.id)
                return
            raise
        state = info.get("State") or {}
        if not state.get("Running"):
            return  # exited meanwhile; its die event follows in order
        services, problems = services_for(info, self.cfg)
        for p in problems:
            self.metrics.skipped.inc()
            log.warning("%s", p)
        before = {s.id for s in self.wanted.get(cid, [])} | {s.id for s in self.kept.pop(cid, [])}
        self.wanted[cid] = services
        self.drain_started.pop(cid, None)
        for svc in services:
            await self._register(svc)
        if unpaused or before:
            await self._maintenance(services, False, "")
        for sid in before - {s.id for s in services}:
            await self._deregister(sid)
        if services:
            log.info("container %s: registered %s", container_name(info),
                     ", ".join(f"{s.name}@{s.address}:{s.port}" for s in services))

    async def push_health(self, cid: str, docker_status: str) -> None:
        status = docker_status_to_consul(docker_status, self.cfg.health_starting)
        for svc in self.wanted.get(cid, []):
            if svc.docker_health:
                try:
                    await self.consul.check_update(f"{svc.id}:docker-health", status, f"docker: {docker_status}")
                except ConsulError as exc:
                    self.metrics.errors.labels("consul").inc()
                    log.error("health update of %s failed: %s", svc.id, exc)

    async def drain(self, cid: str, reason: str) -> None:
        services = self.wanted.get(cid, [])
        if services and cid not in self.drain_started:
            self.drain_started[cid] = time.monotonic()
            await self._maintenance(services, True, reason)

    async def on_die(self, cid: str, exit_code: str) -> None:
        services = self.wanted.pop(cid, [])
        started = self.drain_started.pop(cid, None)
        mode = self.cfg.deregister
        if mode == "never" or (mode == "on-success" and exit_code not in ("0", "")):
            self.kept[cid] = services
            return
        if started is not None and self.cfg.drain_seconds > 0:
            await asyncio.sleep(max(0.0, self.cfg.drain_seconds - (time.monotonic() - started)))
        for svc in services:
            await self._deregister(svc.id)

    # ---- reconcile -----------------------------------------------------------------------------
    async def reconcile(self) -> None:
        t0 = time.monotonic()
        try:
            summaries = await self.docker.containers.list(all=True)
            running = {c.id for c in summaries if (c._container.get("State") == "running")}
            present = {c.id for c in summaries}
            await asyncio.gather(*(self.dispatch.submit(Event(cid, "sync", {})) for cid in running))
            for cid in list(self.wanted):
                if cid not in running:
                    self.wanted.pop(cid, None)
            for cid in list(self.kept):
                if cid not in present:
                    self.kept.pop(cid, None)
            actual = await self.consul.agent_services()
            desired = [s for v in self.wanted.values() for s in v]
            keep = [s.id for v in self.kept.values() for s in v]
            p = plan(desired, actual, self.cfg.node_id, cleanup=self.cfg.cleanup, keep=keep)
            for svc in p.register:
                await self._register(svc)
            for sid in p.deregister:
                log.info("cleanup: deregistering %s (no running container)", sid)
                await self._deregister(sid)
        except (ConsulError, aiodocker.DockerError, OSError) as exc:
            self.metrics.errors.labels("reconcile").inc()
            log.error("reconcile failed: %s", exc)
        finally:
            self.metrics.reconcile.observe(time.monotonic() - t0)

    async def watch_agent(self, stop: asyncio.Event) -> None:
        """Re-register what the agent lost (restart of a dev agent, or it was unreachable); once the agent answers
        again after being unreachable, reconcile in full: an agent with persisted state comes back with services
        whose containers went away meanwhile."""
        unreachable = False
        while not stop.is_set():
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(stop.wait(), self.cfg.agent_poll)
            if stop.is_set():
                return
            polled = time.monotonic()
            try:
                actual = await self.consul.agent_services()
            except ConsulError as exc:
                log.debug("agent poll: %s", exc)
                unreachable = True
                continue
            if unreachable:
                unreachable = False
                log.info("Consul agent answers again: reconciling")
                await self.reconcile()
                continue
            # only services whose registration attempt had ended before this poll: one in flight is not lost
            settled = [s for v in self.wanted.values() for s in v if self.registered_at.get(s.id, polled) < polled]
            lost = missing(settled, actual)
            if lost:
                log.warning("Consul agent lost %d of our services (restarted?); re-registering", len(lost))
                for svc in lost:
                    await self._register(svc)
                    if svc.docker_health:
                        cid = svc.container_id
                        with contextlib.suppress(aiodocker.DockerError, ConsulError):
                            info = await self.docker._query_json(f"containers/{cid}/json")
                            await self.push_health(cid, ((info.get("State") or {}).get("Health") or {}).get(
                                "Status", "starting"))

    async def deregister_owned(self) -> None:
        try:
            actual = await self.consul.agent_services()
        except ConsulError as exc:
            log.error("deregister on exit: %s", exc)
            return
        for sid in sorted(owned_ids(actual, self.cfg.node_id)):
            await self._deregister(sid)

    # ---- main loop -----------------------------------------------------------------------------
    async def run(self, stop: asyncio.Event) -> None:
        self.since = time.time_ns()
        # the agent poll and the resync return only once `stop` is set; the event loop never does
        self.tasks.start("agent poll", functools.partial(self.watch_agent, stop), must_run=False)
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
            self.metrics.queue_depth.set(self.dispatch.depth)

    async def _resync(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(stop.wait(), self.cfg.resync)
            if not stop.is_set():
                await self.reconcile()
