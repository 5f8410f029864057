"""Child processes: spawn without forking Python, wait through a pidfd, and reap orphans when we are PID 1.

In a container consul-templates is often PID 1. A command that double-forks (a daemonizing reload script,
`nginx` started by a wrapper) leaves grandchildren that the kernel re-parents to PID 1 when their parent
exits; unless PID 1 waits for them they stay zombies forever. `Reaper` waits for those orphans, and only for
them: the children we spawned ourselves are registered in `OWN` and waited for by their own code, which needs
their exit status. `OWN` is process-wide state on purpose: children belong to the process, not to an object.
"""

from __future__ import annotations

import asyncio
import contextlib
import glob
import logging
import os
import signal
from collections.abc import Mapping, Sequence

log = logging.getLogger("consul_templates.children")

OWN: set[int] = set()  # pids spawned here and still to be waited for by their spawner
REAP_INTERVAL = 1.0
# Ignored signals survive exec: Python ignores SIGPIPE (and SIGXFSZ), the CLI ignores SIGHUP until its handler is
# up. A child must start with the default dispositions, as subprocess' restore_signals gives it.
_RESET = (signal.SIGPIPE, signal.SIGXFSZ, signal.SIGHUP)


def spawn(argv: Sequence[str], env: Mapping[str, str], *, file_actions: Sequence[tuple[int, int, int]] = (),
          setsid: bool = True) -> int:
    """posix_spawnp (vfork under glibc, no copy of this process); the pid is registered in OWN at once."""
    pid = os.posix_spawnp(argv[0], list(argv), dict(env), file_actions=list(file_actions), setsid=setsid,
                          setsigdef=_RESET)
    OWN.add(pid)
    return pid


def kill_group(pid: int, sig: int = signal.SIGKILL) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, sig)


def reap(pid: int) -> int:
    """Wait for one of our own children (it has exited or was killed) and forget it; its wait status."""
    try:
        return os.waitpid(pid, 0)[1]
    except ChildProcessError:
        return 0
    finally:
        OWN.discard(pid)


def kill_and_reap(pid: int) -> None:
    kill_group(pid)
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGKILL)  # a child that left its group
    reap(pid)


async def exited(pid: int) -> None:
    """Wait until child `pid` has exited, without blocking the loop (a pidfd readable on exit).
    OSError from pidfd_open is the caller's to handle (the child still needs killing and reaping)."""
    loop = asyncio.get_running_loop()
    pidfd = os.pidfd_open(pid)
    done: asyncio.Future[None] = loop.create_future()

    def ready() -> None:
        if not done.done():
            done.set_result(None)

    loop.add_reader(pidfd, ready)
    try:
        await done
    finally:
        loop.remove_reader(pidfd)
        os.close(pidfd)


def orphan_pids() -> list[int]:
    """Our children that we did not spawn (re-parented orphans), from /proc/self/task/*/children."""
    pids: set[int] = set()
    for path in glob.glob("/proc/self/task/*/children"):
        with contextlib.suppress(OSError, ValueError), open(path) as f:
            pids.update(int(p) for p in f.read().split())
    return sorted(pids - OWN)


def reap_orphans() -> int:
    """Reap every orphan that has exited; the number reaped. Never blocks, never touches OWN children."""
    reaped = 0
    for pid in orphan_pids():
        try:
            done, _ = os.waitpid(pid, os.WNOHANG)
        except ChildProcessError:
            continue
        if done:
            reaped += 1
            log.debug("reaped orphan %d", pid)
    return reaped


async def reap_forever(interval: float = REAP_INTERVAL) -> None:
    """PID 1's duty, polled: no SIGCHLD handler, so nothing competes with the loop's own child handling."""
    while True:
        await asyncio.sleep(interval)
        reap_orphans()


def is_init() -> bool:
    return os.getpid() == 1
