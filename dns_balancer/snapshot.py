"""The mirror's data: immutable instances, nodes and the Snapshot the zone is built from.

Pure: Consul's JSON (health entries, catalog nodes) in, frozen dataclasses out. The mirror (mirror.py)
feeds it; the zone (zone.py) reads it. Health is kept as a status per instance here and filtered in the
zone, so `--only-passing` is a zone rule, not a data rule."""

from __future__ import annotations

import socket
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from types import MappingProxyType
from typing import Any

PASSING, WARNING, CRITICAL = "passing", "warning", "critical"
_RANK = {PASSING: 0, WARNING: 1, CRITICAL: 2}
MAINTENANCE_PREFIXES = ("_service_maintenance:", "_node_maintenance")


@dataclass(frozen=True, slots=True)
class Instance:
    """One service instance as DNS needs it."""

    id: str
    service: str
    node: str
    address: str  # service address, else node address (may be a hostname or empty)
    port: int
    node_address: str = ""
    tags: tuple[str, ...] = ()
    status: str = PASSING  # worst of the service's and its node's checks; maintenance counts as critical
    weight_passing: int = 1
    weight_warning: int = 1

    @property
    def weight(self) -> int:
        return self.weight_warning if self.status == WARNING else self.weight_passing


@dataclass(frozen=True, slots=True)
class Node:
    name: str
    address: str


def _empty() -> Mapping[str, Any]:
    return MappingProxyType({})


@dataclass(frozen=True)
class Snapshot:
    """The catalog as last seen: services by name (instances in a stable order), nodes by name."""

    services: Mapping[str, tuple[Instance, ...]] = field(default_factory=_empty)
    nodes: Mapping[str, Node] = field(default_factory=_empty)
    datacenter: str | None = None
    index: int = 0  # highest X-Consul-Index seen; the SOA serial

    def with_service(self, name: str, instances: tuple[Instance, ...], index: int = 0) -> Snapshot:
        services = dict(self.services)
        services[name] = instances
        return replace(self, services=MappingProxyType(services), index=max(self.index, index))

    def without_services(self, names: Iterable[str]) -> Snapshot:
        gone = set(names)
        services = {k: v for k, v in self.services.items() if k not in gone}
        return replace(self, services=MappingProxyType(services))

    def with_nodes(self, nodes: Mapping[str, Node], datacenter: str | None, index: int = 0) -> Snapshot:
        return replace(
            self, nodes=MappingProxyType(dict(nodes)), datacenter=datacenter or self.datacenter,
            index=max(self.index, index),
        )


def worst(statuses: Iterable[str]) -> str:
    """The worst status; anything unknown counts as critical."""
    rank = 0
    for status in statuses:
        rank = max(rank, _RANK.get(status, 2))
    return (PASSING, WARNING, CRITICAL)[rank]


def _int(value: Any, default: int) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        return default


def instance_from_entry(entry: Mapping[str, Any]) -> Instance | None:
    """One /v1/health/service entry -> Instance (None when the entry is unusable)."""
    node = entry.get("Node") or {}
    svc = entry.get("Service") or {}
    if not isinstance(node, Mapping) or not isinstance(svc, Mapping) or not svc.get("Service"):
        return None
    checks = entry.get("Checks") or []
    statuses = []
    for check in checks:
        if not isinstance(check, Mapping):
            continue
        check_id = str(check.get("CheckID", ""))
        if check_id.startswith(MAINTENANCE_PREFIXES):
            statuses.append(CRITICAL)
        else:
            statuses.append(str(check.get("Status", CRITICAL)))
    weights = svc.get("Weights") or {}
    tags = tuple(str(t) for t in (svc.get("Tags") or ()) if t is not None)
    return Instance(
        id=str(svc.get("ID") or svc["Service"]),
        service=str(svc["Service"]),
        node=str(node.get("Node", "")),
        address=str(svc.get("Address") or node.get("Address") or ""),
        port=_int(svc.get("Port"), 0),
        node_address=str(node.get("Address") or ""),
        tags=tags,
        status=worst(statuses),
        weight_passing=max(0, _int(weights.get("Passing"), 1)),
        weight_warning=max(0, _int(weights.get("Warning"), 1)),
    )


def instances_from_health(entries: Any) -> tuple[Instance, ...]:
    """All entries of one service, sorted by (node, id) so the order (and rotation) is stable."""
    if not isinstance(entries, list):
        return ()
    found = [i for i in (instance_from_entry(e) for e in entries if isinstance(e, Mapping)) if i is not None]
    return tuple(sorted(found, key=lambda i: (i.node, i.id)))


def nodes_from_catalog(entries: Any) -> tuple[dict[str, Node], str | None]:
    """/v1/catalog/nodes -> ({name: Node}, datacenter seen)."""
    nodes: dict[str, Node] = {}
    dc: str | None = None
    if isinstance(entries, list):
        for e in entries:
            if isinstance(e, Mapping) and e.get("Node"):
                nodes[str(e["Node"])] = Node(str(e["Node"]), str(e.get("Address") or ""))
                dc = dc or (str(e["Datacenter"]) if e.get("Datacenter") else None)
    return nodes, dc


def ip_version(address: str) -> int:
    """4 or 6 for an IP literal, 0 for anything else (hostnames, empty)."""
    for family, version in ((socket.AF_INET, 4), (socket.AF_INET6, 6)):
        try:
            socket.inet_pton(family, address)
        except (OSError, ValueError):
            continue
        return version
    return 0
