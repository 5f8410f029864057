"""consul-template's data types, as Go structs the Go template engine can read and print.

Field names, field order and Go type names are consul-template v0.41.1's (`dependency/*.go`, the Consul API's
`HealthCheck` and `AgentWeights`): `{{ . }}`, `printf "%+v"`, `toJSON` and `toYAML` of these values print what
consul-template prints. Pointer types carry a leading "*" in `__go_type__`.

Every string that came from Consul is a `Tainted` str: the Go renderer's guard (guards.py, by the syntax of the
destination) refuses such a value when it is printed raw with characters that could change that syntax, and the
function library keeps the mark on what it derives from one it would refuse (`join`, `toUpper`, `printf`, ...).
Template literals are plain str.

Go tells a nil map or slice from an empty one only in `toJSON` (null vs {} / []): `NilMap` and `NilSlice` are
the nil ones, printed `map[]` and `[]` like Go.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from consul_templates.guards import Guard
from portside.gotemplate import GoMap, GoSlice


class Tainted(str):
    """A string from Consul data (an address, a tag, a KV value, ...) or derived from one."""

    __slots__ = ()


def taint(value: str | None) -> Tainted:
    return value if type(value) is Tainted else Tainted(value or "")


class Uint64(int):
    """A Go uint64 (parseUint, yaml.v2 integers above int64): arithmetic on two of them wraps at 2**64."""

    __slots__ = ()


@functools.lru_cache(maxsize=65536)
def _refused(guard: Guard, text: str) -> bool:
    """guard.reason, remembered: the same addresses and tags are printed on every render."""
    return guard.reason(text) is not None


def is_tainted(value: Any, depth: int = 0) -> bool:
    """Whether a value is, or holds, a string from Consul (bounded depth, as first_dirty)."""
    t = type(value)
    if t is Tainted:
        return True
    if t is str or t is int or t is float or t is bool or value is None or depth > 6:
        return False
    if isinstance(value, Mapping):
        return any(is_tainted(k, depth + 1) or is_tainted(v, depth + 1) for k, v in value.items())
    if isinstance(value, list | tuple):
        return any(is_tainted(v, depth + 1) for v in value)
    return t in CONSUL_TYPES


def first_dirty(value: Any, guard: Guard, depth: int = 0) -> str | None:
    """The first Consul string in `value` (itself, or inside a list, map or Consul struct) that `guard` refuses,
    or None. Bounded depth: deeper nesting than templates build is not looked at."""
    t = type(value)
    if t is Tainted:
        return value if _refused(guard, value) else None
    if t is str or t is int or t is float or t is bool or value is None or depth > 6:
        return None
    items: Any
    if isinstance(value, Mapping):
        items = (x for kv in value.items() for x in kv)
    elif isinstance(value, list | tuple):
        items = value
    elif t in CONSUL_TYPES:
        items = (getattr(value, f) for f in value.__dataclass_fields__)
    else:
        return None
    for item in items:
        found = first_dirty(item, guard, depth + 1)
        if found is not None:
            return found
    return None


def mark(value: Any) -> Any:
    """`value` with every string in it marked as Consul data (containers rebuilt with their Go types)."""
    if isinstance(value, str):
        return value if type(value) is Tainted else Tainted(value)
    if isinstance(value, GoSlice):
        out = type(value)((mark(v) for v in value), elem=value.elem)
        out.go_type = value.go_type
        return out
    if isinstance(value, GoMap):
        m = type(value)(((mark(k), mark(v)) for k, v in value.items()), key=value.key, elem=value.elem)
        m.go_type = value.go_type
        return m
    if isinstance(value, list):
        return [mark(v) for v in value]
    if isinstance(value, dict):  # a map[string]interface{} (JSON, explode, sprig): typed, as its keys are marked
        return GoMap(((mark(k), mark(v)) for k, v in value.items()), key="string", elem="interface {}")
    return value


class NilMap(GoMap):
    """A nil Go map: empty, printed `map[]`, but `null` in JSON."""

    __slots__ = ()


class NilSlice(GoSlice):
    """A nil Go slice: empty, printed `[]`, but `null` in JSON."""

    __slots__ = ()


def str_map(raw: Mapping[str, Any] | None) -> GoMap:
    """A Consul `map[string]string` (meta, tagged addresses): nil when Consul sent null."""
    if raw is None:
        return NilMap(key="string", elem="string")
    return GoMap(((taint(k), taint(str(v))) for k, v in raw.items()), key="string", elem="string")


def str_slice(raw: Iterable[str] | None, name: str | None = None) -> GoSlice:
    if raw is None:
        return NilSlice(elem="string", name=name)
    return GoSlice((taint(s) for s in raw), elem="string", name=name)


def sorted_tags(raw: Iterable[str] | None) -> GoSlice:
    """consul-template's deepCopyAndSortTags: always a non-nil, sorted `dependency.ServiceTags`."""
    return GoSlice(sorted(taint(s) for s in raw or ()), elem="string", name="dependency.ServiceTags")


class Duration:
    """A Go `time.Duration` (nanoseconds), printed as Go's `Duration.String()` does ("1m30s", "1.5s", "0s")."""

    __slots__ = ("ns",)
    __go_type__ = "time.Duration"

    def __init__(self, ns: int = 0) -> None:
        self.ns = ns

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Duration) and other.ns == self.ns

    def __hash__(self) -> int:
        return hash(self.ns)

    def __str__(self) -> str:
        return format_duration(self.ns)

    def String(self) -> str:  # noqa: N802 - Go's Stringer, called by the template engine when printing
        return format_duration(self.ns)


_UNITS = {"ns": 1, "us": 1_000, "µs": 1_000, "μs": 1_000, "ms": 1_000_000, "s": 10**9, "m": 60 * 10**9,
          "h": 3600 * 10**9}


def parse_duration(text: str) -> int:
    """time.ParseDuration: "1h30m", "1.5s", "-2ms", "0" -> nanoseconds; ValueError otherwise."""
    s, neg = text, False
    if s[:1] in "+-" and s:
        neg, s = s[0] == "-", s[1:]
    if s == "0":
        return 0
    if not s:
        raise ValueError(f'time: invalid duration "{text}"')
    total, i = 0.0, 0
    while i < len(s):
        j = i
        while j < len(s) and (s[j].isascii() and (s[j].isdigit() or s[j] == ".")):
            j += 1
        k = j
        while k < len(s) and not (s[k].isascii() and (s[k].isdigit() or s[k] == ".")):
            k += 1
        number, unit = s[i:j], s[j:k]
        if not number or number == "." or unit not in _UNITS:
            raise ValueError(f'time: invalid duration "{text}"')
        total += float(number) * _UNITS[unit]
        i = k
    return -round(total) if neg else round(total)


def format_duration(ns: int) -> str:
    """time.Duration.String."""
    if ns == 0:
        return "0s"
    sign, u = ("-", -ns) if ns < 0 else ("", ns)
    if u < 10**9:
        for unit, size in (("ns", 1), ("µs", 1_000), ("ms", 1_000_000)):
            if u < size * 1000:
                return sign + _frac(u, size) + unit
    secs, frac_ns = divmod(u, 10**9)
    out = _frac(secs % 60 * 10**9 + frac_ns, 10**9) + "s"
    mins = secs // 60
    if mins:
        out = f"{mins % 60}m" + out
        if mins >= 60:
            out = f"{mins // 60}h" + out
    return sign + out


def _frac(value: int, size: int) -> str:
    whole, rest = divmod(value, size)
    if not rest:
        return str(whole)
    digits = str(rest).rjust(len(str(size)) - 1, "0").rstrip("0")
    return f"{whole}.{digits}"


@dataclass(frozen=True, slots=True)
class AgentWeights:
    Passing: int
    Warning: int
    __go_type__ = "api.AgentWeights"


@dataclass(frozen=True, slots=True)
class ServiceAddress:
    Address: str
    Port: int
    __go_type__ = "api.ServiceAddress"


@dataclass(frozen=True, slots=True)
class HealthCheckDefinition:
    """The Consul API's check definition; Consul's health endpoint sends it empty ({}), so it is all zeros
    there, printed `{ map[]    false  false    false 0s 0s 0s  0 0 0}` as Go prints it."""

    HTTP: str = ""
    Header: Any = None  # map[string][]string; None stands for nil, replaced in __post_init__
    Method: str = ""
    Body: str = ""
    TLSServerName: str = ""
    TLSSkipVerify: bool = False
    TCP: str = ""
    TCPUseTLS: bool = False
    UDP: str = ""
    GRPC: str = ""
    OSService: str = ""
    GRPCUseTLS: bool = False
    IntervalDuration: Duration = Duration()
    TimeoutDuration: Duration = Duration()
    DeregisterCriticalServiceAfterDuration: Duration = Duration()
    SessionName: str = ""
    Interval: int = 0  # api.ReadableDuration: no String method on the value, so Go prints the nanoseconds
    Timeout: int = 0
    DeregisterCriticalServiceAfter: int = 0
    __go_type__ = "api.HealthCheckDefinition"

    def __post_init__(self) -> None:
        if self.Header is None:
            object.__setattr__(self, "Header", NilMap(key="string", elem="[]string"))

    def go_json_fields(self) -> list[tuple[str, Any]]:
        """The API's MarshalJSON: the three durations as strings first, then the other fields."""
        def dur(d: Duration, readable: int) -> str:
            return format_duration(d.ns or readable)
        head = [("Interval", dur(self.IntervalDuration, self.Interval)),
                ("Timeout", dur(self.TimeoutDuration, self.Timeout)),
                ("DeregisterCriticalServiceAfter",
                 dur(self.DeregisterCriticalServiceAfterDuration, self.DeregisterCriticalServiceAfter))]
        rest = [(n, getattr(self, n)) for n in ("HTTP", "Header", "Method", "Body", "TLSServerName", "TLSSkipVerify",
                                                "TCP", "TCPUseTLS", "UDP", "GRPC", "OSService", "GRPCUseTLS")]
        return head + rest + ([("SessionName", self.SessionName)] if self.SessionName else [])


@dataclass(frozen=True, slots=True)
class HealthCheck:
    Node: str
    CheckID: str
    Name: str
    Status: str
    Notes: str
    Output: str
    ServiceID: str
    ServiceName: str
    ServiceTags: GoSlice
    Type: str
    Namespace: str
    Partition: str
    ExposedPort: int
    PeerName: str
    Definition: HealthCheckDefinition
    CreateIndex: int
    ModifyIndex: int
    __go_type__ = "*api.HealthCheck"

    def go_json_fields(self) -> list[tuple[str, Any]]:
        omit_empty = ("Namespace", "Partition", "PeerName")
        return [(name, getattr(self, name)) for name in _field_names(self)
                if not (name in omit_empty and not getattr(self, name))]


@dataclass(frozen=True, slots=True)
class HealthService:
    """One instance of `service "name"` (consul-template's dependency.HealthService)."""

    Node: str
    NodeID: str
    NodeAddress: str
    NodeTaggedAddresses: GoMap
    NodeMeta: GoMap
    ServiceMeta: GoMap
    Address: str
    ServiceTaggedAddresses: GoMap
    ID: str
    Name: str
    Tags: GoSlice
    Checks: GoSlice
    Status: str
    Port: int
    Weights: AgentWeights
    __go_type__ = "*dependency.HealthService"

    # languages.FilteredStore drops a hostile instance by (id, node); lower case: invisible to templates
    @property
    def id(self) -> str:
        return self.ID

    @property
    def node(self) -> str:
        return self.Node


@dataclass(frozen=True, slots=True)
class CatalogSnippet:
    """One entry of `services`."""

    Name: str
    Tags: GoSlice
    __go_type__ = "*dependency.CatalogSnippet"


@dataclass(frozen=True, slots=True)
class Node:
    """One entry of `nodes`, and `.Node` of `node`."""

    ID: str
    Node: str
    Address: str
    Datacenter: str
    TaggedAddresses: GoMap
    Meta: GoMap
    __go_type__ = "*dependency.Node"


@dataclass(frozen=True, slots=True)
class CatalogNodeService:
    ID: str
    Service: str
    Tags: GoSlice
    Meta: GoMap
    Port: int
    Address: str
    EnableTagOverride: bool
    __go_type__ = "*dependency.CatalogNodeService"


@dataclass(frozen=True, slots=True)
class CatalogNode:
    """`node "name"`: the node and its services (Node is None for a node that does not exist)."""

    Node: Node | None
    Services: GoSlice
    __go_type__ = "*dependency.CatalogNode"


@dataclass(frozen=True, slots=True)
class KeyPair:
    """One entry of `ls` / `tree`: `Key` is relative to the prefix asked for, `Path` the full key."""

    Path: str
    Key: str
    Value: str
    CreateIndex: int
    ModifyIndex: int
    LockIndex: int
    Flags: int
    Session: str
    __go_type__ = "*dependency.KeyPair"


def _field_names(obj: Any) -> list[str]:
    return list(obj.__dataclass_fields__)


CONSUL_TYPES = frozenset({HealthService, HealthCheck, HealthCheckDefinition, CatalogSnippet, Node, CatalogNode,
                          CatalogNodeService, KeyPair, AgentWeights, ServiceAddress})
