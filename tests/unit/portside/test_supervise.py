"""The supervisor: a task that raises is logged and restarted; one that keeps failing or ends when it must not is
named by /health (through the real aiohttp app)."""

from __future__ import annotations

import asyncio
import logging

import aiohttp
from prometheus_client import CollectorRegistry

from portside.address import Address
from portside.backoff import Backoff
from portside.observe import serve_observability
from portside.supervise import Supervisor
from testbed.engines import free_port


def quick(**kw: float) -> Supervisor:
    return Supervisor(backoff=lambda: Backoff(base=0.01, cap=0.01), **kw)  # type: ignore[arg-type]


async def until(predicate, timeout: float = 5.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not predicate():
        assert loop.time() < deadline, "condition not met in time"
        await asyncio.sleep(0.01)


async def test_a_task_that_raises_is_logged_with_its_traceback_and_restarted(caplog):
    runs: list[int] = []

    async def flaky() -> None:
        runs.append(1)
        if len(runs) == 1:
            raise KeyError("surprise")
        await asyncio.Event().wait()  # the second run keeps going

    tasks = quick()
    with caplog.at_level(logging.ERROR, "portside.supervise"):
        tasks.start("watch web", flaky)
        await until(lambda: len(runs) == 2)
    await tasks.close()
    failed = [r for r in caplog.records if "watch web" in r.getMessage() and "failed" in r.getMessage()]
    assert failed and failed[0].exc_info and "KeyError" in caplog.text and "surprise" in caplog.text
    assert tasks.health() == {"tasks": True}  # once: restarted, not (yet) unhealthy


async def test_health_names_a_task_that_keeps_failing_and_forgives_it_once_it_runs():
    runs: list[int] = []

    async def broken() -> None:
        runs.append(1)
        if len(runs) <= 3:
            raise RuntimeError("still broken")
        await asyncio.Event().wait()

    tasks = quick(max_failures=3, stable_after=0.2)
    tasks.start("mirror", broken)
    await until(lambda: len(runs) >= 4)
    assert tasks.health() == {"tasks": False, "task mirror": False}
    assert "still broken" in tasks.unhealthy["mirror"]
    await until(lambda: tasks.health() == {"tasks": True}, 3)  # it has run stable_after without failing
    await tasks.close()


async def test_a_task_that_must_run_and_ends_is_unhealthy_at_once_and_restarted():
    runs: list[int] = []

    async def ends() -> None:
        runs.append(1)
        if len(runs) > 1:
            await asyncio.Event().wait()

    tasks = quick(stable_after=60)
    tasks.start("docker events", ends)
    await until(lambda: len(runs) == 2)
    assert tasks.unhealthy == {"docker events": "ended, but it must run until shutdown"}
    await tasks.close()


async def test_a_one_shot_that_ends_is_forgotten_and_discard_cancels():
    cancelled = asyncio.Event()

    async def forever() -> None:
        try:
            await asyncio.Event().wait()
        finally:
            cancelled.set()

    async def once() -> None:
        return None

    tasks = quick()
    tasks.start("once", once, must_run=False)
    tasks.start("forever", forever)
    await until(lambda: "once" not in tasks)
    tasks.discard("forever")
    await asyncio.wait_for(cancelled.wait(), 2)
    assert len(tasks) == 0 and tasks.health() == {"tasks": True}


async def test_health_endpoint_is_503_naming_the_dead_task():
    async def dead() -> None:
        raise OSError("gone")

    tasks = quick(max_failures=2)
    tasks.start("agent poll", dead)
    await until(lambda: bool(tasks.unhealthy))

    async def health() -> dict[str, bool]:
        return {"consul": True, **tasks.health()}

    addr = Address("127.0.0.1", free_port())
    try:
        async with serve_observability(health, CollectorRegistry(), addr), aiohttp.ClientSession() as session, \
                session.get(addr.url("http", "/health")) as resp:
            body = await resp.json()
        assert resp.status == 503
        assert body["components"]["task agent poll"] is False and body["components"]["consul"] is True
    finally:
        await tasks.close()


async def test_close_takes_running_tasks_down():
    started = asyncio.Event()

    async def work() -> None:
        started.set()
        await asyncio.sleep(3600)

    tasks = quick()
    tasks.start("work", work)
    await started.wait()
    await asyncio.wait_for(tasks.close(), 2)
    assert len(tasks) == 0


async def test_tasks_are_known_by_key_not_by_name():
    # two consul-templates dependencies may print alike (a Go query and a Jinja one): both must be watched
    ran: list[str] = []

    async def one(tag: str) -> None:
        ran.append(tag)

    tasks = quick()
    tasks.start(("go", "dc"), lambda: one("go"), must_run=False, name="watch catalog.datacenters")
    tasks.start(("jinja", "dc"), lambda: one("jinja"), must_run=False, name="watch catalog.datacenters")
    await until(lambda: sorted(ran) == ["go", "jinja"])
    await tasks.close()


async def test_a_one_shot_started_again_as_it_returns_runs_again():
    """A one-shot that has just returned is still known for one loop step: starting its key again then (a
    watch set re-synced by the change the one-shot reported) must run the new one, not drop it."""
    sup = Supervisor()
    runs: list[str] = []
    first_done = asyncio.Event()

    async def first() -> None:
        runs.append("first")
        first_done.set()

    async def second() -> None:
        runs.append("second")

    sup.start("reads", first, must_run=False)
    await first_done.wait()
    assert "reads" in sup  # returned, not yet forgotten: the moment the new start used to be lost
    sup.start("reads", second, must_run=False)
    for _ in range(20):
        await asyncio.sleep(0)
    assert runs == ["first", "second"] and "reads" not in sup
    await sup.close()
