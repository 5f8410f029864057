"""The ceiling for a Python DNS server here: a bare uvloop UDP responder sending a pre-encoded reply
(the query's ID patched in), no parsing at all. Usage: dns_ceiling.py PORT"""

from __future__ import annotations

import asyncio
import sys

import dns.message
import dns.rrset
import uvloop


def reply() -> bytes:
    q = dns.message.make_query("svc00.service.consul.", "A")
    r = dns.message.make_response(q)
    r.answer.append(dns.rrset.from_text("svc00.service.consul.", 5, "IN", "A", "127.1.0.1"))
    return r.to_wire()


class Responder(asyncio.DatagramProtocol):
    def __init__(self, pre: bytes) -> None:
        self.tail = pre[2:]
        self.transport: asyncio.DatagramTransport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        self.transport.sendto(data[:2] + self.tail, addr)  # type: ignore[union-attr]


async def main(port: int) -> None:
    loop = asyncio.get_running_loop()
    await loop.create_datagram_endpoint(lambda: Responder(reply()), local_addr=("127.0.0.1", port))
    print("ready", flush=True)
    await asyncio.Event().wait()


if __name__ == "__main__":
    uvloop.run(main(int(sys.argv[1])))
