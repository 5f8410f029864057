"""The loop with a fake Consul source: quiescence, write-only-on-change, command de-duplication, failures that
never stop the daemon, --once/--dry, reload. Files and commands are real (tmp dirs, `sh`)."""

from __future__ import annotations

import asyncio
import base64
import io
from collections import defaultdict
from collections.abc import AsyncIterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from consul_templates.config import Config, TemplateSpec, Wait
from consul_templates.loader import load
from consul_templates.runner import Quiescence, Runner

INJECTION = "198.18.0.1;\n} server { listen 9999; }"


# ---- quiescence, pure, with a fake clock -------------------------------------------------------------
def test_quiescence_burst_gives_one_deadline_bounded_by_max() -> None:
    q = Quiescence(Wait(min=0.05, max=0.2))
    fired = []
    now = 0.0
    for _ in range(20):  # 20 changes in 200 ms
        q = q.touch(now)
        now += 0.01
    while now < 1.0:
        if q.due(now):
            fired.append(round(now, 3))
            q = q.cleared()
        now += 0.001
    assert fired == [0.2]  # first change + max, although the last change was at 0.19


def test_quiescence_min_restarts_on_each_change() -> None:
    q = Quiescence(Wait(min=0.1, max=1.0)).touch(0.0).touch(0.05)
    assert q.deadline == pytest.approx(0.15) and not q.due(0.14) and q.due(0.1501)
    assert Quiescence(Wait()).touch(3.0).due(3.0)  # no wait: due at once
    assert Quiescence(Wait(0.5, 0.1)).touch(0.0).deadline == 0.5  # max < min never cuts below min


# ---- a fake Consul -----------------------------------------------------------------------------------
class FakeConsul:
    """Hands out data pushed by the test, one queue per path, like a blocking query that returns on change."""

    def __init__(self) -> None:
        self.queues: defaultdict[str, asyncio.Queue[Any]] = defaultdict(asyncio.Queue)
        self.watching: set[str] = set()

    async def watch(self, path: str, params: Any = (), *, wait: str = "5m", stale: bool = False,
                    what: str | None = None, observer: Any = None) -> AsyncIterator[tuple[int, Any]]:
        self.watching.add(path)
        index = 0
        try:
            while True:
                data = await self.queues[path].get()
                index += 1
                yield index, data
        finally:
            self.watching.discard(path)

    async def datacenters(self) -> list[str]:
        return ["dc1"]

    def kv(self, key: str, value: str) -> None:
        self.queues[f"/v1/kv/{key}"].put_nowait([{"Key": key, "Value": base64.b64encode(value.encode()).decode()}])


class Harness:
    def __init__(self, tmp: Path, specs: list[TemplateSpec], **kw: Any) -> None:
        self.consul = FakeConsul()
        self.out = io.StringIO()
        self.runner = Runner(Config(templates=tuple(specs)), self.consul, out=self.out, **kw)
        self.stop = asyncio.Event()
        self.task: asyncio.Task[int] | None = None

    async def __aenter__(self) -> Harness:
        self.task = asyncio.create_task(self.runner.run(self.stop))
        return self

    async def __aexit__(self, *exc: object) -> None:
        self.stop.set()
        assert self.task is not None
        await asyncio.wait_for(self.task, 5)

    def count(self, metric: str, template: str) -> float:
        name = f"consul_templates_{metric}_total"
        value = self.runner.metrics.registry.get_sample_value(name, {"template": template})
        return value or 0.0


async def until(pred: Any, timeout: float = 5.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not pred():
        assert loop.time() < deadline, "condition not reached"
        await asyncio.sleep(0.01)


def spec(tmp: Path, name: str = "out.conf", text: str = "value {{ key('k') }};\n", **kw: Any) -> TemplateSpec:
    return TemplateSpec(destination=tmp / name, contents=text, **kw)


def lines(path: Path) -> list[str]:
    return path.read_text().splitlines() if path.exists() else []


async def test_burst_of_changes_gives_one_write_and_one_command(tmp_path: Path) -> None:
    log = tmp_path / "commands.log"
    s = spec(tmp_path, wait=Wait(0.15, 2.0), command=f"echo ran >> {log}")
    async with Harness(tmp_path, [s]) as h:
        for i in range(20):
            h.consul.kv("k", f"v{i}")
            await asyncio.sleep(0.01)
        await until(lambda: s.destination.exists())
        await asyncio.sleep(0.4)
        assert s.destination.read_text() == "value v19;\n"
        assert lines(log) == ["ran"]
        assert h.count("writes", s.name) == 1
        # identical data again (a new index, same value): nothing rendered, written or run
        h.consul.kv("k", "v19")
        await asyncio.sleep(0.4)
        assert lines(log) == ["ran"] and h.count("writes", s.name) == 1 and h.count("renders", s.name) == 1


async def test_new_data_rendering_identical_bytes_is_not_written(tmp_path: Path) -> None:
    log = tmp_path / "commands.log"
    s = spec(tmp_path, text="{{ key('k')[:1] }}\n", command=f"echo ran >> {log}")
    async with Harness(tmp_path, [s]) as h:
        h.consul.kv("k", "a1")
        await until(lambda: log.exists())
        mtime = s.destination.stat().st_mtime_ns
        h.consul.kv("k", "a2")
        await until(lambda: h.count("skipped_identical", s.name) == 1)
        assert h.count("renders", s.name) == 2 and h.count("writes", s.name) == 1
        assert lines(log) == ["ran"] and s.destination.stat().st_mtime_ns == mtime


async def test_nothing_written_before_every_dependency_answered(tmp_path: Path) -> None:
    s = spec(tmp_path, text="{{ key('a') }} {{ key('b') }}\n")
    async with Harness(tmp_path, [s]) as h:
        h.consul.kv("a", "1")
        await asyncio.sleep(0.2)
        assert not s.destination.exists()
        assert h.consul.watching == {"/v1/kv/a", "/v1/kv/b"}
        h.consul.kv("b", "2")
        await until(lambda: s.destination.exists())
        assert s.destination.read_text() == "1 2\n"


async def test_one_command_per_cycle_for_two_templates(tmp_path: Path) -> None:
    log = tmp_path / "commands.log"
    cmd = f"echo reload >> {log}"
    a = spec(tmp_path, "a.conf", command=cmd, wait=Wait(0.05, 0.5))
    b = spec(tmp_path, "b.conf", text="other {{ key('k') }};\n", command=cmd, wait=Wait(0.05, 0.5))
    async with Harness(tmp_path, [a, b]) as h:
        h.consul.kv("k", "1")
        await until(lambda: a.destination.exists() and b.destination.exists() and log.exists())
        await asyncio.sleep(0.2)
        assert lines(log) == ["reload"]


async def test_failed_command_restores_file_and_daemon_keeps_running(tmp_path: Path) -> None:
    flag, ran = tmp_path / "fail", tmp_path / "ran"
    s = spec(tmp_path, command=f"test ! -e {flag} && touch {ran}")
    async with Harness(tmp_path, [s]) as h:
        h.consul.kv("k", "good")
        # the first file's command must have run (and passed) before it is made to fail: a first file whose command
        # fails is removed again, as there is no earlier good one to put back
        await until(ran.exists)
        flag.touch()
        h.consul.kv("k", "new")
        # Between retries (backoff ~1 s) the last good file is back in place; while a retry's command runs, the
        # candidate is live, so wait for a moment outside that window rather than reading once.
        await until(lambda: (h.runner.metrics.registry.get_sample_value(
            "consul_templates_command_failures_total", {"command": s.command}) or 0) >= 1
            and s.destination.read_text() == "value good;\n")
        assert not h.task.done()  # type: ignore[union-attr]
        flag.unlink()  # the command works again: the retry (backoff ~1 s) brings the new file in
        await until(lambda: s.destination.read_text() == "value new;\n", 5)


async def test_check_failure_keeps_live_file(tmp_path: Path) -> None:
    s = spec(tmp_path, check_command="grep -q good {path}", backup=True)
    async with Harness(tmp_path, [s]) as h:
        h.consul.kv("k", "good")
        await until(lambda: s.destination.exists())
        h.consul.kv("k", "bad")
        await until(lambda: h.count("check_failures", s.name) == 1)
        assert s.destination.read_text() == "value good;\n"
        assert not list(tmp_path.glob(".*candidate"))  # no candidate left behind
        h.consul.kv("k", "good2")
        await until(lambda: s.destination.read_text() == "value good2;\n")
        assert (tmp_path / "out.conf.bak").read_text() == "value good;\n"


async def test_refused_value_keeps_live_file_and_recovers(tmp_path: Path) -> None:
    s = spec(tmp_path, text="server {{ key('k') }}:80;\n")
    async with Harness(tmp_path, [s]) as h:
        h.consul.kv("k", "127.0.0.1")
        await until(lambda: s.destination.exists())
        h.consul.kv("k", INJECTION)
        await until(lambda: h.count("render_errors", s.name) == 1)
        assert s.destination.read_text() == "server 127.0.0.1:80;\n"
        h.consul.kv("k", "127.0.0.2")
        await until(lambda: s.destination.read_text() == "server 127.0.0.2:80;\n")


async def test_once_and_dry(tmp_path: Path) -> None:
    s = spec(tmp_path, command="false")
    h = Harness(tmp_path, [s], once=True, dry=True)
    h.consul.kv("k", "x")
    assert await asyncio.wait_for(h.runner.run(h.stop), 5) == 0
    assert h.out.getvalue() == f"> {s.destination}\nvalue x;\n" and not s.destination.exists()

    h = Harness(tmp_path, [spec(tmp_path)], once=True)
    h.consul.kv("k", "y")
    assert await asyncio.wait_for(h.runner.run(h.stop), 5) == 0
    assert s.destination.read_text() == "value y;\n"

    h = Harness(tmp_path, [spec(tmp_path, command="exit 3")], once=True)
    h.consul.kv("k", "z")
    assert await asyncio.wait_for(h.runner.run(h.stop), 5) == 1  # command failed: exit non-zero
    assert s.destination.read_text() == "value y;\n"


async def test_reload_picks_up_a_changed_template(tmp_path: Path) -> None:
    s = spec(tmp_path)
    current = {"spec": s}
    h = Harness(tmp_path, [s], reload_config=lambda: load(Config(templates=(current["spec"],))))
    async with h:
        h.consul.kv("k", "1")
        await until(lambda: s.destination.exists())
        current["spec"] = replace(s, contents="changed {{ key('k') }};\n")
        h.runner.request_reload()
        await until(lambda: s.destination.read_text() == "changed 1;\n")
        current["spec"] = replace(s, contents="{% for %}")  # broken: logged, running template kept
        h.runner.request_reload()
        await asyncio.sleep(0.1)
        h.consul.kv("k", "2")
        await until(lambda: s.destination.read_text() == "changed 2;\n")
