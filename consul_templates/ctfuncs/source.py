"""Where the Go function library gets its data: the one file to change when the data source changes.

`Source` is all a render needs (consul-template's Brain plus its used/missing sets): `recall(query)` gives the
decoded value of a query, or ABSENT while it has not answered, and records that the render used it;
`block(query)` says the render must not be written yet although the query answered (a `key` that does not
exist, a `safeLs` on an empty prefix). `StoreSource` implements it over the daemon's watch store: each query is
one watched `Dependency` whose answer is decoded once per change by consul_json.py.
"""

from __future__ import annotations

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
from consul_templates.functions import DATACENTERS, SERVICE, Dependency

ABSENT: Any = object()


class Source(Protocol):
    def recall(self, query: Query) -> Any:
        """The query's decoded value, or ABSENT (then the render is incomplete and is not written)."""

    def block(self, query: Query) -> None:
        """The query answered, but the render must wait for a change (missing key, empty safeLs/safeTree)."""


@dataclass(frozen=True)
class GoDependency(Dependency):
    """A Go-template query as a watched dependency: its Consul path, parameters and decoder.

    A subclass of the Jinja path's Dependency so the runner and the watches handle both alike."""

    target: Any = None  # one of the Query classes

    @property
    def blocking(self) -> bool:
        return not isinstance(self.target, DatacentersQuery) and not _local_node(self.target)

    async def poll(self, source: Any) -> Any:
        """The answer of a query Consul cannot block on (the watches poll it)."""
        if _local_node(self.target):
            return await source.agent_self()
        return await source.datacenters()

    def query(self) -> tuple[str, list[tuple[str, str]]]:
        q = self.target
        params: list[tuple[str, str]] = [("dc", q.dc)] if getattr(q, "dc", "") else []
        if isinstance(q, ServiceQuery):
            params += [("tag", q.tag)] if q.tag else []
            params += [("near", q.near)] if q.near else []
            params += [("passing", "1")] if q.passing_only else []
            return f"/v1/health/service/{_quote(q.name)}", params
        if isinstance(q, ServicesQuery):
            return "/v1/catalog/services", params
        if isinstance(q, NodesQuery):
            return "/v1/catalog/nodes", params + ([("near", q.near)] if q.near else [])
        if isinstance(q, NodeQuery):
            return (f"/v1/catalog/node/{_quote(q.name)}" if q.name else "/v1/agent/self"), params
        if isinstance(q, KeyQuery):
            return f"/v1/kv/{_quote(q.key)}", params
        if isinstance(q, PrefixQuery):
            return f"/v1/kv/{_quote(q.prefix)}", [*params, ("recurse", "1")]
        return "/v1/catalog/datacenters", params

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

    def __str__(self) -> str:
        return str(self.target)


def _local_node(q: Any) -> bool:
    return isinstance(q, NodeQuery) and not q.name


def _quote(path: str) -> str:
    import urllib.parse

    return urllib.parse.quote(path, safe="/")


def _agent_node_name(data: Any) -> str:
    return str(((data or {}).get("Config") or {}).get("NodeName") or "")


def dependency(query: Query) -> GoDependency:
    """The watched dependency of a query. A service query is of kind SERVICE, so languages.FilteredStore can leave
    a hostile instance out of its answer (by the instances' `id` and `node`)."""
    if isinstance(query, DatacentersQuery):
        kind = DATACENTERS
    elif isinstance(query, ServiceQuery):
        kind = SERVICE
    else:
        kind = f"go:{type(query).__name__}"
    return GoDependency(kind, str(query), target=query)


@dataclass
class StoreSource:
    """`Source` over the watch store of one render; `used`, `missing`, `blocked` are what the runner reads."""

    store: Mapping[Any, Any]
    used: set[Dependency] = field(default_factory=set)
    missing: set[Dependency] = field(default_factory=set)
    blocked: set[Dependency] = field(default_factory=set)

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
        return value

    def block(self, query: Query) -> None:
        self.blocked.add(dependency(query))
