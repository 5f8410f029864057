"""Forwarder edge cases that need no real recursor (the full path is in the integration tests)."""

from __future__ import annotations

import socket

import dns.message
import dns.rcode

from dns_balancer.forward import Forwarder
from dns_balancer.wire import Forward
from tests.support.dnsb_helpers import query


def _closed_udp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


async def test_all_recursors_failing_gives_servfail_with_the_question():
    q = query("example.com", qid=77)
    fwd = Forwarder([("127.0.0.1", _closed_udp_port())], timeout=0.5)
    reply = dns.message.from_wire(await fwd.resolve(q, Forward(512, len(q))))
    assert reply.id == 77 and reply.rcode() == dns.rcode.SERVFAIL and str(reply.question[0].name) == "example.com."
    assert fwd.results["servfail"] == 1 and fwd.results["failed_try"] == 1 and fwd.inflight == 0


async def test_over_the_inflight_cap_is_servfail_without_forwarding():
    q = query("example.com")
    fwd = Forwarder([("127.0.0.1", 9)], max_inflight=0)
    reply = dns.message.from_wire(await fwd.resolve(q, Forward(512, len(q))))
    assert reply.rcode() == dns.rcode.SERVFAIL and fwd.results["over_limit"] == 1 and fwd.results["failed_try"] == 0
