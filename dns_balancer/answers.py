"""Pure: the pre-encoded answers of one name, from the recipe the zone keeps for it (zone.py).

A recipe says what a name answers with and costs next to nothing to make; encoding it is the expensive part
(records, glue, rotation offsets), so the zone keeps recipes for every name and encodes a name's answers the
first time it is asked (or ahead of time, off the loop, for large answers and for names already asked).
Three kinds: a `Group` (a service name, a tag's, an RFC 2782 one: A, AAAA, SRV, ANY from a set of instances),
a packed IP address (an `.addr.` or `.node.` name: its A or AAAA, and ANY), and `Fixed` answers (the apex).

Every answer record's owner is the question (0xC00C); SRV glue owners are compressed against the question's
labels only (records.py). The bytes depend only on the recipe, the TTL and the datacenter, never on when or
in which order names were encoded."""

from __future__ import annotations

import struct
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import NamedTuple

from dns_balancer.records import (
    AAAA,
    ANY,
    NS,
    QNAME_PTR,
    SOA,
    SRV,
    A,
    Answer,
    BadName,
    addr_label,
    compress,
    encode_name,
    labels_of,
    make_answer,
    pack_ip,
    rr,
    srv_rdata,
    valid_label,
)
from dns_balancer.snapshot import Instance

TYPE_BYTES = {t: struct.pack("!H", t) for t in (A, NS, SOA, AAAA, SRV, ANY)}


class Group(NamedTuple):
    """A name answered by `members` (a service's healthy instances, or those with one tag); one recipe serves
    the name under each origin of a domain (the SRV glue is compressed against the name asked)."""

    members: Sequence[Instance]
    domain: tuple[str, ...]  # SRV targets are named under this domain
    shared: list[tuple[Answer | None, Answer | None]]  # the group's A/AAAA once encoded, for all its origins


@dataclass(frozen=True)
class Fixed:
    """Answers encoded when the recipe was made (the apex's: few, and rebuilt with every serial)."""

    answers: Mapping[int, Answer]


Recipe = Group | bytes | Fixed  # bytes: a packed IP address (4 or 16 bytes)


def wire_labels(name: bytes) -> tuple[str, ...]:
    """The labels of a name in wire form (one we made: ASCII, no compression)."""
    out = []
    i = 0
    while name[i]:
        out.append(name[i + 1 : i + 1 + name[i]].decode("ascii"))
        i += 1 + name[i]
    return tuple(out)


class Encoder:
    """Encodes recipes for one zone (its TTL and datacenter), remembering what many names share: each instance's
    SRV target, each address's packed form (keyed by everything they depend on; bounded: dropped past
    MEMO_LIMIT entries). One per thread: the loop has the zone's, a worker builds with its own."""

    MEMO_LIMIT = 1 << 16

    def __init__(self, ttl: int, dc: str) -> None:
        self.ttl = ttl
        self.dc = dc.lower()
        self._targets: dict[tuple[str, str, str, tuple[str, ...]], tuple[tuple[str, ...], bytes, bool] | None] = {}
        self._packed: dict[str, bytes | None] = {}

    def entries(self, name: bytes, recipe: Recipe) -> dict[bytes, Answer]:
        """The name's table entries (key = name + qtype) encoded from its recipe."""
        if isinstance(recipe, bytes):
            qtype = A if len(recipe) == 4 else AAAA
            answer = make_answer(qtype, [rr(QNAME_PTR, qtype, self.ttl, recipe)])
            answers: Mapping[int, Answer | None] = {qtype: answer, ANY: answer}
        elif isinstance(recipe, Fixed):
            answers = recipe.answers
        else:
            if not recipe.shared:
                recipe.shared.append(self.group_addresses(recipe.members))
            a, aaaa = recipe.shared[0]
            srv = self.srv_answer(recipe.members, wire_labels(name), recipe.domain)
            answers = {A: a, AAAA: aaaa, SRV: srv, ANY: a or aaaa}
        out: dict[bytes, Answer] = {}
        for qtype, found in answers.items():
            if found is not None:
                # the ANY entry shares the encoded bytes but counts as ANY in the metrics
                out[name + TYPE_BYTES[qtype]] = found if found.qtype == qtype else replace(found, qtype=qtype)
        return out

    def packed(self, address: str) -> bytes | None:
        found = self._packed.get(address, b"")
        if found == b"":
            if len(self._packed) >= self.MEMO_LIMIT:
                self._packed.clear()
            found = self._packed[address] = pack_ip(address)
        return found

    def address_record(self, owner: bytes, address: str) -> bytes:
        packed = self.packed(address)
        if packed is None:
            raise BadName(f"not an IP address: {address!r}")
        return rr(owner, A if len(packed) == 4 else AAAA, self.ttl, packed)

    def group_addresses(self, members: Sequence[Instance]) -> tuple[Answer | None, Answer | None]:
        """A and AAAA answers of a group, each address once, in the members' order."""
        v4: dict[str, bytes] = {}
        v6: dict[str, bytes] = {}
        for inst in members:
            packed = self.packed(inst.address)
            if packed is None:
                continue
            seen = v4 if len(packed) == 4 else v6
            if inst.address not in seen:
                seen[inst.address] = self.address_record(QNAME_PTR, inst.address)
        return (make_answer(A, list(v4.values())) if v4 else None,
                make_answer(AAAA, list(v6.values())) if v6 else None)

    def target(self, inst: Instance, domain: tuple[str, ...]) -> tuple[tuple[str, ...], bytes, bool] | None:
        """SRV target (labels, wire, glue?) of an instance; None when it cannot be encoded. The node's name when
        the instance uses the node's address, else Consul's `<hex>.addr.` name (a node name would be ambiguous
        when instances on one node have different addresses), else the hostname the service gave."""
        key = (inst.node, inst.address, inst.node_address, domain)
        if key in self._targets:
            return self._targets[key]
        if len(self._targets) >= self.MEMO_LIMIT:
            self._targets.clear()
        is_ip = self.packed(inst.address) is not None
        if is_ip and valid_label(inst.node) and inst.node_address in ("", inst.address):
            labels, glue = (inst.node.lower(), "node", self.dc, *domain), True
        elif is_ip:
            labels, glue = (addr_label(inst.address), "addr", self.dc, *domain), True
        else:
            labels, glue = labels_of(inst.address), False
        try:
            found: tuple[tuple[str, ...], bytes, bool] | None = (labels, encode_name(labels), glue)
        except BadName:
            found = None
        self._targets[key] = found
        return found

    def srv_answer(self, members: Sequence[Instance], qlabels: tuple[str, ...],
                   domain: tuple[str, ...]) -> Answer | None:
        records: list[bytes] = []
        glue: list[bytes] = []
        seen: set[bytes] = set()
        owners: dict[tuple[str, ...], bytes] = {}  # glue owner per target, compressed against this question
        for inst in members:
            found = self.target(inst, domain)
            if found is None:
                continue
            target, wire, has_glue = found
            record = rr(QNAME_PTR, SRV, self.ttl, srv_rdata(1, inst.weight, inst.port, wire))
            if record in seen:
                continue
            seen.add(record)
            records.append(record)
            if has_glue:
                owner = owners.get(target)
                if owner is None:
                    owner = owners[target] = compress(target, qlabels)
                glue.append(self.address_record(owner, inst.address))
            else:
                glue.append(b"")
        return make_answer(SRV, records, glue) if records else None

    def answers_anything(self, members: Sequence[Instance], domain: tuple[str, ...]) -> bool:
        """Whether a group's name has at least one answer (an IP address, or an SRV target that encodes),
        decided without encoding it: names exist only while they answer something."""
        if any(self.packed(inst.address) is not None for inst in members):
            return True
        return any(self.target(inst, domain) is not None for inst in members)
