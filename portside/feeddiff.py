"""Pure: which services moved, from what the feed's few catalog-wide watches saw (no I/O).

The feed (feed.py) watches a fixed handful of catalog-wide queries and reads a service's health entries
only when one of these says it moved:
- the service list (/v1/catalog/services): names that appeared or went, tags that changed;
- the checks not passing (/v1/health/state/critical and /warning): a check that entered, left or
  changed in that set moves its service (a node check moves every service with an instance on that node);
- the nodes (/v1/catalog/nodes): a node whose address, meta or tagged addresses changed moves its services;
- the sweep (/v1/catalog/node-services/<node>, one read per node): instances that appeared, went or were
  re-registered (ModifyIndex) since the catalog last read them: what the three watches cannot attribute (an
  instance without checks, an address or port change, a passing instance's new registration).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any

from portside.catalog import Catalog, Check, Instance, Node, ServiceSummary
from portside.catalogjson import Memo, decode_instance


def diff_summaries(
    old: Mapping[str, ServiceSummary] | None, new: Mapping[str, ServiceSummary]
) -> tuple[set[str], set[str]]:
    """(names to read: new or with changed tags, names gone)."""
    if old is None:
        return set(new), set()
    fetch = {name for name, summary in new.items() if old.get(name) != summary}
    return fetch, set(old) - set(new)


def diff_checks(
    old: Mapping[tuple[str, str], Check], new: Mapping[tuple[str, str], Check],
    nodes: Mapping[str, set[str]] | Callable[[], Mapping[str, set[str]]],
) -> set[str]:
    """Services moved by checks that entered, left or changed (status, output, ModifyIndex) between two reads.
    A service check moves its service; a node check (no service name) every service with an instance on its
    node: `nodes` maps a node to those (`catalog.by_node`), or makes that map when a node check first needs it
    (building it walks every instance: 15 ms at 50,000, for nothing when only service checks moved)."""
    moved: set[str] = set()
    lookup: Mapping[str, set[str]] | None = None
    for key in old.keys() | new.keys():
        before, after = old.get(key), new.get(key)
        if before == after:
            continue
        for check in (before, after):
            if check is None:
                continue
            if check.service_name:
                moved.add(check.service_name)
                continue
            if lookup is None:
                lookup = nodes() if callable(nodes) else nodes
            moved |= lookup.get(check.node, set())
    return moved


def diff_nodes(old: Mapping[str, Node], new: Mapping[str, Node], nodes: Mapping[str, set[str]]) -> set[str]:
    """Services with an instance on a node whose record changed or went (a new node has no instances yet)."""
    moved: set[str] = set()
    for name, node in old.items():
        if new.get(name) != node:
            moved |= nodes.get(name, set())
    return moved


def registrations(catalog: Catalog) -> dict[str, dict[str, tuple[str, int]]]:
    """node -> {service ID: (service name, ModifyIndex)} as the catalog last read them."""
    out: dict[str, dict[str, tuple[str, int]]] = {}
    for name, instances in catalog.services.items():
        for inst in instances:
            out.setdefault(inst.node, {})[inst.id] = (name, inst.modify_index)
    return out


def decode_node_services(data: Any) -> dict[str, tuple[str, int]] | None:
    """/v1/catalog/node-services/<node> -> {service ID: (service name, ModifyIndex)}; None when unusable."""
    if data is None:
        return {}  # the node is gone: its services will be missed by the sweep and moved
    if not isinstance(data, Mapping) or not isinstance(data.get("Services"), list | type(None)):
        return None
    out: dict[str, tuple[str, int]] = {}
    for svc in data.get("Services") or ():
        if not isinstance(svc, Mapping) or not isinstance(svc.get("Service"), str):
            continue
        raw_id = svc.get("ID")
        sid: str = raw_id if isinstance(raw_id, str) and raw_id else svc["Service"]
        index = svc.get("ModifyIndex")
        out[sid] = (svc["Service"], index if isinstance(index, int) and not isinstance(index, bool) else 0)
    return out


def diff_sweep(
    known: Mapping[str, Mapping[str, tuple[str, int]]], seen: Mapping[str, Mapping[str, tuple[str, int]]],
    wanted: Iterable[str] | None = None,
) -> set[str]:
    """Services whose registrations differ between what the catalog holds (`known`, by node) and what the
    sweep read (`seen`, the nodes swept). Nodes not swept are not compared. `wanted` limits the answer to the
    services the catalog follows (None: all)."""
    moved: set[str] = set()
    for node, now in seen.items():
        before = known.get(node, {})
        for sid in before.keys() | now.keys():
            a, b = before.get(sid), now.get(sid)
            if a != b:
                moved.update(x[0] for x in (a, b) if x is not None)
    if wanted is not None:
        moved &= set(wanted)
    return moved


def join_health(node_services: Mapping[str, Any], checks: Any) -> tuple[dict[str, list[Instance]], int]:
    """What /v1/health/service joins server-side, done here for the whole catalog at once (the first sync):
    each node's /v1/catalog/node-services answer (its node record and its registrations) with
    /v1/health/state/any (every check), node checks first as Consul lists them. ({name: instances}, skipped)."""
    by_service: dict[tuple[str, str], list[Any]] = {}
    by_node: dict[str, list[Any]] = {}
    for raw in checks if isinstance(checks, list) else ():
        if isinstance(raw, Mapping) and isinstance(raw.get("Node"), str):
            sid = raw.get("ServiceID")
            if isinstance(sid, str) and sid:
                by_service.setdefault((raw["Node"], sid), []).append(raw)
            else:
                by_node.setdefault(raw["Node"], []).append(raw)
    out: dict[str, list[Instance]] = {}
    skipped = 0
    memo = Memo()
    for name, data in node_services.items():
        if not isinstance(data, Mapping) or not isinstance(data.get("Node"), Mapping):
            continue
        node = data["Node"]
        for svc in data.get("Services") or ():
            sid = svc.get("ID") if isinstance(svc, Mapping) else None
            entry = {"Node": node, "Service": svc,
                     "Checks": by_node.get(name, []) + by_service.get((name, sid if isinstance(sid, str) else ""), [])}
            inst = decode_instance(entry, memo)
            if inst is None:
                skipped += 1
            else:
                out.setdefault(inst.service, []).append(inst)
    return out, skipped
