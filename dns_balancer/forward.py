"""Opt-in recursion: forward a foreign query to the configured recursors in turn.

Each try has a timeout; a refused port, a timeout or an unusable reply moves on to the next recursor; when all
fail the client gets SERVFAIL. The upstream query carries a fresh random ID (the client's is restored), and
the reply is held to the size the client accepts (TC otherwise). Over TCP a truncated UDP reply is retried over
TCP with the same recursor."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
import struct
from collections.abc import Sequence

from dns_balancer.wire import Forward
from portside.address import Address

log = logging.getLogger("dns_balancer.forward")


class _OneReply(asyncio.DatagramProtocol):
    def __init__(self, qid: bytes) -> None:
        self.qid = qid
        self.reply: asyncio.Future[bytes] = asyncio.get_running_loop().create_future()

    def datagram_received(self, data: bytes, addr: object) -> None:
        if data[:2] == self.qid and not self.reply.done():
            self.reply.set_result(data)

    def error_received(self, exc: Exception) -> None:
        if not self.reply.done():
            self.reply.set_exception(exc)

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.reply.done():
            self.reply.set_exception(exc or ConnectionError("closed"))


def parse_recursor(text: str) -> tuple[str, int]:
    """"1.2.3.4", "1.2.3.4:53", "[::1]:5353", "::1" -> (host, port). AddressError (a ValueError) names --recursor
    and the value."""
    address = Address.required(text, flag="--recursor", default_port=53)
    return address.host, address.port


def truncate_forwarded(reply: bytes, query: bytes, forward: Forward) -> bytes | None:
    """A recursor's reply made safe for our client: same ID, a response, within the size the client accepts
    (else the header and question alone with TC). None when the reply is unusable."""
    if len(reply) < 12 or reply[:2] != query[:2] or not reply[2] & 0x80:
        return None
    if len(reply) <= forward.limit:
        return reply
    counts = b"\x00\x01\x00\x00\x00\x00\x00\x00"
    return b"".join((reply[:2], bytes((reply[2] | 0x02, reply[3])), counts, query[12 : forward.question_end]))


class Forwarder:
    """At most `max_inflight` forwarded queries at once (each holds a socket); over that, SERVFAIL at once."""

    def __init__(self, recursors: Sequence[tuple[str, int]], timeout: float = 2.0, max_inflight: int = 512) -> None:
        self.recursors = tuple(recursors)
        self.timeout = timeout
        self.max_inflight = max_inflight
        self.inflight = 0
        self.results: dict[str, int] = {"answered": 0, "failed_try": 0, "servfail": 0, "over_limit": 0}

    async def resolve(self, query: bytes, forward: Forward, tcp: bool = False) -> bytes:
        if self.inflight >= self.max_inflight:
            self.results["over_limit"] += 1
            return self._servfail(query, forward)
        self.inflight += 1
        try:
            return await self._resolve(query, forward, tcp)
        finally:
            self.inflight -= 1

    def _servfail(self, query: bytes, forward: Forward) -> bytes:
        flags = bytes((0x80 | (query[2] & 0x01), 0x80 | 2))  # QR, RD echoed; RA, SERVFAIL
        return query[:2] + flags + b"\x00\x01\x00\x00\x00\x00\x00\x00" + query[12 : forward.question_end]

    async def _resolve(self, query: bytes, forward: Forward, tcp: bool) -> bytes:
        for host, port in self.recursors:
            try:
                reply = await asyncio.wait_for(self._udp(query, host, port), self.timeout)
                if tcp and len(reply) > 2 and reply[2] & 0x02:
                    reply = await asyncio.wait_for(self._tcp(query, host, port), self.timeout)
            except (OSError, TimeoutError, asyncio.IncompleteReadError, ValueError) as exc:
                self.results["failed_try"] += 1
                log.debug("recursor %s:%d failed: %r", host, port, exc)
                continue
            safe = truncate_forwarded(reply, query, forward)
            if safe is not None:
                self.results["answered"] += 1
                return safe
            self.results["failed_try"] += 1
        self.results["servfail"] += 1
        return self._servfail(query, forward)

    async def _udp(self, query: bytes, host: str, port: int) -> bytes:
        qid = secrets.token_bytes(2)
        loop = asyncio.get_running_loop()
        transport, proto = await loop.create_datagram_endpoint(lambda: _OneReply(qid), remote_addr=(host, port))
        try:
            transport.sendto(qid + query[2:])
            reply = await proto.reply
        finally:
            transport.close()
        return query[:2] + reply[2:]

    async def _tcp(self, query: bytes, host: str, port: int) -> bytes:
        qid = secrets.token_bytes(2)
        reader, writer = await asyncio.open_connection(host, port)
        try:
            writer.write(struct.pack("!H", len(query)) + qid + query[2:])
            await writer.drain()
            (length,) = struct.unpack("!H", await reader.readexactly(2))
            reply = await reader.readexactly(length)
        finally:
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()
        if reply[:2] != qid:
            raise ValueError("reply ID does not match")
        return query[:2] + reply[2:]
