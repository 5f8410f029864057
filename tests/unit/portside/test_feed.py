"""portside.feed against an in-memory stand-in for Consul: a bounded pool, one publication per change, the
sweep for changes no check shows, and the last good catalog kept while reads fail."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Any

import pytest

from portside.feed import Change, Feed, Pool
from tests.support.fake_consul import FakeConsul


@contextlib.asynccontextmanager
async def running(consul: FakeConsul, **kw: Any) -> AsyncIterator[tuple[Feed, list[Change]]]:
    feed = Feed(consul, **kw)  # type: ignore[arg-type]
    changes: list[Change] = []
    feed.listeners.append(changes.append)
    task = asyncio.create_task(feed.run())
    try:
        await asyncio.wait_for(feed.synced.wait(), 10)
        yield feed, changes
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def until(predicate: Any, timeout: float = 5.0) -> None:
    async with asyncio.timeout(timeout):
        while not predicate():
            await asyncio.sleep(0.005)


@pytest.mark.parametrize("bulk", [True, False])
async def test_first_sync_reads_through_a_bounded_pool_and_publishes_once(bulk: bool) -> None:
    consul = FakeConsul(services=300)
    async with running(consul, pool_size=4, bulk_first_sync=bulk) as (feed, changes):
        assert len(feed.catalog.services) == 300 and feed.catalog.instance_count() == 600
        assert len(changes) == 1 and len(changes[0].services) == 300
        assert feed.pool.peak <= 4 and consul.peak <= 4 + 0  # the watches never call get_indexed
        health_reads = sum(p.startswith("/v1/health/service/") for p in consul.reads)
        assert health_reads == (0 if bulk else 300)


async def test_a_health_flip_reads_only_its_service() -> None:
    consul = FakeConsul(services=50)
    async with running(consul) as (feed, changes):
        consul.reads.clear()
        consul.set_status("svc7-1", "critical")
        await consul.bump()
        await until(lambda: len(changes) == 2)
        assert changes[1].services == {"svc7"}
        assert [i.status for i in feed.catalog.services["svc7"]] == ["passing", "critical"]
        assert [p for p in consul.reads if p.startswith("/v1/health/service/")] == ["/v1/health/service/svc7"]


async def test_an_instance_without_checks_is_found_by_the_sweep() -> None:
    consul = FakeConsul(services=20)
    async with running(consul) as (feed, changes):
        consul.add("svc3", "svc3-new", "n0", status="")
        await consul.bump()
        await until(lambda: any(i.id == "svc3-new" for i in feed.catalog.services["svc3"]))
        assert changes[-1].services == {"svc3"} and feed.stats["sweeps"] >= 1


async def test_new_service_and_gone_service() -> None:
    consul = FakeConsul(services=5)
    async with running(consul) as (feed, changes):
        consul.add("fresh", "fresh-1", "n1")
        del consul.entries["svc2"]
        consul.index += 1
        await consul.bump()
        await until(lambda: "fresh" in feed.catalog.services and "svc2" not in feed.catalog.services)
        assert set(feed.catalog.summaries) == set(feed.catalog.services)


async def test_reads_that_fail_keep_the_last_good_catalog_and_are_retried() -> None:
    consul = FakeConsul(services=5)
    async with running(consul) as (feed, changes):
        before = feed.catalog
        consul.down = True
        consul.set_status("svc1-0", "critical")
        feed._todo.add("svc1")  # as a check diff would
        feed._wake.set()
        await until(lambda: feed.stats["fetch_errors"] > 0)
        assert feed.catalog is before
        consul.down = False
        await until(lambda: feed.catalog.services["svc1"][0].status == "critical")


async def test_pool_never_exceeds_its_size() -> None:
    pool = Pool(3)
    now = 0
    seen = 0

    async def work() -> None:
        nonlocal now, seen
        now += 1
        seen = max(seen, now)
        await asyncio.sleep(0.001)
        now -= 1

    await asyncio.gather(*(pool.run(work) for _ in range(50)))
    assert seen == 3 and pool.peak == 3
    with pytest.raises(ValueError):
        Pool(0)


async def test_a_small_catalog_is_read_whole_instead_of_swept() -> None:
    # 5 services <= 3 nodes + a pool of 8: reading each service is one round trip, the sweep would be two
    consul = FakeConsul(services=5)
    async with running(consul) as (feed, _):
        consul.add("svc3", "svc3-new", "n0", status="")
        await consul.bump()
        await until(lambda: any(i.id == "svc3-new" for i in feed.catalog.services["svc3"]))
        assert feed.stats["sweeps_by_service"] >= 1 and feed.stats["sweeps"] == 0


async def test_a_service_off_the_list_goes_once_no_query_of_its_own_holds_it() -> None:
    """The list did not move, but the service's own query stopped: the next step drops it (the steps look for
    unlisted services only when the list or the followed services moved)."""
    consul = FakeConsul(services=3)
    async with running(consul) as (feed, changes):
        listed = feed._summaries
        assert listed is not None and "svc1" in feed.catalog.services
        feed._summaries = {n: s for n, s in listed.items() if n != "svc1"}  # a new list without svc1
        feed.followed.answered.add("svc1")  # as if its own query had answered: it stays
        await feed._step()
        assert "svc1" in feed.catalog.services
        await feed._step()  # nothing moved
        assert "svc1" in feed.catalog.services
        feed.followed.answered.discard("svc1")  # its query stopped, the list is the same object
        await feed._step()
        assert "svc1" not in feed.catalog.services and changes[-1].services == {"svc1"}
