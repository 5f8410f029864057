"""Pure DNS encoding helpers and the pre-encoded `Answer` the hot path slices from.

Every answer record's owner is the compression pointer to the question name (offset 12), so one encoded
record serves every spelling (0x20 case) of the question. Other names (SRV glue owners) are compressed
only against the question's own labels, whose position is fixed; never against answer records, whose
positions move with the rotation."""

from __future__ import annotations

import socket
import struct
from collections.abc import Sequence
from dataclasses import dataclass, field

A, NS, SOA, AAAA, SRV, OPT, IXFR, AXFR, ANY = 1, 2, 6, 28, 33, 41, 251, 252, 255
CLASS_IN, CLASS_ANY = 1, 255
NOERROR, FORMERR, SERVFAIL, NXDOMAIN, NOTIMP, REFUSED, BADVERS = 0, 1, 2, 3, 4, 5, 16
TYPE_NAMES = {A: "A", NS: "NS", SOA: "SOA", AAAA: "AAAA", SRV: "SRV", ANY: "ANY", AXFR: "AXFR", IXFR: "IXFR"}
RCODE_NAMES = {
    NOERROR: "NOERROR", FORMERR: "FORMERR", SERVFAIL: "SERVFAIL", NXDOMAIN: "NXDOMAIN",
    NOTIMP: "NOTIMP", REFUSED: "REFUSED", BADVERS: "BADVERS",
}
QNAME_PTR = b"\xc0\x0c"
_RR = struct.Struct("!HHIH")
_SRV = struct.Struct("!HHH")
_SOA = struct.Struct("!IIIII")


class BadName(ValueError):
    """A name that cannot be a DNS name (label too long, empty label, name over 255 bytes)."""


def valid_label(label: str) -> bool:
    """A label we are willing to publish: 1..63 ASCII bytes, no dot, no whitespace or control chars."""
    if not 0 < len(label) <= 63 or "." in label:
        return False
    return all(33 <= ord(c) < 127 for c in label)


def labels_of(name: str) -> tuple[str, ...]:
    """"a.b.c." / "a.b.c" -> ("a", "b", "c"), lowercased."""
    text = name.strip().rstrip(".").lower()
    return tuple(text.split(".")) if text else ()


def encode_name(labels: Sequence[str]) -> bytes:
    """Uncompressed wire form, lowercased, with the root label."""
    out = bytearray()
    for label in labels:
        raw = label.lower().encode("ascii")
        if not 0 < len(raw) <= 63:
            raise BadName(f"bad label {label!r}")
        out.append(len(raw))
        out += raw
    if len(out) > 254:
        raise BadName("name over 255 bytes")
    out.append(0)
    return bytes(out)


def compress(labels: Sequence[str], question: Sequence[str]) -> bytes:
    """Encode `labels`, pointing at the longest suffix it shares with the question name (at offset 12)."""
    shared = 0
    while (
        shared < len(labels) and shared < len(question) and labels[-1 - shared].lower() == question[-1 - shared]
    ):
        shared += 1
    if shared == 0:
        return encode_name(labels)
    head = labels[: len(labels) - shared]
    offset = 12 + sum(len(q) + 1 for q in question[: len(question) - shared])
    out = encode_name(head)[:-1] if head else b""
    return out + struct.pack("!H", 0xC000 | offset)


def rr(owner: bytes, rtype: int, ttl: int, rdata: bytes) -> bytes:
    return owner + _RR.pack(rtype, CLASS_IN, ttl, len(rdata)) + rdata


def pack_ip(address: str) -> bytes | None:
    """The packed form of an IP literal (4 or 16 bytes); None for anything else (hostnames, empty)."""
    for family in (socket.AF_INET, socket.AF_INET6):
        try:
            return socket.inet_pton(family, address)
        except (OSError, ValueError):
            continue
    return None


def address_rr(owner: bytes, address: str, ttl: int) -> bytes:
    packed = pack_ip(address)
    if packed is None:
        raise BadName(f"not an IP address: {address!r}")
    return rr(owner, A if len(packed) == 4 else AAAA, ttl, packed)


def srv_rdata(priority: int, weight: int, port: int, target: bytes) -> bytes:
    return _SRV.pack(priority, min(weight, 0xFFFF), port & 0xFFFF) + target


def soa_rdata(mname: bytes, rname: bytes, serial: int, minimum: int) -> bytes:
    return mname + rname + _SOA.pack(serial & 0xFFFFFFFF, 3600, 600, 86400, minimum)


def addr_label(address: str) -> str:
    """Consul's `.addr.` label: the address in hex (8 digits for IPv4, 32 for IPv6)."""
    packed = pack_ip(address)
    if packed is None:
        raise BadName(f"not an IP address: {address!r}")
    return packed.hex()


_COUNTS = struct.Struct("!HHHH")


@dataclass(frozen=True, slots=True)
class Answer:
    """A positive answer, pre-encoded. `records` holds the n answer records twice over, so the answer rotated
    by k is the slice records[offsets[k]:offsets[k] + size]. `glue` holds the additional records for the full
    answer (deduplicated); `glue_parts[i]` the additional record of answer record i, for trimmed answers.
    `counts` / `counts_opt` are the header's four counts for the full answer without / with an OPT record.
    `memo` caches trimmed bodies by (rotation, budget): derived bytes, never part of the answer's meaning."""

    qtype: int
    count: int
    records: bytes
    offsets: tuple[int, ...]
    glue: bytes = b""
    glue_count: int = 0
    glue_parts: tuple[bytes, ...] = ()
    rotate: bool = True
    size: int = field(init=False)
    full: int = field(init=False)  # bytes of the full answer: records + glue
    counts: bytes = field(init=False)
    counts_opt: bytes = field(init=False)
    memo: dict[int, tuple[bytes, bytes, int]] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        size = self.offsets[self.count] if self.count else 0
        object.__setattr__(self, "size", size)
        object.__setattr__(self, "full", size + len(self.glue))
        object.__setattr__(self, "counts", _COUNTS.pack(1, self.count, 0, self.glue_count))
        object.__setattr__(self, "counts_opt", _COUNTS.pack(1, self.count, 0, self.glue_count + 1))
        object.__setattr__(self, "memo", {})


def make_answer(qtype: int, records: Sequence[bytes], glue: Sequence[bytes] = (), rotate: bool = True) -> Answer:
    """Build an Answer from encoded records (owner = QNAME_PTR) and, optionally, one glue record per record."""
    recs = list(records)
    offsets = [0]
    for r in recs + recs:
        offsets.append(offsets[-1] + len(r))
    parts = tuple(glue) if glue else ()
    unique = list(dict.fromkeys(p for p in parts if p))
    return Answer(
        qtype=qtype, count=len(recs), records=b"".join(recs + recs), offsets=tuple(offsets),
        glue=b"".join(unique), glue_count=len(unique), glue_parts=parts, rotate=rotate and len(recs) > 1,
    )
