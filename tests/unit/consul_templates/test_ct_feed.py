"""Templates read services from the catalog feed: a template over every service renders from a handful of
reads, follows a health flip with one read, and is never written before the feed's first sync."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from consul_templates.config import Config, TemplateSpec
from consul_templates.runner import Runner
from tests.support.fake_consul import FakeConsul

EVERY = "{% for s in services() %}{{ s.name }}:{% for i in service(s.name) %} {{ i.id }}{% endfor %}|{% endfor %}"


def lines(path: Path) -> list[str]:
    return path.read_text().split("|")[:-1]


async def until(pred: Any, timeout: float = 10.0) -> None:
    async with asyncio.timeout(timeout):
        while not pred():
            await asyncio.sleep(0.01)


async def test_template_over_every_service_from_the_feed(tmp_path: Path) -> None:
    consul = FakeConsul(services=200)
    dest = tmp_path / "all.conf"
    runner = Runner(Config(templates=(TemplateSpec(destination=dest, contents=EVERY),)), consul)  # type: ignore[arg-type]
    stop = asyncio.Event()
    task = asyncio.create_task(runner.run(stop))
    try:
        await until(dest.exists)
        assert len(lines(dest)) == 200 and "svc7: svc7-0 svc7-1" in lines(dest)
        assert "svc101: svc101-1 svc101-0" in lines(dest)  # by node (n0, n1), then ID
        assert not [p for p in consul.reads if p.startswith("/v1/health/service/")]  # the first sync is bulk
        assert len(runner.watches) == 3  # the feed's blocking queries, nothing per service
        consul.set_status("svc7-1", "critical")
        await consul.bump()
        await until(lambda: "svc7: svc7-0" in lines(dest))
        assert [p for p in consul.reads if p.startswith("/v1/health/service/")] == ["/v1/health/service/svc7"]
        assert consul.peak <= runner.watches.pool.size
    finally:
        stop.set()
        await asyncio.wait_for(task, 5)


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
