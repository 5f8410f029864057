"""The query strings of consul-template's data functions, parsed as consul-template parses them.

`service "tag.name@dc~near|passing,warning"`, `key "path@dc"`, `ls "prefix"`, `nodes "@dc~near"`,
`node "name@dc"`, `services "@dc"`: the same regular expressions (`dependency/dependency.go`), the same
defaults (a service query without a filter means passing only) and the same error texts. Each query is a
frozen, hashable value: it names one dependency of a render.
"""

from __future__ import annotations

import functools
import re
import urllib.parse
from dataclasses import dataclass

# RE2's [[:word:]] is ASCII only: [0-9A-Za-z_].
_W = "0-9A-Za-z_"
_DC = rf"(@(?P<dc>[{_W}.\-]+))?"
_QUERY = rf"(\?(?P<query>[{_W}\-=&]+))?"
_NEAR = rf"(~(?P<near>[{_W}.\-]+))?"
_SERVICE_RE = re.compile(rf"((?P<tag>[{_W}=:.\-]+)\.)?(?P<name>[{_W}\-]+){_QUERY}{_DC}{_NEAR}"
                         rf"(\|(?P<filter>[{_W},]+))?")
_KEY_RE = re.compile(rf"/?(?P<key>[^@?]+){_QUERY}{_DC}")
_NODE_RE = re.compile(rf"(?P<name>[{_W}.\-]+){_QUERY}{_DC}")
_NODES_RE = re.compile(rf"{_QUERY}{_DC}{_NEAR}")
_SERVICES_RE = re.compile(rf"{_QUERY}{_DC}")

HEALTH_FILTERS = ("any", "passing", "warning", "critical", "maintenance")
_QUERY_KEYS = ("ns", "peer", "partition", "sameness-group")


class QueryError(ValueError):
    """A query string consul-template would refuse; the text is consul-template's."""


def _match(pattern: re.Pattern[str], text: str, label: str) -> dict[str, str]:
    m = pattern.fullmatch(text)
    if m is None:
        raise QueryError(f"{label}: invalid format: {_go_quote(text)}")
    groups = {k: v or "" for k, v in m.groupdict().items()}
    _check_query(groups.get("query", ""), label)
    return groups


def _check_query(raw: str, label: str) -> None:
    """`?ns=..&partition=..&peer=..`: valid for consul-template, but namespaces, admin partitions and peers
    are Consul Enterprise or cluster-peering features this renderer does not query: refused by name."""
    if not raw:
        return
    for key, _ in urllib.parse.parse_qsl(raw, keep_blank_values=True):
        if key not in _QUERY_KEYS:
            raise QueryError(f"{label}: invalid query parameter key {_go_quote(key)} in query {_go_quote(raw)}: "
                             f"supported keys: {','.join(_QUERY_KEYS)}")
    raise QueryError(f"{label}: query parameters ({_go_quote(raw)}: namespaces, partitions, peers, sameness "
                     "groups) are not supported by consul-templates")


def _go_quote(s: str) -> str:
    return '"' + s.replace("\\", "\\\\").replace('"', '\\"') + '"'


@dataclass(frozen=True, slots=True)
class ServiceQuery:
    """`service`: /v1/health/service/<name>; `filters` sorted, ("passing",) unless asked otherwise."""

    name: str
    tag: str = ""
    dc: str = ""
    near: str = ""
    filters: tuple[str, ...] = ("passing",)

    @classmethod
    def parse(cls, text: str) -> ServiceQuery:
        return _parse_service(text)

    @classmethod
    def _parse(cls, text: str) -> ServiceQuery:
        m = _match(_SERVICE_RE, text, "health.service")
        filters: list[str] = []
        if m["filter"]:
            for f in (part.strip() for part in m["filter"].split(",")):
                if f in HEALTH_FILTERS:
                    filters.append(f)
                elif f:
                    raise QueryError(f"health.service: invalid filter: {_go_quote(f)} in {_go_quote(text)}")
            filters.sort()
        else:
            filters = ["passing"]
        return cls(m["name"], m["tag"], m["dc"], m["near"], tuple(filters))

    @property
    def passing_only(self) -> bool:
        """Whether Consul filters (`?passing`): any other filter is applied here, on the checks' status."""
        return self.filters == ("passing",)

    def accepts(self, status: str) -> bool:
        return "any" in self.filters or status in self.filters

    def __str__(self) -> str:
        name = f"{self.tag}.{self.name}" if self.tag else self.name
        name += f"@{self.dc}" if self.dc else ""
        name += f"~{self.near}" if self.near else ""
        name += "|" + ",".join(self.filters) if self.filters else ""
        return f"health.service({name})"


@functools.lru_cache(maxsize=8192)
def _parse_service(text: str) -> ServiceQuery:
    """Parsed once per distinct text: a template calls `service .Name` for every service on every render."""
    return ServiceQuery._parse(text)


@dataclass(frozen=True, slots=True)
class ServicesQuery:
    """`services`: /v1/catalog/services."""

    dc: str = ""

    @classmethod
    def parse(cls, text: str) -> ServicesQuery:
        return cls(_match(_SERVICES_RE, text, "catalog.services")["dc"])

    def __str__(self) -> str:
        return f"catalog.services(@{self.dc})" if self.dc else "catalog.services"


@dataclass(frozen=True, slots=True)
class NodesQuery:
    """`nodes`: /v1/catalog/nodes."""

    dc: str = ""
    near: str = ""

    @classmethod
    def parse(cls, text: str) -> NodesQuery:
        m = _match(_NODES_RE, text, "catalog.nodes")
        return cls(m["dc"], m["near"])

    def __str__(self) -> str:
        name = (f"@{self.dc}" if self.dc else "") + (f"~{self.near}" if self.near else "")
        return f"catalog.nodes({name})" if name else "catalog.nodes"


@dataclass(frozen=True, slots=True)
class NodeQuery:
    """`node`: /v1/catalog/node/<name>; an empty name is the local agent's node."""

    name: str = ""
    dc: str = ""

    @classmethod
    def parse(cls, text: str) -> NodeQuery:
        if not text:
            return cls()
        m = _match(_NODE_RE, text, "catalog.node")
        return cls(m["name"], m["dc"])

    def __str__(self) -> str:
        name = self.name + (f"@{self.dc}" if self.dc else "")
        return f"catalog.node({name})" if name else "catalog.node"


@dataclass(frozen=True, slots=True)
class KeyQuery:
    """`key`, `keyExists`, `keyOrDefault`: /v1/kv/<key>."""

    key: str
    dc: str = ""

    @classmethod
    def parse(cls, text: str) -> KeyQuery:
        m = _match(_KEY_RE, text, "kv.get")
        return cls(m["key"], m["dc"])

    def __str__(self) -> str:
        return f"kv.get({self.key}{'@' + self.dc if self.dc else ''})"


@dataclass(frozen=True, slots=True)
class PrefixQuery:
    """`ls`, `tree` and their safe forms: /v1/kv/<prefix>?recurse."""

    prefix: str
    dc: str = ""

    @classmethod
    def parse(cls, text: str) -> PrefixQuery:
        m = _match(_KEY_RE, text, "kv.list")
        return cls(m["key"], m["dc"])

    def __str__(self) -> str:
        return f"kv.list({self.prefix}{'@' + self.dc if self.dc else ''})"


@dataclass(frozen=True, slots=True)
class DatacentersQuery:
    """`datacenters`: /v1/catalog/datacenters. `datacenters true` (leave out the datacenters this agent cannot
    reach) is the same query here: every datacenter is listed (see the README)."""

    def __str__(self) -> str:
        return "catalog.datacenters"


Query = ServiceQuery | ServicesQuery | NodesQuery | NodeQuery | KeyQuery | PrefixQuery | DatacentersQuery
