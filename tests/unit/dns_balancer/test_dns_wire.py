"""The responder on raw bytes: fast and careful paths, rotation, size rules, errors, fuzzing."""

from __future__ import annotations

import struct
from collections import Counter

import dns.flags
import dns.message
import dns.opcode
import dns.rcode
import dns.rdatatype
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dns_balancer.forward import parse_recursor, truncate_forwarded
from dns_balancer.wire import Forward, Responder
from dns_balancer.zone import ZoneConfig, build_zone
from tests.support.dnsb_helpers import ask, inst, query, responder, snapshot

THREE = {"web": (inst(0), inst(1), inst(2))}
FORTY = {"big": tuple(inst(i, service="big") for i in range(40))}


def raw(r: Responder, wire: bytes, tcp: bool = False, recurse: bool = True) -> bytes:
    reply = r.answer(wire, tcp, recurse)
    assert isinstance(reply, bytes)
    return reply


def test_reply_echoes_id_and_question_exactly_as_asked():
    r = responder(THREE)
    wire = query("WeB.SeRvIcE.CoNsUl", qid=0xBEEF)
    reply = raw(r, wire)
    assert reply[:2] == b"\xbe\xef"
    assert reply[12 : 12 + len(wire) - 12] == wire[12:]
    msg = dns.message.from_wire(reply)
    assert msg.flags & dns.flags.QR and msg.flags & dns.flags.AA and msg.flags & dns.flags.RD
    assert not msg.flags & dns.flags.RA and not msg.flags & dns.flags.TC
    assert str(msg.question[0].name) == "WeB.SeRvIcE.CoNsUl."


def test_round_robin_three_instances_300_queries_each_first_100_times():
    r = responder(THREE)
    firsts = Counter()
    for i in range(300):
        name = "web.service.consul" if i % 2 else "WEB.service.CONSUL"  # case does not split the counter
        firsts[ask(r, name).answer[0][0].address] += 1
    assert firsts == {"127.0.0.2": 100, "127.0.0.3": 100, "127.0.0.4": 100}


def test_rotation_keeps_the_order_cyclic():
    r = responder(THREE)
    first = [rd.address for rd in ask(r, "web.service.consul").answer[0]]
    second = [rd.address for rd in ask(r, "web.service.consul").answer[0]]
    assert second == first[1:] + first[:1]


def test_a_record_limit_caps_after_rotation():
    r = responder({"web": tuple(inst(i) for i in range(5))}, a_record_limit=2)
    seen = Counter()
    for _ in range(5):
        msg = ask(r, "web.service.consul")
        assert len(msg.answer[0]) == 2 and not msg.flags & dns.flags.TC
        seen.update(rd.address for rd in msg.answer[0])
    assert len(seen) == 5 and set(seen.values()) == {2}


def test_udp_without_edns_truncates_at_512_with_tc_and_tcp_serves_all():
    r = responder(FORTY)
    reply = raw(r, query("big.service.consul"))
    assert len(reply) <= 512
    msg = dns.message.from_wire(reply)
    assert msg.flags & dns.flags.TC
    full = dns.message.from_wire(raw(r, query("big.service.consul"), tcp=True))
    assert not full.flags & dns.flags.TC and len(full.answer[0]) == 40


def test_edns_size_is_honoured_and_capped_at_1232():
    r = responder(FORTY)
    a = raw(r, query("big.service.consul", edns=4096))
    assert len(a) <= 1232 and len(dns.message.from_wire(a).answer[0]) == 40  # 40 A records fit
    srv = raw(r, query("_big._tcp.service.consul", "SRV", edns=4096))
    msg = dns.message.from_wire(srv)
    assert len(srv) <= 1232 and msg.flags & dns.flags.TC and 0 < len(msg.answer[0]) < 40
    small = raw(r, query("big.service.consul", edns=100))  # under 512 counts as 512
    assert len(small) <= 512 and dns.message.from_wire(small).flags & dns.flags.TC
    srv_tcp = dns.message.from_wire(raw(r, query("_big._tcp.service.consul", "SRV", edns=4096), tcp=True))
    assert len(srv_tcp.answer[0]) == 40 and sum(len(x) for x in srv_tcp.additional) == 40


def test_glue_is_trimmed_without_tc_when_the_answer_fits():
    r = responder({"mid": tuple(inst(i, service="mid") for i in range(10))})
    reply = raw(r, query("_mid._tcp.service.consul", "SRV"))
    msg = dns.message.from_wire(reply)
    assert len(reply) <= 512 and not msg.flags & dns.flags.TC
    assert len(msg.answer[0]) == 10 and sum(len(x) for x in msg.additional) < 10


def test_edns_opt_is_echoed_with_do():
    r = responder(THREE)
    msg = dns.message.from_wire(raw(r, query("web.service.consul", edns=1232, want_dnssec=True)))
    assert msg.edns == 0 and msg.payload == 1232 and msg.ednsflags & dns.flags.DO
    plain = dns.message.from_wire(raw(r, query("web.service.consul")))
    assert plain.edns == -1


def test_edns_version_1_gets_badvers():
    msg = dns.message.make_query("web.service.consul", "A", use_edns=1)
    reply = dns.message.from_wire(raw(responder(THREE), msg.to_wire()))
    assert reply.rcode() == dns.rcode.BADVERS


def test_foreign_names_refused_without_aa_or_ra():
    msg = ask(responder(THREE), "example.com")
    assert msg.rcode() == dns.rcode.REFUSED and not msg.flags & (dns.flags.AA | dns.flags.RA)


def test_recursion_forwards_foreign_names_and_sets_ra():
    r = responder(THREE, recursion=True)
    assert isinstance(r.answer(query("example.com")), Forward)
    assert ask(r, "web.service.consul").flags & dns.flags.RA


def _header(qid: int = 7, flags: int = 0x0100, qd: int = 1, an: int = 0, ns: int = 0, ar: int = 0) -> bytes:
    return struct.pack("!HHHHHH", qid, flags, qd, an, ns, ar)


def test_formerr_for_qdcount_not_one_and_bad_questions():
    r = responder(THREE)
    question = query("web.service.consul")[12:]
    for bad in (_header(qd=0), _header(qd=2) + question + question, _header() + b"\x05ab",
                _header() + b"\xc0\x0c\x00\x01\x00\x01", _header() + b"\x03web\x00\x00"):
        msg = dns.message.from_wire(raw(r, bad))
        assert msg.rcode() == dns.rcode.FORMERR and msg.id == 7


def test_notimp_for_other_opcodes_and_zone_transfers():
    r = responder(THREE)
    question = query("web.service.consul")[12:]
    for opcode in (dns.opcode.IQUERY, dns.opcode.STATUS, dns.opcode.NOTIFY, dns.opcode.UPDATE):
        reply = dns.message.from_wire(raw(r, _header(flags=opcode << 11) + question))
        assert reply.rcode() == dns.rcode.NOTIMP and reply.opcode() == opcode
    for rdtype in ("AXFR", "IXFR"):
        assert ask(r, "consul", rdtype).rcode() == dns.rcode.NOTIMP


def test_responses_and_short_packets_are_dropped():
    r = responder(THREE)
    wire = bytearray(query("web.service.consul"))
    wire[2] |= 0x80
    assert r.answer(bytes(wire)) is None
    assert r.answer(b"\x00" * 11) is None
    assert r.answer(b"") is None
    assert r.dropped == 3


def test_unusual_but_valid_queries_take_the_careful_path():
    r = responder(THREE)
    # class ANY, trailing bytes, an OPT with options (cookie)
    q = bytearray(query("web.service.consul"))
    q[-1] = 255
    assert dns.message.from_wire(raw(r, bytes(q))).answer
    assert dns.message.from_wire(raw(r, query("web.service.consul") + b"\x00\x00")).answer
    msg = dns.message.make_query("web.service.consul", "A", use_edns=0, options=[dns.edns.GenericOption(10, b"x" * 8)])
    assert dns.message.from_wire(raw(r, msg.to_wire())).answer
    ch = bytearray(query("web.service.consul"))
    ch[-1] = 3  # CHAOS
    assert dns.message.from_wire(raw(r, bytes(ch))).rcode() == dns.rcode.REFUSED


def test_servfail_until_the_first_sync_then_nxdomain():
    r = Responder()
    assert ask(r, "web.service.consul").rcode() == dns.rcode.REFUSED  # no zone yet: nothing is ours
    zone = build_zone(snapshot(THREE), ZoneConfig())
    r.set_zone(zone, ready=False)
    assert ask(r, "nope.service.consul").rcode() == dns.rcode.SERVFAIL
    assert ask(r, "web.service.consul").answer  # what is known is served
    r.set_zone(zone, ready=True)
    assert ask(r, "nope.service.consul").rcode() == dns.rcode.NXDOMAIN


def test_stale_answers_are_counted():
    r = responder(THREE)
    r.stale = True
    ask(r, "web.service.consul")
    ask(r, "nope.service.consul")
    assert r.stale_answers == 2


def test_counts_by_type_and_rcode():
    r = responder(THREE)
    ask(r, "web.service.consul")
    ask(r, "web.service.consul", "ANY")
    ask(r, "nope.service.consul")
    ask(r, "example.com")
    assert r.query_counts() == {(1, 0): 1, (255, 0): 1, (1, 3): 1, (1, 5): 1}


def test_forwarded_replies_are_held_to_the_client_size():
    q = query("example.com", qid=9)
    fwd = Forward(limit=512, question_end=len(q))
    small = dns.message.make_response(dns.message.from_wire(q)).to_wire()
    assert truncate_forwarded(small, q, fwd) == small
    big = small + b"\x00" * 600
    cut = truncate_forwarded(big, q, fwd)
    assert cut is not None and len(cut) <= 512 and dns.message.from_wire(cut).flags & dns.flags.TC
    assert truncate_forwarded(b"\x00\x01" + small[2:], q, fwd) is None  # wrong ID
    assert truncate_forwarded(q, q, fwd) is None  # not a response


def test_parse_recursor():
    assert parse_recursor("127.0.0.53") == ("127.0.0.53", 53)
    assert parse_recursor("127.0.0.53:5353") == ("127.0.0.53", 5353)
    assert parse_recursor("[::1]:5353") == ("::1", 5353)
    assert parse_recursor("::1") == ("::1", 53)


# ---- fuzzing: whatever comes in, the reply is None or a parseable message within the size rules -----------
_FUZZ_RESPONDER = responder({**THREE, **FORTY})
_SEEDS = [
    query("web.service.consul"), query("_big._tcp.service.consul", "SRV", edns=1232), query("consul", "SOA"),
    query("example.com"), query("big.service.consul", edns=600), query("nope.service.consul", "AAAA"),
]


def check_reply(wire: bytes, tcp: bool) -> None:
    reply = _FUZZ_RESPONDER.answer(wire, tcp)
    if reply is None:
        return
    assert isinstance(reply, bytes)
    msg = dns.message.from_wire(reply)
    assert msg.id == int.from_bytes(wire[:2], "big") and msg.flags & dns.flags.QR
    if not tcp:
        assert len(reply) <= 1232
        if len(wire) < 12 or wire[10:12] == b"\x00\x00":
            assert len(reply) <= 512


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=600), st.booleans())
def test_fuzz_random_bytes(data, tcp):
    check_reply(data, tcp)
    assert _FUZZ_RESPONDER.errors == 0


@settings(max_examples=500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from(_SEEDS), st.lists(st.tuples(st.integers(0, 700), st.integers(0, 255)), max_size=6),
       st.integers(0, 80), st.binary(max_size=20), st.booleans())
def test_fuzz_mutated_queries(seed, flips, cut, tail, tcp):
    data = bytearray(seed)
    for pos, value in flips:
        if data:
            data[pos % len(data)] = value
    data = data[: len(data) - cut] if cut < len(data) else data
    check_reply(bytes(data) + tail, tcp)
    assert _FUZZ_RESPONDER.errors == 0


# ---- the additional section, parsed by hand -------------------------------------------------------------
def _opt(payload: int = 1232, version: int = 0, options: bytes = b"", owner: bytes = b"\x00") -> bytes:
    return owner + struct.pack("!HHBBHH", 41, payload, 0, version, 0, len(options)) + options


def _with_additional(*records: bytes, an: int = 0, ns: int = 0, body: bytes = b"") -> bytes:
    question = query("web.service.consul")[12:]
    return _header(an=an, ns=ns, ar=len(records)) + question + body + b"".join(records)


def test_one_root_opt_with_options_is_accepted():
    r = responder(THREE)
    cookie = struct.pack("!HH", 10, 8) + b"c" * 8
    msg = dns.message.from_wire(raw(r, _with_additional(_opt(options=cookie + struct.pack("!HH", 12, 0)))))
    assert msg.rcode() == dns.rcode.NOERROR and msg.answer and msg.edns == 0


def test_anything_else_in_the_additional_section_is_formerr():
    r = responder(THREE)
    a_record = b"\x00" + struct.pack("!HHIH", 1, 1, 0, 4) + b"\x7f\x00\x00\x01"
    tsig_like = b"\x00" + struct.pack("!HHIH", 250, 255, 0, 0)
    bad = [
        _with_additional(_opt(), _opt()),  # two OPT records
        _with_additional(_opt(owner=b"\x03abc\x00")),  # an OPT not owned by the root
        _with_additional(_opt(owner=b"\xc0\x0c")),  # a compressed owner
        _with_additional(a_record),  # something that is not an OPT
        _with_additional(_opt(), tsig_like),  # OPT plus TSIG
        _with_additional(_opt(options=b"\x00\x0a\x00\x09abc")),  # an option longer than the RDATA
        _with_additional(_opt(options=b"\x00\x0a\x00")),  # half an option header
        _with_additional(_opt(options=b"\x00\x0c\x00\x00" * 33)),  # over MAX_OPTIONS
        _with_additional(_opt())[:-3],  # the OPT cut short
        _with_additional(an=1, body=a_record),  # records in the answer section of a query
        _with_additional(ns=1, body=a_record),  # ... or in authority
    ]
    for wire in bad:
        msg = dns.message.from_wire(raw(r, wire))
        assert msg.rcode() == dns.rcode.FORMERR and msg.id == 7, wire.hex()


def test_pointer_chain_packets_are_formerr_without_decoding():
    from testbed.dnspackets import worst_packets

    r = responder(THREE)
    for name, wire in worst_packets().items():
        reply = raw(r, wire, tcp=len(wire) > 1232)
        assert reply[3] & 0x0F == dns.rcode.FORMERR and len(reply) == 12, name


# ---- recursion only for clients allowed to recurse, and only with RD --------------------------------------
def test_no_forwarding_without_rd():
    r = responder(THREE, recursion=True)
    wire = bytearray(query("example.com"))
    wire[2] &= ~0x01
    msg = dns.message.from_wire(raw(r, bytes(wire)))
    assert msg.rcode() == dns.rcode.REFUSED


def test_clients_not_allowed_to_recurse_get_refused_and_no_ra():
    r = responder(THREE, recursion=True)
    msg = dns.message.from_wire(raw(r, query("example.com"), recurse=False))
    assert msg.rcode() == dns.rcode.REFUSED and not msg.flags & dns.flags.RA
    own = dns.message.from_wire(raw(r, query("web.service.consul"), recurse=False))
    assert own.answer and not own.flags & dns.flags.RA
    nx = dns.message.from_wire(raw(r, query("nope.service.consul"), recurse=False))
    assert nx.rcode() == dns.rcode.NXDOMAIN and not nx.flags & dns.flags.RA
    assert dns.message.from_wire(raw(r, query("nope.service.consul"))).flags & dns.flags.RA


def test_on_ready_runs_once_after_the_first_ready_zone():
    calls = []
    r = Responder(recursion=False, on_ready=lambda: calls.append(1))
    zone = build_zone(snapshot(THREE), ZoneConfig())
    r.set_zone(zone, ready=False)
    assert calls == []
    r.set_zone(zone, ready=True)
    r.set_zone(zone, ready=True)
    assert calls == [1]


# ---- the reply cache: repeated UDP questions, byte for byte after the ID -----------------------------------
def _firsts(r: Responder, wires: list[bytes]) -> list[str]:
    return [dns.message.from_wire(raw(r, w)).answer[0][0].address for w in wires]


def test_cached_replies_keep_one_rotation_per_name_across_spellings():
    r = responder(THREE)
    plain, shout = query("web.service.consul"), query("WEB.SERVICE.CONSUL")
    edns = query("web.service.consul", edns=1232)
    seq = _firsts(r, [plain, shout, edns] * 4)
    assert seq == ["127.0.0.2", "127.0.0.3", "127.0.0.4"] * 4  # one counter, whichever spelling and cache state
    assert len(r.cache.entries) == 3 and r.query_counts()[(1, 0)] == 12
    again = dns.message.from_wire(raw(r, query("web.service.consul", qid=0x4321)))
    assert again.id == 0x4321 and again.question[0].name.to_text() == "web.service.consul."


def test_cache_is_dropped_on_a_zone_change_and_counts_stay_right():
    r = responder(THREE)
    wire = query("web.service.consul")
    for _ in range(6):
        raw(r, wire)
    r.set_zone(build_zone(snapshot({"web": (inst(0), inst(1), inst(2), inst(3))}), ZoneConfig()))
    assert not r.cache.entries
    assert sorted(rd.address for rd in dns.message.from_wire(raw(r, wire)).answer[0]) == [
        "127.0.0.2", "127.0.0.3", "127.0.0.4", "127.0.0.5"]
    r.stale = True
    for _ in range(8):
        raw(r, wire)
    assert r.stale_answers == 8 and r.query_counts()[(1, 0)] == 15 and not r.cache.entries
    big = responder(FORTY)
    for _ in range(3):
        raw(big, query("big.service.consul"))  # 40 records: too many to cache, truncated every time
    assert big.truncated == 3 and not big.cache.entries


def test_cache_is_bounded(monkeypatch):
    from dns_balancer import replycache

    monkeypatch.setattr(replycache, "MAX_ENTRIES", 4)
    r = responder(THREE)
    spellings = ["".join(c.upper() if i >> j & 1 else c for j, c in enumerate("web")) + ".service.consul"
                 for i in range(8)]  # 0x20 case: eight distinct queries, one name
    sizes = []
    for name in spellings:
        raw(r, query(name))
        sizes.append(len(r.cache.entries))
    assert sizes == [1, 2, 3, 4, 1, 2, 3, 4]  # full: dropped and started over
    assert _firsts(r, [query(spellings[0])] * 3) == ["127.0.0.4", "127.0.0.2", "127.0.0.3"]  # 8 answers so far


def test_cache_serves_clients_by_their_ra_bit():
    r = responder(THREE)  # no recursion: RA is clear for everyone, one cache for all
    raw(r, query("web.service.consul"), recurse=False)
    assert len(r.cache.entries) == 1
    rec = responder(THREE, recursion=True)
    raw(rec, query("web.service.consul"), recurse=False)  # RA clear for this client: not from the shared cache
    assert not rec.cache.entries
    raw(rec, query("web.service.consul"))
    cached = dns.message.from_wire(raw(rec, query("web.service.consul"), recurse=False))
    assert not cached.flags & dns.flags.RA


def test_cached_hits_are_counted_by_type_and_truncation():
    twenty = responder({"srv": tuple(inst(i, service="srv") for i in range(20))})
    srv = query("_srv._tcp.service.consul", "SRV")  # 20 SRV records: over 512 bytes, so TC without EDNS
    replies = [dns.message.from_wire(raw(twenty, srv)) for _ in range(45)]
    assert all(m.flags & dns.flags.TC for m in replies) and len(twenty.cache.entries) == 1
    assert twenty.truncated == 45 and twenty.query_counts()[(dns.rdatatype.SRV, 0)] == 45
    firsts = [m.answer[0][0].target.to_text() if m.answer else None for m in replies[:20]]
    assert len(set(firsts)) == 20  # rotated through every instance, cached or not
    raw(twenty, query("srv.service.consul"))
    assert twenty.truncated == 45 and twenty.query_counts()[(dns.rdatatype.A, 0)] == 1


def test_stale_answers_skip_the_cache():
    r = responder(THREE)
    wire = query("web.service.consul")
    for _ in range(3):  # one reply per rotation offset
        raw(r, wire)
    assert r.cache.reply(wire) is not None
    r.stale = True  # counted one by one on the uncached path from now on
    assert r.cache.reply(wire) is None
    for _ in range(4):
        raw(r, wire)
    assert not r.cache.entries and r.stale_answers == 4
    r.stale = False
    raw(r, wire)
    raw(r, wire)
    assert r.stale_answers == 4 and r.query_counts()[(1, 0)] == 10


def test_udp_protocol_answers_a_repeated_question_from_the_cache():
    from dns_balancer.server import DnsServer, ServerConfig, UdpProtocol

    class Transport:
        def __init__(self) -> None:
            self.sent: list[tuple[bytes, tuple[str, int]]] = []

        def sendto(self, data: bytes, addr: tuple[str, int]) -> None:
            self.sent.append((data, addr))

    r = responder(THREE)
    protocol = UdpProtocol(DnsServer(r, ServerConfig()))
    transport = Transport()
    protocol.connection_made(transport)  # type: ignore[arg-type]
    for qid in range(6):
        protocol.datagram_received(query("web.service.consul", qid=qid), ("127.0.0.1", 5353))
    messages = [dns.message.from_wire(data) for data, _ in transport.sent]
    assert [m.id for m in messages] == list(range(6))
    assert [m.answer[0][0].address for m in messages] == ["127.0.0.2", "127.0.0.3", "127.0.0.4"] * 2
    assert r.query_counts()[(1, 0)] == 6 and len(r.cache.entries) == 1
