"""Effect: asyncio UDP and TCP protocols around the Responder, with the TCP limits.

UDP: one datagram in, `Responder.answer` (bytes / None / Forward), one datagram out. TCP (RFC 7766): 2-byte
length prefix, pipelined queries, a prefix under 12 bytes closes the connection, an idle timeout, a cap on
open connections (over the cap a connection is closed at once), reading paused while the peer does not read."""

from __future__ import annotations

import asyncio
import logging
import socket
import struct
from collections.abc import Coroutine
from dataclasses import dataclass
from typing import Any, cast

from dns_balancer.forward import Forwarder
from dns_balancer.wire import Forward, Responder

log = logging.getLogger("dns_balancer.server")
_LEN = struct.Struct("!H")


@dataclass(frozen=True)
class ServerConfig:
    host: str = "127.0.0.1"
    port: int = 8600
    tcp_idle_timeout: float = 10.0
    tcp_max_connections: int = 256
    reuse_port: bool = False


def parse_listen(text: str) -> tuple[str, int]:
    """"127.0.0.1:8600", "[::1]:8600", ":8600" (all addresses) -> (host, port)."""
    host, sep, port = text.strip().rpartition(":")
    if not sep or not port.isdigit() or not 0 < int(port) < 65536:
        raise ValueError(f"listen address {text!r}: expected host:port")
    return host.strip("[]") or "0.0.0.0", int(port)


class UdpProtocol(asyncio.DatagramProtocol):
    def __init__(self, server: DnsServer) -> None:
        self.server = server
        self.answer = server.responder.answer
        self.transport: asyncio.DatagramTransport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.DatagramTransport, transport)  # uvloop's is not a subclass

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
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


class TcpProtocol(asyncio.Protocol):
    def __init__(self, server: DnsServer) -> None:
        self.server = server
        self.answer = server.responder.answer
        self.transport: asyncio.Transport | None = None
        self.buf = bytearray()
        self.last = 0.0
        self.timer: asyncio.TimerHandle | None = None
        self.counted = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)
        server = self.server
        if server.tcp_open >= server.config.tcp_max_connections:
            server.tcp_rejected += 1
            self.transport.abort()
            return
        server.tcp_open += 1
        server.connections.add(self)
        self.counted = True
        self.last = server.loop.time()
        self.timer = server.loop.call_later(server.config.tcp_idle_timeout, self._idle_check)

    def _idle_check(self) -> None:
        idle = self.server.config.tcp_idle_timeout
        left = self.last + idle - self.server.loop.time()
        if left > 0:
            self.timer = self.server.loop.call_later(left, self._idle_check)
        elif self.transport is not None:
            self.server.tcp_idle_closed += 1
            self.transport.close()

    def data_received(self, data: bytes) -> None:
        self.last = self.server.loop.time()
        buf = self.buf
        buf += data
        while len(buf) >= 2:
            (length,) = _LEN.unpack_from(buf)
            if length < 12:  # not even a header: the stream cannot be trusted any further
                self.server.tcp_bad_length += 1
                self._close()
                return
            if len(buf) < 2 + length:
                return
            message = bytes(buf[2 : 2 + length])
            del buf[: 2 + length]
            reply = self.answer(message, True)
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
        if self.counted:
            self.server.tcp_open -= 1
            self.server.connections.discard(self)
            self.counted = False
        if self.timer is not None:
            self.timer.cancel()
        self.buf.clear()


class DnsServer:
    def __init__(self, responder: Responder, config: ServerConfig, forwarder: Forwarder | None = None) -> None:
        self.responder = responder
        self.config = config
        self.forwarder = forwarder or Forwarder(())
        self.udp: asyncio.DatagramTransport | None = None
        self.tcp: asyncio.Server | None = None
        self.tcp_open = 0
        self.tcp_rejected = 0
        self.tcp_idle_closed = 0
        self.tcp_bad_length = 0
        self._tasks: set[asyncio.Task[None]] = set()
        self.connections: set[TcpProtocol] = set()

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
        self.udp, _ = await self.loop.create_datagram_endpoint(
            lambda: UdpProtocol(self), local_addr=(host, port), family=family,
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
