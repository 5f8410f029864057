"""Response-rate limiting (RRL), as BIND does it, for UDP only (TCP proves the client's address): a token bucket
per (client netblock, response kind), `rate` responses per second, at most `rate` in a burst. Over the rate a
response is dropped, except every `slip`-th dropped one, which goes out truncated (TC set, no records), so a
real client whose address is being spoofed retries over TCP and is served there. Pure: the caller passes
the time; state is a plain dict bounded by `max_entries`.

The kind: a positive answer or NODATA counts per question name and type; every NXDOMAIN from one netblock
counts together (random-subdomain floods aggregate), and so does every error (REFUSED, FORMERR, ...)."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass

from dns_balancer.parse import parse_question

SEND, DROP, SLIP = 0, 1, 2
_CACHE_MAX = 65536


@dataclass(frozen=True)
class RateLimitConfig:
    rate: float  # responses per second per (netblock, kind)
    slip: int = 2  # every slip-th dropped response is sent truncated; 0: never, 1: always
    ipv4_prefix: int = 24
    ipv6_prefix: int = 56
    max_entries: int = 100_000  # buckets kept; when full, idle ones are purged (at most once a second)


class RateLimiter:
    def __init__(self, config: RateLimitConfig) -> None:
        self.config = config
        self.buckets: dict[tuple[str, bytes], list[float]] = {}  # key -> [tokens, last time, drops]
        self._blocks: dict[str, str] = {}
        self._purged = float("-inf")
        self.dropped = 0
        self.slipped = 0
        self.untracked = 0  # responses sent without a bucket because the table was full

    def netblock(self, host: str) -> str:
        block = self._blocks.get(host)
        if block is None:
            if len(self._blocks) >= _CACHE_MAX:
                self._blocks.clear()
            try:
                ip = ipaddress.ip_address(host.split("%", 1)[0])
                prefix = self.config.ipv4_prefix if ip.version == 4 else self.config.ipv6_prefix
                block = str(ipaddress.ip_network(f"{ip}/{prefix}", strict=False))
            except ValueError:
                block = host
            self._blocks[host] = block
        return block

    def check(self, host: str, query: bytes, reply: bytes, now: float) -> int:
        """SEND, DROP or SLIP for `reply` to `query` from `host` at time `now` (seconds)."""
        rcode = reply[3] & 0x0F
        if rcode == 0:
            z = query.find(0, 12)
            kind = query[12 : z + 3].lower() if z > 0 else b""
        else:
            kind = b"\x00nx" if rcode == 3 else b"\x00err"
        key = (self.netblock(host), kind)
        rate = self.config.rate
        bucket = self.buckets.get(key)
        if bucket is None:
            if len(self.buckets) >= self.config.max_entries and not self._purge(now):
                self.untracked += 1
                return SEND
            self.buckets[key] = [rate - 1, now, 0]
            return SEND
        tokens = min(rate, bucket[0] + (now - bucket[1]) * rate)
        bucket[1] = now
        if tokens >= 1:
            bucket[0] = tokens - 1
            return SEND
        bucket[0] = tokens
        bucket[2] += 1
        slip = self.config.slip
        if slip and bucket[2] % slip == 0:
            self.slipped += 1
            return SLIP
        self.dropped += 1
        return DROP

    def _purge(self, now: float) -> bool:
        """Forget buckets idle for a second or more (they would be full again anyway); True if room was made."""
        if now - self._purged < 1.0:
            return False
        self._purged = now
        self.buckets = {k: b for k, b in self.buckets.items() if now - b[1] < 1.0}
        return len(self.buckets) < self.config.max_entries


def truncated(reply: bytes) -> bytes | None:
    """The slip form of a reply: header with TC, the question, nothing else; None when it has no question."""
    question = parse_question(reply) if reply[4:6] == b"\x00\x01" else None
    if question is None:
        return None
    flags = bytes((reply[2] | 0x02, reply[3]))
    return reply[:2] + flags + b"\x00\x01\x00\x00\x00\x00\x00\x00" + reply[12 : question[1]]
