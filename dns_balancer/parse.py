"""Pure: the parts of a query the careful path reads (the question, the EDNS record), parsed by hand in bounded
time: no compression pointer is ever followed and options are walked by length only (why: wire.py)."""

from __future__ import annotations

import struct
from dataclasses import dataclass

MIN_UDP = 512
MAX_OPTIONS = 32  # EDNS options in one query: real clients send a handful; the cap bounds the walk
COUNTS = struct.Struct("!HHHH")
PTR = struct.Struct("!H")
OPT_HEAD = b"\x00\x00\x29"  # root owner, type OPT


@dataclass(frozen=True, slots=True)
class Edns:
    payload: int
    version: int
    do: bool


def parse_question(data: bytes) -> tuple[list[bytes], int] | None:
    """Labels (raw) of the question name and the offset just past QTYPE/QCLASS; None if malformed (compression
    pointers included: a question has nothing before it to point at)."""
    i, size, total = 12, len(data), 1
    labels: list[bytes] = []
    while True:
        if i >= size:
            return None
        n = data[i]
        if n == 0:
            i += 1
            break
        if n > 63:
            return None
        total += n + 1
        if total > 255 or i + 1 + n > size:
            return None
        labels.append(data[i + 1 : i + 1 + n])
        i += 1 + n
    if i + 4 > size:
        return None
    return labels, i + 4


def parse_edns(data: bytes, end: int) -> Edns | None | bool:
    """The query's EDNS after the question: Edns, None (no OPT), or False (FORMERR).

    A query carries nothing in answer or authority, and in additional at most one OPT record, owned by the root,
    whose RDATA is a sequence of (code, length, value) options filling it exactly; anything else (several
    records, TSIG, a non-root or compressed owner, a lying length, over MAX_OPTIONS options) is FORMERR. Bytes after the
    last record are ignored, as Consul's own decoder does. Cost: one pass over the OPT RDATA, no name decoding."""
    _, an, ns, ar = COUNTS.unpack_from(data, 4)
    if an or ns or ar > 1:
        return False
    if ar == 0:
        return None
    size = len(data)
    if size < end + 11 or data[end : end + 3] != OPT_HEAD:
        return False
    stop = end + 11 + PTR.unpack_from(data, end + 9)[0]
    if stop > size:
        return False
    i, options = end + 11, 0
    while i < stop:  # each option: 2 bytes code, 2 bytes length, value
        options += 1
        if i + 4 > stop or options > MAX_OPTIONS:
            return False
        i += 4 + PTR.unpack_from(data, i + 2)[0]
    if i != stop:
        return False
    return Edns(max(PTR.unpack_from(data, end + 3)[0], MIN_UDP), data[end + 6], bool(data[end + 7] & 0x80))
