"""The ceiling for a Python DNS server here: a bare uvloop UDP responder sending a pre-encoded reply
(the query's ID patched in), no parsing at all. Usage: dns_ceiling.py PORT

With --replay HOST:PORT QUERYFILE it first asks that server each query of the dnsperf query file once and then
answers every query with the reply recorded for its question (a dict lookup on the bytes after the header):
the same reply sizes as the server replayed, still no parsing, no rotation, no counting. It separates what our
replies' sizes cost (kernel and dnsperf) from what our code costs. --spin NS adds NS nanoseconds of busy work
per query to the replay: how the tail under load grows with a server's time per packet, nothing else changed."""

from __future__ import annotations

import argparse
import asyncio
import socket
import time

import dns.message
import dns.rrset
import uvloop


def reply() -> bytes:
    q = dns.message.make_query("svc00.service.consul.", "A")
    r = dns.message.make_response(q)
    r.answer.append(dns.rrset.from_text("svc00.service.consul.", 5, "IN", "A", "127.1.0.1"))
    return r.to_wire()


def recorded(server: str, qfile: str) -> dict[bytes, bytes]:
    """Question bytes (all after the header) -> reply without its ID, as `server` answers them."""
    host, port = server.rsplit(":", 1)
    table = {}
    with open(qfile) as f, socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.settimeout(2)
        for line in f:
            name, rdtype = line.split()
            wire = dns.message.make_query(name, rdtype, use_edns=False).to_wire()
            s.sendto(wire, (host, int(port)))
            table[wire[12:]] = s.recv(65535)[2:]
    return table


class Responder(asyncio.DatagramProtocol):
    def __init__(self, pre: bytes) -> None:
        self.tail = pre[2:]
        self.transport: asyncio.DatagramTransport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        self.transport.sendto(data[:2] + self.tail, addr)  # type: ignore[union-attr]


class Replayer(Responder):
    def __init__(self, table: dict[bytes, bytes]) -> None:
        super().__init__(reply())
        self.table = table

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        self.transport.sendto(data[:2] + self.table.get(data[12:], self.tail), addr)  # type: ignore[union-attr]


class SpinningReplayer(Replayer):
    def __init__(self, table: dict[bytes, bytes], spin_ns: int) -> None:
        super().__init__(table)
        self.spin_ns = spin_ns

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        until = time.perf_counter_ns() + self.spin_ns
        while time.perf_counter_ns() < until:
            pass
        super().datagram_received(data, addr)


async def main(port: int, replay: list[str] | None, spin_ns: int) -> None:
    loop = asyncio.get_running_loop()
    table = recorded(*replay) if replay else None

    def factory() -> Responder:
        if table is None:
            return Responder(reply())
        return SpinningReplayer(table, spin_ns) if spin_ns else Replayer(table)

    await loop.create_datagram_endpoint(factory, local_addr=("127.0.0.1", port))
    print("ready", flush=True)
    await asyncio.Event().wait()


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("port", type=int)
    ap.add_argument("--replay", nargs=2, metavar=("HOST:PORT", "QUERYFILE"))
    ap.add_argument("--spin", type=int, default=0, metavar="NS", help="with --replay: busy work per query")
    args = ap.parse_args()
    uvloop.run(main(args.port, args.replay, args.spin))
