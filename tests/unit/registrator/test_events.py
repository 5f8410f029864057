"""events.parse_event and the per-container Dispatcher, directly."""

from __future__ import annotations

import asyncio

import pytest

from registrator.events import Dispatcher, Event, parse_event, since_arg


def raw(typ: str, action: str, **attrs: str) -> dict:
    return {"Type": typ, "Action": action, "Actor": {"ID": "c1", "Attributes": attrs}, "timeNano": 5}


def test_container_events_and_health_status() -> None:
    assert parse_event(raw("container", "start", name="web")) == Event("c1", "start", {"name": "web"}, time_nano=5)
    ev = parse_event(raw("container", "health_status: unhealthy"))
    assert ev is not None and (ev.action, ev.status) == ("health_status", "unhealthy")
    kill = parse_event(raw("container", "kill", signal="15"))
    assert kill is not None and kill.attributes["signal"] == "15"


def test_network_events_name_the_container() -> None:
    assert parse_event(raw("network", "connect", container="c9")) == Event("c9", "connect", {"container": "c9"}, 5)
    assert parse_event(raw("network", "connect")) is None  # no container: nothing to do


@pytest.mark.parametrize("event", [raw("container", "exec_start: sh"), raw("container", "create"),
                                   raw("image", "pull"), raw("network", "create"), {}, {"Type": "container"}])
def test_events_we_do_not_act_on(event: dict) -> None:
    assert parse_event(event) is None


def test_since_arg_keeps_nanoseconds() -> None:
    assert since_arg(1_700_000_000_000_000_123) == "1700000000.000000123"


async def test_dispatcher_orders_per_container_runs_containers_concurrently_and_isolates_failures() -> None:
    log: list[tuple[str, str]] = []
    gate = asyncio.Event()

    async def handle(ev: Event) -> None:
        if ev.container_id == "slow" and ev.action == "start":
            await gate.wait()
        if ev.action == "boom":
            raise RuntimeError("handler failed")
        log.append((ev.container_id, ev.action))

    d = Dispatcher(handle)
    slow = [d.submit(Event("slow", a, {})) for a in ("start", "die", "destroy")]
    fast = [d.submit(Event("fast", a, {})) for a in ("boom", "start")]
    await asyncio.gather(*fast)
    assert log == [("fast", "start")], "the other container waited for the slow one, or a failure stopped it"
    assert d.busy == 1 and d.depth == 2  # slow: start in hand, die and destroy waiting
    gate.set()
    await asyncio.gather(*slow)
    assert log[1:] == [("slow", "start"), ("slow", "die"), ("slow", "destroy")]
    assert d.busy == 0 and d.depth == 0
    await d.close()


async def test_dispatcher_close_cancels_work_in_hand() -> None:
    started = asyncio.Event()

    async def handle(ev: Event) -> None:
        started.set()
        await asyncio.sleep(60)

    d = Dispatcher(handle)
    d.submit(Event("c", "start", {}))
    await started.wait()
    await asyncio.wait_for(d.close(), 5)
