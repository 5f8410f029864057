"""The hot path: query bytes -> reply bytes, without running a DNS codec per query.

A plain query (QR=0, opcode QUERY, QDCOUNT=1, no answer/authority records, class IN, an optional simple OPT
record) is answered by one dict lookup on the lowercased question (wire name + qtype) and a few slices of the
pre-encoded Answer (a name's answers are encoded on its first query, `Zone.lookup`, and kept in the table):
the reply is the query's ID, new flags and counts, the question exactly as asked (0x20 case kept), the
records rotated by offset, glue, OPT. Everything else goes through the careful path below,
which parses the whole query by hand in bounded time: no compression pointer is ever followed (a query has
nothing to point at), the additional section may hold exactly one root OPT record, whose options are walked by
length only. A generic decoder (dnslib) spent up to 32,000x a plain query's time on pointer chains in the
additional section; this parser's worst packet costs at most ~7x a plain query (bench/dns_worst_packet.py).
Whatever happens, `answer()` returns bytes or None (drop), never raises.

Size rules: UDP replies fit 512 bytes without EDNS, else the client's EDNS size capped at 1232; when answer
records have to be left out, TC is set (glue alone is left out without TC, RFC 2181 §9). TCP: up to 65535."""

from __future__ import annotations

import logging
import struct
from collections.abc import Callable
from dataclasses import dataclass

from dns_balancer.parse import COUNTS, MIN_UDP, OPT_HEAD, PTR, Edns, parse_edns, parse_question
from dns_balancer.pending import Elsewhere, Pending
from dns_balancer.records import (
    ANY,
    AXFR,
    BADVERS,
    CLASS_ANY,
    CLASS_IN,
    FORMERR,
    IXFR,
    NOERROR,
    NOTIMP,
    NXDOMAIN,
    OPT,
    REFUSED,
    SERVFAIL,
    Answer,
)
from dns_balancer.replycache import ReplyCache
from dns_balancer.zone import Apex, Zone

log = logging.getLogger("dns_balancer.wire")

MAX_UDP = 1232
MAX_TCP = 65535
_HDR = struct.Struct("!BBHHHH")  # flags, flags, QDCOUNT, ANCOUNT, NSCOUNT, ARCOUNT (the ID is copied as bytes)
_PLAIN = b"\x00\x01\x00\x00\x00\x00\x00\x00"  # QDCOUNT=1, ANCOUNT=NSCOUNT=ARCOUNT=0
_WITH_OPT = b"\x00\x01\x00\x00\x00\x00\x00\x01"  # the same with ARCOUNT=1
_IN = b"\x00\x01"
_IN_OPT = _IN + OPT_HEAD
_OPT = b"\x00\x00\x29\x04\xd0\x00\x00\x00\x00\x00\x00"  # payload 1232, ext-rcode 0, version 0, no flags
_OPT_DO = b"\x00\x00\x29\x04\xd0\x00\x00\x80\x00\x00\x00"  # same with DO echoed
_OPT_BADVERS = b"\x00\x00\x29\x04\xd0\x01\x00\x00\x00\x00\x00"  # ext-rcode 1: BADVERS (16) with rcode 0


@dataclass(frozen=True, slots=True)
class Forward:
    """`answer()` result for a foreign name when recursors are configured: forward the query as it is."""

    limit: int  # the reply size the client accepts
    question_end: int


@dataclass(frozen=True, slots=True)
class Hold(Forward):
    """`answer()` result for a name whose data is on its way (dns_balancer.pending): the server hands it, like
    a Forward, to a task that awaits it and asks again, so neither the loop nor any other query waits."""

    pending: Pending
    tcp: bool
    recurse: bool


class Responder:
    """Answers queries from the current Zone. Mutable state (rotation counters, counts) lives here, per daemon."""

    def __init__(
        self, zone: Zone | None = None, *, recursion: bool = False, a_record_limit: int = 0,
        on_ready: Callable[[], None] | None = None, elsewhere: Elsewhere | None = None,
    ) -> None:
        """`on_ready`: called once, after the first zone served as ready (the daemon settles its heap then);
        `elsewhere`: asked about in-zone names the table does not hold (never on the fast path)."""
        self.on_ready = on_ready
        self.elsewhere = elsewhere
        self.zone = zone or Zone()
        self._table = self.zone.table
        self.ready = zone is not None  # until the mirror's first sync, in-zone misses get SERVFAIL, not NXDOMAIN
        self._stale = False
        self.recursion = recursion
        self._ra = 0x80 if recursion else 0
        self.cap = max(0, a_record_limit)
        self.rotation: dict[bytes, list[int]] = {}  # name key -> its rotation counter (a cell the cache shares)
        self.cache = ReplyCache()  # plain UDP replies by query bytes (replycache.py)
        self.positive: dict[int, int] = {}  # qtype -> positive answers (NOERROR, from the table)
        self.counts: dict[tuple[int, int], int] = {}  # (qtype, rcode) -> every other answer
        # header flag bytes by (RD | CD | TC) of the query / reply: QR and AA always, RA when the client may
        # recurse (recursors configured and the server allows that client), else without RA
        self._flags = [bytes((0x84 | (i & 0x03), self._ra | (i & 0x10))) for i in range(32)]
        self._flags_no_ra = [bytes((0x84 | (i & 0x03), i & 0x10)) for i in range(32)]
        self._truncated = 0  # uncached answers sent with TC; the cache counts its own hits
        self.dropped = 0
        self.errors = 0
        self.stale_answers = 0

    @property
    def stale(self) -> bool:
        """The mirror cannot reach Consul: answers come from the last good data, and each is counted as stale
        (on the uncached path: the cache is dropped and not used meanwhile)."""
        return self._stale

    @stale.setter
    def stale(self, value: bool) -> None:
        if value:
            self.cache.clear()
        self._stale = value

    @property
    def truncated(self) -> int:
        return self._truncated + self.cache.counted()[1]

    def set_zone(self, zone: Zone, ready: bool = True) -> None:
        self.zone = zone
        self._table = zone.table
        self.ready = ready
        self.cache.clear()
        if len(self.rotation) > 2 * len(zone.table) + 1024:
            self.rotation = {k: v for k, v in self.rotation.items() if k in zone.table}
        if ready and self.on_ready is not None:
            callback, self.on_ready = self.on_ready, None
            callback()

    def query_counts(self) -> dict[tuple[int, int], int]:
        """(qtype, rcode) -> queries answered, positive answers included."""
        merged = dict(self.counts)
        for positive in (self.positive, self.cache.counted()[0]):
            for qtype, n in list(positive.items()):
                merged[(qtype, NOERROR)] = merged.get((qtype, NOERROR), 0) + n
        return merged

    def refuse(self, data: bytes) -> bytes | None:
        """REFUSED for a client outside the allow-list: the question echoed when it parses, never larger than the
        query (no reflection gain); None (drop) for responses and runts, as for everyone."""
        if len(data) < 12 or data[2] & 0x80:
            self.dropped += 1
            return None
        question = parse_question(data) if data[4:6] == b"\x00\x01" else None
        end = -1 if question is None else question[1]
        qtype = -1 if question is None else struct.unpack_from("!H", data, end - 4)[0]
        return self._error(data, REFUSED, end, 0, opcode=(data[2] >> 3) & 0x0F, qtype=qtype)

    # ---- the hot path ------------------------------------------------------------------------
    def answer(self, data: bytes, tcp: bool = False, recurse: bool = True) -> bytes | Forward | None:
        """Reply bytes, a Forward, or None to drop. Never raises. `recurse=False`: this client may not use the
        recursors (RA clear, foreign names REFUSED)."""
        flags = self._flags if recurse else self._flags_no_ra
        # UDP replies whose RA bit is the responder's own (a client that may recurse, or no recursion at all)
        cacheable = not tcp and (recurse or not self.recursion) and not self._stale
        try:
            if cacheable:  # a miss: this rotation offset's reply is built below and remembered
                cached = self.cache.reply(data)
                if cached is not None:
                    return cached
            counts = data[4:12]
            if counts == _PLAIN and not data[2] & 0xF8:  # QUERY, one question, nothing else
                z = data.find(0, 12)
                key = data[12 : z + 3].lower()  # qtype bytes of stored keys hold no ASCII letters: lower() is safe
                ans = self._table.get(key) or self.zone.lookup(key)  # a name's first query encodes its answers
                if ans is not None and data[z + 3 :] == _IN:  # class IN ends the packet
                    reply = self._positive(data, z + 5, key, ans, MAX_TCP if tcp else MIN_UDP, b"", flags)
                    if cacheable:
                        self._remember(data, key, ans, reply)
                    return reply
            elif counts == _WITH_OPT and not data[2] & 0xF8:  # the same plus one additional record: EDNS?
                z = data.find(0, 12)
                key = data[12 : z + 3].lower()
                ans = self._table.get(key) or self.zone.lookup(key)
                end = z + 5
                size = len(data)
                if (  # class IN, then a root OPT of version 0 without options ending the packet
                    ans is not None and data[z + 3 : end + 3] == _IN_OPT and size == end + 11 and data[end + 6] == 0
                    and data[end + 9] == data[end + 10] == 0
                ):
                    limit = MAX_TCP if tcp else min(max(data[end + 3] << 8 | data[end + 4], MIN_UDP), MAX_UDP)
                    opt = _OPT_DO if data[end + 7] & 0x80 else _OPT
                    reply = self._positive(data, end, key, ans, limit, opt, flags)
                    if cacheable:
                        self._remember(data, key, ans, reply)
                    return reply
            return self._careful(data, tcp, flags[0][1] & 0x80)
        except Exception:  # the last line of defence: count, log, answer SERVFAIL when we can
            self.errors += 1
            log.exception("internal error answering a %d-byte query", len(data))
            if len(data) >= 12 and not data[2] & 0x80:
                return data[:2] + _HDR.pack(0x80 | (data[2] & 0x79), flags[0][1] | SERVFAIL, 0, 0, 0, 0)
            return None

    def _positive(
        self, data: bytes, end: int, key: bytes, ans: Answer, limit: int, opt: bytes, table: list[bytes]
    ) -> bytes:
        k = 0
        if ans.rotate:
            counter = self.rotation.get(key)
            if counter is None:
                counter = self.rotation[key] = [0]
            k = counter[0]
            counter[0] = k + 1
            k %= ans.count
        positive = self.positive
        positive[ans.qtype] = positive.get(ans.qtype, 0) + 1
        if self.stale:
            self.stale_answers += 1
        flags = table[(data[2] & 0x01) | (data[3] & 0x10)]
        budget = limit - end - len(opt)
        if ans.full <= budget and not (self.cap and ans.count > self.cap):  # the whole answer fits: slice it
            start = ans.offsets[k]
            return b"".join((
                data[:2], flags, ans.counts_opt if opt else ans.counts, data[12:end],
                ans.records[start : start + ans.size], ans.glue, opt,
            ))
        memo_key = (k << 18) | (budget << 1) | (1 if opt else 0)
        part = ans.memo.get(memo_key)
        if part is None:
            part = self._trim(ans, k, budget, bool(opt))
            if len(ans.memo) < 4096:
                ans.memo[memo_key] = part
        body, counts, tc = part
        if tc:
            self._truncated += 1
            flags = table[(data[2] & 0x01) | (data[3] & 0x10) | 0x02]
        return b"".join((data[:2], flags, counts, data[12:end], body, opt))

    def _remember(self, data: bytes, key: bytes, ans: Answer, reply: bytes) -> None:
        if ans.rotate:
            self.cache.remember(data, self.rotation[key], ans.count, ans.qtype, reply)
        else:
            self.cache.remember(data, [1], 1, ans.qtype, reply)

    def _trim(self, ans: Answer, k: int, budget: int, opt: bool) -> tuple[bytes, bytes, int]:
        """The answer rotated by k, cut to `budget` bytes and the record cap: (records + glue, counts, TC?).
        Answer records left out set TC; glue left out does not (RFC 2181 section 9)."""
        n = ans.count
        m = self.cap if self.cap and n > self.cap else n
        offs = ans.offsets
        start = offs[k]
        tc = 0
        if offs[k + m] - start > budget:
            m = _fit(offs, k, m, budget)
            tc = 1
        stop = offs[k + m]
        glue, ar = _glue(ans, k, m, budget - (stop - start))
        counts = struct.pack("!HHHH", 1, m, 0, ar + (1 if opt else 0))
        return ans.records[start:stop] + glue, counts, tc

    # ---- the careful path --------------------------------------------------------------------
    def _careful(self, data: bytes, tcp: bool, ra: int) -> bytes | Forward | None:
        """Every query the fast path does not take; `ra` is 0x80 when this client may recurse."""
        if len(data) < 12 or data[2] & 0x80:
            self.dropped += 1  # too short to answer, or a response: never answer those
            return None
        opcode = (data[2] >> 3) & 0x0F
        if opcode != 0:
            return self._error(data, NOTIMP, -1, ra, opcode=opcode)
        if COUNTS.unpack_from(data, 4)[0] != 1:
            return self._error(data, FORMERR, -1, ra)
        question = parse_question(data)
        if question is None:
            return self._error(data, FORMERR, -1, ra)
        raw_labels, end = question
        qtype, qclass = struct.unpack_from("!HH", data, end - 4)
        edns = parse_edns(data, end)
        if edns is False:
            return self._error(data, FORMERR, -1, ra)
        assert edns is None or isinstance(edns, Edns)
        if edns is not None and edns.version != 0:
            return self._error(data, BADVERS, end, ra, _OPT_BADVERS, qtype=qtype)
        opt = b"" if edns is None else (_OPT_DO if edns.do else _OPT)
        limit = MAX_TCP if tcp else (min(edns.payload, MAX_UDP) if edns else MIN_UDP)
        if qtype == OPT:
            return self._error(data, FORMERR, -1, ra)
        labels = tuple(label.lower().decode("latin-1") for label in raw_labels)
        apex = self.zone.apex_of(labels)
        if apex is None or qclass not in (CLASS_IN, CLASS_ANY):
            # recursion only when the client may recurse and asked for it (RD): never an open resolver
            if ra and data[2] & 0x01 and qclass == CLASS_IN and qtype not in (AXFR, IXFR):
                self._count(qtype, NOERROR)
                return Forward(limit, end)
            return self._error(data, REFUSED, end, ra, opt, qtype=qtype)
        if qtype in (AXFR, IXFR):
            return self._error(data, NOTIMP, end, ra, opt, qtype=qtype, aa=True)
        key = data[12 : end - 2].lower()
        ans = self._table.get(key) or self.zone.lookup(key)  # a name's first query encodes its answers
        if ans is None and self.elsewhere is not None:
            found = self.elsewhere.lookup(labels, apex, key)
            if isinstance(found, Pending):
                return Hold(limit, end, found, tcp, bool(ra))
            if isinstance(found, int):
                if found == SERVFAIL:
                    return self._error(data, SERVFAIL, end, ra, opt, qtype=qtype)
                return self._negative(data, end, found, apex, labels, opt, qtype, ra)
            ans = found
        if ans is not None:
            return self._positive(data, end, key, ans, limit, opt, self._flags if ra else self._flags_no_ra)
        if not self.ready:
            return self._error(data, SERVFAIL, end, ra, opt, qtype=qtype)
        rcode = NOERROR if self.zone.exists(key[:-2]) else NXDOMAIN
        return self._negative(data, end, rcode, apex, labels, opt, qtype, ra)

    def _negative(
        self, data: bytes, end: int, rcode: int, apex: Apex, labels: tuple[str, ...], opt: bytes, qtype: int, ra: int
    ) -> bytes:
        """NXDOMAIN / NODATA with the zone's SOA in authority, its owner a pointer into the question."""
        offset = 12 + sum(len(label) + 1 for label in labels[: len(labels) - len(apex.labels)])
        if self.stale:
            self.stale_answers += 1
        self._count(qtype, rcode)
        head = _HDR.pack(0x84 | (data[2] & 0x01), ra | (data[3] & 0x10) | rcode, 1, 0, 1, 1 if opt else 0)
        return b"".join((data[:2], head, data[12:end], PTR.pack(0xC000 | offset), apex.soa_tail, opt))

    def _error(
        self, data: bytes, rcode: int, end: int, ra: int, opt: bytes = b"", *, opcode: int = 0, qtype: int = -1,
        aa: bool = False,
    ) -> bytes:
        """An error reply: the question echoed when it parsed (end > 0), else the header alone."""
        self._count(qtype, rcode)
        flags = 0x80 | (opcode << 3) | (data[2] & 0x01) | (0x04 if aa else 0)
        if end < 0:
            return data[:2] + _HDR.pack(flags, ra | (rcode & 0x0F), 0, 0, 0, 0)
        head = _HDR.pack(flags, ra | (rcode & 0x0F), 1, 0, 0, 1 if opt else 0)
        return b"".join((data[:2], head, data[12:end], opt))

    def _count(self, qtype: int, rcode: int) -> None:
        stat = (qtype, rcode)
        self.counts[stat] = self.counts.get(stat, 0) + 1


def _fit(offsets: tuple[int, ...], k: int, m: int, budget: int) -> int:
    """How many records from k on (at most m) fit in `budget` bytes."""
    lo, hi, base = 0, m, offsets[k]
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if offsets[k + mid] - base <= budget:
            lo = mid
        else:
            hi = mid - 1
    return lo


def _glue(ans: Answer, k: int, m: int, budget: int) -> tuple[bytes, int]:
    """Glue for answer records k..k+m-1 (deduplicated), as much as fits."""
    if not ans.glue_parts or budget <= 0:
        return b"", 0
    picked: list[bytes] = []
    seen: set[bytes] = set()
    used = 0
    for i in range(k, k + m):
        part = ans.glue_parts[i % ans.count]
        if part and part not in seen:
            if used + len(part) > budget:
                break
            seen.add(part)
            picked.append(part)
            used += len(part)
    return b"".join(picked), len(picked)


__all__ = ["ANY", "Edns", "Forward", "Hold", "Responder", "parse_edns", "parse_question"]
