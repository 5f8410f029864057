"""Pure: Snapshot + ZoneConfig -> Zone, a table (lowercased wire name + qtype) -> pre-encoded Answer.

Names served under each domain (and the alternative domain), with and without the datacenter label:
  <svc>.service[.<dc>].<domain>             A, AAAA, SRV, ANY
  <tag>.<svc>.service[.<dc>].<domain>       same, instances with that tag
  _<svc>._<tag|tcp>.service[.<dc>].<domain>  same (RFC 2782; _tcp = no tag filter)
  <node>.node[.<dc>].<domain>               A, AAAA, ANY
  <hex>.addr[.<dc>].<domain>                A/AAAA, the SRV targets of instances whose address is not the node's
  <domain>                                  SOA, NS (ns.<domain>), ANY -> SOA
SRV records: priority 1, the instance's weight (Consul's Weights.Passing, or .Warning while in warning), its
port, and as target the node's name when the instance uses the node's address, else Consul's <hex>.addr. name;
the target's A/AAAA goes in the additional section (answers.py encodes them). Only healthy instances are
published (critical and maintenance dropped; warning unless only_passing), so a name exists only while it has
at least one instance: NXDOMAIN otherwise, NODATA for a missing type.

Which names exist is known at once, what they answer is encoded when first asked. A zone is made of parts (one
per service, one for the nodes, one for the apexes); a part holds the names it makes exist and, for each name
it answers, a recipe (answers.py), which costs a few dict entries to make, where encoding every answer of a
5,000-service catalog took a minute on the loaded 2-core machine. `Zone.lookup` encodes a name's answers on its
first query (on the loop, which is the only reader) and keeps them in the table, so the hot path stays one dict
lookup. What would make that first query slow is encoded ahead of time, off the loop (`warm`): the names of
groups of WARM_MEMBERS instances or more, and, after a change, the names that had been asked before it.

Updates are incremental: a change re-makes only the parts it touched (`plan`, in a worker thread) and swaps
them in place (`Zone.apply`, on the loop), so the cost of one change does not grow with the catalog. A name
that several parts make exist (ancestors, an `.addr.` name shared by services) is counted; a name several
parts answer is answered by the part that has held it longest.

Other sources lend parts to this table (leases.py): another datacenter's parts (`Part.dc` set: their SRV targets
and `.addr.` names are that datacenter's, encoded here on first query like local ones) and prepared query names
(`Fixed` recipes, encoded by their owner)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from typing import TypeVar

from dns_balancer.answers import Encoder, Recipe
from dns_balancer.parts import (
    APEX,
    EMPTY_PART,
    NODES,
    WARM_MEMBERS,
    Apex,
    Builder,
    Entries,
    Origin,
    Part,
    ZoneConfig,
    address_names,
    origins,
)
from dns_balancer.records import Answer
from dns_balancer.snapshot import Instance, Snapshot, served

K = TypeVar("K")


@dataclass
class Zone:
    """Which names exist, what answers them, and the answers encoded so far. Mutated only on the loop that also
    reads it: by `apply`, and by `lookup` (a name's first query). A worker may test `name in zone.hot`."""

    config: ZoneConfig = field(default_factory=ZoneConfig)
    datacenter: str = "dc1"
    table: dict[bytes, Answer] = field(default_factory=dict)  # the answers encoded so far
    apexes: tuple[Apex, ...] = ()
    parts: dict[str, Part] = field(default_factory=dict)
    instances: int = 0  # healthy instances published, all services
    owners: dict[bytes, str | dict[str, None]] = field(default_factory=dict, repr=False)  # name -> part key(s)
    ents: dict[bytes, int] = field(default_factory=dict, repr=False)  # empty non-terminal -> parts making it
    ips: dict[bytes, int] = field(default_factory=dict, repr=False)  # packed address -> parts using it
    addr_names: dict[bytes, bytes] = field(default_factory=dict, repr=False)  # <hex>.addr. name -> address
    hot: dict[bytes, tuple[bytes, ...]] = field(default_factory=dict, repr=False)  # encoded name -> its keys
    encoder: Encoder | None = field(default=None, repr=False, compare=False)
    origins: list[Origin] = field(default_factory=list, repr=False)
    # parts lent by other datacenters (Part.dc): their addresses, `.addr.` names, origins and encoders
    lent_ips: dict[tuple[bytes, str], int] = field(default_factory=dict, repr=False)
    addr_dc: dict[bytes, str] = field(default_factory=dict, repr=False)  # a lent `.addr.` name -> its datacenter
    scopes: dict[str, tuple[list[Origin], Encoder]] = field(default_factory=dict, repr=False, compare=False)

    def __post_init__(self) -> None:
        self.origins = origins(self.config, self.datacenter)

    def apex_of(self, labels: tuple[str, ...] | list[str]) -> Apex | None:
        """The apex `labels` (lowercased) fall under, longest first; None for a foreign name."""
        best: Apex | None = None
        for apex in self.apexes:
            n = len(apex.labels)
            if len(labels) >= n and tuple(labels[len(labels) - n :]) == apex.labels:
                if best is None or n > len(best.labels):
                    best = apex
        return best

    def exists(self, name: bytes) -> bool:
        """Whether a name (wire form, lowercased) is in the zone: NODATA for a type it lacks, not NXDOMAIN."""
        return name in self.owners or name in self.ents or name in self.addr_names

    def lookup(self, key: bytes) -> Answer | None:
        """The answer for a key the table does not hold: a name asked for the first time is encoded now."""
        name = key[:-2]
        if name in self.hot:
            return None  # encoded already: the name has no answer of this type
        owner = self.owners.get(name)
        recipe: Recipe | None
        if owner is not None:
            part = self.parts[owner if isinstance(owner, str) else next(iter(owner))]
            recipe, dc = part.recipes[name], part.dc
        else:
            recipe = self.addr_names.get(name)
            if recipe is None:
                return None
            dc = self.addr_dc.get(name)
        self._install(name, self._scope(dc)[1].entries(name, recipe))
        return self.table.get(key)

    def _scope(self, dc: str | None) -> tuple[list[Origin], Encoder]:
        """The origins and encoder of this zone's own names (None), or of a datacenter whose parts are lent here:
        its zone is this one's config with that datacenter and without bare names (remote.py)."""
        if dc is None:
            if self.encoder is None:
                self.encoder = Encoder(self.config.ttl, self.datacenter)
            return self.origins, self.encoder
        found = self.scopes.get(dc)
        if found is None:
            lent = replace(self.config, datacenter=dc, bare_names=False)
            found = self.scopes[dc] = (origins(lent, dc), Encoder(lent.ttl, dc))
        return found

    def encode_all(self) -> None:
        """Encode every name now (tests and benches compare whole tables; the daemon never needs this)."""
        for name in [*self.owners, *self.addr_names]:
            if name not in self.hot:
                self.lookup(name + b"\0\0")

    def apply(self, update: Update) -> None:
        """Swap the update's parts in; the cost is that of the parts swapped, not of the zone."""
        for key, new in update.parts.items():
            old = self.parts.pop(key, None)
            if old is not None:
                self._drop(key, old)
            if new is not None:
                self.parts[key] = new
                self._add(key, new)
        for key, encoded in update.warm.items():
            for name, entries in encoded.items():
                owner = self.owners.get(name)
                if name not in self.hot and (owner == key or isinstance(owner, dict) and next(iter(owner)) == key):
                    self._install(name, entries)
        if update.apexes is not None:
            self.apexes = update.apexes

    def _install(self, name: bytes, entries: Entries) -> None:
        self.table.update(entries)
        self.hot[name] = tuple(entries)

    def _evict(self, name: bytes) -> None:
        for key in self.hot.pop(name, ()):
            del self.table[key]

    def _add(self, key: str, part: Part) -> None:
        owners, ents, ips = self.owners, self.ents, self.ips
        for name in part.recipes:
            owner = owners.setdefault(name, key)
            if owner is key:
                continue
            if isinstance(owner, str):
                owners[name] = {owner: None, key: None}
            else:
                owner[key] = None
        for name in part.ents:
            ents[name] = ents.get(name, 0) + 1
        if part.dc is None:
            for ip in part.addresses:
                n = ips.get(ip, 0)
                ips[ip] = n + 1
                if n == 0:
                    self._open_address(ip, None)
        else:
            for ip in part.addresses:
                n = self.lent_ips.get((ip, part.dc), 0)
                self.lent_ips[ip, part.dc] = n + 1
                if n == 0:
                    self._open_address(ip, part.dc)
        self.instances += part.served

    def _open_address(self, ip: bytes, dc: str | None) -> None:
        own, made = address_names(ip, self._scope(dc)[0])
        self.addr_names.update(dict.fromkeys(own, ip))
        if dc is not None:
            self.addr_dc.update(dict.fromkeys(own, dc))
        ents = self.ents
        for name in made:
            ents[name] = ents.get(name, 0) + 1

    def _close_address(self, ip: bytes, dc: str | None) -> None:
        own, made = address_names(ip, self._scope(dc)[0])
        for name in own:
            del self.addr_names[name]
            if dc is not None:
                del self.addr_dc[name]
            self._evict(name)
        _release(self.ents, made)

    def _drop(self, key: str, part: Part) -> None:
        owners = self.owners
        for name, recipe in part.recipes.items():
            owner = owners[name]
            if isinstance(owner, str):
                del owners[name]
                self._evict(name)
                continue
            first = next(iter(owner))
            del owner[key]
            if len(owner) == 1:
                owners[name] = next(iter(owner))
            if first == key and not isinstance(recipe, bytes):  # an address answers the same whoever holds it
                self._evict(name)
        _release(self.ents, part.ents)
        for ip in part.addresses:
            if _release_one(self.ips, ip) if part.dc is None else _release_one(self.lent_ips, (ip, part.dc)):
                self._close_address(ip, part.dc)
        self.instances -= part.served


def _release(counts: dict[bytes, int], names: Iterable[bytes]) -> None:
    for name in names:
        if counts[name] == 1:
            del counts[name]
        else:
            counts[name] -= 1


def _release_one(counts: dict[K, int], key: K) -> bool:
    """One holder less; True when it was the last."""
    if counts[key] > 1:
        counts[key] -= 1
        return False
    del counts[key]
    return True


@dataclass(frozen=True)
class Update:
    """Parts to swap in (None: remove), computed off the loop; `warm` the answers already encoded for some of
    their names (part key -> name -> table entries); `apexes` when the SOA changed."""

    parts: Mapping[str, Part | None]
    apexes: tuple[Apex, ...] | None = None
    warm: Mapping[str, Mapping[bytes, Entries]] = field(default_factory=dict)


def healthy(instances: Iterable[Instance], only_passing: bool) -> list[Instance]:
    return served(instances, only_passing)


def zone_datacenter(snapshot: Snapshot, cfg: ZoneConfig) -> str:
    return cfg.datacenter or snapshot.datacenter or "dc1"


def plan(snapshot: Snapshot, changed: Iterable[str], zone: Zone, nodes: bool = True) -> Update:
    """Pure: the parts `changed` services (and, with `nodes`, the node names) need, and the new SOA; the names
    of the parts they replace that had been asked are encoded now. Runs off the loop; `zone` is only read (its
    config, datacenter, and which names are encoded)."""
    build = Builder(zone.config, zone.datacenter)
    parts: dict[str, Part | None] = {}
    warm: dict[str, dict[bytes, Entries]] = {}
    for name in changed:
        instances = snapshot.services.get(name)
        part = None if instances is None else build.service_part(name, instances)
        parts[name] = part
        if part is not None:
            warm[name] = build.warm(part, zone.hot)
    if nodes:
        parts[NODES] = build.node_part(snapshot.nodes)
        warm[NODES] = build.warm(parts[NODES] or EMPTY_PART, zone.hot)
    parts[APEX], apexes = build.apex_part(snapshot.index or 1)
    warm[APEX] = build.warm(parts[APEX] or EMPTY_PART)
    return Update(parts, apexes, warm)


def build_zone(snapshot: Snapshot, cfg: ZoneConfig, previous: Zone | None = None) -> Zone:
    """A whole new zone (start, a config or datacenter change); parts of `previous` whose service did not
    change are reused as they are. Cost: the names of every service (few dict entries each) and the answers of
    large groups; every other answer is encoded on its first query."""
    dc = zone_datacenter(snapshot, cfg)
    reuse = previous is not None and previous.config == cfg and previous.datacenter == dc
    zone = Zone(config=cfg, datacenter=dc)
    build = Builder(cfg, dc)
    parts: dict[str, Part | None] = {}
    warm: dict[str, dict[bytes, Entries]] = {}
    for name, instances in snapshot.services.items():
        old = previous.parts.get(name) if reuse and previous is not None else None
        part = old if old is not None and (old.instances is instances or old.instances == instances) else None
        if part is None:
            part = build.service_part(name, instances)
        parts[name] = part
        if part.big:
            warm[name] = build.warm(part)
    parts[NODES] = build.node_part(snapshot.nodes)
    parts[APEX], apexes = build.apex_part(snapshot.index or 1)
    warm[APEX] = build.warm(parts[APEX] or EMPTY_PART)
    zone.apply(Update(parts, apexes, warm))
    return zone


__all__ = ["APEX", "NODES", "WARM_MEMBERS", "Apex", "Part", "Update", "Zone", "ZoneConfig", "build_zone", "plan",
           "zone_datacenter"]
