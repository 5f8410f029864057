"""dns-balancer with instruments, for bench/dns_tail.py: the same CLI (`dns_server_probe.py ARGS...` = `dns-balancer
ARGS...`), plus, written as JSON to $DNSB_PROBE_OUT at exit:
- every garbage collection: generation and pause (gc.callbacks);
- the time of each Responder.answer call (log2 histogram of nanoseconds; perf_counter_ns around the call);
- event-loop lag: how late a 2 ms timer fires (histogram), i.e. how long the loop was busy with something else;
- zone swaps (set_zone calls) and their time.
DNSB_PROBE_NO_FREEZE=1 leaves the heap unfrozen (to measure what the freeze buys).
SIGUSR1 starts the measured window: everything recorded before it (start-up, the first sync) is dropped.
The instruments cost a little per query themselves (two clock reads): compare runs with each other, not with
the plain daemon."""

from __future__ import annotations

import asyncio
import atexit
import gc
import json
import os
import signal
import sys
import time

from dns_balancer import cli, daemon
from dns_balancer.wire import Responder

STATS: dict[str, object] = {"gc": [], "answer_log2_ns": [0] * 40, "lag_log2_us": [0] * 40, "swaps": []}
_gc_start = [0.0]


def _on_gc(phase: str, info: dict[str, int]) -> None:
    if phase == "start":
        _gc_start[0] = time.perf_counter()
    else:
        STATS["gc"].append((info["generation"], (time.perf_counter() - _gc_start[0]) * 1e3))  # type: ignore


def _timed_answer(original):  # type: ignore[no-untyped-def]
    hist = STATS["answer_log2_ns"]
    clock = time.perf_counter_ns

    def answer(self, data, tcp=False, recurse=True):  # type: ignore[no-untyped-def]
        t0 = clock()
        reply = original(self, data, tcp, recurse)
        hist[min(39, (clock() - t0).bit_length())] += 1  # type: ignore[index]
        return reply

    return answer


def _timed_swap(original):  # type: ignore[no-untyped-def]
    def set_zone(self, zone, ready=True):  # type: ignore[no-untyped-def]
        t0 = time.perf_counter()
        original(self, zone, ready)
        STATS["swaps"].append((time.monotonic(), (time.perf_counter() - t0) * 1e3))  # type: ignore[union-attr]

    return set_zone


async def _lag_monitor() -> None:
    hist = STATS["lag_log2_us"]
    loop = asyncio.get_running_loop()
    while True:
        t0 = loop.time()
        await asyncio.sleep(0.002)
        late_us = int((loop.time() - t0 - 0.002) * 1e6)
        hist[min(39, max(0, late_us).bit_length())] += 1  # type: ignore[index]


def _with_lag_monitor(serve):  # type: ignore[no-untyped-def]
    async def wrapped(config, stop, ready=None):  # type: ignore[no-untyped-def]
        task = asyncio.create_task(_lag_monitor())
        try:
            return await serve(config, stop, ready)
        finally:
            task.cancel()

    return wrapped


def _reset(signum: int, frame: object) -> None:
    STATS["gc"].clear()  # type: ignore[union-attr]
    STATS["swaps"].clear()  # type: ignore[union-attr]
    for key in ("answer_log2_ns", "lag_log2_us"):
        hist = STATS[key]
        hist[:] = [0] * len(hist)  # type: ignore[index]


def _dump() -> None:
    out = os.environ.get("DNSB_PROBE_OUT")
    if out:
        with open(out, "w") as f:
            json.dump(STATS, f)


if __name__ == "__main__":
    gc.callbacks.append(_on_gc)
    Responder.answer = _timed_answer(Responder.answer)  # type: ignore[method-assign]
    Responder.set_zone = _timed_swap(Responder.set_zone)  # type: ignore[method-assign]
    cli.serve = _with_lag_monitor(daemon.serve)  # type: ignore[attr-defined]
    if os.environ.get("DNSB_PROBE_NO_FREEZE") == "1":
        daemon.settle_heap = lambda: None  # type: ignore[attr-defined]
    atexit.register(_dump)
    signal.signal(signal.SIGUSR1, _reset)
    sys.argv[0] = "dns-balancer"
    cli.main()
