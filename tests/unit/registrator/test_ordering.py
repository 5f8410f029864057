"""The agent poll's re-registrations go through the same per-container queue as Docker events: a `die` handled
while a re-registration is in flight is not undone by it, and a draining container keeps its maintenance when
the agent comes back empty."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from registrator.config import Config
from registrator.daemon import Registrator
from registrator.events import Event
from registrator.metrics import Metrics
from tests.support.inspect_fixtures import make_container
from tests.unit.registrator.fake_consul import FakeConsul, FakeDocker

CID = "c0ffee" + "0" * 58
SID = "n:web1:80"


def registrator(consul: FakeConsul, **cfg: Any) -> Registrator:
    docker = FakeDocker({CID: make_container()})
    return Registrator(Config(node_id="n", ip="127.0.0.1", agent_poll=0.02, **cfg), docker, consul,  # type: ignore
                       Metrics())


async def settle(reg: Registrator, event: Event) -> None:
    await reg.dispatch.submit(event)


async def idle(reg: Registrator) -> None:
    """Until no container has work queued or running."""
    while reg.dispatch.depth or reg.dispatch.busy:
        await asyncio.sleep(0.005)


async def test_a_die_during_a_re_registration_is_not_undone() -> None:
    consul = FakeConsul()
    reg = registrator(consul)
    await settle(reg, Event(CID, "start", {}))
    assert SID in consul.services
    consul.restart()
    consul.gate = asyncio.Event()  # the poll's re-registration will wait here, in flight
    stop = asyncio.Event()
    poll = asyncio.create_task(reg.agent_watch.run(stop))
    await asyncio.wait_for(consul.held.wait(), 5)
    died = reg.dispatch.submit(Event(CID, "die", {"exitCode": "0"}))
    await asyncio.sleep(0.05)  # the die, were it handled beside the re-registration, would be done by now
    consul.gate.set()
    await asyncio.wait_for(died, 5)
    await idle(reg)
    stop.set()
    await poll
    assert SID not in consul.services, f"a ghost: the re-registration landed after the die ({consul.calls})"


@pytest.mark.parametrize("event", [Event(CID, "kill", {"signal": "15"}), Event(CID, "stop", {}),
                                   Event(CID, "pause", {})], ids=lambda e: e.action)
@pytest.mark.parametrize("outage", [False, True], ids=["quick restart", "after an outage (full reconcile)"])
async def test_maintenance_is_kept_across_an_agent_restart(event: Event, outage: bool) -> None:
    """A draining (kill/stop) or paused container's services come back in maintenance, whether the poll saw the
    agent empty (restore) or first unreachable (a full reconcile syncs every container)."""
    consul = FakeConsul()
    reg = registrator(consul)
    await settle(reg, Event(CID, "start", {}))
    await settle(reg, event)
    if event.action == "pause":  # as Docker's inspect shows it from now on
        reg.docker.containers_by_id[CID]["State"]["Paused"] = True  # type: ignore[attr-defined]
    assert consul.maintenance.get(SID) is True
    consul.restart()
    consul.down = outage
    stop = asyncio.Event()
    poll = asyncio.create_task(reg.agent_watch.run(stop))
    await asyncio.sleep(0.05)
    consul.down = False
    for _ in range(500):
        if SID in consul.services and consul.maintenance.get(SID):
            break
        await asyncio.sleep(0.01)
    stop.set()
    await poll
    assert SID in consul.services, "not re-registered"
    assert consul.maintenance.get(SID) is True, f"re-registered without its maintenance ({consul.calls})"


async def test_a_container_started_while_the_reconcile_runs_is_not_cleaned_up() -> None:
    """The reconcile's container listing is a moment: a container that starts (and is registered by its own
    event) while the reconcile is still syncing the listed ones is neither forgotten nor deregistered by the
    reconcile's cleanup; before, it stayed unregistered until the next -resync."""
    consul = FakeConsul()
    late, late_sid = "b" * 64, "n:web2:80"
    reg = registrator(consul, cleanup=True)
    docker = reg.docker
    listed = docker.containers

    async def containers() -> Any:
        out = await listed()  # the listing holds the first container only
        docker.containers_by_id[late] = make_container(name="web2")  # type: ignore[attr-defined]
        await reg.dispatch.submit(Event(late, "start", {}))  # started, and registered, before the cleanup
        return out

    docker.containers = containers  # type: ignore[method-assign]
    await reg.reconcile()
    await idle(reg)
    assert SID in consul.services and late_sid in consul.services, consul.calls
    assert late in reg.wanted and late in reg.running
