"""Pure parts of the client policy: the allow-list / recursion verdicts and the response-rate limiter."""

from __future__ import annotations

import dns.flags
import dns.message
import pytest

from dns_balancer.access import LOOPBACK, Access, parse_networks
from dns_balancer.ratelimit import DROP, SEND, SLIP, RateLimitConfig, RateLimiter, truncated
from tests.support.dnsb_helpers import inst, query, responder


def test_parse_networks():
    nets = parse_networks("127.0.0.0/8, 198.18.0.1 ::1")
    assert [str(n) for n in nets] == ["127.0.0.0/8", "198.18.0.1/32", "::1/128"]
    with pytest.raises(ValueError, match="'nope'"):
        parse_networks("127.0.0.1,nope")


def test_verdicts():
    access = Access(parse_networks("198.18.0.0/15"), parse_networks("198.18.5.0/24"))
    assert not access.open
    assert access.verdict("198.18.1.1").allowed and not access.verdict("198.18.1.1").recurse
    assert access.verdict("198.18.5.9").recurse
    assert not access.verdict("127.0.0.1").allowed
    assert access.verdict("::ffff:198.18.5.9").recurse  # a dual-stack socket's IPv4 peer
    assert not access.verdict("not an address").allowed
    everyone = Access(None, LOOPBACK)
    assert everyone.verdict("198.18.1.1").allowed and not everyone.verdict("198.18.1.1").recurse
    assert everyone.verdict("127.0.0.1").recurse and everyone.verdict("::1").recurse
    assert Access(None, None).open


def _reply(name: str = "web.service.consul") -> tuple[bytes, bytes]:
    r = responder({"web": (inst(0), inst(1))})
    q = query(name)
    reply = r.answer(q)
    assert isinstance(reply, bytes)
    return q, reply


def test_rate_limit_per_netblock_and_name_with_slip():
    limiter = RateLimiter(RateLimitConfig(rate=5, slip=2))
    q, reply = _reply()
    actions = [limiter.check("198.18.1.1", q, reply, 100.0) for _ in range(11)]
    assert actions[:5] == [SEND] * 5  # a burst of `rate`
    assert actions[5:] == [DROP, SLIP] * 3  # then every second dropped response slips
    assert limiter.check("198.18.1.200", q, reply, 100.0) == DROP  # the same /24 shares the bucket
    assert limiter.check("198.18.2.1", q, reply, 100.0) == SEND  # another netblock does not
    q2, reply2 = _reply("web.service.consul.")
    q2 = query("web.service.consul", "AAAA")
    assert limiter.check("198.18.1.1", q2, reply2, 100.0) == SEND  # another type: its own bucket
    assert limiter.check("198.18.1.1", q, reply, 100.2) == SEND  # 0.2 s at 5/s: one token back
    assert limiter.check("198.18.1.1", q, reply, 100.2) in (DROP, SLIP)
    assert limiter.dropped + limiter.slipped == 8


def test_nxdomain_and_errors_share_a_bucket_per_netblock():
    r = responder({"web": (inst(0),)})
    limiter = RateLimiter(RateLimitConfig(rate=2, slip=0))
    sent = 0
    for i in range(10):
        q = query(f"random{i}.service.consul")
        reply = r.answer(q)
        assert isinstance(reply, bytes)
        sent += limiter.check("198.18.1.1", q, reply, 5.0) == SEND
    assert sent == 2 and limiter.slipped == 0


def test_slip_reply_is_truncated_with_the_question_only():
    q, reply = _reply()
    short = truncated(reply)
    assert short is not None
    msg = dns.message.from_wire(short)
    assert msg.flags & dns.flags.TC and not msg.answer and msg.id == dns.message.from_wire(q).id
    assert truncated(reply[:2] + reply[2:4] + b"\x00\x00" + reply[6:12]) is None  # no question: nothing to slip


def test_table_is_bounded():
    limiter = RateLimiter(RateLimitConfig(rate=1, max_entries=10))
    q, reply = _reply()
    for i in range(30):
        assert limiter.check(f"198.18.{i}.1", q, reply, 1.0) == SEND
    assert len(limiter.buckets) == 10 and limiter.untracked == 20
    assert limiter.check("198.18.200.1", q, reply, 3.0) == SEND  # idle buckets purged: tracked again
    assert len(limiter.buckets) == 1
