"""Exec mode: one supervised child process, as consul-template's `-exec` / `exec {}`.

- The child starts once every template has been rendered (or, in env mode, once every prefix has answered);
  it is started without a shell, in its own process group, with stdin/stdout/stderr inherited.
- On a change the reload signal is sent to its process group, or, when none is configured, it is stopped and
  started again; either after a random splay in [0, splay) so a fleet does not reload at once.
- Signals we receive that are not ours to act on (USR1, USR2, WINCH, QUIT, ...; HUP too when it is not our
  reload signal) are forwarded to the child.
- When the child exits by itself, the daemon stops and exits with the child's exit code (128+N for a signal).
- On our stop: the kill signal (no splay), then SIGKILL after kill_timeout; the child is always reaped.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import random
import signal
from collections.abc import Callable, Mapping

from consul_templates import children
from consul_templates.config import ExecSpec

log = logging.getLogger("consul_templates.exec")

FORWARDED = (signal.SIGHUP, signal.SIGUSR1, signal.SIGUSR2, signal.SIGWINCH, signal.SIGQUIT, signal.SIGALRM,
             signal.SIGCONT, signal.SIGTTIN, signal.SIGTTOU)


def exit_code(status: int) -> int:
    code = os.waitstatus_to_exitcode(status)
    return 128 - code if code < 0 else code


class Child:
    """One child process; `on_exit(code)` is called when it exits other than by our stop or restart."""

    def __init__(self, spec: ExecSpec, on_exit: Callable[[int], None],
                 uniform: Callable[[float, float], float] = random.uniform) -> None:
        self.spec = spec
        self.on_exit = on_exit
        self.uniform = uniform
        self.pid: int | None = None
        self.starts = 0
        self._waiter: asyncio.Task[None] | None = None
        self._expected_exit = False
        self._lock = asyncio.Lock()

    @property
    def running(self) -> bool:
        return self.pid is not None

    async def start(self, env: Mapping[str, str]) -> None:
        async with self._lock:
            await self._start(env)

    async def _start(self, env: Mapping[str, str]) -> None:
        try:
            pid = children.spawn(self.spec.command, env)
        except OSError as exc:
            log.error("exec: cannot start %s: %s", self.spec.command[0], exc)
            self.on_exit(127)
            return
        self.pid = pid
        self.starts += 1
        self._expected_exit = False
        self._waiter = asyncio.create_task(self._watch(pid), name=f"exec child {pid}")
        log.info("exec: started %s (pid %d)", " ".join(self.spec.command), pid)

    async def _watch(self, pid: int) -> None:
        try:
            await children.exited(pid)
        except OSError as exc:
            log.error("exec: cannot watch child %d (%s); killing it", pid, exc)
            children.kill_and_reap(pid)
            self.pid = None
            self.on_exit(1)
            return
        status = children.reap(pid)
        if self.pid == pid:
            self.pid = None
        if not self._expected_exit:
            code = exit_code(status)
            log.info("exec: child %d exited with %d", pid, code)
            self.on_exit(code)

    async def reload(self, env: Mapping[str, str]) -> None:
        """After the splay: the reload signal, or a restart (with `env`) when none is configured."""
        if self.spec.splay > 0:
            await asyncio.sleep(self.uniform(0.0, self.spec.splay))
        async with self._lock:
            if self.pid is None:
                return
            if self.spec.reload_signal is not None:
                log.info("exec: sending %s to child %d", signal.Signals(self.spec.reload_signal).name, self.pid)
                self.send(self.spec.reload_signal)
                return
            log.info("exec: restarting child %d", self.pid)
            await self._stop()
            await self._start(env)

    def send(self, sig: int) -> None:
        if self.pid is not None:
            children.kill_group(self.pid, sig)

    async def stop(self) -> None:
        """Kill signal, then SIGKILL after kill_timeout; the child is reaped before this returns."""
        async with self._lock:
            await self._stop()

    async def _stop(self) -> None:
        pid, waiter = self.pid, self._waiter
        if pid is None or waiter is None:
            return
        self._expected_exit = True
        children.kill_group(pid, self.spec.kill_signal)
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, self.spec.kill_signal)  # also when the child left its group
        try:
            await asyncio.wait_for(asyncio.shield(waiter), self.spec.kill_timeout)
        except TimeoutError:
            log.warning("exec: child %d still running %gs after %s; killing it", pid, self.spec.kill_timeout,
                        signal.Signals(self.spec.kill_signal).name)
            children.kill_group(pid, signal.SIGKILL)
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
            await waiter
        self.pid = None


class Supervisor:
    """Exec mode glued to the runner: `ready(changed)` after each cycle once all files are in place."""

    def __init__(self, spec: ExecSpec, environ: Callable[[], Mapping[str, str]], stop: asyncio.Event,
                 uniform: Callable[[float, float], float] = random.uniform) -> None:
        self.environ = environ
        self.stop_event = stop
        self.exit_code: int | None = None
        self.child = Child(spec, self._child_exited, uniform)
        self._reloading: asyncio.Task[None] | None = None

    def _child_exited(self, code: int) -> None:
        self.exit_code = code
        self.stop_event.set()

    async def ready(self, changed: bool) -> None:
        """Start the child the first time; later, reload it on change (in the background: the splay must not
        hold up the next render). Changes during a pending reload are covered by that reload."""
        if not self.child.running and self.child.starts == 0:
            await self.child.start(self.environ())
        elif changed and self.child.running and (self._reloading is None or self._reloading.done()):
            self._reloading = asyncio.create_task(self.child.reload(self.environ()), name="exec reload")

    def install_forwarding(self, loop: asyncio.AbstractEventLoop, ours: set[int]) -> list[int]:
        """Forward the signals that are not ours to the child; returns those installed (to remove later)."""
        installed = []
        for sig in FORWARDED:
            if int(sig) in ours:
                continue
            loop.add_signal_handler(sig, self.child.send, int(sig))
            installed.append(int(sig))
        return installed

    async def close(self) -> None:
        if self._reloading is not None:
            self._reloading.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._reloading
        await self.child.stop()
