"""Crafted DNS packets shared by the abuse tests and bench/dns_worst_packet.py: the queries that cost a generic
DNS decoder the most. A valid-looking question, then an additional section whose owner names are chains of
compression pointers (each link a one-letter label and a pointer to the previous link), repeated in as many
records as the packet size allows: a decoder that follows every chain pays links x records steps per packet."""

from __future__ import annotations

import struct

_QUESTION = b"\x06consul\x00\x00\x06\x00\x01"  # consul. SOA IN


def pointer_chain_packet(size: int, links: int, qid: int = 7) -> bytes:
    """A query of at most `size` bytes: QDCOUNT=1, ARCOUNT=n; the first additional record carries the chain in
    its RDATA (so the bytes sit inside a well-formed record), every further record's owner points at the chain's
    deepest link."""
    body = bytearray(_QUESTION)
    start = 12 + len(body) + 11  # the chain starts after the first record's root owner and fixed fields
    chain = bytearray()
    prev = 12  # the first link points at the question name
    for _ in range(links):
        offset = start + len(chain)
        chain += b"\x01a" + struct.pack("!H", 0xC000 | prev)
        prev = offset
    body += b"\x00" + struct.pack("!HHIH", 1, 1, 0, len(chain)) + chain
    records = 1
    while 12 + len(body) + 12 <= size:
        body += struct.pack("!HHHIH", 0xC000 | prev, 1, 1, 0, 0)
        records += 1
    return struct.pack("!HHHHHH", qid, 0x0100, 1, 0, 0, records) + bytes(body)


def many_options_packet(size: int, qid: int = 7) -> bytes:
    """A query with one OPT record filled with empty options (4 bytes each) up to `size`: the most work for a
    parser that walks the options."""
    room = size - 12 - len(_QUESTION) - 11
    options = b"\x00\x0a\x00\x00" * (room // 4)
    opt = b"\x00\x00\x29\x04\xd0\x00\x00\x00\x00" + struct.pack("!H", len(options)) + options
    return struct.pack("!HHHHHH", qid, 0x0100, 1, 0, 0, 1) + _QUESTION + opt


def worst_packets() -> dict[str, bytes]:
    """The most expensive variants we know, by transport and size. Pointer chains of 3 links were the costliest
    for dnslib (long enough to cost, short enough that it does not give up early); many options are the
    costliest for a parser that walks an OPT record."""
    return {
        "chain-512": pointer_chain_packet(512, 3),
        "chain-1232": pointer_chain_packet(1232, 3),
        "chain-64k": pointer_chain_packet(65535, 3),
        "options-1232": many_options_packet(1232),
        "options-64k": many_options_packet(65535),
    }
