"""Pure rules of Consul blocking queries (no I/O), shared by every watch."""

from __future__ import annotations

import re

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
