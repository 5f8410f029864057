"""100k mutated and random packets against the running server: it stays up, every reply parses, and no UDP
reply is larger than the rules allow (512 without EDNS, 1232 at most). Then a shorter TCP round."""

from __future__ import annotations

import random
import select
import socket
import struct

import dns.message
import pytest
from dnsb_harness import unique, wait_for

pytestmark = pytest.mark.engines
PACKETS = 100_000
BATCH = 400


def seeds(name: str) -> list[bytes]:
    out = []
    for qname, rdtype, edns in [
        (f"{name}.service.consul", "A", None), (f"_{name}._tcp.service.consul", "SRV", 1232),
        (f"{name}.service.dc1.consul", "ANY", 4096), ("consul", "SOA", None), ("consul", "NS", 512),
        ("nope.service.consul", "AAAA", None), ("example.com", "A", None), ("consul", "AXFR", None),
        (f"tag.{name}.service.consul", "A", 1400),
    ]:
        q = dns.message.make_query(qname, rdtype, use_edns=edns is not None, payload=edns or 1232)
        out.append(q.to_wire())
    return out


def mutate(rng: random.Random, base: list[bytes]) -> bytes:
    roll = rng.random()
    if roll < 0.15:
        return rng.randbytes(rng.randrange(0, 300))
    data = bytearray(rng.choice(base))
    for _ in range(rng.randint(1, 4)):
        op = rng.randrange(8)
        if op == 0 and data:
            i = rng.randrange(len(data))
            data[i] ^= 1 << rng.randrange(8)
        elif op == 1 and data:
            data[rng.randrange(len(data))] = rng.randrange(256)
        elif op == 2:
            del data[rng.randrange(len(data) + 1):]
        elif op == 3:
            data += rng.randbytes(rng.randrange(1, 40))
        elif op == 4 and len(data) >= 12:
            data[4:12] = struct.pack("!HHHH", *(rng.choice((0, 1, 2, 65535)) for _ in range(4)))
        elif op == 5:
            i = rng.randrange(len(data) + 1)
            data[i:i] = rng.randbytes(rng.randrange(1, 8))
        elif op == 6 and len(data) > 12:
            data[2] = rng.randrange(256)
            data[3] = rng.randrange(256)
        else:
            data += rng.choice(base)[12:]
    return bytes(data)


def limit_for(query: bytes) -> int:
    return 512 if len(query) < 12 or query[10:12] == b"\x00\x00" else 1232


def test_fuzz_100k_udp_packets(services, dns_daemon):
    name = unique("fz")
    for i in range(12):
        services(name, i, f"127.0.2.{i + 1}", tags=["tag"])
    wait_for(lambda: len(dns_daemon.addresses(f"{name}.service.consul", tcp=True)) == 12, 10, "registered")
    errors_before = dns_daemon.metrics()["dns_balancer_handler_errors_total"]
    rng = random.Random(20261123)
    base = seeds(name)
    replies = expected = 0
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
        s.connect(("127.0.0.1", dns_daemon.port))
        s.setblocking(False)
        sent = 0
        while sent < PACKETS:
            batch: dict[int, bytes] = {}
            for seq in range(BATCH):
                packet = mutate(rng, base)
                if len(packet) >= 2:
                    packet = struct.pack("!H", seq) + packet[2:]
                    batch[seq] = packet
                    expected += len(packet) >= 12 and not packet[2] & 0x80  # everything else gets a reply
                try:
                    s.send(packet)
                except BlockingIOError:
                    select.select([], [s], [], 1)
            sent += BATCH
            while replies < expected and select.select([s], [], [], 0.2)[0]:
                try:
                    reply = s.recv(65535)
                except (BlockingIOError, ConnectionRefusedError):
                    continue
                msg = dns.message.from_wire(reply)  # raises if unparseable
                query = batch.get(msg.id)
                assert query is not None, "a reply for no query of this batch"
                assert len(reply) <= limit_for(query), (query.hex(), reply.hex())
                replies += 1
    assert dns_daemon.alive()
    assert replies >= 0.95 * expected, (replies, expected)  # loopback may drop a few under load, not more
    assert dns_daemon.metrics()["dns_balancer_handler_errors_total"] == errors_before
    assert len(dns_daemon.addresses(f"{name}.service.consul")) == 12


def test_fuzz_tcp_streams(dns_daemon):
    rng = random.Random(7)
    base = seeds("web")
    for _ in range(60):
        with socket.create_connection(("127.0.0.1", dns_daemon.port), timeout=3) as s:
            chunks = []
            for _ in range(rng.randint(1, 20)):
                packet = mutate(rng, base)
                length = len(packet) if rng.random() < 0.9 else rng.randrange(65536)
                chunks.append(struct.pack("!H", length) + packet)
            stream = b"".join(chunks)
            try:
                s.sendall(stream)
                s.shutdown(socket.SHUT_WR)
                buf = b""
                while chunk := s.recv(65535):
                    buf += chunk
            except (ConnectionResetError, BrokenPipeError, TimeoutError):
                continue
            while len(buf) >= 2:  # whatever came back is well-framed and parseable
                (length,) = struct.unpack("!H", buf[:2])
                if len(buf) < 2 + length:
                    break
                dns.message.from_wire(buf[2 : 2 + length])
                buf = buf[2 + length :]
            assert buf == b""
    assert dns_daemon.alive()
    assert dns_daemon.ask("consul", "SOA", tcp=True).answer
