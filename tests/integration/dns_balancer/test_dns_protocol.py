"""Protocol rules over the wire: REFUSED / FORMERR / NOTIMP, drops, TCP framing and limits, opt-in recursion,
and the /health + /metrics endpoints."""

from __future__ import annotations

import socket
import struct
import time

import dns.flags
import dns.message
import dns.opcode
import dns.rcode
import pytest

from testbed import engines
from tests.support.dnsb_harness import Daemon, FakeUpstream, unique, wait_for

pytestmark = pytest.mark.engines


@pytest.fixture(scope="module")
def upstream():
    u = FakeUpstream()
    yield u
    u.close()


@pytest.fixture(scope="module")
def limited(consul_agent, upstream):
    """A daemon with short TCP limits and three recursors: a closed port, a silent socket, the fake upstream."""
    silent = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    silent.bind(("127.0.0.1", 0))
    dead = engines.free_port()
    d = Daemon(consul_agent, "--tcp-idle-timeout", "1", "--tcp-max-connections", "3",
               "--recursor", f"127.0.0.1:{dead}", "--recursor", f"127.0.0.1:{silent.getsockname()[1]}",
               "--recursor", f"127.0.0.1:{upstream.port}", "--recursor-timeout", "0.3").start()
    yield d
    d.stop()
    silent.close()


def header(qid: int = 0x4242, flags: int = 0x0100, qd: int = 1, an: int = 0, ns: int = 0, ar: int = 0) -> bytes:
    return struct.pack("!HHHHHH", qid, flags, qd, an, ns, ar)


def question(name: str = "consul", rdtype: str = "SOA") -> bytes:
    return dns.message.make_query(name, rdtype).to_wire()[12:]


def test_foreign_names_are_refused(dns_daemon):
    msg = dns_daemon.ask("example.com")
    assert msg.rcode() == dns.rcode.REFUSED and not msg.answer
    assert not msg.flags & dns.flags.AA and not msg.flags & dns.flags.RA


def test_formerr_and_notimp(dns_daemon):
    for wire in (header(qd=0), header(qd=2) + question() + question(), header() + b"\x3fabc"):
        reply = dns.message.from_wire(dns_daemon.raw_udp(wire))
        assert reply.rcode() == dns.rcode.FORMERR and reply.id == 0x4242
    for opcode in (dns.opcode.STATUS, dns.opcode.NOTIFY, dns.opcode.UPDATE):
        reply = dns.message.from_wire(dns_daemon.raw_udp(header(flags=opcode << 11) + question()))
        assert reply.rcode() == dns.rcode.NOTIMP
    for rdtype in ("AXFR", "IXFR"):
        reply = dns.message.from_wire(dns_daemon.raw_udp(header() + question("consul", rdtype)))
        assert reply.rcode() == dns.rcode.NOTIMP


def test_responses_and_runts_get_no_reply(dns_daemon):
    """Send the packets that must be dropped, then a good query: the first reply is the good one's."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.settimeout(2)
        for bad in (header(qid=1, flags=0x8100) + question(), b"\x00\x02\x01", b""):
            s.sendto(bad, ("127.0.0.1", dns_daemon.port))
        s.sendto(header(qid=3) + question(), ("127.0.0.1", dns_daemon.port))
        assert dns.message.from_wire(s.recv(4096)).id == 3


def _tcp_query(sock: socket.socket, wire: bytes) -> None:
    sock.sendall(struct.pack("!H", len(wire)) + wire)


def _tcp_read(sock: socket.socket) -> dns.message.Message:
    def exactly(n: int) -> bytes:
        buf = b""
        while len(buf) < n:
            chunk = sock.recv(n - len(buf))
            if not chunk:
                raise EOFError
            buf += chunk
        return buf

    (length,) = struct.unpack("!H", exactly(2))
    return dns.message.from_wire(exactly(length))


def _closed_by_peer(sock: socket.socket, timeout: float) -> bool:
    sock.settimeout(timeout)
    try:
        return sock.recv(1) == b""
    except ConnectionResetError:
        return True
    except TimeoutError:
        return False


def test_tcp_pipelined_queries(limited):
    with socket.create_connection(("127.0.0.1", limited.port), timeout=3) as s:
        s.sendall(b"".join(struct.pack("!H", len(w)) + w for w in (header(qid=1) + question(),
                                                                      header(qid=2) + question("example.com", "A"))))
        first, second = _tcp_read(s), _tcp_read(s)
        assert (first.id, first.rcode()) == (1, dns.rcode.NOERROR)
        assert second.id == 2 and second.answer[0][0].address == "127.0.0.99"


def test_tcp_short_length_prefix_closes(limited):
    with socket.create_connection(("127.0.0.1", limited.port), timeout=3) as s:
        s.sendall(b"\x00\x05hello")
        assert _closed_by_peer(s, 3)


def test_tcp_idle_connections_are_closed(limited):
    with socket.create_connection(("127.0.0.1", limited.port), timeout=3) as s:
        assert _closed_by_peer(s, 5)


def test_tcp_connection_cap(limited):
    held = [socket.create_connection(("127.0.0.1", limited.port), timeout=3) for _ in range(3)]
    try:
        for s in held:  # each of the three is served
            _tcp_query(s, header() + question())
            assert _tcp_read(s).rcode() == dns.rcode.NOERROR
        with socket.create_connection(("127.0.0.1", limited.port), timeout=3) as extra:
            assert _closed_by_peer(extra, 3)
    finally:
        for s in held:
            s.close()

    def fresh_works() -> bool:
        with socket.create_connection(("127.0.0.1", limited.port), timeout=3) as s:
            _tcp_query(s, header() + question())
            return _tcp_read(s).rcode() == dns.rcode.NOERROR

    wait_for(fresh_works, 5, "a new connection once the others closed")


def test_recursion_is_opt_in_with_fallback_and_servfail(limited):
    t0 = time.monotonic()
    msg = limited.ask("example.com", timeout=5)
    assert msg.answer[0][0].address == "127.0.0.99" and msg.flags & dns.flags.RA
    assert time.monotonic() - t0 < 4  # the closed port and the silent one were skipped
    failed = limited.ask("silent.example.com", timeout=5)
    assert failed.rcode() == dns.rcode.SERVFAIL
    own = limited.ask("consul", "SOA")
    assert own.flags & dns.flags.AA and own.flags & dns.flags.RA


def test_health_and_metrics(services, dns_daemon):
    name = unique("obs")
    services(name, 0, "127.0.0.5")
    wait_for(lambda: dns_daemon.addresses(f"{name}.service.consul") == ["127.0.0.5"], 10, "registered")
    dns_daemon.ask("nothing-here.service.consul")
    status, body = dns_daemon.health()
    assert status == 200 and '"mirror_synced": true' in body
    m = dns_daemon.metrics()
    assert m['dns_balancer_queries_total{qtype="A",rcode="NOERROR"}'] >= 1
    assert m['dns_balancer_queries_total{qtype="A",rcode="NXDOMAIN"}'] >= 1
    assert m["dns_balancer_consul_reachable"] == 1 and m["dns_balancer_mirror_synced"] == 1
    assert m["dns_balancer_mirror_services"] >= 2 and m["dns_balancer_zone_instances"] >= 1
    assert "dns_balancer_stale_answers_total" in m and "dns_balancer_watch_errors_total" in m
