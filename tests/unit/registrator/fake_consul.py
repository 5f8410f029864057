"""A scripted Consul agent and Docker engine for the registrator's ordering tests: pure in-memory state, with a
gate that holds registrations in flight so a test can interleave events with them deterministically."""

from __future__ import annotations

import asyncio
from typing import Any

from portside.consul import ConsulRejected, ConsulUnreachable
from registrator.docker import Summary


class FakeConsul:
    def __init__(self) -> None:
        self.services: dict[str, dict[str, Any]] = {}  # the agent's services, as /v1/agent/services shows them
        self.maintenance: dict[str, bool] = {}
        self.calls: list[tuple[str, str]] = []
        self.gate: asyncio.Event | None = None  # while set and not yet open, registrations wait on it
        self.held = asyncio.Event()  # set once a registration is waiting at the gate
        self.refuse: dict[str, str] = {}  # service id -> a 400 reason Consul gives for it
        self.latency = 0.0  # seconds each registration takes
        self.down = False  # unreachable: every call fails
        self.in_flight = self.most_in_flight = 0

    async def register_service(self, body: dict[str, Any], replace_existing_checks: bool = True) -> None:
        self.calls.append(("register", body["ID"]))
        self.in_flight += 1
        self.most_in_flight = max(self.most_in_flight, self.in_flight)
        await asyncio.sleep(self.latency)
        self.in_flight -= 1
        if self.gate is not None and not self.gate.is_set():
            self.held.set()
            await self.gate.wait()
        if body["ID"] in self.refuse:
            raise ConsulRejected("register service", f"Consul refused the request: 400 {self.refuse[body['ID']]}", 400)
        self.services[body["ID"]] = {"ID": body["ID"], "Service": body["Name"], "Address": body["Address"],
                                     "Port": body["Port"], "Tags": body["Tags"], "Meta": body["Meta"]}

    async def deregister_service(self, sid: str) -> None:
        self.calls.append(("deregister", sid))
        self.services.pop(sid, None)
        self.maintenance.pop(sid, None)

    async def service_maintenance(self, sid: str, enable: bool, reason: str | None = None) -> None:
        self.calls.append(("maintenance-on" if enable else "maintenance-off", sid))
        if sid in self.services:
            self.maintenance[sid] = enable

    async def check_update(self, check_id: str, status: str, note: str | None = None) -> None:
        self.calls.append(("ttl", check_id))

    async def agent_services(self) -> dict[str, dict[str, Any]]:
        if self.down:
            raise ConsulUnreachable("list agent services", "connection refused")
        self.calls.append(("list", ""))
        return {k: dict(v) for k, v in self.services.items()}

    def restart(self) -> None:
        """A dev agent restarted: it comes back with nothing."""
        self.services.clear()
        self.maintenance.clear()


class FakeDocker:
    """Inspect answers from a dict of container id -> inspect JSON (404 when absent)."""

    def __init__(self, containers: dict[str, dict[str, Any]]) -> None:
        self.containers_by_id = containers

    async def inspect(self, cid: str) -> dict[str, Any] | None:
        return self.containers_by_id.get(cid)

    async def containers(self) -> list[Summary]:
        return [Summary(cid, "running") for cid in self.containers_by_id]
