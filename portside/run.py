"""Run a daemon's main coroutine: uvloop when installed, SIGTERM/SIGINT -> cancel -> graceful shutdown."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from collections.abc import Callable, Coroutine
from typing import Any

log = logging.getLogger("portside.run")


def run(main: Callable[[asyncio.Event], Coroutine[Any, Any, int | None]], use_uvloop: bool = True) -> int:
    """Run `main(stop)`; `stop` is set on SIGTERM/SIGINT and `main` should return promptly after.
    A second signal cancels `main` outright. Returns main's exit code (0 when None)."""

    async def runner() -> int:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        task = asyncio.current_task()

        def on_signal(sig: signal.Signals) -> None:
            if stop.is_set():
                log.warning("second %s: cancelling", sig.name)
                if task:
                    task.cancel()
                return
            log.info("%s received: shutting down", sig.name)
            stop.set()

        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, on_signal, sig)
        try:
            return int(await main(stop) or 0)
        except asyncio.CancelledError:
            return 130
        finally:
            for sig in (signal.SIGTERM, signal.SIGINT):
                with contextlib.suppress(Exception):
                    loop.remove_signal_handler(sig)

    if use_uvloop:
        try:
            import uvloop

            return uvloop.run(runner())
        except ImportError:
            pass
    return asyncio.run(runner())


async def cancel_all(tasks: list[asyncio.Task[Any]]) -> None:
    """Cancel every task, then wait for each to finish (their errors are not ours to raise at shutdown)."""
    for task in tasks:
        task.cancel()
    for task in tasks:
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await task
