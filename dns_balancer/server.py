"""Effect: asyncio UDP and TCP protocols around the Responder, with the client policy and the TCP limits.

UDP: one datagram in, `Responder.answer` (bytes / None / Forward), one datagram out. With an allow-list,
recursors or response-rate limiting configured, datagrams go through `GuardedUdpProtocol` (who may ask, who may
recurse, RRL); without them the plain protocol pays nothing for it. TCP (RFC 7766): 2-byte length prefix,
pipelined queries, a prefix under 12 bytes closes the connection; a cap on open connections and one per source
address (over a cap the connection is closed at once); between messages an idle timeout, and a deadline for
each message (prefix + body) counted from its first byte, so a client dribbling bytes cannot hold a slot;
reading paused while the peer does not read."""

from __future__ import annotations

import asyncio
import logging
import socket
import struct
from collections.abc import Coroutine
from dataclasses import dataclass
from typing import Any, cast

from dns_balancer.access import Access
from dns_balancer.forward import Forwarder
from dns_balancer.ratelimit import DROP, SEND, RateLimitConfig, RateLimiter, truncated
from dns_balancer.wire import Forward, Responder
from portside.address import Address

log = logging.getLogger("dns_balancer.server")
_LEN = struct.Struct("!H")


@dataclass(frozen=True)
class ServerConfig:
    host: str = "127.0.0.1"
    port: int = 8600
    tcp_idle_timeout: float = 10.0
    tcp_message_timeout: float = 5.0
    tcp_max_connections: int = 256
    tcp_max_per_source: int = 16
    reuse_port: bool = False
    rate_limit: RateLimitConfig | None = None


def parse_listen(text: str) -> tuple[str, int]:
    """"127.0.0.1:8600", "[::1]:8600", ":8600" (all addresses) -> (host, port). AddressError (a ValueError)
    names --listen and the value."""
    address = Address.required(text, flag="--listen", default_host="0.0.0.0")
    return address.host, address.port


class UdpProtocol(asyncio.DatagramProtocol):
    def __init__(self, server: DnsServer) -> None:
        self.server = server
        self.answer = server.responder.answer
        self.cached = server.responder.cache.reply
        self.transport: asyncio.DatagramTransport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.DatagramTransport, transport)  # uvloop's is not a subclass

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        # a repeated question first, before `answer`'s own set-up: at high rates the p99 grows steeply with each
        # 100 ns spent per packet (bench/dns_bench.py --spin)
        cached = self.cached(data)
        if cached is not None:
            self.transport.sendto(cached, addr)  # type: ignore[union-attr]
            return
        reply = self.answer(data)
        if reply.__class__ is bytes:
            self.transport.sendto(reply, addr)  # type: ignore[union-attr]
        elif isinstance(reply, Forward):
            self.server.spawn(self._forward(data, reply, addr))

    async def _forward(self, data: bytes, forward: Forward, addr: tuple[str, int]) -> None:
        reply = await self.server.forwarder.resolve(data, forward)
        if self.transport is not None and not self.transport.is_closing():
            self.transport.sendto(reply, addr)

    def error_received(self, exc: Exception) -> None:  # ICMP errors from earlier replies: nothing to do
        log.debug("udp error: %s", exc)


class GuardedUdpProtocol(UdpProtocol):
    """The UDP path when a client policy is configured: clients outside the allow-list get REFUSED (small,
    never larger than their query), only clients allowed to recurse reach the recursors, and with RRL every
    reply is counted against its (netblock, kind) bucket and dropped or sent truncated over the rate."""

    def __init__(self, server: DnsServer) -> None:
        super().__init__(server)
        self.access = server.access
        self.limiter = server.limiter
        self.time = server.loop.time

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        verdict = self.access.verdict(addr[0])
        if verdict.allowed:
            reply = self.answer(data, False, verdict.recurse)
        else:
            self.server.refused += 1
            reply = self.server.responder.refuse(data)
        if reply.__class__ is bytes:
            assert isinstance(reply, bytes)
            if self.limiter is not None:
                action = self.limiter.check(addr[0], data, reply, self.time())
                if action != SEND:
                    reply = None if action == DROP else truncated(reply)
                    if reply is None:
                        return
            self.transport.sendto(reply, addr)  # type: ignore[union-attr]
        elif isinstance(reply, Forward):
            self.server.spawn(self._forward(data, reply, addr))


class TcpProtocol(asyncio.Protocol):
    def __init__(self, server: DnsServer) -> None:
        self.server = server
        self.answer = server.responder.answer
        self.transport: asyncio.Transport | None = None
        self.buf = bytearray()
        self.deadline = 0.0  # idle: the last message's end + idle timeout; mid-message: its first byte + deadline
        self.timer: asyncio.TimerHandle | None = None
        self.source: str | None = None  # counted against the per-source cap
        self.recurse = True

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)
        server = self.server
        peer = self.transport.get_extra_info("peername")
        host = peer[0] if isinstance(peer, tuple) else ""
        reason = server.admit(host)
        if reason is not None:
            server.tcp_closed[reason] += 1
            self.transport.abort()
            return
        self.source = host
        server.connections.add(self)
        if not server.access.open:
            self.recurse = server.access.verdict(host).recurse
        self._arm(server.loop.time() + server.config.tcp_idle_timeout)

    def _arm(self, deadline: float) -> None:
        """Move the deadline; the timer is re-armed only when it would fire too late (moving it later is lazy:
        the check re-arms itself), so a busy connection costs no timer churn per message."""
        self.deadline = deadline
        if self.timer is None or deadline < self.timer.when():
            if self.timer is not None:
                self.timer.cancel()
            self.timer = self.server.loop.call_at(deadline, self._check_deadline)

    def _check_deadline(self) -> None:
        now = self.server.loop.time()
        if self.deadline > now:
            self.timer = self.server.loop.call_at(self.deadline, self._check_deadline)
        elif self.transport is not None:
            self.server.tcp_closed["message_timeout" if self.buf else "idle"] += 1
            self.transport.close()

    def data_received(self, data: bytes) -> None:
        buf = self.buf
        if not buf:  # the first byte of a message: it has this long to arrive whole
            self._arm(self.server.loop.time() + self.server.config.tcp_message_timeout)
        buf += data
        while len(buf) >= 2:
            (length,) = _LEN.unpack_from(buf)
            if length < 12:  # not even a header: the stream cannot be trusted any further
                self.server.tcp_closed["bad_length"] += 1
                self._close()
                return
            if len(buf) < 2 + length:
                return
            message = bytes(buf[2 : 2 + length])
            del buf[: 2 + length]
            config = self.server.config
            self._arm(self.server.loop.time() + (config.tcp_message_timeout if buf else config.tcp_idle_timeout))
            reply = self.answer(message, True, self.recurse)
            if reply.__class__ is bytes:
                self.transport.write(_LEN.pack(len(reply)) + reply)  # type: ignore
            elif isinstance(reply, Forward):
                self.server.spawn(self._forward(message, reply))
            else:  # a message we drop (a response, garbage): drop the connection with it
                self._close()
                return

    async def _forward(self, message: bytes, forward: Forward) -> None:
        reply = await self.server.forwarder.resolve(message, forward, tcp=True)
        if self.transport is not None and not self.transport.is_closing():
            self.transport.write(_LEN.pack(len(reply)) + reply)

    def _close(self) -> None:
        if self.transport is not None:
            self.transport.close()

    def pause_writing(self) -> None:
        if self.transport is not None:
            self.transport.pause_reading()

    def resume_writing(self) -> None:
        if self.transport is not None and not self.transport.is_closing():
            self.transport.resume_reading()

    def connection_lost(self, exc: Exception | None) -> None:
        if self.source is not None:
            self.server.release(self.source, self)
            self.source = None
        if self.timer is not None:
            self.timer.cancel()
        self.buf.clear()


class DnsServer:
    def __init__(
        self, responder: Responder, config: ServerConfig, forwarder: Forwarder | None = None,
        access: Access | None = None,
    ) -> None:
        self.responder = responder
        self.config = config
        self.forwarder = forwarder or Forwarder(())
        self.access = access or Access(None, None)
        self.limiter = RateLimiter(config.rate_limit) if config.rate_limit else None
        self.udp: asyncio.DatagramTransport | None = None
        self.tcp: asyncio.Server | None = None
        self.tcp_open = 0
        self.per_source: dict[str, int] = {}
        self.tcp_closed = dict.fromkeys(("over_cap", "over_source_cap", "not_allowed", "idle", "message_timeout",
                                         "bad_length"), 0)
        self.refused = 0  # UDP queries from clients outside the allow-list
        self._tasks: set[asyncio.Task[None]] = set()
        self.connections: set[TcpProtocol] = set()

    def admit(self, host: str) -> str | None:
        """Count a new TCP connection from `host`, or say why it is closed at once."""
        if not self.access.open and not self.access.verdict(host).allowed:
            return "not_allowed"
        if self.tcp_open >= self.config.tcp_max_connections:
            return "over_cap"
        n = self.per_source.get(host, 0)
        if n >= self.config.tcp_max_per_source:
            return "over_source_cap"
        self.per_source[host] = n + 1
        self.tcp_open += 1
        return None

    def release(self, host: str, conn: TcpProtocol) -> None:
        self.tcp_open -= 1
        n = self.per_source.get(host, 1) - 1
        if n > 0:
            self.per_source[host] = n
        else:
            self.per_source.pop(host, None)
        self.connections.discard(conn)

    def spawn(self, coro: Coroutine[Any, Any, None]) -> None:
        task = self.loop.create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    @property
    def listening(self) -> bool:
        return self.udp is not None and not self.udp.is_closing() and self.tcp is not None and self.tcp.is_serving()

    async def start(self) -> None:
        self.loop = asyncio.get_running_loop()
        host, port = self.config.host, self.config.port
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        guarded = not self.access.open or self.limiter is not None
        protocol = GuardedUdpProtocol if guarded else UdpProtocol
        self.udp, _ = await self.loop.create_datagram_endpoint(
            lambda: protocol(self), local_addr=(host, port), family=family,
            reuse_port=self.config.reuse_port or None,
        )
        sock = self.udp.get_extra_info("socket")
        for opt in (socket.SO_RCVBUF, socket.SO_SNDBUF):
            try:
                sock.setsockopt(socket.SOL_SOCKET, opt, 4 << 20)
            except OSError:
                pass
        self.tcp = await self.loop.create_server(
            lambda: TcpProtocol(self), host, port, family=family, reuse_port=self.config.reuse_port or None,
            backlog=512,
        )
        log.info("answering DNS on %s:%d (udp, tcp)", host, port)

    async def close(self) -> None:
        if self.udp is not None:
            self.udp.close()
        if self.tcp is not None:
            self.tcp.close()
            for conn in list(self.connections):
                conn._close()
            try:
                await asyncio.wait_for(self.tcp.wait_closed(), 2)
            except TimeoutError:
                pass
        for task in list(self._tasks):
            task.cancel()
