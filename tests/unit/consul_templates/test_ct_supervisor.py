"""Exec mode's child supervisor with real child processes: start, reload signal or restart, splay, exit code,
kill signal then SIGKILL after the timeout, and the child always reaped."""

from __future__ import annotations

import asyncio
import os
import signal
from pathlib import Path

import pytest

from consul_templates import children
from consul_templates.config import ExecSpec
from consul_templates.supervisor import Child, Supervisor, exit_code


def script(log: Path, on_term: str = "exit 3") -> tuple[str, ...]:
    """A child that logs its start, USR1 and TERM (signals reach sh between two short sleeps). The traps are set
    before the start line is written: the tests signal as soon as they see that line."""
    body = (f'trap "echo usr1 >> {log}" USR1; trap "echo term >> {log}; {on_term}" TERM; '
            f'echo "start $$ ${{APP_X:-}}" >> {log}; while :; do sleep 0.05; done')
    return ("sh", "-c", body)


def lines(log: Path) -> list[str]:
    return log.read_text().splitlines() if log.exists() else []


async def until(pred, timeout: float = 10.0) -> None:  # type: ignore[no-untyped-def]
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not pred():
        assert loop.time() < deadline, "condition not reached"
        await asyncio.sleep(0.02)


def gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    return False


async def test_reload_signal_then_kill_signal(tmp_path: Path) -> None:
    log = tmp_path / "child.log"
    spec = ExecSpec(script(log), reload_signal=signal.SIGUSR1, kill_signal=signal.SIGTERM, kill_timeout=5)
    stop = asyncio.Event()
    sup = Supervisor(spec, lambda: {"PATH": os.environ["PATH"], "APP_X": "1"}, stop)
    await sup.ready(changed=False)
    await until(lambda: lines(log) and lines(log)[0].startswith("start"))
    pid = sup.child.pid
    assert pid is not None and lines(log)[0] == f"start {pid} 1"
    await sup.ready(changed=False)  # nothing changed: nothing sent
    await sup.ready(changed=True)
    await until(lambda: "usr1" in lines(log))
    assert sup.child.pid == pid  # signalled, not restarted
    await sup.close()
    assert "term" in lines(log) and gone(pid) and pid not in children.OWN
    assert not stop.is_set() and sup.exit_code is None  # our stop is not the child exiting by itself


async def test_no_reload_signal_restarts_the_child(tmp_path: Path) -> None:
    log = tmp_path / "child.log"
    spec = ExecSpec(script(log), reload_signal=None, kill_signal=signal.SIGTERM)
    sup = Supervisor(spec, lambda: dict(os.environ), asyncio.Event())
    await sup.ready(changed=False)
    await until(lambda: len(lines(log)) == 1)
    first = sup.child.pid
    await sup.ready(changed=True)
    await until(lambda: len([x for x in lines(log) if x.startswith("start")]) == 2)
    assert lines(log)[1] == "term" and sup.child.pid != first and first is not None and gone(first)
    await sup.close()


async def test_splay_delays_the_reload(tmp_path: Path) -> None:
    log = tmp_path / "child.log"
    spec = ExecSpec(script(log), reload_signal=signal.SIGUSR1, kill_signal=signal.SIGTERM, splay=10)
    drawn: list[tuple[float, float]] = []

    def uniform(a: float, b: float) -> float:
        drawn.append((a, b))
        return 0.4

    sup = Supervisor(spec, lambda: dict(os.environ), asyncio.Event(), uniform=uniform)
    await sup.ready(changed=False)
    await until(lambda: len(lines(log)) == 1)
    loop = asyncio.get_running_loop()
    started = loop.time()
    await sup.ready(changed=True)  # returns at once: the splay runs in the background
    assert loop.time() - started < 0.2 and "usr1" not in lines(log)
    await until(lambda: "usr1" in lines(log))
    assert loop.time() - started >= 0.4 and drawn == [(0.0, 10)]
    await sup.close()


async def test_child_exit_code_stops_the_daemon(tmp_path: Path) -> None:
    stop = asyncio.Event()
    sup = Supervisor(ExecSpec(("sh", "-c", "sleep 0.1; exit 7")), lambda: dict(os.environ), stop)
    await sup.ready(changed=False)
    await asyncio.wait_for(stop.wait(), 10)
    assert sup.exit_code == 7 and not sup.child.running
    killed = asyncio.Event()
    sup2 = Supervisor(ExecSpec(("sh", "-c", "kill -USR2 $$")), lambda: dict(os.environ), killed)
    await sup2.ready(changed=False)
    await asyncio.wait_for(killed.wait(), 10)
    assert sup2.exit_code == 128 + signal.SIGUSR2


async def test_kill_timeout_then_sigkill(tmp_path: Path) -> None:
    log = tmp_path / "child.log"
    spec = ExecSpec(script(log, on_term=":"), kill_signal=signal.SIGTERM, kill_timeout=0.5)  # ignores TERM
    child = Child(spec, on_exit=lambda code: None)
    await child.start(dict(os.environ))
    await until(lambda: len(lines(log)) == 1)
    pid = child.pid
    assert pid is not None
    loop = asyncio.get_running_loop()
    started = loop.time()
    await child.stop()
    assert 0.5 <= loop.time() - started < 5 and gone(pid) and "term" in lines(log)


async def test_a_command_that_cannot_start_exits_127(tmp_path: Path) -> None:
    stop = asyncio.Event()
    sup = Supervisor(ExecSpec((str(tmp_path / "nope"),)), lambda: dict(os.environ), stop)
    await sup.ready(changed=False)
    assert stop.is_set() and sup.exit_code == 127


@pytest.mark.parametrize(("status", "code"), [(0, 0), (3 << 8, 3), (signal.SIGTERM, 128 + signal.SIGTERM)])
def test_exit_code(status: int, code: int) -> None:
    assert exit_code(status) == code
