"""Template functions and the dependencies they read.

consul-template's idea: the render itself discovers what to watch. Each function call names a `Dependency`
(a Consul query), reads its data from the store and records it in the render's `Reads`; a dependency with
no data yet is recorded as missing and yields an empty value, so one pass discovers every query the
template needs and the file is never written before all of them have answered.

Decoding Consul's JSON into frozen, sorted values happens once per change (`Dependency.decode`), not per
render, so identical data always renders identical bytes.
"""

from __future__ import annotations

import base64
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from portside.consul import paths

EMPTY_UPSTREAM = "server 127.0.0.1:1 down;"

# Dependency kinds, each one Consul endpoint (consul-template has one file per kind in dependency/).
SERVICES, SERVICE, KEY, KEYS, NODES, DATACENTERS = "services", "service", "key", "keys", "nodes", "datacenters"


@dataclass(frozen=True, slots=True)
class Instance:
    """One service instance as the template sees it. `address` is the service address, else the node's."""

    id: str
    name: str
    address: str
    port: int
    tags: tuple[str, ...]
    meta: Mapping[str, str]
    node: str
    node_address: str
    status: str  # passing | warning | critical (worst of the instance's service and node checks)

    @property
    def hostport(self) -> str:
        """`address:port`, with IPv6 addresses bracketed as nginx wants them."""
        host = f"[{self.address}]" if ":" in self.address else self.address
        return f"{host}:{self.port}"


@dataclass(frozen=True, slots=True)
class ServiceSummary:
    name: str
    tags: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class KeyPair:
    key: str  # relative to the prefix asked for
    path: str  # the full key
    value: str


@dataclass(frozen=True, slots=True)
class Node:
    name: str
    address: str
    datacenter: str
    meta: Mapping[str, str]


def _status(checks: Iterable[Mapping[str, Any]]) -> str:
    worst = "passing"
    for check in checks:
        status = check.get("Status")
        if status == "critical":
            return "critical"
        if status == "warning":
            worst = "warning"
    return worst


def _meta(raw: Mapping[str, Any] | None) -> dict[str, str]:
    return {k: str(raw[k]) for k in sorted(raw)} if raw else {}


def _kv_value(raw: str | None) -> str:
    return base64.b64decode(raw).decode("utf-8", errors="replace") if raw else ""


def _decode_health(data: Any) -> tuple[Instance, ...]:
    out = []
    for entry in data or ():
        svc, node = entry["Service"], entry["Node"]
        out.append(Instance(
            id=svc["ID"], name=svc["Service"], address=svc.get("Address") or node.get("Address", ""),
            port=int(svc.get("Port") or 0), tags=tuple(sorted(svc.get("Tags") or ())), meta=_meta(svc.get("Meta")),
            node=node.get("Node", ""), node_address=node.get("Address", ""), status=_status(entry.get("Checks") or ()),
        ))
    out.sort(key=lambda i: (i.address, i.port, i.id, i.node))
    return tuple(out)


def _decode_kv(data: Any) -> str | None:
    if not data:
        return None
    return _kv_value(data[0].get("Value"))


def _decode_keys(data: Any) -> tuple[tuple[str, str], ...]:
    return tuple(sorted((e["Key"], _kv_value(e.get("Value"))) for e in data or ()))


def _decode_services(data: Any) -> tuple[ServiceSummary, ...]:
    return tuple(ServiceSummary(n, tuple(sorted(set(t or ())))) for n, t in sorted((data or {}).items()))


def _decode_nodes(data: Any) -> tuple[Node, ...]:
    nodes = (Node(n["Node"], n.get("Address", ""), n.get("Datacenter", ""), _meta(n.get("Meta"))) for n in data or ())
    return tuple(sorted(nodes, key=lambda n: n.name))


def _decode_datacenters(data: Any) -> tuple[str, ...]:
    return tuple(sorted(data or ()))


_DECODERS: dict[str, Callable[[Any], Any]] = {
    SERVICE: _decode_health, KEY: _decode_kv, KEYS: _decode_keys, SERVICES: _decode_services,
    NODES: _decode_nodes, DATACENTERS: _decode_datacenters,
}


@dataclass(frozen=True, slots=True)
class Dependency:
    """One Consul query a template reads; hashable, so it keys the store and the watches."""

    kind: str
    name: str = ""
    tag: str | None = None
    dc: str | None = None
    passing: bool = False

    @property
    def blocking(self) -> bool:
        """Whether Consul supports blocking queries here (datacenters has no index: it is polled)."""
        return self.kind != DATACENTERS

    def query(self) -> tuple[str, list[tuple[str, str]]]:
        """The HTTP path and parameters of this dependency (`paths` refuses a name no path could carry)."""
        params: list[tuple[str, str]] = []
        if self.dc:
            params.append(("dc", self.dc))
        if self.kind == SERVICE:
            if self.tag:
                params.append(("tag", self.tag))
            if self.passing:
                params.append(("passing", "1"))
            return paths.health_service(self.name), params
        if self.kind == KEY:
            return paths.kv(self.name), params
        if self.kind == KEYS:
            return paths.kv(self.name), [*params, ("recurse", "1")]
        if self.kind == SERVICES:
            return paths.catalog_services(), params
        if self.kind == NODES:
            return paths.catalog_nodes(), params
        return paths.catalog_datacenters(), params

    def decode(self, data: Any) -> Any:
        """Consul's JSON -> the immutable, sorted value the template functions hand out."""
        return _DECODERS[self.kind](data)

    def __str__(self) -> str:
        args = [repr(self.name)] if self.name or self.kind in (SERVICE, KEY, KEYS) else []
        args += [f"tag={self.tag!r}"] if self.tag else []
        args += [f"dc={self.dc!r}"] if self.dc else []
        args += ["passing_only=False"] if self.kind == SERVICE and not self.passing else []
        return f"{self.kind}({', '.join(args)})"


@dataclass
class Reads:
    """What one render read: every dependency used, and those that had no data yet."""

    used: set[Dependency] = field(default_factory=set)
    missing: set[Dependency] = field(default_factory=set)
    blocked: set[Dependency] = field(default_factory=set)  # key() of a key that does not exist (yet)


_ABSENT = object()


def make_functions(
    store: Mapping[Dependency, Any], reads: Reads, environ: Mapping[str, str]
) -> dict[str, Callable[..., Any]]:
    """The functions a template can call, bound to one render's store snapshot and `reads`."""

    def read(dep: Dependency, empty: Any) -> Any:
        reads.used.add(dep)
        value = store.get(dep, _ABSENT)
        if value is _ABSENT:
            reads.missing.add(dep)
            return empty
        return value

    def services(tag: str | None = None, dc: str | None = None) -> list[ServiceSummary]:
        data = read(Dependency(SERVICES, dc=dc), ())
        return [s for s in data if tag in s.tags] if tag else list(data)

    def service(name: str, tag: str | None = None, dc: str | None = None, passing_only: bool = True) -> list[Instance]:
        return list(read(Dependency(SERVICE, str(name), tag=tag, dc=dc, passing=bool(passing_only)), ()))

    def key(path: str, dc: str | None = None) -> str:
        dep = Dependency(KEY, str(path).strip("/"), dc=dc)
        value = read(dep, "")
        if value is None:
            reads.blocked.add(dep)
            return ""
        return str(value)

    def key_or_default(path: str, default: str = "", dc: str | None = None) -> str:
        value = read(Dependency(KEY, str(path).strip("/"), dc=dc), None)
        return default if value is None else str(value)

    def _pairs(prefix: str, dc: str | None) -> tuple[str, list[tuple[str, str]]]:
        clean = str(prefix).strip("/")
        base = f"{clean}/" if clean else ""
        data = read(Dependency(KEYS, clean, dc=dc), ())
        return base, [(k[len(base):], v) for k, v in data if k.startswith(base) and not k.endswith("/")]

    def tree(prefix: str, dc: str | None = None) -> list[KeyPair]:
        base, pairs = _pairs(prefix, dc)
        return [KeyPair(rel, base + rel, v) for rel, v in pairs]

    def ls(prefix: str, dc: str | None = None) -> list[KeyPair]:
        base, pairs = _pairs(prefix, dc)
        return [KeyPair(rel, base + rel, v) for rel, v in pairs if "/" not in rel]

    def nodes(dc: str | None = None) -> list[Node]:
        return list(read(Dependency(NODES, dc=dc), ()))

    def datacenters() -> list[str]:
        return list(read(Dependency(DATACENTERS), ()))

    def env(name: str, default: str = "") -> str:
        return environ.get(str(name), default)

    return {"services": services, "service": service, "key": key, "key_or_default": key_or_default,
            "tree": tree, "ls": ls, "nodes": nodes, "datacenters": datacenters, "env": env}


def locate(value: str, store: Mapping[Dependency, Any], deps: Iterable[Dependency]) -> str:
    """Name where a refused value came from (slow path, only after a refusal): the dependency and field."""
    for dep in sorted(deps, key=str):
        data = store.get(dep)
        for where, candidate in _walk(data, ""):
            if isinstance(candidate, str) and candidate and (candidate == value or candidate in value):
                return f"{dep}{where}"
    return "a template expression"


def _walk(data: Any, where: str) -> Iterable[tuple[str, Any]]:
    if isinstance(data, str):
        yield where, data
    elif isinstance(data, tuple | list):
        for i, item in enumerate(data):
            label = getattr(item, "id", None) or getattr(item, "key", None) or getattr(item, "name", None) or i
            yield from _walk(item, f"{where}[{label!r}]")
    elif isinstance(data, Mapping):
        for k, v in data.items():
            yield from _walk(v, f"{where}[{k!r}]")
    elif hasattr(data, "__slots__"):
        for name in data.__slots__:
            yield from _walk(getattr(data, name), f"{where}.{name}")
