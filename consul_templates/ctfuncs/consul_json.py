"""Pure: Consul's JSON answers -> consul-template's values (types.py), as consul-template builds them.

Each decoder mirrors one `Fetch` of consul-template's `dependency/` package: which field falls back to which,
what is sorted and how (Go's sort.Stable on bytes), what stays nil. Decoding happens once per change of the
answer, not once per render.
"""

from __future__ import annotations

import base64
from collections.abc import Mapping, Sequence
from typing import Any

from consul_templates.ctfuncs.queries import ServiceQuery
from consul_templates.ctfuncs.types import (
    AgentWeights,
    CatalogNode,
    CatalogNodeService,
    CatalogSnippet,
    Duration,
    HealthCheck,
    HealthCheckDefinition,
    HealthService,
    KeyPair,
    NilMap,
    NilSlice,
    Node,
    ServiceAddress,
    Tainted,
    parse_duration,
    sorted_tags,
    str_map,
    str_slice,
    taint,
)
from portside import catalog
from portside.gotemplate import GoMap, GoSlice

NODE_MAINT = "_node_maintenance"
SERVICE_MAINT_PREFIX = "_service_maintenance:"


def aggregated_status(checks: Sequence[Mapping[str, Any]]) -> str:
    """The Consul API's HealthChecks.AggregatedStatus: maintenance, then critical, warning, passing; a check
    in any other state makes the whole status ""."""
    passing = warning = critical = maintenance = False
    for check in checks:
        cid = check.get("CheckID") or ""
        if cid == NODE_MAINT or cid.startswith(SERVICE_MAINT_PREFIX):
            maintenance = True
            continue
        status = check.get("Status")
        if status == "passing":
            passing = True
        elif status == "warning":
            warning = True
        elif status == "critical":
            critical = True
        else:
            return ""
    if maintenance:
        return "maintenance"
    if critical:
        return "critical"
    if warning:
        return "warning"
    del passing  # all passing, or no check at all: passing either way
    return "passing"


def _definition(raw: Mapping[str, Any] | None) -> HealthCheckDefinition:
    raw = raw or {}
    durations = {}
    for field in ("Interval", "Timeout", "DeregisterCriticalServiceAfter"):
        value = raw.get(f"{field}Duration", raw.get(field))
        ns = parse_duration(value) if isinstance(value, str) and value else int(value or 0)
        durations[field] = ns
    header = raw.get("Header")
    return HealthCheckDefinition(
        HTTP=taint(raw.get("HTTP")),
        Header=NilMap(key="string", elem="[]string") if header is None else GoMap(
            ((taint(k), str_slice(v)) for k, v in header.items()), key="string", elem="[]string"),
        Method=taint(raw.get("Method")), Body=taint(raw.get("Body")), TLSServerName=taint(raw.get("TLSServerName")),
        TLSSkipVerify=bool(raw.get("TLSSkipVerify")), TCP=taint(raw.get("TCP")), TCPUseTLS=bool(raw.get("TCPUseTLS")),
        UDP=taint(raw.get("UDP")), GRPC=taint(raw.get("GRPC")), OSService=taint(raw.get("OSService")),
        GRPCUseTLS=bool(raw.get("GRPCUseTLS")), SessionName=taint(raw.get("SessionName")),
        IntervalDuration=Duration(durations["Interval"]), TimeoutDuration=Duration(durations["Timeout"]),
        DeregisterCriticalServiceAfterDuration=Duration(durations["DeregisterCriticalServiceAfter"]),
        Interval=durations["Interval"], Timeout=durations["Timeout"],
        DeregisterCriticalServiceAfter=durations["DeregisterCriticalServiceAfter"],
    )


def _check(raw: Mapping[str, Any]) -> HealthCheck:
    return HealthCheck(
        Node=taint(raw.get("Node")), CheckID=taint(raw.get("CheckID")), Name=taint(raw.get("Name")),
        Status=taint(raw.get("Status")), Notes=taint(raw.get("Notes")), Output=taint(raw.get("Output")),
        ServiceID=taint(raw.get("ServiceID")), ServiceName=taint(raw.get("ServiceName")),
        ServiceTags=str_slice(raw.get("ServiceTags")), Type=taint(raw.get("Type")),
        Namespace=taint(raw.get("Namespace")), Partition=taint(raw.get("Partition")),
        ExposedPort=int(raw.get("ExposedPort") or 0), PeerName=taint(raw.get("PeerName")),
        Definition=_definition(raw.get("Definition")), CreateIndex=int(raw.get("CreateIndex") or 0),
        ModifyIndex=int(raw.get("ModifyIndex") or 0),
    )


def _tagged_addresses(raw: Mapping[str, Any] | None) -> GoMap:
    if raw is None:
        return NilMap(key="string", elem="api.ServiceAddress")
    return GoMap(((taint(k), ServiceAddress(taint(v.get("Address")), int(v.get("Port") or 0)))
                  for k, v in raw.items()), key="string", elem="api.ServiceAddress")


def health_services(entries: Sequence[Mapping[str, Any]] | None, query: ServiceQuery) -> list[HealthService]:
    """/v1/health/service/<name>[?passing] -> `service`'s list: filtered on the aggregated status, sorted by
    node then ID unless `~near` asked for Consul's distance order."""
    out = []
    for entry in entries or ():
        checks = entry.get("Checks") or ()
        status = aggregated_status(checks)
        if not query.accepts(status):
            continue
        node, svc = entry.get("Node") or {}, entry.get("Service") or {}
        weights = svc.get("Weights") or {}
        out.append(HealthService(
            Node=taint(node.get("Node")), NodeID=taint(node.get("ID")), NodeAddress=taint(node.get("Address")),
            NodeTaggedAddresses=str_map(node.get("TaggedAddresses")), NodeMeta=str_map(node.get("Meta")),
            ServiceMeta=str_map(svc.get("Meta")), Address=taint(svc.get("Address") or node.get("Address")),
            ServiceTaggedAddresses=_tagged_addresses(svc.get("TaggedAddresses")), ID=taint(svc.get("ID")),
            Name=taint(svc.get("Service")), Tags=sorted_tags(svc.get("Tags")),
            Checks=GoSlice((_check(c) for c in checks), elem="*api.HealthCheck", name="api.HealthChecks")
            if entry.get("Checks") is not None else NilSlice(elem="*api.HealthCheck", name="api.HealthChecks"),
            Status=taint(status), Port=int(svc.get("Port") or 0),
            Weights=AgentWeights(int(weights.get("Passing") or 0), int(weights.get("Warning") or 0)),
        ))
    if not query.near:
        out.sort(key=lambda s: (s.Node, s.ID))
    return out


def catalog_services(data: Mapping[str, Sequence[str] | None] | None) -> list[CatalogSnippet]:
    """/v1/catalog/services -> `services`: sorted by name, tags sorted."""
    return [CatalogSnippet(taint(name), sorted_tags(tags)) for name, tags in sorted((data or {}).items())]


def _node(raw: Mapping[str, Any]) -> Node:
    return Node(ID=taint(raw.get("ID")), Node=taint(raw.get("Node")), Address=taint(raw.get("Address")),
                Datacenter=taint(raw.get("Datacenter")), TaggedAddresses=str_map(raw.get("TaggedAddresses")),
                Meta=str_map(raw.get("Meta")))


def catalog_nodes(data: Sequence[Mapping[str, Any]] | None, near: str = "") -> list[Node]:
    """/v1/catalog/nodes -> `nodes`: sorted by name then address unless `~near`."""
    nodes = [_node(n) for n in data or ()]
    if not near:
        nodes.sort(key=lambda n: (n.Node, n.Address))
    return nodes


def catalog_node(data: Mapping[str, Any] | None) -> CatalogNode:
    """/v1/catalog/node/<name> -> `node`: an unknown node is an empty CatalogNode, as in consul-template."""
    if not data or not data.get("Node"):
        return CatalogNode(None, NilSlice(elem="*dependency.CatalogNodeService"))
    services = [CatalogNodeService(
        ID=taint(s.get("ID")), Service=taint(s.get("Service")), Tags=sorted_tags(s.get("Tags")),
        Meta=str_map(s.get("Meta")), Port=int(s.get("Port") or 0), Address=taint(s.get("Address")),
        EnableTagOverride=bool(s.get("EnableTagOverride")),
    ) for s in (data.get("Services") or {}).values()]
    services.sort(key=lambda s: (s.Service, s.ID))
    return CatalogNode(_node(data["Node"]), GoSlice(services, elem="*dependency.CatalogNodeService"))


def kv_value(raw: str | None) -> Tainted:
    """A KV value as Go's string(bytes): bytes that are not UTF-8 become U+FFFD (Go keeps them; see README)."""
    return taint(base64.b64decode(raw).decode("utf-8", errors="replace") if raw else "")


def kv_get(data: Sequence[Mapping[str, Any]] | None) -> str | None:
    """/v1/kv/<key> -> the value, or None when the key does not exist."""
    if not data:
        return None
    return kv_value(data[0].get("Value"))


def kv_list(data: Sequence[Mapping[str, Any]] | None, prefix: str) -> list[KeyPair]:
    """/v1/kv/<prefix>?recurse -> pairs in Consul's key order; `Key` is the key with the prefix and the
    slashes after it cut (consul-template's TrimPrefix then TrimLeft "/")."""
    pairs = []
    for e in data or ():
        path = e.get("Key") or ""
        key = path[len(prefix):] if path.startswith(prefix) else path
        pairs.append(KeyPair(
            Path=taint(path), Key=taint(key.lstrip("/")), Value=kv_value(e.get("Value")),
            CreateIndex=int(e.get("CreateIndex") or 0), ModifyIndex=int(e.get("ModifyIndex") or 0),
            LockIndex=int(e.get("LockIndex") or 0), Flags=int(e.get("Flags") or 0), Session=taint(e.get("Session")),
        ))
    return pairs


def datacenters(data: Sequence[str] | None) -> list[str]:
    return sorted(taint(dc) for dc in data or ())



# ---- the same values from the catalog model (portside.catalog), when the catalog feed serves the query ----------
# The model carries every field consul-template prints (a check's Notes, Type, ServiceTags as registered, indexes;
# an instance's tags as registered and its ServiceTaggedAddresses; catalog.NIL for what Consul sent as null).
# Namespace, Partition and PeerName are "" outside Consul Enterprise and peering; a health endpoint sends every
# check's Definition empty.
def _frozen_map(m: Mapping[str, str]) -> GoMap:
    if m is catalog.NIL:
        return NilMap(key="string", elem="string")
    return GoMap(((taint(k), taint(v)) for k, v in m.items()), key="string", elem="string")


def _catalog_check(c: catalog.Check) -> HealthCheck:
    return HealthCheck(
        Node=taint(c.node), CheckID=taint(c.check_id), Name=taint(c.name), Status=taint(c.status),
        Notes=taint(c.notes), Output=taint(c.output), ServiceID=taint(c.service_id),
        ServiceName=taint(c.service_name), ServiceTags=str_slice(c.service_tags), Type=taint(c.type),
        Namespace=taint(""), Partition=taint(""), ExposedPort=c.exposed_port, PeerName=taint(""),
        Definition=HealthCheckDefinition(), CreateIndex=c.create_index, ModifyIndex=c.modify_index,
    )


def _catalog_tagged(i: catalog.Instance) -> GoMap:
    if not i.service_tagged_addresses:
        return NilMap(key="string", elem="api.ServiceAddress")
    return GoMap(((taint(k), ServiceAddress(taint(a), p)) for k, a, p in i.service_tagged_addresses),
                 key="string", elem="api.ServiceAddress")


def health_from_catalog(instances: Sequence[catalog.Instance], query: ServiceQuery,
                        kept: dict[catalog.Instance, HealthService] | None = None) -> list[HealthService]:
    """`service` from the catalog's instances of one service (already in node, ID order): tag and status filters
    as consul-template applies them (on the aggregated status: a check in an undefined state matches only
    `any`). `kept`: the records of the last call for the same query, by instance, replaced by this call's. A
    change to one instance re-reads its whole service, and a record is made of its instance alone: finding an
    equal instance's record costs ~2 us where building one costs ~25."""
    out = []
    made: dict[catalog.Instance, HealthService] = {}
    for i in instances:
        if query.tag and query.tag not in i.tags:
            continue
        status = catalog.aggregated_status(i)
        if not query.accepts(status):
            continue
        record = kept.get(i) if kept is not None else None
        if record is None:
            record = _record(i, status)
        made[i] = record
        out.append(record)
    if kept is not None:
        kept.clear()
        kept.update(made)
    return out


def _record(i: catalog.Instance, status: str) -> HealthService:
    return HealthService(
        Node=taint(i.node), NodeID=taint(i.node_id), NodeAddress=taint(i.node_address),
        NodeTaggedAddresses=_frozen_map(i.node_tagged_addresses), NodeMeta=_frozen_map(i.node_meta),
        ServiceMeta=_frozen_map(i.meta), Address=taint(i.address),
        ServiceTaggedAddresses=_catalog_tagged(i), ID=taint(i.id),
        Name=taint(i.service), Tags=sorted_tags(i.tags_as_registered),
        Checks=GoSlice((_catalog_check(c) for c in i.checks), elem="*api.HealthCheck", name="api.HealthChecks"),
        Status=taint(status), Port=i.port, Weights=AgentWeights(i.weight_passing, i.weight_warning),
    )


def services_from_catalog(summaries: Mapping[str, catalog.ServiceSummary]) -> list[CatalogSnippet]:
    return [CatalogSnippet(taint(s.name), sorted_tags(s.tags)) for _, s in sorted(summaries.items())]


def nodes_from_catalog(nodes: Mapping[str, catalog.Node]) -> list[Node]:
    out = [Node(ID=taint(n.id), Node=taint(n.name), Address=taint(n.address), Datacenter=taint(n.datacenter),
                TaggedAddresses=_frozen_map(n.tagged_addresses), Meta=_frozen_map(n.meta)) for n in nodes.values()]
    out.sort(key=lambda n: (n.Node, n.Address))
    return out
