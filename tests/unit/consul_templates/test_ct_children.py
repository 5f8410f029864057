"""Child processes: a failed pidfd_open kills and reaps the child, commands do not see the Consul token, and
orphans are reaped when we are PID 1 (a real PID namespace, a real double fork)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from consul_templates import children
from consul_templates.commands import run_command
from consul_templates.config import Config, EnvFilter


async def test_a_failed_pidfd_open_does_not_leak_the_child(monkeypatch: pytest.MonkeyPatch) -> None:
    spawned: list[int] = []
    real_spawn = children.spawn

    def record(*args, **kw):  # type: ignore[no-untyped-def]
        pid = real_spawn(*args, **kw)
        spawned.append(pid)
        return pid

    def no_pidfd(pid: int) -> int:
        raise OSError(24, "Too many open files")

    monkeypatch.setattr(children, "spawn", record)
    monkeypatch.setattr(os, "pidfd_open", no_pidfd)
    result = await run_command("sleep 30", 10)
    assert not result.ok and "pidfd_open" in result.output
    (pid,) = spawned
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)  # killed and reaped: not even a zombie
    assert pid not in children.OWN


async def test_commands_and_env_do_not_see_the_consul_token() -> None:
    environ = {"PATH": os.environ["PATH"], "CONSUL_HTTP_TOKEN": "s3cret", "CONSUL_TOKEN": "s3cret2", "KEEP": "1"}
    env = Config().child_environ(environ)
    assert env == {"PATH": os.environ["PATH"], "KEEP": "1"}
    result = await run_command("env", 10, env)
    assert "s3cret" not in result.output and "KEEP=1" in result.output
    assert Config(pass_env=("CONSUL_HTTP_TOKEN",)).child_environ(environ)["CONSUL_HTTP_TOKEN"] == "s3cret"


def test_exec_env_filter() -> None:
    environ = {"PATH": "/bin", "HOME": "/root", "APP_A": "1", "APP_SECRET": "x", "CONSUL_HTTP_TOKEN": "t"}
    assert EnvFilter().apply(environ) == {"PATH": "/bin", "HOME": "/root", "APP_A": "1", "APP_SECRET": "x"}
    assert EnvFilter(allow=("APP_*", "CONSUL_*"), deny=("*SECRET",)).apply(environ) == {"APP_A": "1"}
    assert EnvFilter(allow=("CONSUL_HTTP_TOKEN",)).apply(environ) == {"CONSUL_HTTP_TOKEN": "t"}
    assert EnvFilter(pristine=True, custom=("A=1=2",)).apply(environ) == {"A": "1=2"}


PID1 = textwrap.dedent("""
    import asyncio, os, sys, time
    from consul_templates import children
    from consul_templates.commands import run_command

    def zombies():
        out = []
        for pid in children.orphan_pids():
            with open(f"/proc/{pid}/stat") as f:
                if f.read().rsplit(")", 1)[1].split()[0] == "Z":
                    out.append(pid)
        return out

    async def main():
        assert os.getpid() == 1 and children.is_init()
        # each command leaves a grandchild behind that exits a moment later, re-parented to us (PID 1)
        for _ in range(3):
            result = await run_command("(sleep 0.2 &) ; exit 0", 10)
            assert result.ok, result
        await asyncio.sleep(0.6)
        before = zombies()
        reaper = asyncio.create_task(children.reap_forever(0.1))
        await asyncio.sleep(0.5)
        after = zombies()
        reaper.cancel()
        print(f"zombies before={len(before)} after={len(after)} own={len(children.OWN)}")

    asyncio.run(main())
""")


@pytest.mark.skipif(os.geteuid() != 0 or not shutil.which("unshare"), reason="needs root and unshare")
def test_orphans_are_reaped_when_pid_1(tmp_path: Path) -> None:
    script = tmp_path / "pid1.py"
    script.write_text(PID1)
    done = subprocess.run(["unshare", "--pid", "--fork", "--mount-proc", sys.executable, str(script)],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert "zombies before=3 after=0 own=0" in done.stdout  # the orphans were zombies until the reaper ran


async def test_children_start_with_default_signal_dispositions() -> None:
    """Python ignores SIGPIPE and the CLI ignores SIGHUP at start; neither may leak into a command (exec keeps
    ignored signals): `yes | head -1` must end, a child must be stoppable with SIGHUP."""
    import signal

    previous = signal.signal(signal.SIGHUP, signal.SIG_IGN)
    try:
        result = await run_command("grep SigIgn /proc/self/status; yes | head -1", 10)
    finally:
        signal.signal(signal.SIGHUP, previous)
    ignored = int(result.output.split()[1], 16)
    assert result.ok and not ignored & (1 << (signal.SIGPIPE - 1)) and not ignored & (1 << (signal.SIGHUP - 1))
