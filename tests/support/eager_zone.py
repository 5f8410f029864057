"""The reference for the lazy zone (dns_balancer/zone.py): every answer of a snapshot encoded eagerly, the way the
zone was built before answers were encoded on first query. Tests compare the two byte for byte, so this is kept as
it was (a test oracle, not used by the daemon): any change to what the zone answers must show here too."""

from __future__ import annotations

import struct
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import replace

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
    address_rr,
    compress,
    encode_name,
    labels_of,
    make_answer,
    rr,
    soa_rdata,
    srv_rdata,
    valid_label,
)
from dns_balancer.snapshot import Instance, Node, Snapshot, ip_version, served
from dns_balancer.zone import ZoneConfig, zone_datacenter

_TYPE = {t: struct.pack("!H", t) for t in (A, NS, SOA, AAAA, SRV, ANY)}
Table = dict[bytes, Answer]

def _ancestors(wire: bytes, depth: int) -> Iterable[bytes]:
    """The name and its ancestors `depth` labels up (the apex's), all in wire form."""
    for _ in range(depth + 1):
        yield wire
        wire = wire[wire[0] + 1 :]


def _origins(cfg: ZoneConfig, dc: str) -> list[tuple[tuple[str, ...], tuple[str, ...]]]:
    """(origin labels, domain labels): each domain with and without the datacenter label."""
    out = []
    for domain in cfg.domains():
        if cfg.bare_names:
            out.append((domain, domain))
        if valid_label(dc):
            out.append(((dc.lower(), *domain), domain))
    return out


def _address_answers(members: Sequence[Instance], ttl: int) -> tuple[Answer | None, Answer | None]:
    v4: dict[str, bytes] = {}
    v6: dict[str, bytes] = {}
    for inst in members:
        version = ip_version(inst.address)
        if version == 4:
            v4.setdefault(inst.address, address_rr(QNAME_PTR, inst.address, ttl))
        elif version == 6:
            v6.setdefault(inst.address, address_rr(QNAME_PTR, inst.address, ttl))
    return (make_answer(A, list(v4.values())) if v4 else None, make_answer(AAAA, list(v6.values())) if v6 else None)


def _target(inst: Instance, dc: str, domain: tuple[str, ...]) -> tuple[tuple[str, ...], bool]:
    """SRV target labels for an instance, and whether glue (its address) goes with it: the node's name when the
    instance uses the node's address, else Consul's `<hex>.addr.` name (a node name would be ambiguous when
    instances on one node have different addresses), else the hostname the service gave."""
    version = ip_version(inst.address)
    if version and valid_label(inst.node) and inst.node_address in ("", inst.address):
        return (inst.node.lower(), "node", dc, *domain), True
    if version:
        return (addr_label(inst.address), "addr", dc, *domain), True
    return labels_of(inst.address), False


Targets = dict[tuple[Instance, tuple[str, ...]], tuple[tuple[str, ...], bytes, bool] | None]


def _srv_answer(
    members: Sequence[Instance], qlabels: tuple[str, ...], dc: str, domain: tuple[str, ...], ttl: int,
    targets: Targets,
) -> Answer | None:
    """`targets` caches each instance's target (labels, wire, glue?) per domain for the names of one build."""
    records: list[bytes] = []
    glue: list[bytes] = []
    seen: set[bytes] = set()
    for inst in members:
        cache_key = (inst, domain)
        if cache_key not in targets:
            labels, has_glue = _target(inst, dc, domain)
            try:
                targets[cache_key] = (labels, encode_name(labels), has_glue)
            except BadName:
                targets[cache_key] = None
        found = targets[cache_key]
        if found is None:
            continue
        target, wire, has_glue = found
        record = rr(QNAME_PTR, SRV, ttl, srv_rdata(1, inst.weight, inst.port, wire))
        if record in seen:
            continue
        seen.add(record)
        records.append(record)
        glue.append(address_rr(compress(target, qlabels), inst.address, ttl) if has_glue else b"")
    return make_answer(SRV, records, glue) if records else None


def name_answers(members: Sequence[Instance], qlabels: tuple[str, ...], dc: str, domain: tuple[str, ...], ttl: int,
                 targets: Targets, addresses: tuple[Answer | None, Answer | None] | None = None,
                 ) -> dict[int, Answer | None]:
    """A, AAAA, SRV and ANY of one name served by `members` (SRV targets in datacenter `dc`); `addresses`: the
    A/AAAA answers when the caller already has them (they do not depend on the name)."""
    a, aaaa = addresses or _address_answers(members, ttl)
    return {A: a, AAAA: aaaa, SRV: _srv_answer(members, qlabels, dc.lower(), domain, ttl, targets), ANY: a or aaaa}


def put_answers(
    entries: dict[bytes, Answer], names: set[bytes], qlabels: tuple[str, ...], apex_len: int,
    answers: Mapping[int, Answer | None],
) -> None:
    try:
        wire = encode_name(qlabels)
    except BadName:
        return
    put = False
    for qtype, answer in answers.items():
        if answer is not None:
            # the ANY entry shares the encoded bytes but counts as ANY in the metrics
            entries[wire + _TYPE[qtype]] = answer if answer.qtype == qtype else replace(answer, qtype=qtype)
            put = True
    if put:
        names.update(_ancestors(wire, len(qlabels) - apex_len))


def service_part(name: str, instances: tuple[Instance, ...], cfg: ZoneConfig, dc: str) -> tuple[Table, set[bytes]]:
    """Every name of one service, encoded."""
    members = served(instances, cfg.only_passing)
    svc = name.lower()
    entries: dict[bytes, Answer] = {}
    names: set[bytes] = set()
    if not members or not valid_label(svc):
        return {}, set()
    groups: dict[tuple[str, ...], list[Instance]] = {(svc, "service"): members, (f"_{svc}", "_tcp", "service"): members}
    for inst in members:
        for tag in inst.tags:
            t = tag.lower()
            if valid_label(t):
                groups.setdefault((t, svc, "service"), []).append(inst)
                if t != "tcp" and valid_label(f"_{t}"):
                    groups.setdefault((f"_{svc}", f"_{t}", "service"), []).append(inst)
    addresses = {prefix: _address_answers(group, cfg.ttl) for prefix, group in groups.items()}
    targets: Targets = {}
    by_address: dict[str, dict[int, Answer | None]] = {}  # the .addr. names SRV targets may point at
    for inst in members:
        version = ip_version(inst.address)
        if version and inst.address not in by_address:
            answer = make_answer(A if version == 4 else AAAA, [address_rr(QNAME_PTR, inst.address, cfg.ttl)])
            by_address[inst.address] = {answer.qtype: answer, ANY: replace(answer, qtype=ANY)}
    for origin, domain in _origins(cfg, dc):
        for prefix, group in groups.items():
            qlabels = prefix + origin
            put_answers(entries, names, qlabels, len(domain),
                 name_answers(group, qlabels, dc, domain, cfg.ttl, targets, addresses[prefix]))
        for address, answers in by_address.items():
            put_answers(entries, names, (addr_label(address), "addr", *origin), len(domain), answers)
    return entries, names


def node_part(nodes: Mapping[str, Node], cfg: ZoneConfig, dc: str) -> tuple[Table, set[bytes]]:
    """`<node>.node[.<dc>].<domain>` for every node (nodes are few: one part for all)."""
    entries: dict[bytes, Answer] = {}
    names: set[bytes] = set()
    for node in nodes.values():
        version = ip_version(node.address)
        if not version or not valid_label(node.name):
            continue
        answer = make_answer(A if version == 4 else AAAA, [address_rr(QNAME_PTR, node.address, cfg.ttl)])
        for origin, domain in _origins(cfg, dc):
            put_answers(entries, names, (node.name.lower(), "node", *origin), len(domain),
                 {answer.qtype: answer, ANY: answer})
    return entries, names


def apex_part(cfg: ZoneConfig, serial: int) -> tuple[Table, set[bytes]]:
    """SOA/NS of each domain (the SOA's serial is the catalog's index)."""
    entries: dict[bytes, Answer] = {}
    names: set[bytes] = set()
    for domain in cfg.domains():
        ns_name = ("ns", *domain)
        mbox = ("hostmaster", *domain)
        soa = rr(QNAME_PTR, SOA, cfg.ttl,
                 soa_rdata(compress(ns_name, domain), compress(mbox, domain), serial, cfg.negative_ttl))
        glue = b""
        if cfg.ns_address and ip_version(cfg.ns_address):
            glue = address_rr(compress(ns_name, domain), cfg.ns_address, cfg.ttl)
            ns_a = make_answer(A if ip_version(cfg.ns_address) == 4 else AAAA,
                               [address_rr(QNAME_PTR, cfg.ns_address, cfg.ttl)])
            put_answers(entries, names, ns_name, len(domain), {ns_a.qtype: ns_a, ANY: ns_a})
        ns = make_answer(NS, [rr(QNAME_PTR, NS, cfg.ttl, compress(ns_name, domain))], [glue])
        soa_answer = make_answer(SOA, [soa])
        put_answers(entries, names, domain, len(domain), {SOA: soa_answer, NS: ns, ANY: soa_answer})
    return entries, names


def eager_table(snapshot: Snapshot, cfg: ZoneConfig, apex: bool = True) -> tuple[Table, set[bytes]]:
    """Every answer of the zone (table key -> Answer) and every name that exists; `apex=False`: without the
    SOA/NS (another datacenter's zone, whose parts are lent without them)."""
    dc = zone_datacenter(snapshot, cfg)
    table: Table = {}
    names: set[bytes] = set()
    found = [service_part(name, instances, cfg, dc) for name, instances in snapshot.services.items()]
    found.append(node_part(snapshot.nodes, cfg, dc))
    if apex:
        found.append(apex_part(cfg, snapshot.index or 1))
    for entries, made in found:
        table.update(entries)
        names |= made
    return table, names
