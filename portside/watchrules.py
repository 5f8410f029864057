"""Pure rules of Consul blocking queries (no I/O), shared by every watch."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

_DURATION = re.compile(r"([0-9]+(?:\.[0-9]+)?)(ns|us|µs|ms|s|m|h)")  # ASCII digits only, as Go's ParseDuration
_UNIT = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}


def parse_duration(text: str) -> float:
    """Go-style duration (`10s`, `1m30s`, `250ms`) -> seconds. Raises ValueError naming the text."""
    t = text.strip()
    if not t:
        raise ValueError(f"bad duration {text!r}: empty")
    pos = 0
    total = 0.0
    for m in _DURATION.finditer(t):
        if m.start() != pos:
            break
        total += float(m.group(1)) * _UNIT[m.group(2)]
        pos = m.end()
    if pos != len(t) or pos == 0:
        raise ValueError(f"bad duration {text!r}: expected forms like 10s, 1m30s, 250ms")
    return total


def next_index(current: int, received: int, last_yielded: int | None) -> tuple[int, bool]:
    """Given the index we asked with, the X-Consul-Index received and the last index handed out,
    return (index to ask with next, whether the data counts as a change).

    - an unchanged index is not a change;
    - an index <= 0 or one that went backwards (agent restarted, snapshot restored) resets to 0, so
      the next request does not block on a number the server will never reach."""
    changed = last_yielded is None or received != last_yielded
    if received <= 0 or received < current:
        return 0, changed
    return received, changed


def blocking_timeout(wait: str) -> float:
    """HTTP timeout for a blocking query: Consul may hold it for `wait + wait/16` (its jitter), so the
    client must wait longer than that, plus room for the reply itself."""
    w = parse_duration(wait)
    return w + w / 16 + 5.0


@dataclass(frozen=True)
class WatchState:
    """What one watch remembers between answers (pure; `ConsulClient.watch` drives it).

    `filtered`: Consul's ACLs hid part of the last answer (X-Consul-Results-Filtered-By-ACLs). A policy change
    neither wakes a blocking query nor moves the index, so while filtered the watch blocks briefly and hands out
    changed data at an unchanged index. Consul 1.20 drops the header on /v1/health/service answers at the end of
    a blocking wait: once filtered, an answer counts as filtered until its index or its data changes."""

    index: int = 0  # the index to ask with next
    last_yielded: int | None = None  # None: hand out the next answer whatever its index
    filtered: bool = False
    last: tuple[int, Any] | None = None  # the last answer, kept while filtered

    def after_error(self) -> WatchState:
        """The agent may come back behind our index (restart, snapshot restore) and would hold a query with the
        old index for the whole wait: ask without blocking first. A restarted agent's index can even land on the
        number last handed out while its data differs (a dev agent comes back empty): hand out the next answer."""
        return WatchState(filtered=self.filtered, last=self.last)

    def after_answer(self, index: int, data: Any, filtered: bool) -> tuple[WatchState, bool]:
        """The state after an answer, and whether to hand the answer out."""
        ask, changed = next_index(self.index, index, self.last_yielded)
        now_filtered = filtered or (self.filtered and self.last == (index, data))
        changed = changed or (self.filtered and self.last is not None and data != self.last[1])
        return WatchState(
            index=ask, last_yielded=index if changed else self.last_yielded, filtered=now_filtered,
            last=(index, data) if now_filtered else None,
        ), changed
