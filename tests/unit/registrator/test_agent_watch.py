"""Registrator.watch_agent against a scripted agent: what counts as lost, and the full reconcile after an outage."""

from __future__ import annotations

import asyncio
import time
from typing import Any

from portside.consul import ConsulPermissionDenied, ConsulUnreachable
from registrator.config import Config
from registrator.daemon import Registrator
from registrator.metadata import Service
from registrator.metrics import Metrics


class ScriptedAgent:
    """agent_services() replays a script (a dict, or an exception to raise); records registrations."""

    def __init__(self, script: list[Any]) -> None:
        self.script = script
        self.registered: list[str] = []

    async def agent_services(self) -> dict[str, Any]:
        step = self.script.pop(0) if len(self.script) > 1 else self.script[0]
        if isinstance(step, Exception):
            raise step
        return step

    async def register_service(self, body: dict[str, Any]) -> None:
        self.registered.append(body["ID"])


def svc(sid: str) -> Service:
    return Service(id=sid, name="web", address="127.0.0.1", port=80, container_id="c1")


async def run_polls(reg: Registrator, polls: int) -> None:
    stop = asyncio.Event()
    task = asyncio.create_task(reg.watch_agent(stop))
    await asyncio.sleep(reg.cfg.agent_poll * (polls + 0.5))
    stop.set()
    await task


async def test_a_registration_in_flight_is_not_taken_for_lost() -> None:
    agent = ScriptedAgent([{}])  # the agent does not list either service (yet)
    reg = Registrator(Config(node_id="n", agent_poll=0.02), None, agent, Metrics())  # type: ignore[arg-type]
    done, in_flight = svc("n:done:80"), svc("n:flight:80")
    reg.wanted["c1"] = [done, in_flight]
    reg.registered_at[done.id] = time.monotonic() - 10  # registered before the poll; in_flight: not yet
    await run_polls(reg, 1)
    assert agent.registered and set(agent.registered) == {done.id}


async def test_agent_back_after_an_outage_triggers_a_full_reconcile() -> None:
    down = ConsulUnreachable("list agent services", "connection refused")
    agent = ScriptedAgent([down, down, {}])
    reg = Registrator(Config(node_id="n", agent_poll=0.02), None, agent, Metrics())  # type: ignore[arg-type]
    reconciled = []

    async def reconcile() -> None:
        reconciled.append(time.monotonic())

    reg.reconcile = reconcile  # type: ignore[method-assign]
    await run_polls(reg, 4)
    assert len(reconciled) == 1  # once, when it answered again; not on every later poll


async def test_a_refused_registration_is_retried_by_the_poll() -> None:
    class Refusing(ScriptedAgent):
        async def register_service(self, body: dict[str, Any]) -> None:
            self.registered.append(body["ID"])
            raise ConsulPermissionDenied("register service", "the token lacks service:write")

    agent = Refusing([{}])
    reg = Registrator(Config(node_id="n", agent_poll=0.02), None, agent, Metrics())  # type: ignore[arg-type]
    s = svc("n:refused:80")
    reg.wanted["c1"] = [s]
    await reg._register(s)  # refused at start: the poll must keep trying (a policy may grant it later)
    await run_polls(reg, 3)
    assert agent.registered.count(s.id) >= 3
