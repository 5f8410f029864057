"""Pure: Snapshot + ZoneConfig -> Zone, a table (lowercased wire name + qtype) -> pre-encoded Answer.

Names served under each domain (and the alternative domain), with and without the datacenter label:
  <svc>.service[.<dc>].<domain>             A, AAAA, SRV, ANY
  <tag>.<svc>.service[.<dc>].<domain>       same, instances with that tag
  _<svc>._<tag|tcp>.service[.<dc>].<domain>  same (RFC 2782; _tcp = no tag filter)
  <node>.node[.<dc>].<domain>               A, AAAA, ANY
  <hex>.addr[.<dc>].<domain>                A/AAAA, the SRV targets of instances whose address is not the node's
  <domain>                                  SOA, NS (ns.<domain>), ANY -> SOA
SRV records: priority 1, the instance's weight (Consul's Weights.Passing, or .Warning while in warning), its
port, and as target the node's name when the instance uses the node's address, else Consul's <hex>.addr. name
(a node name would not say which of several addresses on the node goes with which port); the target's A/AAAA
goes in the additional section. Answer records point at the question (0xC00C), so 0x20 case is echoed.
Only healthy instances are published (critical and maintenance dropped; warning unless only_passing), so a
name exists only while it has at least one instance: NXDOMAIN otherwise, NODATA for a missing type.

Updates are incremental: the table is made of parts (one per service, one for the nodes, one for the apexes),
each a pure function of its data; a change re-encodes only the parts it touched (`plan`, in a worker thread) and
swaps them into the table in place (`Zone.apply`, on the event loop, which is also the only reader), so the
cost of one change does not grow with the catalog. Keys two parts share (an `.addr.` name used by instances
of two services, the `service` ancestors) are reference-counted."""

from __future__ import annotations

import struct
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace

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

_TYPE = {t: struct.pack("!H", t) for t in (A, NS, SOA, AAAA, SRV, ANY)}


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
    """The encoded answers of one service (or of the nodes, or of the apexes) and the names they make exist."""

    entries: Mapping[bytes, Answer]
    names: frozenset[bytes]
    instances: tuple[Instance, ...] = ()
    served: int = 0  # healthy instances published


EMPTY_PART = Part({}, frozenset())
NODES, APEX = "\0nodes", "\0apex"  # part keys that no service name can take (NUL is not a valid label byte)


@dataclass
class Zone:
    """The answer table and what it is made of. Mutated only by `apply`, on the loop that also reads it."""

    config: ZoneConfig = field(default_factory=ZoneConfig)
    datacenter: str = "dc1"
    table: dict[bytes, Answer] = field(default_factory=dict)
    names: dict[bytes, int] = field(default_factory=dict)  # every name that exists -> parts that make it exist
    apexes: tuple[Apex, ...] = ()
    parts: dict[str, Part] = field(default_factory=dict)
    instances: int = 0  # healthy instances published, all services
    refs: dict[bytes, int] = field(default_factory=dict, repr=False)  # table key -> parts holding it

    def apex_of(self, labels: Sequence[str]) -> Apex | None:
        """The apex `labels` (lowercased) fall under, longest first; None for a foreign name."""
        best: Apex | None = None
        for apex in self.apexes:
            n = len(apex.labels)
            if len(labels) >= n and tuple(labels[len(labels) - n :]) == apex.labels:
                if best is None or n > len(best.labels):
                    best = apex
        return best

    def apply(self, update: Update) -> None:
        """Swap the update's parts in; the cost is that of the parts swapped, not of the zone."""
        for key, new in update.parts.items():
            old = self.parts.pop(key, None)
            if old is not None:
                self._drop(old)
            if new is not None:
                self._add(new)
                self.parts[key] = new
        if update.apexes is not None:
            self.apexes = update.apexes

    def _drop(self, part: Part) -> None:
        table, refs, names = self.table, self.refs, self.names
        for key in part.entries:
            if refs[key] == 1:
                del refs[key]
                del table[key]
            else:
                refs[key] -= 1
        for name in part.names:
            if names[name] == 1:
                del names[name]
            else:
                names[name] -= 1
        self.instances -= part.served

    def _add(self, part: Part) -> None:
        refs, names = self.refs, self.names
        self.table.update(part.entries)
        for key in part.entries:
            refs[key] = refs.get(key, 0) + 1
        for name in part.names:
            names[name] = names.get(name, 0) + 1
        self.instances += part.served


@dataclass(frozen=True)
class Update:
    """Parts to swap in (None: remove), computed off the loop; `apexes` when the SOA changed."""

    parts: Mapping[str, Part | None]
    apexes: tuple[Apex, ...] | None = None


def healthy(instances: Iterable[Instance], only_passing: bool) -> list[Instance]:
    return served(instances, only_passing)


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


def service_part(name: str, instances: tuple[Instance, ...], cfg: ZoneConfig, dc: str) -> Part:
    """Every name of one service, encoded."""
    members = healthy(instances, cfg.only_passing)
    svc = name.lower()
    entries: dict[bytes, Answer] = {}
    names: set[bytes] = set()
    if not members or not valid_label(svc):
        return Part({}, frozenset(), instances, 0)
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
    return Part(entries, frozenset(names), instances, len(members))


def node_part(nodes: Mapping[str, Node], cfg: ZoneConfig, dc: str) -> Part:
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
    return Part(entries, frozenset(names))


def apex_part(cfg: ZoneConfig, serial: int) -> tuple[Part, tuple[Apex, ...]]:
    """SOA/NS of each domain (the SOA's serial is the catalog's index), and the apexes for negative answers."""
    entries: dict[bytes, Answer] = {}
    names: set[bytes] = set()
    apexes = []
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
        neg_rdata = soa_rdata(encode_name(ns_name), encode_name(mbox), serial, cfg.negative_ttl)
        apexes.append(Apex(domain, struct.pack("!HHIH", SOA, 1, cfg.negative_ttl, len(neg_rdata)) + neg_rdata))
    return Part(entries, frozenset(names)), tuple(apexes)


def zone_datacenter(snapshot: Snapshot, cfg: ZoneConfig) -> str:
    return cfg.datacenter or snapshot.datacenter or "dc1"


def plan(snapshot: Snapshot, changed: Iterable[str], zone: Zone, nodes: bool = True) -> Update:
    """Pure: the parts `changed` services (and, with `nodes`, the node names) need, and the new SOA.
    Runs off the loop; `zone` is only read for its config and datacenter."""
    cfg, dc = zone.config, zone.datacenter
    parts: dict[str, Part | None] = {}
    for name in changed:
        instances = snapshot.services.get(name)
        parts[name] = None if instances is None else service_part(name, instances, cfg, dc)
    if nodes:
        parts[NODES] = node_part(snapshot.nodes, cfg, dc)
    parts[APEX], apexes = apex_part(cfg, snapshot.index or 1)
    return Update(parts, apexes)


def build_zone(snapshot: Snapshot, cfg: ZoneConfig, previous: Zone | None = None) -> Zone:
    """A whole new zone (start, a config or datacenter change); parts of `previous` whose service did not
    change are reused as they are."""
    dc = zone_datacenter(snapshot, cfg)
    reuse = previous is not None and previous.config == cfg and previous.datacenter == dc
    zone = Zone(config=cfg, datacenter=dc)
    parts: dict[str, Part | None] = {}
    for name, instances in snapshot.services.items():
        old = previous.parts.get(name) if reuse and previous is not None else None
        if old is not None and (old.instances is instances or old.instances == instances):
            parts[name] = old
        else:
            parts[name] = service_part(name, instances, cfg, dc)
    update = plan(snapshot, (), zone)
    zone.apply(Update({**parts, **update.parts}, update.apexes))
    return zone
