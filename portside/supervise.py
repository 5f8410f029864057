"""Long-lived tasks, supervised: a task that raises (or ends when it must run until shutdown) is logged with its
traceback and started again with backoff; one that keeps failing shows in /health by name.

Without this, a watch or an event loop that died of a surprise left the daemon running, healthy-looking and no
longer following anything: an exception in a bare `create_task` is only seen when someone awaits the task.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Hashable
from dataclasses import dataclass, field

from portside.backoff import Backoff

log = logging.getLogger("portside.supervise")


@dataclass
class _Entry:
    key: Hashable
    name: str
    factory: Callable[[], Awaitable[None]]
    must_run: bool
    backoff: Backoff
    failures: int = 0  # in a row
    unhealthy: str | None = None  # why /health names it; None while it runs well
    runner: asyncio.Task[None] | None = field(default=None, repr=False)
    task: asyncio.Future[None] | None = field(default=None, repr=False)  # the factory's current run

    def finishing(self) -> bool:
        """A one-shot whose run has returned, before its runner has forgotten it (one loop step later)."""
        return (not self.must_run and self.task is not None and self.task.done() and not self.task.cancelled()
                and self.task.exception() is None)


class Supervisor:
    """Start tasks by name; each runs under a small loop that restarts it.

    - it raises: logged with the traceback, restarted after a backoff delay; after `max_failures` in a row it is
      unhealthy until it has run `stable_after` seconds without failing;
    - it returns although `must_run`: logged, unhealthy at once, restarted the same way;
    - it returns and may (`must_run=False`, e.g. a one-shot): it is done and forgotten.
    """

    def __init__(self, *, max_failures: int = 3, stable_after: float = 30.0,
                 backoff: Callable[[], Backoff] = lambda: Backoff(base=0.5, cap=30.0)) -> None:
        self.max_failures = max_failures
        self.stable_after = stable_after
        self._backoff = backoff
        self._entries: dict[Hashable, _Entry] = {}

    def __contains__(self, key: Hashable) -> bool:
        return key in self._entries

    def __len__(self) -> int:
        return len(self._entries)

    def start(self, key: Hashable, factory: Callable[[], Awaitable[None]], *, must_run: bool = True,
              name: str | None = None) -> None:
        """Run `factory()` under supervision, known by `key` (logs and /health say `name`, default str(key)).
        A key already running is left alone; a one-shot that has just returned is started again (its runner
        would forget it only after this call, and the new run would be lost)."""
        existing = self._entries.get(key)
        if existing is not None and not existing.finishing():
            return
        entry = _Entry(key, name or str(key), factory, must_run, self._backoff())
        self._entries[key] = entry
        entry.runner = asyncio.create_task(self._supervise(entry), name=f"supervise {entry.name}")

    def discard(self, key: Hashable) -> None:
        """Stop supervising `key` and cancel it (without waiting for it to finish)."""
        entry = self._entries.pop(key, None)
        if entry is not None and entry.runner is not None:
            entry.runner.cancel()

    async def close(self) -> None:
        """Cancel every task and wait for each to finish."""
        runners = [e.runner for e in self._entries.values() if e.runner is not None]
        self._entries.clear()
        for runner in runners:
            runner.cancel()
        for runner in runners:
            with contextlib.suppress(asyncio.CancelledError):
                await runner

    @property
    def unhealthy(self) -> dict[str, str]:
        """Task name -> why it is unhealthy."""
        return {e.name: e.unhealthy for e in self._entries.values() if e.unhealthy}

    def health(self) -> dict[str, bool]:
        """For /health: `tasks` and one `task <name>` entry per unhealthy task."""
        bad = self.unhealthy
        return {"tasks": not bad, **{f"task {name}": False for name in sorted(bad)}}

    async def _supervise(self, entry: _Entry) -> None:
        while True:
            task = entry.task = asyncio.ensure_future(entry.factory())
            try:
                done, _ = await asyncio.wait({task}, timeout=self.stable_after)
                if not done:  # it has run a good while: whatever happened before is forgiven
                    entry.failures, entry.unhealthy = 0, None
                    entry.backoff.reset()
                    await asyncio.wait({task})
            finally:
                if not task.done():  # we are being cancelled: take the task down with us
                    task.cancel()
                    with contextlib.suppress(asyncio.CancelledError, Exception):
                        await task
            if not self._failed(entry, task):
                if self._entries.get(entry.key) is entry:
                    del self._entries[entry.key]
                return
            delay = entry.backoff.next_delay()
            log.info("task %s: restarting in %.1fs", entry.name, delay)
            await asyncio.sleep(delay)

    def _failed(self, entry: _Entry, task: asyncio.Future[None]) -> bool:
        """Log how the task ended; True when it must be started again."""
        exc = asyncio.CancelledError("cancelled from inside") if task.cancelled() else task.exception()
        if exc is None:
            if not entry.must_run:
                log.debug("task %s finished", entry.name)
                return False
            entry.unhealthy = "ended, but it must run until shutdown"
            log.error("task %s ended, but it must run until shutdown", entry.name)
            return True
        entry.failures += 1
        log.error("task %s failed (%d in a row): %r", entry.name, entry.failures, exc, exc_info=exc)
        if entry.failures >= self.max_failures:
            entry.unhealthy = f"failed {entry.failures} times in a row, last: {exc!r}"
        return True
