"""What keeps pauses out of the packet path, measured with bench/dns_tail.py (figures in the README):

- The garbage collector: a full collection stops the loop for as long as it takes to traverse every tracked
  object; after start-up (imports, aiohttp, the first zone) that is ~50,000 objects, 18 ms on the 2-core machine
  (170 ms with a 5,000-instance zone). Once the first sync is served, one collection and `gc.freeze()` move all
  of it out of the collector's reach: later collections only traverse what was allocated since. Answering
  allocates no lasting objects, so in steady state the collector does not run at all.
- The GIL: the zone build runs in a worker thread; while it holds the GIL, the loop waits up to the interpreter's
  switch interval (5 ms by default) before it may answer the next packet. Measured while a 2,000-instance zone
  builds: the loop thread's wake-up delay is 5.1-5.7 ms (p50) at 5 ms, 2.2-2.4 ms at 1 ms, 1.2 ms at 0.5 ms."""

from __future__ import annotations

import gc
import logging
import sys
import time

log = logging.getLogger("dns_balancer.pauses")

SWITCH_INTERVAL = 0.0005


def bound_gil_wait() -> None:
    """Let the loop thread take the GIL from a zone build after at most SWITCH_INTERVAL."""
    sys.setswitchinterval(SWITCH_INTERVAL)


def settle_heap() -> None:
    """Collect once, then freeze everything alive (start-up objects and the first zone) out of later collections."""
    t0 = time.perf_counter()
    gc.collect()
    gc.freeze()
    log.debug("heap settled: %d objects frozen in %.1f ms", gc.get_freeze_count(), (time.perf_counter() - t0) * 1e3)
