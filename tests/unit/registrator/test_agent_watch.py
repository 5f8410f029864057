"""The agent poll (AgentWatch) against a scripted agent: what counts as lost, refusals retried (a 400 with a growing
delay, reported once), and the full reconcile after an outage."""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

import pytest

from portside.consul import ConsulPermissionDenied, ConsulUnreachable
from registrator.config import Config
from registrator.daemon import Registrator
from registrator.metadata import OWNER_CONTAINER, OWNER_NODE, Service
from registrator.metrics import Metrics
from tests.unit.registrator.fake_consul import FakeConsul


class ScriptedAgent(FakeConsul):
    """agent_services() replays a script (a dict, or an exception to raise) once it is set; counts the polls."""

    def __init__(self, script: list[Any] | None = None) -> None:
        super().__init__()
        self.script = script or []
        self.polls = 0

    async def agent_services(self) -> dict[str, Any]:
        self.polls += 1
        if not self.script:
            return await super().agent_services()
        step = self.script.pop(0) if len(self.script) > 1 else self.script[0]
        if isinstance(step, Exception):
            raise step
        return step

    @property
    def registered(self) -> list[str]:
        return [sid for call, sid in self.calls if call == "register"]


def svc(sid: str, address: str = "127.0.0.1") -> Service:
    return Service(id=sid, name="web", address=address, port=80, container_id="c1", container="web1",
                   meta={OWNER_NODE: "n", OWNER_CONTAINER: "c1"})


def registrator(agent: FakeConsul, poll: float = 0.02) -> Registrator:
    return Registrator(Config(node_id="n", agent_poll=poll, refused_retry_cap=0.2), None, agent,  # type: ignore
                       Metrics())


async def run_polls(reg: Registrator, polls: int) -> None:
    """Let the watch poll the agent `polls` more times (counted, not timed: the machine may be slow)."""
    agent = reg.writer.consul
    assert isinstance(agent, ScriptedAgent)
    until = agent.polls + polls
    stop = asyncio.Event()
    task = asyncio.create_task(reg.agent_watch.run(stop))
    for _ in range(int(30 / reg.cfg.agent_poll)):
        if agent.polls >= until:
            break
        await asyncio.sleep(reg.cfg.agent_poll / 2)
    stop.set()
    await task
    while reg.dispatch.busy:
        await asyncio.sleep(0.005)


async def test_a_registration_in_flight_is_not_taken_for_lost() -> None:
    agent = ScriptedAgent()
    reg = registrator(agent)
    done, in_flight = svc("n:done:80"), svc("n:flight:80")
    reg.wanted["c1"] = [done, in_flight]
    assert await reg.writer.register(done)
    agent.restart()  # the agent lists neither; in_flight's registration has not ended yet
    await run_polls(reg, 1)
    assert agent.registered == [done.id, done.id]


async def test_agent_back_after_an_outage_triggers_a_full_reconcile() -> None:
    down = ConsulUnreachable("list agent services", "connection refused")
    agent = ScriptedAgent([down, down, {}])
    reg = registrator(agent)
    reconciled = []

    async def reconcile() -> None:
        reconciled.append(time.monotonic())

    reg.reconcile = reconcile  # type: ignore[method-assign]
    await run_polls(reg, 4)
    assert len(reconciled) == 1  # once, when it answered again; not on every later poll


async def test_a_permission_refusal_is_retried_by_every_poll(caplog: pytest.LogCaptureFixture) -> None:
    class Refusing(ScriptedAgent):
        async def register_service(self, body: dict[str, Any], replace_existing_checks: bool = True) -> None:
            self.calls.append(("register", body["ID"]))
            raise ConsulPermissionDenied("register service", "the token lacks service:write")

    agent = Refusing()
    reg = registrator(agent)
    s = svc("n:refused:80")
    reg.wanted["c1"] = [s]
    await reg.writer.register(s)  # refused at start: the poll must keep trying (a policy may grant it later)
    await run_polls(reg, 3)
    assert agent.registered.count(s.id) >= 3
    assert "lost" not in caplog.text  # refused is not lost


async def test_a_refusal_for_good_backs_off_and_is_reported_once(caplog: pytest.LogCaptureFixture) -> None:
    agent = ScriptedAgent()
    s = svc("n:bad:80")
    agent.refuse[s.id] = "Invalid service address"
    reg = registrator(agent, poll=0.01)  # retries after 0.01, 0.02, 0.04, ... s, at most 0.2 s apart
    reg.wanted["c1"] = [s]
    with caplog.at_level(logging.INFO, logger="registrator"):
        await reg.writer.register(s)
        await run_polls(reg, 60)
        attempts = agent.registered.count(s.id)
        assert 2 <= attempts <= 60 / 4, f"{attempts} attempts in 60 polls"
        assert caplog.text.count("Invalid service address") == 1
        assert "lost" not in caplog.text

        agent.refuse.clear()  # the definition did not change, but Consul takes it now (e.g. after an upgrade)
        await run_polls(reg, 30)
    assert s.id in agent.services and "accepted by Consul now" in caplog.text


async def test_a_changed_definition_is_sent_at_once_and_reported_again(caplog: pytest.LogCaptureFixture) -> None:
    agent = ScriptedAgent()
    s = svc("n:bad:80")
    agent.refuse[s.id] = "Invalid service address"
    reg = registrator(agent, poll=10)
    await reg.writer.register(s)
    await reg.writer.register(s)  # the same definition, not due yet: not sent
    changed = svc(s.id, address="127.0.0.2")
    await reg.writer.register(changed)
    assert agent.registered == [s.id, s.id]
    assert caplog.text.count("Invalid service address") == 2
