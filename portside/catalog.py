"""The one model of Consul's catalog: health entries, nodes, service lists, checks and KV decoded once into
frozen values, judged by one status rule and sorted one way. dns_balancer and consul_templates take their
views of it (`Catalog`), so one Consul entry is never in DNS and out of nginx, or the other way round.

Pure: frozen values; Consul's JSON is decoded into them by `portside.catalogjson` (never raises: an entry that
is not what Consul sends is skipped and counted, so a crafted entry costs that one entry, never the rest).

The status rule is Consul's own (its API client's aggregated status): the worst check wins; a check whose
status is missing or unknown counts as critical; a maintenance check (`_service_maintenance:<id>`,
`_node_maintenance`) makes the instance critical and sets `maintenance` (consul-template's filters can still
tell maintenance apart). An instance without checks is passing.

Field names map one to one onto consul-template's `HealthService` (`service` function) for the Go-template
function library: ID=id, Name=service, Node=node, NodeID=node_id, NodeAddress=node_address,
NodeDatacenter=datacenter, NodeMeta=node_meta, NodeTaggedAddresses=node_tagged_addresses,
ServiceMeta=meta, Address=address, ID=id, Tags=tags (sorted), Status=status (or "maintenance" when
`maintenance`), Checks=checks, Port=port, Weights=(weight_passing, weight_warning), Namespace=namespace.
`Node` maps onto CatalogNode's fields (Node=name, Address, Datacenter, Meta, ID, TaggedAddresses),
`ServiceSummary` onto CatalogSnippet (Name, Tags), `KVPair` onto KeyPair (Key, Value, ModifyIndex, Flags).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from portside.address import hostport

PASSING, WARNING, CRITICAL = "passing", "warning", "critical"
MAINTENANCE = "maintenance"  # not a status of its own: a flag on a critical instance
_RANK = {PASSING: 0, WARNING: 1, CRITICAL: 2}
MAINTENANCE_PREFIXES = ("_service_maintenance:", "_node_maintenance")


class FrozenMap(Mapping[str, str]):
    """An immutable, hashable str -> str mapping (meta), so instances can key caches and compare cheaply."""

    __slots__ = ("_items", "_hash")

    def __init__(self, items: Iterable[tuple[str, str]] = ()) -> None:
        self._items = dict(sorted(items))
        self._hash: int | None = None

    def __getitem__(self, key: str) -> str:
        return self._items[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._items)

    def __len__(self) -> int:
        return len(self._items)

    def __hash__(self) -> int:
        if self._hash is None:
            self._hash = hash(tuple(self._items.items()))
        return self._hash

    def __eq__(self, other: object) -> bool:
        if isinstance(other, FrozenMap):  # null and {} are different answers (Go prints a nil map apart)
            return self._items == other._items and (self is NIL) == (other is NIL)
        return isinstance(other, Mapping) and self._items == dict(other)

    def __repr__(self) -> str:
        return "NIL" if self is NIL else f"FrozenMap({self._items!r})"


EMPTY = FrozenMap()
NIL = FrozenMap()  # what Consul sent as null: empty to every reader, but a Go template prints a nil map apart


@dataclass(frozen=True, slots=True)
class Check:
    node: str
    check_id: str
    status: str  # as Consul sent it (an unknown value is kept; the rule treats it as critical)
    name: str = ""
    service_id: str = ""
    service_name: str = ""
    output: str = ""
    modify_index: int = 0
    notes: str = ""
    type: str = ""  # "http", "ttl", ... as Consul reports it ("" for a check registered in the catalog)
    service_tags: tuple[str, ...] = ()  # the service's tags as registered (Consul's order, duplicates kept)
    exposed_port: int = 0
    create_index: int = 0

    @property
    def maintenance(self) -> bool:
        return self.check_id.startswith(MAINTENANCE_PREFIXES)


@dataclass(frozen=True, slots=True)
class Instance:
    """One service instance, everything either reader needs. `address` is the service's, else the node's."""

    id: str
    service: str
    node: str
    address: str
    port: int
    node_address: str = ""
    service_address: str = ""
    tags: tuple[str, ...] = ()  # sorted, deduplicated: what DNS and Jinja2 templates match on
    meta: FrozenMap = EMPTY
    node_meta: FrozenMap = EMPTY
    node_id: str = ""
    node_tagged_addresses: FrozenMap = EMPTY
    datacenter: str = ""
    namespace: str = ""
    partition: str = ""
    weight_passing: int = 1
    weight_warning: int = 1
    checks: tuple[Check, ...] = ()
    status: str = PASSING
    maintenance: bool = False
    modify_index: int = 0  # the service registration's ModifyIndex: the feed's sweep compares it
    # the tags as registered (Consul's order, duplicates kept) when they differ from `tags`, else None
    registered_tags: tuple[str, ...] | None = None
    service_tagged_addresses: tuple[tuple[str, str, int], ...] = ()  # (key, address, port) sorted by key

    @property
    def name(self) -> str:
        """The service's name (consul-template's `.Name`)."""
        return self.service

    @property
    def weight(self) -> int:
        """SRV weight: Consul's Weights.Warning while in warning, else Weights.Passing."""
        return self.weight_warning if self.status == WARNING else self.weight_passing

    @property
    def tags_as_registered(self) -> tuple[str, ...]:
        """What consul-template sorts and prints: every tag as registered, duplicates kept."""
        return self.tags if self.registered_tags is None else self.registered_tags

    @property
    def hostport(self) -> str:
        """`address:port`, IPv6 addresses bracketed (nginx's `server` form)."""
        return hostport(self.address, self.port)


@dataclass(frozen=True, slots=True)
class Node:
    name: str
    address: str
    datacenter: str = ""
    meta: FrozenMap = EMPTY
    id: str = ""
    tagged_addresses: FrozenMap = EMPTY


@dataclass(frozen=True, slots=True)
class ServiceSummary:
    name: str
    tags: tuple[str, ...]  # sorted, deduplicated


@dataclass(frozen=True, slots=True)
class KVPair:
    key: str
    value: str  # decoded as UTF-8, undecodable bytes replaced
    flags: int = 0
    modify_index: int = 0


def rank(status: str) -> int:
    """0 passing, 1 warning, 2 critical; anything else counts as critical."""
    return _RANK.get(status, 2)


def judge(checks: Iterable[Check]) -> tuple[str, bool]:
    """The one status rule: (worst status, in maintenance)."""
    worst = 0
    maintenance = False
    for check in checks:
        if check.maintenance:
            maintenance = True
            worst = 2
        else:
            worst = max(worst, rank(check.status))
    return (PASSING, WARNING, CRITICAL)[worst], maintenance


def aggregated_status(instance: Instance) -> str:
    """The status consul-template's `service` filters compare (the Consul API's AggregatedStatus): "maintenance"
    when a maintenance check is there, else the worst check, but "" when a check is in a state Consul does not
    define, so such an instance matches no filter but "any". DNS keeps `judge`'s rule (critical: not served)."""
    if instance.status != CRITICAL:
        return instance.status  # an unknown state is judged critical, so passing or warning holds none
    if any(c.status not in _RANK for c in instance.checks if not c.maintenance):
        return ""
    return MAINTENANCE if instance.maintenance else CRITICAL


def sort_key(instance: Instance) -> tuple[str, str]:
    """consul-template's health_service order: by node, then by ID."""
    return instance.node, instance.id


# ---- the catalog value ---------------------------------------------------------------------------------
def _empty() -> Mapping[str, Any]:
    return {}


class Line:
    """The services each catalog of one line changed, the line being catalogs each made by `with_services` from
    the one before. A reader that checked its view against one catalog asks a later one what moved since
    (`Catalog.moved_since`) instead of comparing every service again: at 5,000 services that comparison was the
    largest part of re-rendering a file after one change. The last KEPT steps are kept."""

    KEPT = 64
    __slots__ = ("steps", "tip")

    def __init__(self) -> None:
        self.steps: deque[frozenset[str]] = deque(maxlen=self.KEPT)  # the last steps' names, the newest last
        self.tip = 0  # the newest catalog's place in the line


@dataclass(frozen=True)
class Catalog:
    """One datacenter's catalog as last seen. The mappings are plain dicts that are never mutated once the
    Catalog exists: an update copies the top-level dict (pointers only) and shares every untouched service.
    `line` and `step` (neither compared nor shown) place it in its `Line`."""

    services: Mapping[str, tuple[Instance, ...]] = field(default_factory=_empty)
    summaries: Mapping[str, ServiceSummary] = field(default_factory=_empty)  # /v1/catalog/services
    nodes: Mapping[str, Node] = field(default_factory=_empty)
    datacenter: str = ""
    index: int = 0  # highest X-Consul-Index seen: DNS's SOA serial
    line: Line | None = field(default=None, compare=False, repr=False)
    step: int = field(default=0, compare=False, repr=False)

    def with_services(self, changes: Mapping[str, tuple[Instance, ...] | None], index: int = 0) -> Catalog:
        """Replace (or, for None, drop) the named services; everything else is shared."""
        services = dict(self.services)
        for name, instances in changes.items():
            if instances is None:
                services.pop(name, None)
            else:
                services[name] = instances
        line = self.line
        if line is None or line.tip != self.step:  # a first step, or a branch off an older catalog: a new line
            line = Line()
        line.steps.append(frozenset(changes))
        line.tip += 1
        return replace(self, services=services, index=max(self.index, index), line=line, step=line.tip)

    def moved_since(self, earlier: Catalog) -> frozenset[str] | None:
        """The services whose entry may differ between `earlier` and this catalog (every other one is the same
        object in both); None when that is not known (not one line, or further back than the line keeps)."""
        line = self.line
        if earlier is self:
            return frozenset()
        if line is None or earlier.line is not line or earlier.step > self.step:
            return None
        back = line.tip - earlier.step  # steps from the line's newest back to `earlier`
        newer = line.tip - self.step  # of which this many came after this catalog
        if back > len(line.steps):  # the line no longer keeps them all
            return None
        steps = list(line.steps)
        return frozenset().union(*steps[len(steps) - back:len(steps) - newer])

    def with_summaries(self, summaries: Mapping[str, ServiceSummary], index: int = 0) -> Catalog:
        return replace(self, summaries=dict(summaries), index=max(self.index, index))

    def with_nodes(self, nodes: Mapping[str, Node], index: int = 0) -> Catalog:
        dc = next((n.datacenter for n in nodes.values() if n.datacenter), self.datacenter)
        return replace(self, nodes=dict(nodes), datacenter=dc, index=max(self.index, index))

    def instance_count(self) -> int:
        return sum(len(v) for v in self.services.values())


def by_node(catalog: Catalog) -> dict[str, set[str]]:
    """node -> names of the services with an instance there (to map a node check or node change to services)."""
    out: dict[str, set[str]] = {}
    for name, instances in catalog.services.items():
        for inst in instances:
            out.setdefault(inst.node, set()).add(name)
    return out
