"""Templates read services from the catalog feed: a template over every service renders from a handful of
reads, follows a health flip with one read, and is never written before the feed's first sync; the services
templates read are followed with a blocking query each while they fit the connection budget."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from consul_templates.config import Config, TemplateSpec
from consul_templates.functions import SERVICE, Dependency
from consul_templates.runner import Runner
from tests.support.fake_consul import FakeConsul

EVERY = "{% for s in services() %}{{ s.name }}:{% for i in service(s.name) %} {{ i.id }}{% endfor %}|{% endfor %}"


def lines(path: Path) -> list[str]:
    return path.read_text().split("|")[:-1]


@contextlib.asynccontextmanager
async def running(consul: FakeConsul, dest: Path, contents: str) -> AsyncIterator[Runner]:
    """A runner with one template, running until the block ends."""
    runner = Runner(Config(templates=(TemplateSpec(destination=dest, contents=contents),)), consul)  # type: ignore[arg-type]
    stop = asyncio.Event()
    task = asyncio.create_task(runner.run(stop))
    try:
        yield runner
    finally:
        stop.set()
        await asyncio.wait_for(task, 5)


async def until(pred: Any, timeout: float = 10.0) -> None:
    async with asyncio.timeout(timeout):
        while not pred():
            await asyncio.sleep(0.01)


async def test_template_over_every_service_from_the_feed(tmp_path: Path) -> None:
    consul = FakeConsul(services=200)
    dest = tmp_path / "all.conf"
    async with running(consul, dest, EVERY) as runner:
        await until(dest.exists)
        assert len(lines(dest)) == 200 and "svc7: svc7-0 svc7-1" in lines(dest)
        assert "svc101: svc101-1 svc101-0" in lines(dest)  # by node (n0, n1), then ID
        assert not [p for p in consul.reads if p.startswith("/v1/health/service/")]  # the first sync is bulk
        # the feed's blocking queries, and as many services followed as the budget allows (64 - 4 - 8 - 2)
        assert runner.watches.followed() == 50 and len(runner.watches) == 4 + 50
        followed = runner.watches.feeds[None].followed.names
        assert "svc7" not in followed and followed == set(sorted(f"svc{k}" for k in range(200))[:50])
        consul.set_status("svc7-1", "critical")
        await consul.bump()
        await until(lambda: "svc7: svc7-0" in lines(dest))
        assert [p for p in consul.reads if p.startswith("/v1/health/service/")] == ["/v1/health/service/svc7"]
        assert consul.peak <= runner.watches.pool.size


async def test_past_the_budget_the_services_that_change_are_followed(tmp_path: Path, monkeypatch: Any) -> None:
    """More services read than can be followed: a service that keeps changing takes the place of a quiet one at
    the next review (its next change then comes with its own query's answer, no read), the count stays at the
    budget, and while nothing changes the choice stands."""
    from consul_templates import watch

    monkeypatch.setattr(watch, "REVIEW", 0.05)
    consul = FakeConsul(services=200)
    dest = tmp_path / "all.conf"
    async with running(consul, dest, EVERY) as runner:
        await until(dest.exists)
        feed = runner.watches.feeds[None]
        last = sorted(f"svc{k}" for k in range(200))[49]
        assert "svc7" not in feed.followed.names and last in feed.followed.names and runner.watches.followed() == 50
        consul.set_status("svc7-1", "critical")
        await consul.bump()
        await until(lambda: "svc7: svc7-0" in lines(dest))
        await until(lambda: "svc7" in feed.followed.answered)
        assert runner.watches.followed() == 50 and last not in feed.followed.names  # the last by name gave way
        reads = len(consul.reads)
        consul.set_status("svc7-1", "passing")
        await consul.bump()
        await until(lambda: "svc7: svc7-0 svc7-1" in lines(dest))
        assert "/v1/health/service/svc7" not in consul.reads[reads:]  # its own query brought it
        chosen = feed.followed.names
        await asyncio.sleep(0.3)  # reviews with nothing moved
        assert feed.followed.names == chosen


async def test_nothing_is_written_while_the_feed_cannot_sync(tmp_path: Path) -> None:
    consul = FakeConsul(services=3)
    consul.down = True
    dest = tmp_path / "x.conf"
    runner = Runner(Config(templates=(TemplateSpec(destination=dest, contents=EVERY),)), consul)  # type: ignore[arg-type]
    stop = asyncio.Event()
    task = asyncio.create_task(runner.run(stop))
    await asyncio.sleep(0.3)
    assert not dest.exists()
    consul.down = False
    consul.index += 1
    await consul.bump()
    await until(dest.exists)
    stop.set()
    await asyncio.wait_for(task, 5)


ONE = "{% for i in service('svc1', status='any') %}{{ i.id }}={{ i.status }} {% endfor %}"


async def test_a_followed_service_changes_in_one_round_trip(tmp_path: Path) -> None:
    """The service a template reads is followed: its change comes with its own query's answer, no read after a
    catalog-wide wake-up; once no template reads it, the feed serves it again."""
    consul = FakeConsul(services=5)
    dest = tmp_path / "one.conf"
    async with running(consul, dest, ONE) as runner:
        feed = await _followed_svc1(runner, dest)
        assert len(runner.watches) == 4 + 1
        reads = len(consul.reads)
        consul.set_status("svc1-1", "critical")
        await consul.bump()
        await until(lambda: "svc1-1=critical" in dest.read_text())
        assert "/v1/health/service/svc1" not in consul.reads[reads:]  # its own query brought it
        assert feed.stats["followed_answers"] >= 2
        runner.watches.sync({Dependency(SERVICE, "svc2")})  # templates read another: svc1 handed back to the feed
        assert feed.followed.names == {"svc2"} and len(runner.watches) == 4 + 1


async def test_an_older_read_never_overwrites_a_followed_answer() -> None:
    """Once a followed service has answered, only its own query writes it: the feed's reads (the sweep, the
    checks watch) skip it, so an answer read earlier cannot replace a newer one."""
    from portside.feed import Feed

    consul = FakeConsul(services=3)
    feed = Feed(consul)  # type: ignore[arg-type]
    task = asyncio.create_task(feed.run())
    try:
        await asyncio.wait_for(feed.synced.wait(), 5)
        feed.follow({"svc1"})
        await until(lambda: "svc1" in feed.followed.answered)
        newest = feed.catalog.services["svc1"]
        stale = tuple(i for i in newest if i.id != "svc1-0")
        before = len(consul.reads)
        feed._todo.add("svc1")  # as if a checks diff named it
        consul.entries["svc1"] = [e for e in consul.entries["svc1"] if e["Service"]["ID"] != "svc1-0"]
        feed._wake.set()
        await asyncio.sleep(0.1)
        assert feed.catalog.services["svc1"] == newest != stale  # the feed's read did not replace it
        assert "/v1/health/service/svc1" not in consul.reads[before:]
        feed.follow(set())  # unfollowed: the feed reads it again, and now takes what Consul says
        await until(lambda: feed.catalog.services["svc1"] == stale)
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


async def test_a_render_that_reads_the_same_set_sets_nothing_up_again_unless_a_follow_was_lost(tmp_path: Path) -> None:
    """Every render hands the watches what it read; the same set again is a no-op (at 5,000 services the full
    pass cost ~10 ms per change), except that a followed service whose query died is followed again."""
    dest = tmp_path / "one.conf"
    async with running(FakeConsul(services=5), dest, ONE) as runner:
        feed = await _followed_svc1(runner, dest)
        passes: list[int] = []
        real = runner.watches._sync_followed

        def counted(room: int) -> None:
            passes.append(room)
            real(room)

        runner.watches._sync_followed = counted  # type: ignore[method-assign]
        wanted = set(runner.watches._catalog_deps)
        runner.watches.sync(wanted)
        assert passes == [] and feed.followed.names == {"svc1"}
        feed.followed._stop("svc1")  # as when its query fails: the feed serves it again
        runner.watches.sync(wanted)
        assert len(passes) == 1 and feed.followed.names == {"svc1"}
        runner.watches.sync(wanted)
        assert len(passes) == 1


async def _followed_svc1(runner: Runner, dest: Path) -> Any:
    await until(lambda: dest.exists() and "svc1-1=passing" in dest.read_text())
    feed = runner.watches.feeds[None]
    await until(lambda: feed.followed.answered == {"svc1"})
    return feed
