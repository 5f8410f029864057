"""Pure: the parts a zone is made of (zone.py), each a function of its data: one per service, one for the nodes,
one for the apexes. A part lists the names it answers, each with a recipe (answers.py), the empty non-terminals
its names make exist (`service.<origin>`, `_<tag>.service.<origin>`, ...) and the addresses whose `.addr.`
names it needs; nothing is encoded here but the apex's few answers, so a part costs a few dict entries per name.
`Builder.warm` encodes the names that should not wait for their first query (large groups, names already
asked)."""

from __future__ import annotations

import struct
from collections.abc import Container, Mapping
from dataclasses import dataclass
from typing import NamedTuple

from dns_balancer.answers import Encoder, Fixed, Group, Recipe
from dns_balancer.records import (
    ANY,
    NS,
    QNAME_PTR,
    SOA,
    Answer,
    BadName,
    compress,
    encode_name,
    labels_of,
    make_answer,
    rr,
    soa_rdata,
    valid_label,
)
from dns_balancer.snapshot import Instance, Node, served

WARM_MEMBERS = 64  # a group this large is encoded off the loop, not on its first query
NODES, APEX = "\0nodes", "\0apex"  # part keys that no service name can take (NUL is not a valid label byte)
Entries = dict[bytes, Answer]
_SERVICE, _TCP, _ADDR = b"\x07service", b"\x04_tcp", b"\x04addr"


@dataclass(frozen=True)
class ZoneConfig:
    domain: str = "consul"
    alt_domain: str | None = None
    datacenter: str | None = None  # None: the datacenter Consul reports, else "dc1"
    ttl: int = 5
    negative_ttl: int = 5
    only_passing: bool = False
    ns_address: str | None = None  # A/AAAA of ns.<domain> (our listen address when it is a specific IP)
    bare_names: bool = True  # names without the datacenter label too (False: another datacenter's zone)

    def domains(self) -> tuple[tuple[str, ...], ...]:
        out = [labels_of(self.domain)]
        if self.alt_domain and labels_of(self.alt_domain) not in out:
            out.append(labels_of(self.alt_domain))
        return tuple(d for d in out if d)


@dataclass(frozen=True)
class Apex:
    """One domain we are authoritative for; `soa_tail` is its SOA record minus the owner name (negative TTL),
    for the authority section of negative answers."""

    labels: tuple[str, ...]
    soa_tail: bytes


@dataclass(frozen=True)
class Part:
    """What one service (or the nodes, or the apexes) puts in the zone. Names are in wire form, lowercased."""

    recipes: Mapping[bytes, Recipe]  # the names it answers, and how
    ents: frozenset[bytes] = frozenset()  # the names it makes exist without answering them (their ancestors)
    addresses: tuple[bytes, ...] = ()  # packed IPs of its instances: each one's `<hex>.addr.` names
    instances: tuple[Instance, ...] = ()
    served: int = 0  # healthy instances published
    big: bool = False  # a group of WARM_MEMBERS instances or more: encode it off the loop
    # set on another datacenter's part lent to this zone (leases.py): its names' SRV targets and `.addr.` names
    # are that datacenter's (its zone is this one's config with that datacenter and no bare names)
    dc: str | None = None


EMPTY_PART = Part({})


class Origin(NamedTuple):
    labels: tuple[str, ...]  # the domain, with the datacenter label in front or not
    domain: tuple[str, ...]
    wire: bytes
    up: tuple[bytes, ...]  # the origin and its ancestors down to the domain: they exist with any name below


def label(text: str) -> bytes:
    """One label in wire form (the caller checked it: ASCII, 1..63 bytes)."""
    return bytes((len(text),)) + text.encode("ascii")


def origins(cfg: ZoneConfig, dc: str) -> list[Origin]:
    """Each domain with and without the datacenter label (an origin that cannot be encoded has no names); only
    with it for another datacenter's zone (`bare_names=False`)."""
    out = []
    for domain in cfg.domains():
        forms = [domain] if cfg.bare_names else []
        if valid_label(dc):
            forms.append((dc.lower(), *domain))
        for labels in forms:
            try:
                wire = encode_name(labels)
            except BadName:
                continue
            up, rest = [], wire
            for _ in range(len(labels) - len(domain) + 1):
                up.append(rest)
                rest = rest[rest[0] + 1 :]
            out.append(Origin(labels, domain, wire, tuple(up)))
    return out


def address_names(packed: bytes, zone_origins: list[Origin]) -> tuple[tuple[bytes, ...], tuple[bytes, ...]]:
    """`<hex>.addr.<origin>` of an address (Consul's name for an SRV target that is not a node's), and the
    names they make exist (`addr.<origin>` and the origins)."""
    head = label(packed.hex()) + _ADDR
    fits = [o for o in zone_origins if len(head) + len(o.wire) <= 255]
    return tuple(head + o.wire for o in fits), tuple({n for o in fits for n in (_ADDR + o.wire, *o.up)})


class Builder:
    """Makes the parts of one zone (its config and datacenter), sharing per-build memos across services: what a
    tag or a parent name turns into is worked out once per build, not once per service. The first build of a
    5,000-service catalog makes 5,000 parts: every step here is per service or per tag, never per name kind."""

    def __init__(self, cfg: ZoneConfig, dc: str) -> None:
        self.cfg, self.dc = cfg, dc
        self.origins = origins(cfg, dc)
        self.encoder = Encoder(cfg.ttl, dc)
        self._tags: dict[str, tuple[bytes | None, bytes | None]] = {}
        self._ents: dict[bytes, tuple[list[tuple[bytes, ...]], tuple[bytes, ...]]] = {}

    def _tag(self, tag: str) -> tuple[bytes | None, bytes | None]:
        """The tag's label (wire form) in `<tag>.<svc>` and in `_<svc>._<tag>` (None: not published that way)."""
        found = self._tags.get(tag)
        if found is None:
            t = tag.lower()
            ok = valid_label(t)
            found = self._tags[tag] = (label(t) if ok else None,
                                       label(f"_{t}") if ok and t != "tcp" and len(t) < 63 else None)
        return found

    def _groups(self, svc: str, members: list[Instance]) -> dict[bytes, tuple[bytes, list[Instance]]]:
        """The service's names below the origin (wire, no root) -> (their parent, the instances they answer
        with): the service, `_tcp`, each tag both ways. Members keep the catalog's order in every group."""
        svc_w, under = label(svc), label(f"_{svc}") if len(svc) < 63 else None
        groups = {svc_w + _SERVICE: (_SERVICE, members)}
        if under is not None:
            groups[under + _TCP + _SERVICE] = (_TCP + _SERVICE, members)
        by_tag: dict[str, list[Instance]] = {}
        for inst in members:
            for tag in inst.tags:
                by_tag.setdefault(tag, []).append(inst)
        tags: dict[bytes, tuple[bytes, list[str]]] = {}  # name below the origin -> (parent, the tags it serves)
        for tag in by_tag:
            plain, rfc = self._tag(tag)
            if plain is not None:
                tags.setdefault(plain + svc_w + _SERVICE, (svc_w + _SERVICE, []))[1].append(tag)
            if rfc is not None and under is not None:
                tags.setdefault(under + rfc + _SERVICE, (rfc + _SERVICE, []))[1].append(tag)
        for rel, (parent, raw) in tags.items():
            if len(raw) == 1:
                groups[rel] = (parent, by_tag[raw[0]])
            else:  # tags that lowercase alike ("Web", "web") make one group, still in the members' order
                same = set(raw)
                groups[rel] = (parent, [i for i in members for t in i.tags if t in same])
        return groups

    def _ents_of(self, parent: bytes) -> tuple[list[tuple[bytes, ...]], tuple[bytes, ...]]:
        """A parent below the origins (`service.`, `_tcp.service.`, `<svc>.service.`, no root) -> the names a
        child there makes exist, per origin (the parent, its parents, the origin's), and under every origin."""
        found = self._ents.get(parent)
        if found is None:
            per = [(*(s + o.wire for s in _suffixes(parent)), *o.up) for o in self.origins]
            found = self._ents[parent] = (per, tuple({n for names in per for n in names}))
        return found

    def service_part(self, name: str, instances: tuple[Instance, ...]) -> Part:
        """Every name of one service, and how to answer each."""
        members = served(instances, self.cfg.only_passing)
        svc = name.lower()
        if not members or not valid_label(svc):
            return Part({}, instances=instances)
        packed = self.encoder.packed
        ips = {a: packed(a) for a in dict.fromkeys([i.address for i in members])}
        every_ip = None not in ips.values()
        ents: set[bytes] = set()
        recipes: dict[bytes, Recipe] = {}
        whole = len(self.origins)
        for rel, (parent, group) in self._groups(svc, members).items():
            has_address = every_ip or any(ips[i.address] is not None for i in group)
            shared: list[tuple[Answer | None, Answer | None]] = []  # A/AAAA, the same under every origin
            recipe: Group | None = None
            published = []
            for k, origin in enumerate(self.origins):
                qname = rel + origin.wire
                if len(qname) > 255 or not has_address and not self.encoder.answers_anything(group, origin.domain):
                    continue
                if recipe is None or recipe.domain != origin.domain:
                    recipe = Group(group, origin.domain, shared)
                recipes[qname] = recipe
                published.append(k)
            if published:
                per, every = self._ents_of(parent)
                ents.update(every if len(published) == whole else (n for k in published for n in per[k]))
        addresses = tuple(dict.fromkeys([p for p in ips.values() if p is not None]))
        return Part(recipes, frozenset(ents), addresses, instances, len(members), len(members) >= WARM_MEMBERS)

    def node_part(self, nodes: Mapping[str, Node]) -> Part:
        """`<node>.node[.<dc>].<domain>` for every node (nodes are few: one part for all)."""
        recipes: dict[bytes, Recipe] = {}
        ents: set[bytes] = set()
        for node in nodes.values():
            packed = self.encoder.packed(node.address)
            if not valid_label(node.name) or packed is None:
                continue
            head = label(node.name.lower()) + b"\x04node"
            for origin in self.origins:
                if len(head) + len(origin.wire) <= 255:
                    recipes[head + origin.wire] = packed
                    ents.update((b"\x04node" + origin.wire, *origin.up))
        return Part(recipes, frozenset(ents))

    def apex_part(self, serial: int) -> tuple[Part, tuple[Apex, ...]]:
        """SOA/NS of each domain (the SOA's serial is the catalog's index), and the apexes for negative answers."""
        cfg = self.cfg
        recipes: dict[bytes, Recipe] = {}
        apexes = []
        for domain in cfg.domains():
            ns_name, mbox = ("ns", *domain), ("hostmaster", *domain)
            soa = rr(QNAME_PTR, SOA, cfg.ttl,
                     soa_rdata(compress(ns_name, domain), compress(mbox, domain), serial, cfg.negative_ttl))
            glue = b""
            ns_packed = self.encoder.packed(cfg.ns_address) if cfg.ns_address else None
            if cfg.ns_address and ns_packed is not None:
                glue = self.encoder.address_record(compress(ns_name, domain), cfg.ns_address)
                recipes[encode_name(ns_name)] = ns_packed
            ns = make_answer(NS, [rr(QNAME_PTR, NS, cfg.ttl, compress(ns_name, domain))], [glue])
            soa_answer = make_answer(SOA, [soa])
            recipes[encode_name(domain)] = Fixed({SOA: soa_answer, NS: ns, ANY: soa_answer})
            neg_rdata = soa_rdata(encode_name(ns_name), encode_name(mbox), serial, cfg.negative_ttl)
            apexes.append(Apex(domain, struct.pack("!HHIH", SOA, 1, cfg.negative_ttl, len(neg_rdata)) + neg_rdata))
        return Part(recipes), tuple(apexes)

    def warm(self, part: Part, asked: Container[bytes] = ()) -> dict[bytes, Entries]:
        """Encode now the part's names whose first query should not pay for it: large groups, the apex's, and
        the names in `asked` (encoded in the zone this part replaces)."""
        out = {}
        for name, recipe in part.recipes.items():
            if (isinstance(recipe, Fixed) or name in asked
                    or isinstance(recipe, Group) and len(recipe.members) >= WARM_MEMBERS):
                out[name] = self.encoder.entries(name, recipe)
        return out


def _suffixes(wire: bytes) -> list[bytes]:
    """A name in wire form without its root, and each of its parents' down to the last label."""
    out = []
    while wire:
        out.append(wire)
        wire = wire[wire[0] + 1 :]
    return out


__all__ = ["APEX", "EMPTY_PART", "NODES", "WARM_MEMBERS", "Apex", "Builder", "Origin", "Part", "ZoneConfig",
           "address_names", "origins"]
