"""Where the Go function library gets its data: the one file to change when the data source changes.

`Source` is all a render needs (consul-template's Brain plus its used/missing sets): `recall(query)` gives the
decoded value of a query, or ABSENT while it has not answered, and records that the render used it;
`block(query)` says the render must not be written yet although the query answered (a `key` that does not
exist, a `safeLs` on an empty prefix). `StoreSource` implements it over the daemon's watch store: each query is
one watched `Dependency` whose answer is decoded once per change by consul_json.py.
"""

from __future__ import annotations

import functools
import weakref
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from consul_templates.ctfuncs import consul_json
from consul_templates.ctfuncs.queries import (
    DatacentersQuery,
    KeyQuery,
    NodeQuery,
    NodesQuery,
    PrefixQuery,
    Query,
    ServiceQuery,
    ServicesQuery,
)
from consul_templates.functions import ABSENT, DATACENTERS, KEY, KEYS, NODES, SERVICE, SERVICES, Dependency
from portside.consul import paths

BLOCKED: Any = object()  # in a trail: the render was blocked there (gomemo.py keeps no such iteration)


class Source(Protocol):
    def recall(self, query: Query) -> Any:
        """The query's decoded value, or ABSENT (then the render is incomplete and is not written)."""

    def block(self, query: Query) -> None:
        """The query answered, but the render must wait for a change (missing key, empty safeLs/safeTree)."""


@dataclass(frozen=True)
class GoDependency(Dependency):
    """A Go-template query as a dependency of the runner and the watches. Its kind, name, tag and datacenter are
    the Jinja path's own (service, services, nodes, key, keys, datacenters), so the base class says the Consul
    query and where a catalog feed serves services and nodes, it serves these too (`view`); `decode` and `view`
    give consul-template's values."""

    target: Any = None  # one of the Query classes

    def decode(self, data: Any) -> Any:
        q = self.target
        if isinstance(q, ServiceQuery):
            return consul_json.health_services(data, q)
        if isinstance(q, ServicesQuery):
            return consul_json.catalog_services(data)
        if isinstance(q, NodesQuery):
            return consul_json.catalog_nodes(data, q.near)
        if isinstance(q, NodeQuery):
            return consul_json.catalog_node(data) if q.name else _agent_node_name(data)
        if isinstance(q, KeyQuery):
            return consul_json.kv_get(data)
        if isinstance(q, PrefixQuery):
            return consul_json.kv_list(data, q.prefix)
        return consul_json.datacenters(data)

    def view(self, catalog: Any) -> Any:
        """The value from a synced portside.catalog.Catalog (the catalog feed's, where it serves this kind)."""
        q = self.target
        if isinstance(q, ServiceQuery):
            return consul_json.health_from_catalog(catalog.services.get(q.name, ()), q, _records(self))
        if isinstance(q, ServicesQuery):
            return consul_json.services_from_catalog(catalog.summaries)
        return consul_json.nodes_from_catalog(catalog.nodes)

    def __str__(self) -> str:
        return str(self.target)


@dataclass(frozen=True)
class GoQueryDependency(GoDependency):
    """A query only Go templates make, so it says its own path: a node by name, the agent's own node (polled:
    /v1/agent/self has no blocking index), and `~near` orders (which only Consul knows)."""

    @property
    def blocking(self) -> bool:
        return not _local_node(self.target)

    async def poll(self, source: Any) -> Any:
        """The answer of a query Consul cannot block on (the watches poll it)."""
        return await source.agent_self()

    def query(self) -> tuple[str, list[tuple[str, str]]]:
        q = self.target
        params: list[tuple[str, str]] = [("dc", q.dc)] if q.dc else []
        if isinstance(q, ServiceQuery):
            params += [("tag", q.tag)] if q.tag else []
            params += [("near", q.near)] + ([("passing", "1")] if q.passing_only else [])
            return paths.health_service(q.name), params
        if isinstance(q, NodesQuery):
            return paths.catalog_nodes(), [*params, ("near", q.near)]
        if q.name:
            return paths.catalog_node(q.name), params
        return paths.agent_self(), params


# the records of each service dependency's last view, by instance (consul_json.health_from_catalog), for as long
# as the dependency lives (dependency() interns them)
_KEPT: weakref.WeakKeyDictionary[GoDependency, dict[Any, Any]] = weakref.WeakKeyDictionary()


def _records(dep: GoDependency) -> dict[Any, Any]:
    kept = _KEPT.get(dep)
    if kept is None:
        kept = _KEPT[dep] = {}
    return kept


def _local_node(q: Any) -> bool:
    return isinstance(q, NodeQuery) and not q.name


def _agent_node_name(data: Any) -> str:
    return str(((data or {}).get("Config") or {}).get("NodeName") or "")


@functools.lru_cache(maxsize=8192)
def dependency(query: Query) -> GoDependency:
    """The dependency of a query. A service query is of kind SERVICE, so languages.FilteredStore can leave a
    hostile instance out of its answer (by the instances' `id` and `node`)."""
    dc = getattr(query, "dc", "") or None
    if isinstance(query, ServiceQuery) and not query.near:
        return GoDependency(SERVICE, query.name, query.tag or None, dc, query.passing_only, target=query)
    if isinstance(query, ServicesQuery):
        return GoDependency(SERVICES, dc=dc, target=query)
    if isinstance(query, NodesQuery) and not query.near:
        return GoDependency(NODES, dc=dc, target=query)
    if isinstance(query, KeyQuery):
        return GoDependency(KEY, query.key, dc=dc, target=query)
    if isinstance(query, PrefixQuery):
        return GoDependency(KEYS, query.prefix, dc=dc, target=query)
    if isinstance(query, DatacentersQuery):
        return GoDependency(DATACENTERS, target=query)
    kind = SERVICE if isinstance(query, ServiceQuery) else f"go:{type(query).__name__}"
    return GoQueryDependency(kind, str(query), dc=dc, target=query)


@dataclass
class StoreSource:
    """`Source` over the watch store of one render; `used`, `missing`, `blocked` are what the runner reads."""

    store: Mapping[Any, Any]
    used: set[Dependency] = field(default_factory=set)
    missing: set[Dependency] = field(default_factory=set)
    blocked: set[Dependency] = field(default_factory=set)
    trail: list[tuple[Any, Any]] | None = None  # while a memo records an iteration: each read and its value

    def recall(self, query: Query) -> Any:
        if isinstance(query, NodeQuery) and not query.name:
            # The local agent's node: first its name (/v1/agent/self), then that node like any other.
            name = self._get(dependency(query))
            return ABSENT if name is ABSENT else self.recall(NodeQuery(name, query.dc))
        return self._get(dependency(query))

    def _get(self, dep: GoDependency) -> Any:
        self.used.add(dep)
        value = self.store.get(dep, ABSENT)
        if value is ABSENT:
            self.missing.add(dep)
        if self.trail is not None:
            self.trail.append((dep, value))
        return value

    def block(self, query: Query) -> None:
        dep = dependency(query)
        self.blocked.add(dep)
        if self.trail is not None:
            self.trail.append((dep, BLOCKED))
