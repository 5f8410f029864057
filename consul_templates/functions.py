"""Template functions and the dependencies they read.

consul-template's idea: the render itself discovers what to watch. Each function call names a `Dependency`
(a Consul query), reads its data from the store and records it in the render's `Reads`; a dependency with
no data yet is recorded as missing and yields an empty value, so one pass discovers every query the
template needs and the file is never written before all of them have answered.

Decoding Consul's JSON into frozen, sorted values happens once per change (`Dependency.decode`), not per
render, so identical data always renders identical bytes.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from portside.catalog import (
    CRITICAL,
    MAINTENANCE,
    PASSING,
    WARNING,
    Catalog,
    Instance,
    Node,
    ServiceSummary,
    aggregated_status,
)
from portside.catalogjson import decode_health, decode_kv, decode_nodes, decode_service_list
from portside.consul import paths

__all__ = ["Dependency", "Instance", "KeyPair", "Node", "Reads", "ServiceSummary", "locate", "make_functions"]

EMPTY_UPSTREAM = "server 127.0.0.1:1 down;"

# Dependency kinds, each one Consul endpoint (consul-template has one file per kind in dependency/).
SERVICES, SERVICE, KEY, KEYS, NODES, DATACENTERS = "services", "service", "key", "keys", "nodes", "datacenters"
CATALOG_KINDS = frozenset({SERVICES, SERVICE, NODES})  # read from the catalog feed, not watched one by one


@dataclass(frozen=True, slots=True)
class KeyPair:
    key: str  # relative to the prefix asked for
    path: str  # the full key
    value: str


# Instances are judged by the one status rule (portside.catalog); a service dependency keeps the instances its
# status filter accepts, consul-template's way: by default only passing ones ("passing" = every check passing);
# "any" keeps all; otherwise the instance's aggregated status (Consul's API: "maintenance" first, a check in a
# state Consul does not define makes it "", matching no filter but "any") must be one of the filter's. DNS
# serves passing and warning instances (passing only with --only-passing), an undefined state counting as
# critical there, so `service('web', status='passing,warning')` lists exactly what DNS answers for
# web.service.consul, in the same order.
HEALTH_FILTERS = frozenset({"any", PASSING, WARNING, CRITICAL, MAINTENANCE})


def accept(instance: Instance, filters: tuple[str, ...]) -> bool:
    return "any" in filters or aggregated_status(instance) in filters


def service_view(instances: Iterable[Instance], tag: str | None, filters: tuple[str, ...]) -> tuple[Instance, ...]:
    """What `service(name, tag, ...)` hands out: the catalog's instances (sorted by node, then ID) that carry
    `tag` and pass the status filter."""
    return tuple(i for i in instances if (tag is None or tag in i.tags) and accept(i, filters))


def parse_status(text: str | Iterable[str]) -> tuple[str, ...]:
    """consul-template's filter form ("passing,warning", "any") -> a sorted tuple; ValueError on a bad one."""
    items = [t.strip() for t in (text.split(",") if isinstance(text, str) else text)]
    out = tuple(sorted({t for t in items if t}))
    bad = [t for t in out if t not in HEALTH_FILTERS]
    if bad:
        raise ValueError(f"bad status filter {bad[0]!r}: use any, passing, warning, critical, maintenance")
    if "any" in out and len(out) > 1:
        raise ValueError("status filter 'any' cannot be combined with others")
    return out or (PASSING,)


def _decode_kv(data: Any) -> str | None:
    pairs = decode_kv(data).value
    return pairs[0].value if pairs else None


def _decode_keys(data: Any) -> tuple[tuple[str, str], ...]:
    return tuple((p.key, p.value) for p in decode_kv(data).value)


def _decode_services(data: Any) -> tuple[ServiceSummary, ...]:
    return tuple(decode_service_list(data).value.values())


def _decode_nodes(data: Any) -> tuple[Node, ...]:
    return tuple(decode_nodes(data).value.values())


def _decode_datacenters(data: Any) -> tuple[str, ...]:
    return tuple(sorted(data or ()))


_DECODERS: dict[str, Callable[[Any], Any]] = {
    KEY: _decode_kv, KEYS: _decode_keys, SERVICES: _decode_services,
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
    status: tuple[str, ...] = ()  # consul-template's status filter; empty: ("passing",) or ("any",) by `passing`
    # computed once: every render, watch sync and store read hashes thousands of these
    _hash: int = field(default=0, init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_hash", hash((self.kind, self.name, self.tag, self.dc, self.passing, self.status)))

    def __hash__(self) -> int:
        return self._hash

    @property
    def filters(self) -> tuple[str, ...]:
        return self.status or ((PASSING,) if self.passing else ("any",))

    @property
    def from_catalog(self) -> bool:
        """Served from the catalog feed (no query of its own), not by a watch. A subclass that brings its own
        query and decoder (the Go templates' queries) is watched as it asks."""
        return self.kind in CATALOG_KINDS and type(self).query is Dependency.query

    def view(self, catalog: Catalog) -> Any:
        """This dependency's value in a synced catalog (a service the catalog lacks has no instances)."""
        if self.kind == SERVICE:
            return service_view(catalog.services.get(self.name, ()), self.tag, self.filters)
        if self.kind == SERVICES:
            return tuple(catalog.summaries.values())
        return tuple(catalog.nodes.values())

    def source(self, catalog: Catalog) -> object:
        """The part of the catalog the view is made from: the view is unchanged while this object is."""
        if self.kind == SERVICE:
            return catalog.services.get(self.name)
        return catalog.summaries if self.kind == SERVICES else catalog.nodes

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
        if self.kind == SERVICE:
            return service_view(decode_health(data).value, self.tag, self.filters)
        return _DECODERS[self.kind](data)

    def __str__(self) -> str:
        args = [repr(self.name)] if self.name or self.kind in (SERVICE, KEY, KEYS) else []
        args += [f"tag={self.tag!r}"] if self.tag else []
        args += [f"dc={self.dc!r}"] if self.dc else []
        args += ["passing_only=False"] if self.kind == SERVICE and not self.passing and not self.status else []
        args += [f"status={','.join(self.status)!r}"] if self.status else []
        return f"{self.kind}({', '.join(args)})"


@dataclass
class Reads:
    """What one render read: every dependency used, and those that had no data yet."""

    used: set[Dependency] = field(default_factory=set)
    missing: set[Dependency] = field(default_factory=set)
    blocked: set[Dependency] = field(default_factory=set)  # key() of a key that does not exist (yet)
    trail: list[tuple[Dependency, Any]] | None = None  # (dependency, store value) as read, while a loop memo asks


ABSENT = object()  # a dependency with no data yet
# One object per distinct dependency the templates read: the store, the watches and a render's reads then find it
# by identity, without comparing field by field (thousands of times per render of a template over a catalog).
_INTERNED: dict[Dependency, Dependency] = {}
_INTERNED_MAX = 200_000  # past this, start over (only the speed-up is lost)


def intern(dep: Dependency) -> Dependency:
    found = _INTERNED.get(dep)
    if found is not None:
        return found
    if len(_INTERNED) >= _INTERNED_MAX:
        _INTERNED.clear()
    _INTERNED[dep] = dep
    return dep


def make_functions(
    store: Mapping[Dependency, Any], reads: Reads, environ: Mapping[str, str]
) -> dict[str, Callable[..., Any]]:
    """The functions a template can call, bound to one render's store snapshot and `reads`."""

    def read(dep: Dependency, empty: Any) -> Any:
        dep = intern(dep)
        reads.used.add(dep)
        value = store.get(dep, ABSENT)
        if reads.trail is not None:
            reads.trail.append((dep, value))
        if value is ABSENT:
            reads.missing.add(dep)
            return empty
        return value

    def services(tag: str | None = None, dc: str | None = None) -> list[ServiceSummary]:
        data = read(Dependency(SERVICES, dc=dc), ())
        return [s for s in data if tag in s.tags] if tag else list(data)

    def service(name: str, tag: str | None = None, dc: str | None = None, passing_only: bool = True,
                status: str | None = None) -> list[Instance]:
        filters = parse_status(status) if status is not None else ()
        dep = Dependency(SERVICE, str(name), tag=tag, dc=dc, passing=bool(passing_only) and not filters, status=filters)
        return list(read(dep, ()))

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
