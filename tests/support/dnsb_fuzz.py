"""Packet fuzzing for the DNS server, shared by test_dns_fuzz.py and the fault scenario in tests/faults: mutated
and random packets (truncated headers, huge counts, compression-pointer loops, lying label and RDATA lengths)
over UDP and TCP, wrong TCP length prefixes, and slow TCP clients. Each round counts what went wrong instead of
asserting, so the tests assert on the counts and the fault report can print them."""

from __future__ import annotations

import random
import select
import socket
import struct
import threading
import time
from dataclasses import dataclass, field

import dns.exception
import dns.message

UDP_LIMIT, EDNS_MAX = 512, 1232


def seeds(name: str) -> list[bytes]:
    """Well-formed queries for the service `name` and the zone: the material mutations start from."""
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


def pointer_trap(rng: random.Random, base: list[bytes]) -> bytes:
    """A header from a seed and a name made of compression pointers that loop, chain or point out of bounds."""
    header = bytearray(rng.choice(base)[:12])
    header[4:6] = b"\x00\x01"
    name = rng.choice([
        b"\xc0\x0c",  # points at itself
        b"\x03abc\xc0\x0c",  # a label, then back to the start
        b"\xc0\x0e\xc0\x0c",  # two pointers pointing at each other
        b"\x01a" * 40 + b"\xc0\x0c",  # a long way round before the loop
        b"\xc0" + bytes([rng.randrange(16, 256)]),  # beyond the end
        b"\x80\x0c", b"\x40\x0c",  # reserved label types
    ])
    packet = bytes(header) + name + b"\x00\x01\x00\x01"
    if rng.random() < 0.3:  # the same trap in an additional record after a sane question
        header[10:12] = b"\x00\x01"
        packet = bytes(header) + b"\x06consul\x00\x00\x06\x00\x01" + name + b"\x00\x29\x04\xd0" + bytes(6)
    return packet


def length_lie(rng: random.Random, base: list[bytes]) -> bytes:
    """Label lengths past the end, names over 255 bytes, an OPT record whose RDLENGTH lies, huge counts."""
    header = bytearray(rng.choice(base)[:12])
    kind = rng.randrange(4)
    if kind == 0:
        return bytes(header[:4]) + b"\x00\x01" + bytes(6) + b"\x3f" + b"a" * rng.randrange(0, 62)
    if kind == 1:
        name = (b"\x3f" + b"a" * 63) * rng.randint(4, 6) + b"\x00"
        return bytes(header[:4]) + b"\x00\x01" + bytes(6) + name + b"\x00\x01\x00\x01"
    if kind == 2:
        opt = b"\x00\x00\x29\x04\xd0\x00\x00\x00\x00" + struct.pack("!H", rng.choice((1, 200, 65535))) + b"\x00\x0a"
        return bytes(header[:4]) + b"\x00\x01\x00\x00\x00\x00\x00\x01" + b"\x06consul\x00\x00\x01\x00\x01" + opt
    counts = struct.pack("!HHHH", *(rng.choice((1, 255, 4096, 65535)) for _ in range(4)))
    return bytes(header[:4]) + counts + rng.choice(base)[12:] * rng.randint(1, 3)


def mutate(rng: random.Random, base: list[bytes]) -> bytes:
    roll = rng.random()
    if roll < 0.12:
        return rng.randbytes(rng.randrange(0, 300))
    if roll < 0.17:
        return pointer_trap(rng, base)
    if roll < 0.22:
        return length_lie(rng, base)
    data = bytearray(rng.choice(base))
    for _ in range(rng.randint(1, 4)):
        op = rng.randrange(8)
        if op == 0 and data:
            i = rng.randrange(len(data))
            data[i] ^= 1 << rng.randrange(8)
        elif op == 1 and data:
            data[rng.randrange(len(data))] = rng.randrange(256)
        elif op == 2:
            del data[rng.randrange(len(data) + 1):]  # truncated anywhere, the header too
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
    """The largest UDP reply allowed: 512 without an OPT record in the query, our EDNS maximum with one."""
    return UDP_LIMIT if len(query) < 12 or query[10:12] == b"\x00\x00" else EDNS_MAX


@dataclass
class FuzzStats:
    sent: int = 0
    expected: int = 0  # queries that must get a reply (a header to echo, QR clear)
    replies: int = 0
    unparseable: int = 0
    oversize: int = 0
    unmatched: int = 0  # a reply whose ID matches no query of its batch
    framing: int = 0  # TCP: a reply stream that was not a whole number of length-prefixed messages
    examples: list[str] = field(default_factory=list)

    @property
    def bad(self) -> int:
        return self.unparseable + self.oversize + self.unmatched + self.framing

    def note(self, what: str) -> None:
        if len(self.examples) < 3:
            self.examples.append(what)

    def __str__(self) -> str:
        return (f"sent={self.sent} expected={self.expected} replies={self.replies} unparseable={self.unparseable} "
                f"oversize={self.oversize} unmatched={self.unmatched} framing={self.framing}")


def udp_round(port: int, packets: int, seed: int, name: str = "web", batch: int = 400) -> FuzzStats:
    """Send `packets` mutated/random datagrams in batches; check every reply parses and respects the size rule."""
    rng, base, st = random.Random(seed), seeds(name), FuzzStats()
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
        s.connect(("127.0.0.1", port))
        s.setblocking(False)
        while st.sent < packets:
            sent: dict[int, bytes] = {}
            for seq in range(batch):
                packet = mutate(rng, base)
                if len(packet) >= 2:
                    packet = struct.pack("!H", seq) + packet[2:]
                    sent[seq] = packet
                    st.expected += len(packet) >= 12 and not packet[2] & 0x80  # everything else gets a reply
                try:
                    s.send(packet)
                except BlockingIOError:
                    select.select([], [s], [], 1)
            st.sent += batch
            while st.replies < st.expected and select.select([s], [], [], 0.2)[0]:
                try:
                    reply = s.recv(65535)
                except (BlockingIOError, ConnectionRefusedError):
                    continue
                st.replies += 1
                try:
                    msg = dns.message.from_wire(reply)
                except dns.exception.DNSException as exc:
                    st.unparseable += 1
                    st.note(f"unparseable {reply.hex()[:80]}: {exc}")
                    continue
                query = sent.get(msg.id)
                if query is None:
                    st.unmatched += 1
                    st.note(f"reply id {msg.id} for no query of its batch")
                elif len(reply) > limit_for(query):
                    st.oversize += 1
                    st.note(f"{len(reply)} bytes for {query.hex()[:80]}")
    return st


def check_stream(buf: bytes, st: FuzzStats) -> None:
    """A TCP reply stream: whole length-prefixed messages only, each one parseable."""
    while len(buf) >= 2:
        (length,) = struct.unpack("!H", buf[:2])
        if len(buf) < 2 + length:
            break
        try:
            dns.message.from_wire(buf[2 : 2 + length])
            st.replies += 1
        except dns.exception.DNSException as exc:
            st.unparseable += 1
            st.note(f"tcp unparseable: {exc}")
        buf = buf[2 + length :]
    if buf:
        st.framing += 1
        st.note(f"tcp stream ends with {len(buf)} stray bytes")


def tcp_round(port: int, streams: int, seed: int, name: str = "web") -> FuzzStats:
    """Connections carrying 1-20 mutated messages each; 10% of the length prefixes lie (longer, shorter, < 12)."""
    rng, base, st = random.Random(seed), seeds(name), FuzzStats()
    for _ in range(streams):
        chunks = []
        for _ in range(rng.randint(1, 20)):
            packet = mutate(rng, base)
            length = len(packet) if rng.random() < 0.9 else rng.choice((0, 5, 11, rng.randrange(65536)))
            chunks.append(struct.pack("!H", length) + packet)
        stream = b"".join(chunks)
        st.sent += len(chunks)
        with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
            try:
                if rng.random() < 0.3:  # split at random points, the length prefix too
                    cuts = sorted(rng.sample(range(len(stream) + 1), min(4, len(stream) + 1)))
                    for a, b in zip([0, *cuts], [*cuts, len(stream)], strict=True):
                        s.sendall(stream[a:b])
                        time.sleep(0.002)
                else:
                    s.sendall(stream)
                s.shutdown(socket.SHUT_WR)
                buf = b""
                while chunk := s.recv(65535):
                    buf += chunk
            except OSError:  # reset, or closed before our shutdown: the server may drop a lying stream
                continue
            check_stream(buf, st)
    return st


@dataclass
class SlowStats:
    dribblers: int = 0
    dribbled_answered: int = 0
    stuck: int = 0
    stuck_closed: int = 0  # never-finishing clients the server closed by itself
    probes: int = 0
    probes_answered: int = 0
    probe_max_s: float = 0.0
    stats: FuzzStats = field(default_factory=FuzzStats)

    @property
    def lost(self) -> int:
        return (self.dribblers - self.dribbled_answered) + (self.stuck - self.stuck_closed) + (
            self.probes - self.probes_answered)

    def __str__(self) -> str:
        return (f"dribbled {self.dribbled_answered}/{self.dribblers} answered, stuck closed "
                f"{self.stuck_closed}/{self.stuck}, probes {self.probes_answered}/{self.probes} "
                f"(max {self.probe_max_s * 1000:.0f} ms)")


def _dribble(port: int, query: bytes, delay: float, st: SlowStats, lock: threading.Lock, source: str) -> None:
    """Send one query a byte at a time (within the server's message deadline); the reply must still come, whole."""
    wire = struct.pack("!H", len(query)) + query
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=10, source_address=(source, 0)) as s:
            for i in range(len(wire)):
                s.sendall(wire[i : i + 1])
                time.sleep(delay)
            buf = b""
            while len(buf) < 2 or len(buf) < 2 + struct.unpack("!H", buf[:2])[0]:
                chunk = s.recv(65535)
                if not chunk:
                    break
                buf += chunk
        with lock:
            before = st.stats.replies
            check_stream(buf, st.stats)
            st.dribbled_answered += st.stats.replies > before
    except OSError:
        pass


def _stuck(port: int, partial: bytes, deadline: float, st: SlowStats, lock: threading.Lock, source: str) -> None:
    """Send part of a message and never the rest: the server must close the connection after its deadline."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=deadline + 5, source_address=(source, 0)) as s:
            s.sendall(partial)
            closed = s.recv(65535) == b""
    except (ConnectionResetError, TimeoutError):
        closed = False
    except OSError:
        closed = True
    with lock:
        st.stuck_closed += closed


def slow_round(port: int, clients: int, seed: int, deadline: float, probe, name: str = "web") -> SlowStats:
    """`clients` slow TCP connections at once, each from its own loopback address (127.0.9.x, as distinct hosts
    would be: the server caps connections per source): half dribble a whole query a byte at a time, finishing
    within half the server's message `deadline`; half send a partial message and stop, which the server must
    close once the deadline passes. Meanwhile `probe()` (a normal query) must keep answering."""
    rng, base, st, lock = random.Random(seed), seeds(name), SlowStats(), threading.Lock()
    threads = []
    for i in range(clients):
        query = rng.choice(base)
        if i % 2:
            st.dribblers += 1
            per_byte = min(0.05, deadline / 2 / (len(query) + 2))
            args: tuple = (port, query, rng.uniform(min(0.005, per_byte), per_byte), st, lock, f"127.0.9.{i + 1}")
            threads.append(threading.Thread(target=_dribble, args=args, daemon=True))
        else:
            st.stuck += 1
            wire = struct.pack("!H", len(query) + rng.choice((0, 100))) + query
            partial = wire[: rng.randrange(1, len(wire))]
            args = (port, partial, deadline, st, lock, f"127.0.9.{i + 1}")
            threads.append(threading.Thread(target=_stuck, args=args, daemon=True))
    for t in threads:
        t.start()
    while any(t.is_alive() for t in threads):
        st.probes += 1
        t0 = time.monotonic()
        try:
            if probe():
                st.probes_answered += 1
        except (OSError, dns.exception.DNSException):
            pass
        st.probe_max_s = max(st.probe_max_s, time.monotonic() - t0)
        time.sleep(0.1)
    for t in threads:
        t.join()
    return st
