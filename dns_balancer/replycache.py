"""Replies to UDP queries seen before, by the query's bytes after the ID: a repeated question (the normal case:
clients ask the same few names again and again) costs one dict lookup and one concatenation instead of the
fast path's parsing, slicing and joining. Rotation is kept exactly: an entry holds one reply per rotation
offset, filled as the offsets come up, and shares the name's rotation counter with the uncached path, so every
spelling of a name (0x20 case, with or without EDNS) still advances one counter.

A hit is the UDP protocol's whole work per packet, so it counts without a dict update: each entry holds the
counting cell of its (qtype, truncated) pair, and `counted()` adds the cells up when metrics are read. An
offset whose reply would land in another cell than its entry's (the TC bit differs) is never cached.

Bounded: an answer of more than MAX_RECORDS records is not cached (its replies would be large and many), and the
whole cache is dropped past MAX_ENTRIES entries or MAX_BYTES of replies. A miss costs what it cost before plus
one insertion; a flood of distinct spellings only makes the cache start over. Dropped on every zone change and
while answers are stale (those are counted on the uncached path)."""

from __future__ import annotations

from collections.abc import Callable

MAX_RECORDS = 32
MAX_ENTRIES = 16384
MAX_BYTES = 16 << 20

# replies (after the ID) by rotation offset, the name's rotation counter, the counting cell, how many offsets
Entry = tuple[list[bytes | None], list[int], list[int], int]


class ReplyCache:
    def __init__(self) -> None:
        self.entries: dict[bytes, Entry] = {}
        # cleared in place, never replaced, so this bound method stays valid (one attribute less per packet)
        self.lookup: Callable[[bytes], Entry | None] = self.entries.get
        self.size = 0  # bytes of replies held
        self.cells: dict[tuple[int, bool], list[int]] = {}  # (qtype, truncated) -> hits, kept across clears

    def clear(self) -> None:
        self.entries.clear()
        self.size = 0

    def reply(self, data: bytes) -> bytes | None:
        """The cached reply to this query with its ID, advancing the rotation; None when not cached."""
        entry = self.lookup(data[2:])
        if entry is not None:
            replies, counter, cell, n = entry
            tail = replies[counter[0] % n]
            if tail is not None:
                counter[0] += 1
                cell[0] += 1
                return data[:2] + tail
        return None

    def remember(self, query: bytes, counter: list[int], count: int, qtype: int, reply: bytes) -> None:
        """`reply` answers `query` at rotation offset (counter - 1) % count (the counter already advanced)."""
        if count > MAX_RECORDS:
            return
        tail = query[2:]
        cell = self.cells.setdefault((qtype, bool(reply[2] & 0x02)), [0])
        entry = self.entries.get(tail)
        if entry is None:
            if len(self.entries) >= MAX_ENTRIES or self.size >= MAX_BYTES:
                self.clear()
            entry = self.entries[tail] = ([None] * count, counter, cell, count)
        elif entry[2] is not cell:
            return
        replies = entry[0]
        replies[(counter[0] - 1) % entry[3]] = reply[2:]
        self.size += len(reply)

    def counted(self) -> tuple[dict[int, int], int]:
        """Hits so far: positive answers by qtype, and how many of them went out truncated."""
        by_qtype: dict[int, int] = {}
        truncated = 0
        for (qtype, tc), (n,) in list(self.cells.items()):
            by_qtype[qtype] = by_qtype.get(qtype, 0) + n
            truncated += n if tc else 0
        return by_qtype, truncated
