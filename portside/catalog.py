"""The one model of Consul's catalog: health entries, nodes, service lists, checks and KV decoded once into
frozen values, judged by one status rule and sorted one way. dns_balancer and consul_templates take their
views of it (`Catalog`), so one Consul entry is never in DNS and out of nginx, or the other way round.

Pure: JSON in, frozen values out. Decoding never raises: an entry that is not what Consul sends is skipped
and counted (`Decoded.skipped`), so a crafted entry costs that one entry, never the rest.

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

import base64
import binascii
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
        if isinstance(other, FrozenMap):
            return self._items == other._items
        return isinstance(other, Mapping) and self._items == dict(other)

    def __repr__(self) -> str:
        return f"FrozenMap({self._items!r})"


EMPTY = FrozenMap()


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
    tags: tuple[str, ...] = ()  # sorted, as consul-template hands them out
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

    @property
    def name(self) -> str:
        """The service's name (consul-template's `.Name`)."""
        return self.service

    @property
    def weight(self) -> int:
        """SRV weight: Consul's Weights.Warning while in warning, else Weights.Passing."""
        return self.weight_warning if self.status == WARNING else self.weight_passing

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


def sort_key(instance: Instance) -> tuple[str, str]:
    """consul-template's health_service order: by node, then by ID."""
    return instance.node, instance.id


# ---- decoding ------------------------------------------------------------------------------------------
def _str(value: Any) -> str:
    return value if isinstance(value, str) else ("" if value is None else str(value))


def _int(value: Any, default: int = 0) -> int:
    if isinstance(value, bool):
        return default
    if isinstance(value, int):
        return value
    try:
        return int(str(value))
    except (TypeError, ValueError):
        return default


def _map(value: Any) -> FrozenMap:
    if not isinstance(value, Mapping) or not value:
        return EMPTY
    return FrozenMap((str(k), _str(v)) for k, v in value.items())


def _tags(value: Any) -> tuple[str, ...]:
    if not isinstance(value, list):
        return ()
    return tuple(sorted({t for t in value if isinstance(t, str)}))


_UNREADABLE = Check("", "", "")  # a check entry that is not a mapping: its status is unknown, so critical


def decode_check(raw: Any) -> Check:
    """A check entry; one that cannot be read still counts, with an unknown (critical) status: skipping it could
    let a failing instance look healthy."""
    if not isinstance(raw, Mapping):
        return _UNREADABLE
    status = raw.get("Status")
    return Check(
        node=_str(raw.get("Node")), check_id=_str(raw.get("CheckID")), status=status if isinstance(status, str) else "",
        name=_str(raw.get("Name")), service_id=_str(raw.get("ServiceID")), service_name=_str(raw.get("ServiceName")),
        output=_str(raw.get("Output")), modify_index=_int(raw.get("ModifyIndex")),
    )


_NodeFields = tuple[str, str, FrozenMap, str, FrozenMap, str]


def _node_fields(node: Mapping[str, Any]) -> _NodeFields:
    return (_str(node.get("Node")), _str(node.get("Address")), _map(node.get("Meta")), _str(node.get("ID")),
            _map(node.get("TaggedAddresses")), _str(node.get("Datacenter")))


def decode_instance(entry: Any, nodes: dict[int, _NodeFields] | None = None) -> Instance | None:
    """One /v1/health/service entry -> Instance; None when it is not a usable entry. `nodes` caches the node
    fields by the node object's identity, for callers that hand the same node with many services."""
    if not isinstance(entry, Mapping):
        return None
    node, svc = entry.get("Node"), entry.get("Service")
    if not isinstance(node, Mapping) or not isinstance(svc, Mapping):
        return None
    name = svc.get("Service")
    if not isinstance(name, str) or not name:
        return None
    if nodes is None:
        fields = _node_fields(node)
    elif (fields := nodes.get(id(node))) is None:  # type: ignore[assignment]
        fields = nodes[id(node)] = _node_fields(node)
    node_name, node_address, node_meta, node_id, tagged, dc = fields
    raw_checks = entry.get("Checks")
    checks = tuple(map(decode_check, raw_checks if isinstance(raw_checks, list) else ()))
    status, maintenance = judge(checks)
    raw_weights = svc.get("Weights")
    weights: Mapping[str, Any] = raw_weights if isinstance(raw_weights, Mapping) else {}
    service_address = _str(svc.get("Address"))
    return Instance(
        id=_str(svc.get("ID")) or name, service=name, node=node_name, address=service_address or node_address,
        port=_int(svc.get("Port")), node_address=node_address, service_address=service_address,
        tags=_tags(svc.get("Tags")), meta=_map(svc.get("Meta")), node_meta=node_meta, node_id=node_id,
        node_tagged_addresses=tagged, datacenter=dc, namespace=_str(svc.get("Namespace")),
        partition=_str(svc.get("Partition")), weight_passing=max(0, _int(weights.get("Passing"), 1)),
        weight_warning=max(0, _int(weights.get("Warning"), 1)), checks=checks, status=status,
        maintenance=maintenance, modify_index=_int(svc.get("ModifyIndex")),
    )


@dataclass(frozen=True)
class Decoded:
    """What a decoder made of one answer: the values, and how many entries it had to skip."""

    value: Any
    skipped: int = 0


def _each(data: Any) -> list[Any]:
    return data if isinstance(data, list) else []


def decode_health(data: Any) -> Decoded:
    """/v1/health/service/<name> -> Decoded(tuple of instances in the one sort order)."""
    entries = _each(data)
    found = [i for i in map(decode_instance, entries) if i is not None]
    bad = len(entries) - len(found) + (0 if isinstance(data, list) or data is None else 1)
    return Decoded(tuple(sorted(found, key=sort_key)), bad)


def decode_nodes(data: Any) -> Decoded:
    """/v1/catalog/nodes -> Decoded({name: Node}) (sorted by name)."""
    nodes: dict[str, Node] = {}
    bad = 0
    for raw in _each(data):
        if not isinstance(raw, Mapping) or not isinstance(raw.get("Node"), str) or not raw["Node"]:
            bad += 1
            continue
        nodes[raw["Node"]] = Node(
            name=raw["Node"], address=_str(raw.get("Address")), datacenter=_str(raw.get("Datacenter")),
            meta=_map(raw.get("Meta")), id=_str(raw.get("ID")), tagged_addresses=_map(raw.get("TaggedAddresses")),
        )
    return Decoded(dict(sorted(nodes.items())), bad)


def decode_service_list(data: Any) -> Decoded:
    """/v1/catalog/services ({name: [tags]}) -> Decoded({name: ServiceSummary}) sorted by name."""
    out: dict[str, ServiceSummary] = {}
    bad = 0
    if isinstance(data, Mapping):
        for name, tags in data.items():
            if not isinstance(name, str) or not name:
                bad += 1
                continue
            out[name] = ServiceSummary(name, _tags(tags if isinstance(tags, list) else []))
    return Decoded(dict(sorted(out.items())), bad)


def decode_checks(data: Any) -> Decoded:
    """/v1/health/state/<state> -> Decoded({(node, check ID): Check})."""
    out: dict[tuple[str, str], Check] = {}
    bad = 0
    for raw in _each(data):
        check = decode_check(raw)
        if not check.check_id:
            bad += 1
            continue
        out[(check.node, check.check_id)] = check
    return Decoded(out, bad)


def decode_kv(data: Any) -> Decoded:
    """/v1/kv/<key>[?recurse] -> Decoded(tuple of KVPair sorted by key)."""
    out: list[KVPair] = []
    bad = 0
    for raw in _each(data):
        if not isinstance(raw, Mapping) or not isinstance(raw.get("Key"), str):
            bad += 1
            continue
        value = raw.get("Value")
        try:
            text = base64.b64decode(value, validate=True).decode("utf-8", errors="replace") if value else ""
        except (binascii.Error, ValueError, TypeError):
            bad += 1
            continue
        out.append(KVPair(raw["Key"], text, _int(raw.get("Flags")), _int(raw.get("ModifyIndex"))))
    return Decoded(tuple(sorted(out, key=lambda p: p.key)), bad)


# ---- the catalog value ---------------------------------------------------------------------------------
def _empty() -> Mapping[str, Any]:
    return {}


@dataclass(frozen=True)
class Catalog:
    """One datacenter's catalog as last seen. The mappings are plain dicts that are never mutated once the
    Catalog exists: an update copies the top-level dict (pointers only) and shares every untouched service."""

    services: Mapping[str, tuple[Instance, ...]] = field(default_factory=_empty)
    summaries: Mapping[str, ServiceSummary] = field(default_factory=_empty)  # /v1/catalog/services
    nodes: Mapping[str, Node] = field(default_factory=_empty)
    datacenter: str = ""
    index: int = 0  # highest X-Consul-Index seen: DNS's SOA serial

    def with_services(self, changes: Mapping[str, tuple[Instance, ...] | None], index: int = 0) -> Catalog:
        """Replace (or, for None, drop) the named services; everything else is shared."""
        services = dict(self.services)
        for name, instances in changes.items():
            if instances is None:
                services.pop(name, None)
            else:
                services[name] = instances
        return replace(self, services=services, index=max(self.index, index))

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
