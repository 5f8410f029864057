"""Consul's prepared queries, evaluated against mirrored catalogs: pure, no I/O.

A prepared query (`POST /v1/query`) names a service and how to pick its instances; Consul executes it on a server
(`/v1/query/<id>/execute`, or `<name>.query.consul` over DNS). This module does what that execution does, on
`portside.catalog` values, so a DNS answer needs no round trip to Consul and fails over the moment the mirrored
health says so. The rules, as Consul 1.20's server applies them:

- the query is found by ID or by name, both compared without case (names are unique per datacenter; each
  datacenter has its own queries: they are not replicated);
- instances of `Service` in the local datacenter; one with a critical check is dropped, and with `OnlyPassing`
  one with any check that is not passing; checks named in `IgnoreCheckIDs` do not count;
- `NodeMeta` / `ServiceMeta`: every key must be present with exactly that value;
- `Tags`: every tag must be on the instance and no `!tag` may be, compared without case;
- when nothing is left, failover: the first `Failover.NearestN` other datacenters by round-trip time (the order
  `/v1/catalog/datacenters` gives), then those of `Failover.Datacenters` not tried yet (unknown ones skipped);
  the first datacenter with instances answers; one that cannot be reached is skipped;
- `DNS.TTL` is the TTL of the DNS answer.

Not evaluated (the query is reported `unsupported`, so a caller can refuse to guess): templates
(`Template.Type`, the name-prefix and regexp matching with `${...}` interpolation), `Connect`, `Peer`,
`SamenessGroup`, `Failover.Targets`. `Near` (a distance sort from a node) is ignored: it orders the same
instances, which Consul shuffles when it has no coordinates and a DNS server rotates anyway.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from portside.catalog import CRITICAL, EMPTY, PASSING, Catalog, FrozenMap, Instance, judge
from portside.catalogjson import Decoded

_DURATION = re.compile(r"(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|ms|s|m|h)")
MAX_TTL = 2**31 - 1  # RFC 2181 8: a TTL above it is treated as zero by resolvers; Consul accepts any duration
_UNIT = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}


@dataclass(frozen=True)
class PreparedQuery:
    id: str
    name: str
    service: str
    tags: tuple[str, ...] = ()  # lowercased; "!x" forbids x
    only_passing: bool = False
    ignore_check_ids: frozenset[str] = frozenset()
    node_meta: FrozenMap = EMPTY
    service_meta: FrozenMap = EMPTY
    nearest_n: int = 0
    datacenters: tuple[str, ...] = ()
    ttl: int | None = None  # DNS.TTL in whole seconds; None: the server's default
    template: bool = False  # a template query: matched by prefix or regexp, never evaluated here
    unsupported: tuple[str, ...] = ()  # the fields set that this module does not evaluate

    @property
    def failover(self) -> bool:
        return self.nearest_n > 0 or bool(self.datacenters)


@dataclass(frozen=True)
class Result:
    """What an execution found: the datacenter that answered, its instances (in the catalog's order; Consul
    shuffles them, a DNS server rotates them), how many failover datacenters were tried, and, when the answer
    depends on a datacenter whose catalog is not there yet, its name (`waiting_for`: nothing else is known)."""

    datacenter: str
    instances: tuple[Instance, ...] = ()
    failovers: int = 0
    waiting_for: str | None = None


def go_duration(text: str) -> float | None:
    """Go's time.ParseDuration for the forms Consul accepts ("10s", "1m30s", "500ms"); None when it is not one."""
    if text in ("0", ""):
        return 0.0
    sign = -1.0 if text.startswith("-") else 1.0
    body = text.lstrip("+-")
    pos, total = 0, 0.0
    for match in _DURATION.finditer(body):
        if match.start() != pos:
            return None
        total += float(match.group(1)) * _UNIT[match.group(2)]
        pos = match.end()
    return sign * total if pos == len(body) and pos > 0 else None


def _strings(value: object) -> tuple[str, ...]:
    return tuple(v for v in value if isinstance(v, str)) if isinstance(value, list) else ()


def _meta(value: object) -> FrozenMap:
    if not isinstance(value, Mapping):
        return EMPTY
    return FrozenMap((str(k), v) for k, v in value.items() if isinstance(v, str))


def _unsupported(raw: Mapping[str, object], service: Mapping[str, object]) -> tuple[str, ...]:
    template = raw.get("Template")
    failover = service.get("Failover")
    found = []
    if isinstance(template, Mapping) and template.get("Type"):
        found.append("Template")
    for key in ("Peer", "SamenessGroup"):
        if service.get(key):
            found.append(key)
    if service.get("Connect"):
        found.append("Connect")
    if isinstance(failover, Mapping) and failover.get("Targets"):
        found.append("Failover.Targets")
    return tuple(found)


def decode_query(raw: object) -> PreparedQuery | None:
    """One entry of /v1/query -> PreparedQuery; None when it is not a usable definition."""
    if not isinstance(raw, Mapping) or not isinstance(raw.get("ID"), str) or not raw["ID"]:
        return None
    service = raw.get("Service")
    if not isinstance(service, Mapping) or not isinstance(service.get("Service"), str):
        return None
    failover = service.get("Failover") if isinstance(service.get("Failover"), Mapping) else {}
    assert isinstance(failover, Mapping)
    nearest = failover.get("NearestN")
    dns = raw.get("DNS") if isinstance(raw.get("DNS"), Mapping) else {}
    assert isinstance(dns, Mapping)
    ttl = go_duration(dns["TTL"]) if isinstance(dns.get("TTL"), str) else None
    unsupported = _unsupported(raw, service)
    return PreparedQuery(
        id=raw["ID"], name=raw["Name"] if isinstance(raw.get("Name"), str) else "", service=service["Service"],
        tags=tuple(t.lower() for t in _strings(service.get("Tags"))), only_passing=service.get("OnlyPassing") is True,
        ignore_check_ids=frozenset(_strings(service.get("IgnoreCheckIDs"))), node_meta=_meta(service.get("NodeMeta")),
        service_meta=_meta(service.get("ServiceMeta")),
        nearest_n=nearest if isinstance(nearest, int) and not isinstance(nearest, bool) and nearest > 0 else 0,
        datacenters=_strings(failover.get("Datacenters")),
        ttl=None if ttl is None or ttl < 0 else min(int(ttl), MAX_TTL),
        template="Template" in unsupported, unsupported=unsupported,
    )


@dataclass(frozen=True)
class Definitions:
    """Every prepared query of one datacenter, indexed the way Consul resolves them (ID, then name)."""

    by_id: Mapping[str, PreparedQuery]
    by_name: Mapping[str, PreparedQuery]
    templates: tuple[PreparedQuery, ...] = ()

    def resolve(self, id_or_name: str) -> PreparedQuery | None:
        key = id_or_name.lower()
        return self.by_id.get(key) or self.by_name.get(key)

    def template_may_match(self, name: str) -> bool:
        """Whether a template query could answer `name` (its Name is a prefix of it: Consul's name_prefix_match;
        a regexp template is matched on that same prefix first)."""
        key = name.lower()
        return any(key.startswith(t.name.lower()) for t in self.templates)


NO_DEFINITIONS = Definitions({}, {})


def decode_definitions(data: object) -> Decoded:
    """/v1/query -> Decoded(Definitions); entries that are not definitions are skipped and counted."""
    entries = data if isinstance(data, list) else []
    found = [q for q in map(decode_query, entries) if q is not None]
    plain = [q for q in found if not q.template]
    return Decoded(Definitions({q.id.lower(): q for q in plain}, {q.name.lower(): q for q in plain if q.name},
                               tuple(q for q in found if q.template)),
                   len(entries) - len(found) + (0 if isinstance(data, list) or data is None else 1))


# ---- execution -------------------------------------------------------------------------------------------
def healthy_for(query: PreparedQuery, instance: Instance) -> bool:
    """Consul's filter: no critical check, and with OnlyPassing no check other than passing, ignoring the
    checks the query names. Without ignored checks this is the one status rule of portside.catalog."""
    if query.ignore_check_ids:
        status, _ = judge(c for c in instance.checks if c.check_id not in query.ignore_check_ids)
    else:
        status = instance.status
    return status == PASSING or (status != CRITICAL and not query.only_passing)


def _meta_ok(meta: Mapping[str, str], wanted: Mapping[str, str]) -> bool:
    return all(meta.get(k) == v for k, v in wanted.items())


def _tags_ok(tags: Iterable[str], wanted: Sequence[str]) -> bool:
    have = {t.lower() for t in tags}
    return all((t[1:] not in have) if t.startswith("!") else (t in have) for t in wanted)


def select(query: PreparedQuery, catalog: Catalog) -> tuple[Instance, ...]:
    """The instances of one datacenter's catalog that the query keeps."""
    return tuple(
        i for i in catalog.services.get(query.service, ())
        if healthy_for(query, i) and _tags_ok(i.tags, query.tags) and _meta_ok(i.node_meta, query.node_meta)
        and _meta_ok(i.meta, query.service_meta)
    )


def failover_order(query: PreparedQuery, by_distance: Sequence[str], local: str) -> list[str]:
    """The datacenters to try after the local one, in order: NearestN by RTT, then the listed ones not tried yet
    (a name Consul does not know is skipped)."""
    nearest = [dc for dc in by_distance if dc != local]
    order = nearest[: query.nearest_n]
    for dc in query.datacenters:
        if dc in nearest and dc not in order:
            order.append(dc)
    return order


def execute(query: PreparedQuery, catalogs: Mapping[str, Catalog], by_distance: Sequence[str], local: str,
            unreachable: Iterable[str] = ()) -> Result:
    """Run the query as Consul's server does. `catalogs`: the synced catalog of each datacenter we have (the
    local one must be there); `unreachable`: datacenters whose last read failed (skipped, as Consul skips a
    datacenter it cannot forward to). A failover datacenter that is neither is `waiting_for`."""
    found = select(query, catalogs[local])
    if found:
        return Result(local, found)
    down = set(unreachable)
    tried = 0
    for dc in failover_order(query, by_distance, local):
        tried += 1
        if dc in down:
            continue
        catalog = catalogs.get(dc)
        if catalog is None:
            return Result(dc, (), tried, waiting_for=dc)
        found = select(query, catalog)
        if found:
            return Result(dc, found, tried)
    return Result(local, (), tried)
