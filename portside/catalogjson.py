"""Pure: Consul's JSON answers -> portside.catalog's frozen values (health entries, checks, nodes, the service
list, KV). Decoding never raises: an entry that is not what Consul sends is skipped and counted
(`Decoded.skipped`), so a crafted entry costs that one entry, never the rest.

The first sync decodes every instance of the catalog (50,000 at 5,000 services x 10), so each helper takes the
type Consul sends first, and one decoding pass shares equal small values (a node's fields, tag lists).
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from portside.catalog import (
    EMPTY,
    NIL,
    Check,
    FrozenMap,
    Instance,
    KVPair,
    Node,
    ServiceSummary,
    judge,
    sort_key,
)


def _str(value: Any) -> str:
    if type(value) is str:
        return value
    return "" if value is None else str(value)


def _int(value: Any, default: int = 0) -> int:
    if type(value) is int:
        return value
    if isinstance(value, bool):
        return default
    if isinstance(value, int):
        return int(value)
    try:
        return int(str(value))
    except (TypeError, ValueError):
        return default


def _map(value: Any) -> FrozenMap:
    if value is None:
        return NIL
    if not value or not isinstance(value, Mapping):
        return EMPTY
    return FrozenMap((str(k), _str(v)) for k, v in value.items())


class Memo:
    """What one decoding pass shares between entries: a node's fields by the node object's identity (a bulk
    read hands one node object with each of its services), and tag lists by value (most instances of a service
    carry the same tags): fewer objects, and each decoded once."""

    __slots__ = ("nodes", "tags")

    def __init__(self) -> None:
        self.nodes: dict[int, _NodeFields] = {}
        self.tags: dict[tuple[Any, ...], tuple[tuple[str, ...], tuple[str, ...]]] = {}


def _tag_lists(value: Any, memo: Memo | None = None) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """(tags as registered, sorted and deduplicated); the same tuple twice when they are equal."""
    if type(value) is not list or not value:
        return (), ()
    key = tuple(value)
    try:
        found = memo.tags.get(key) if memo is not None else None
    except TypeError:  # a tag that is not hashable (not a string): not remembered
        memo = None
        found = None
    if found is None:
        registered = tuple(t for t in key if type(t) is str)
        unique = tuple(sorted(set(registered)))
        found = (unique, unique) if unique == registered else (registered, unique)
        if memo is not None:
            memo.tags[key] = found
    return found


def _tags(value: Any) -> tuple[str, ...]:
    return _tag_lists(value)[1]


def _tagged(value: Any) -> tuple[tuple[str, str, int], ...]:
    """A service's TaggedAddresses ({"wan": {"Address": .., "Port": ..}}) -> ((key, address, port), ...)."""
    if not value or not isinstance(value, Mapping):
        return ()
    return tuple(sorted((str(k), _str(v.get("Address")), _int(v.get("Port")))
                        for k, v in value.items() if isinstance(v, Mapping)))


_UNREADABLE = Check("", "", "")  # a check entry that is not a mapping: its status is unknown, so critical


def decode_check(raw: Any, memo: Memo | None = None) -> Check:
    """A check entry; one that cannot be read still counts, with an unknown (critical) status: skipping it could
    let a failing instance look healthy."""
    if type(raw) is not dict and not isinstance(raw, Mapping):
        return _UNREADABLE
    get = raw.get
    status = get("Status")
    return Check(
        _str(get("Node")), _str(get("CheckID")), status if type(status) is str else "", _str(get("Name")),
        _str(get("ServiceID")), _str(get("ServiceName")), _str(get("Output")), _int(get("ModifyIndex")),
        _str(get("Notes")), _str(get("Type")), _tag_lists(get("ServiceTags"), memo)[0], _int(get("ExposedPort")),
        _int(get("CreateIndex")),
    )


_NodeFields = tuple[str, str, FrozenMap, str, FrozenMap, str]


def _node_fields(node: Mapping[str, Any]) -> _NodeFields:
    return (_str(node.get("Node")), _str(node.get("Address")), _map(node.get("Meta")), _str(node.get("ID")),
            _map(node.get("TaggedAddresses")), _str(node.get("Datacenter")))


def decode_instance(entry: Any, memo: Memo | None = None) -> Instance | None:
    """One /v1/health/service entry -> Instance; None when it is not a usable entry. `memo` shares node fields
    and tag lists between the entries of one pass."""
    if type(entry) is not dict and not isinstance(entry, Mapping):
        return None
    node, svc = entry.get("Node"), entry.get("Service")
    if not isinstance(node, Mapping) or not isinstance(svc, Mapping):
        return None
    name = svc.get("Service")
    if type(name) is not str or not name:
        return None
    if memo is None:
        fields = _node_fields(node)
    elif (fields := memo.nodes.get(id(node))) is None:  # type: ignore[assignment]
        fields = memo.nodes[id(node)] = _node_fields(node)
    node_name, node_address, node_meta, node_id, tagged, dc = fields
    raw_checks = entry.get("Checks")
    checks = tuple([decode_check(c, memo) for c in raw_checks]) if type(raw_checks) is list else ()
    status, maintenance = judge(checks)
    weights = svc.get("Weights")
    passing, warning = (weights.get("Passing"), weights.get("Warning")) if isinstance(weights, Mapping) else (1, 1)
    service_address = _str(svc.get("Address"))
    registered, tags = _tag_lists(svc.get("Tags"), memo)
    return Instance(
        _str(svc.get("ID")) or name, name, node_name, service_address or node_address, _int(svc.get("Port")),
        node_address, service_address, tags, _map(svc.get("Meta")), node_meta, node_id, tagged, dc,
        _str(svc.get("Namespace")), _str(svc.get("Partition")), max(0, _int(passing, 1)), max(0, _int(warning, 1)),
        checks, status, maintenance, _int(svc.get("ModifyIndex")), None if registered is tags else registered,
        _tagged(svc.get("TaggedAddresses")),
    )


@dataclass(frozen=True)
class Decoded:
    """What a decoder made of one answer: the values, and how many entries it had to skip."""

    value: Any
    skipped: int = 0


def _each(data: Any) -> list[Any]:
    return data if isinstance(data, list) else []


class Previous:
    """The instances of a service's last answer by entry signature, so the next answer decodes only the
    entries that changed: at 60 instances a full decode took 2.6 ms of each change's ~4 ms of CPU here.

    The signature is the IDs and ModifyIndex of the entry's service, node and checks: Consul raises an object's
    ModifyIndex whenever it writes a change to it. An entry without them is always decoded in full. A Consul
    that lied about its indexes could only make us keep an instance we had already decoded and checked."""

    __slots__ = ("by_signature",)

    def __init__(self) -> None:
        self.by_signature: dict[tuple[Any, ...], Instance] = {}


def _positive(value: Any) -> bool:
    return type(value) is int and value > 0


def entry_signature(entry: Any) -> tuple[Any, ...] | None:
    """(service ID, its index, node, its index, then check ID and index for each check); None when the entry
    does not carry them all."""
    if type(entry) is not dict:
        return None
    node, svc, checks = entry.get("Node"), entry.get("Service"), entry.get("Checks")
    if type(node) is not dict or type(svc) is not dict or type(checks) is not list:
        return None
    sid, sidx, nname, nidx = svc.get("ID"), svc.get("ModifyIndex"), node.get("Node"), node.get("ModifyIndex")
    if type(sid) is not str or type(nname) is not str or not _positive(sidx) or not _positive(nidx):
        return None
    sig: list[Any] = [sid, sidx, nname, nidx]
    for check in checks:
        if type(check) is not dict:
            return None
        cid, cidx = check.get("CheckID"), check.get("ModifyIndex")
        if type(cid) is not str or not _positive(cidx):
            return None
        sig += (cid, cidx)
    return tuple(sig)


def _decode_entries(entries: list[Any], previous: Previous | None) -> list[Instance]:
    memo = Memo()
    if previous is None:
        return [i for i in (decode_instance(e, memo) for e in entries) if i is not None]
    known, seen = previous.by_signature, {}
    found = []
    for entry in entries:
        sig = entry_signature(entry)
        instance = known.get(sig) if sig is not None else None
        if instance is None:
            instance = decode_instance(entry, memo)
        if instance is not None:
            found.append(instance)
            if sig is not None:
                seen[sig] = instance
    previous.by_signature = seen
    return found


def decode_health(data: Any, previous: Previous | None = None) -> Decoded:
    """/v1/health/service/<name> -> Decoded(tuple of instances in the one sort order). `previous` (kept by the
    caller per service) lets unchanged entries of the last answer be reused rather than decoded again."""
    entries = _each(data)
    found = _decode_entries(entries, previous)
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
    memo = Memo()
    for raw in _each(data):
        check = decode_check(raw, memo)
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
