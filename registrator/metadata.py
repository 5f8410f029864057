"""Pure: container inspect JSON + Config -> the services to register, and the problems found.

Rules (gliderlabs/registrator compatible):
- metadata comes from env vars and labels named SERVICE_*; a label beats an env var with the same key;
  a port-specific key SERVICE_<port>_X beats SERVICE_X for that port;
- name: SERVICE_NAME as written, else the image's last path element up to `:`, verbatim; with several ports
  published (exposed, with -internal) and no port-specific name, `-<port>` is appended; a name DNS cannot serve
  is registered with a warning (`dns_name`), one a URL cannot carry refused; tags: comma list with `\\,` escaping
  a comma, then the -tags template rendered over the inspect data, each list last first (as gliderlabs master);
  UDP ports get a `udp` tag and `:udp` in the ID; SERVICE_IGNORE skips; -explicit registers only named ports;
- address: host network and `--network container:<parent>` register the exposed ports (the parent's address for
  the latter); a user-defined network without -ip the container's address there (ports.py);
- ID `<node-id>:<container-name>:<exposed-port>[:udp]`; SERVICE_ID overrides;
- other keys become Consul Meta (lower case), check_* keys too; check_* keys become checks (checks.py);
- ownership Meta `portside-node` and `portside-container` mark what this node registered.
A malformed value skips that one service with a Problem naming container, key and value; a container over one
of the Limits has none of its services registered.

The stages, each a small function: read metadata -> choose ports -> address -> name -> ID -> tags/meta -> checks
(`services_for` runs them in that order)."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from registrator.checks import CheckError, Target, build_checks, docker_health_check
from registrator.config import MAX_META_PAIRS, MAX_META_VALUE, MAX_VALUE, Config
from registrator.naming import dns_warning, id_problem, name_problem, service_id, service_name
from registrator.ports import (
    Addresses,
    Port,
    container_addresses,
    label_address,
    parent_of,
    ports_of,
    service_address,
    shares_host_ports,
    tagged_addresses,
    user_network_address,
)
from registrator.tagtemplate import TemplateError, render_tags

OWNER_NODE = "portside-node"
OWNER_CONTAINER = "portside-container"
_META_KEY = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
_PORT_KEY = re.compile(r"^(\d+)_(.+)$")
RESERVED = {"name", "id", "tags", "ignore"}
SKIPPED = "service skipped"
ALL_SKIPPED = "no service of this container registered"
REGISTERED = "registered anyway"
WARNINGS = ("dns_name",)  # Problem kinds that skip nothing: logged, not counted as skipped


@dataclass(frozen=True)
class Service:
    id: str
    name: str
    address: str
    port: int
    tags: tuple[str, ...] = ()
    meta: Mapping[str, str] = field(default_factory=dict, hash=False)
    checks: tuple[Mapping[str, Any], ...] = field(default=(), hash=False)
    tagged_addresses: Mapping[str, Mapping[str, Any]] = field(default_factory=dict, hash=False)
    container_id: str = ""
    docker_health: bool = False
    container: str = ""  # the container's name, for log lines
    id_key: str = ""  # the SERVICE_*ID key the ID came from, as written ("": made of node, container and port)

    def definition(self) -> dict[str, Any]:
        """The body of PUT /v1/agent/service/register."""
        d: dict[str, Any] = {
            "ID": self.id, "Name": self.name, "Address": self.address, "Port": self.port,
            "Tags": list(self.tags), "Meta": dict(self.meta), "Checks": [dict(c) for c in self.checks],
        }
        if self.tagged_addresses:
            d["TaggedAddresses"] = {k: dict(v) for k, v in self.tagged_addresses.items()}
        return d


@dataclass(frozen=True)
class Problem:
    """Why something a container asked for is not registered. `kind` labels the metric."""

    container: str
    key: str
    value: str
    reason: str
    effect: str = SKIPPED
    kind: str = "metadata"  # metadata | service_id | limit | script_check | owner | dns_name | tags

    def __str__(self) -> str:
        shown = self.value if len(self.value) <= 80 else self.value[:77] + "..."
        return f"container {self.container}: {self.key}={shown!r}: {self.reason}; {self.effect}"


@dataclass(frozen=True)
class Metadata:
    """SERVICE_* keys split into generic and per-port ones (lower-cased, prefix dropped), with each key as the
    container wrote it, for log lines (`"ß".upper() == "SS"`: lower() does not round-trip)."""

    generic: Mapping[str, str]
    per_port: Mapping[int, Mapping[str, str]]
    written: Mapping[tuple[int | None, str], str]

    def for_port(self, exposed: int) -> dict[str, str]:
        return {**self.generic, **self.per_port.get(exposed, {})}

    def port_has(self, exposed: int, key: str) -> bool:
        return key in self.per_port.get(exposed, {})

    def key_of(self, key: str, exposed: int) -> str:
        where = exposed if self.port_has(exposed, key) else None
        return self.written.get((where, key)) or (
            f"SERVICE_{exposed}_{key.upper()}" if where else f"SERVICE_{key.upper()}")


@dataclass(frozen=True)
class Facts:
    """What every service of one container shares."""

    name: str
    cid: str
    image: str
    addrs: Addresses
    label_ip: str | None
    network_ip: str | None  # its address on its user-defined network (gliderlabs' address without -ip)
    parent_ip: str | None  # `--network container:<parent>`: the parent's address
    forced_tags: str  # -tags rendered for this container
    group: bool  # several ports registrable: names and generic IDs get the port appended
    docker_health: bool
    docker_status: str | None


def split_tags(text: str) -> list[str]:
    """Comma list where `\\,` is a literal comma; blanks dropped, white space trimmed."""
    out, cur, i = [], [], 0
    while i < len(text):
        ch = text[i]
        if ch == "\\" and i + 1 < len(text) and text[i + 1] == ",":
            cur.append(",")
            i += 2
            continue
        if ch == ",":
            out.append("".join(cur))
            cur = []
        else:
            cur.append(ch)
        i += 1
    out.append("".join(cur))
    return [t.strip() for t in out if t.strip()]


def _env_pairs(env: Iterable[str] | None) -> dict[str, str]:
    pairs: dict[str, str] = {}
    for item in env or ():
        key, sep, value = item.partition("=")
        if sep and key.startswith("SERVICE_"):
            pairs[key] = value
    return pairs


def raw_metadata(container: Mapping[str, Any]) -> dict[str, str]:
    """SERVICE_* keys from env, then labels over them (label beats env)."""
    cfg = container.get("Config") or {}
    merged = _env_pairs(cfg.get("Env"))
    for key, value in (cfg.get("Labels") or {}).items():
        if key.startswith("SERVICE_"):
            merged[key] = "" if value is None else str(value)
    return merged


def container_name(container: Mapping[str, Any]) -> str:
    return str(container.get("Name") or container.get("Id", "")[:12]).lstrip("/")


def _value_problem(value: str) -> str | None:
    if len(value.encode()) > MAX_VALUE:
        return f"value longer than {MAX_VALUE} bytes"
    if any(ord(c) < 32 and c != "\t" for c in value):
        return "control characters (newline?) in value"
    return None


def read_metadata(container: Mapping[str, Any], cname: str) -> tuple[Metadata | None, list[Problem]]:
    """Stage 1. A bad key anywhere taints the whole container (None): we cannot tell which service it was for."""
    generic: dict[str, str] = {}
    per_port: dict[int, dict[str, str]] = {}
    written: dict[tuple[int | None, str], str] = {}
    problems: list[Problem] = []
    for key, value in raw_metadata(container).items():
        short = key[len("SERVICE_"):]
        m = _PORT_KEY.match(short)
        reason = _value_problem(value)
        if reason is None and m and not 1 <= int(m.group(1)) <= 65535:
            reason = "port key is not a port number (1-65535)"
        elif reason is None and not m and short[:1].isdigit():
            reason = "port-specific key needs the form SERVICE_<port>_<NAME>"
        if reason:
            problems.append(Problem(cname, key, value, reason, ALL_SKIPPED))
        elif m:
            per_port.setdefault(int(m.group(1)), {})[m.group(2).lower()] = value
            written[(int(m.group(1)), m.group(2).lower())] = key
        else:
            generic[short.lower()] = value
            written[(None, short.lower())] = key
    return (None, problems) if problems else (Metadata(generic, per_port, written), [])


def _registered(port: Port, md: Metadata, cfg: Config) -> bool:
    """Stage 2, for one port: SERVICE_IGNORE and -explicit decide whether it is a service."""
    meta = md.for_port(port.exposed)
    return not (meta.get("ignore") or (cfg.explicit and "name" not in meta))


def _addresses(container: Mapping[str, Any], cfg: Config) -> Addresses:
    """-internal: the container's addresses. On the host's network or in another container's there are none of
    its own: registered without an address (Consul then gives the node's), or the parent's (_facts)."""
    if not cfg.internal or shares_host_ports(container):
        return Addresses()
    return container_addresses(container, cfg.network)


def _facts(container: Mapping[str, Any], cfg: Config, cname: str, ports: list[Port],
           parent: Mapping[str, Any] | None) -> Facts | Problem:
    conf = container.get("Config") or {}
    label_ip = None
    if cfg.ip_from_label and (label_val := (conf.get("Labels") or {}).get(cfg.ip_from_label)):
        label_ip, reason = label_address(label_val)
        if reason:
            return Problem(cname, cfg.ip_from_label, label_val, reason, ALL_SKIPPED)
    try:
        forced = render_tags(cfg.tags, container)
    except TemplateError as exc:
        return Problem(cname, "-tags", cfg.tags, f"template failed: {exc}", ALL_SKIPPED, "tags")
    if reason := _value_problem(forced):  # the container's own data (a label's newline) rendered into a tag
        return Problem(cname, "-tags", forced, reason, ALL_SKIPPED, "tags")
    parent_addrs = container_addresses(parent, cfg.network) if parent and parent_of(container) else Addresses()
    health = (conf.get("Healthcheck") or {}).get("Test")
    return Facts(
        name=cname, cid=str(container.get("Id", "")), image=str(conf.get("Image") or ""),
        addrs=_addresses(container, cfg), label_ip=label_ip, network_ip=user_network_address(container),
        parent_ip=parent_addrs.v4 or parent_addrs.v6, forced_tags=forced,
        group=sum(1 for p in ports if cfg.internal or p.host_port is not None) > 1,
        docker_health=bool(health) and health != ["NONE"],
        docker_status=(((container.get("State") or {}).get("Health")) or {}).get("Status"))


def _service_meta(meta: Mapping[str, str], md: Metadata, exposed: int, f: Facts, cfg: Config,
                  ) -> dict[str, str] | Problem:
    """Stage: Meta pairs from the keys that are neither reserved nor checks, then our ownership pairs."""
    out: dict[str, str] = {}
    for k, v in sorted(meta.items()):
        if k in RESERVED or (k.startswith("check_") and len(v.encode()) > MAX_META_VALUE):
            continue  # gliderlabs copies check_* keys into Meta too; one over Consul's limit stays out of it
        if not _META_KEY.match(k) or k.startswith("consul-") or k.startswith("portside-"):
            return Problem(f.name, md.key_of(k, exposed), v, "not usable as a Consul meta key ([A-Za-z0-9_-], max 64)")
        if len(v.encode()) > MAX_META_VALUE:
            return Problem(f.name, md.key_of(k, exposed), v,
                           f"meta value longer than {MAX_META_VALUE} bytes (Consul's limit)")
        out[k] = v
    return {**out, OWNER_NODE: cfg.node_id, OWNER_CONTAINER: f.cid[:64]}


def _tags(meta: Mapping[str, str], f: Facts, udp: bool) -> tuple[str, ...]:
    """SERVICE_TAGS, then -tags, then `udp`; each list in reverse, as gliderlabs master registers them (its
    escaped-comma parser returns the items last first)."""
    tags = split_tags(meta.get("tags", ""))[::-1] + split_tags(f.forced_tags)[::-1] + (["udp"] if udp else [])
    return tuple(dict.fromkeys(tags))


def _one_service(port: Port, md: Metadata, f: Facts, cfg: Config) -> tuple[Service | None, list[Problem]]:
    """Stages 3-7 for one port: address -> name -> ID -> tags/meta -> checks."""
    meta, exposed = md.for_port(port.exposed), port.exposed
    if cfg.internal and f.addrs.problem:
        return None, [Problem(f.name, "network", cfg.network or "", f.addrs.problem)]
    where = service_address(port, cfg, f.addrs, f.network_ip)
    if where is None:
        return None, []  # not published
    address, svc_port = (f.parent_ip or f.label_ip or where[0]), where[1]
    name = service_name(meta.get("name"), f.image, exposed, group=f.group, port_named=md.port_has(exposed, "name"))
    name_key, name_value = (md.key_of("name", exposed), meta["name"]) if "name" in meta else ("image", f.image)
    if reason := name_problem(name):
        return None, [Problem(f.name, name_key, name_value, reason)]
    warned = [Problem(f.name, name_key, name_value, w, REGISTERED, "dns_name") for w in [dns_warning(name)] if w]
    sid = service_id(meta.get("id"), node_id=cfg.node_id, container=f.name, exposed=exposed,
                     udp=port.proto == "udp", group=f.group, port_specific=md.port_has(exposed, "id"))
    if reason := id_problem(sid):
        key, value = (md.key_of("id", exposed), meta["id"]) if "id" in meta else ("container name", f.name)
        return None, [Problem(f.name, key, value, reason, kind="service_id")]
    svc_meta = _service_meta(meta, md, exposed, f, cfg)
    if isinstance(svc_meta, Problem):
        return None, [svc_meta]
    try:
        built = build_checks(meta, Target(sid, name, address, svc_port, f.cid), allow_commands=cfg.allow_script_checks,
                             first_only=cfg.first_check_only)
    except CheckError as exc:
        return None, [Problem(f.name, md.key_of(exc.key, exposed), exc.value, exc.reason)]
    refused = [Problem(f.name, md.key_of(k, exposed), meta[k], "runs a command: needs --allow-script-checks",
                       "check not registered", "script_check") for k in built.refused]
    checks = built.checks + ((docker_health_check(sid, f.docker_status, cfg.health_starting),)
                             if f.docker_health else ())
    return Service(
        id=sid, name=name, address=address, port=svc_port, tags=_tags(meta, f, port.proto == "udp"), meta=svc_meta,
        checks=checks, tagged_addresses=tagged_addresses(cfg, f.addrs, svc_port), container_id=f.cid,
        docker_health=f.docker_health, container=f.name, id_key=md.key_of("id", exposed) if "id" in meta else "",
    ), warned + refused


def _over_limits(services: list[Service], cfg: Config, cname: str) -> Problem | None:
    """The per-container caps, checked on what would be registered."""
    lim = cfg.limits
    tags = max((len(s.tags) for s in services), default=0)
    meta = max((len(s.meta) for s in services), default=0)
    checks = sum(len(s.checks) for s in services)
    for key, count, cap, flag in (("ports", len(services), lim.ports, "--max-ports"),
                                  ("SERVICE_TAGS", tags, lim.tags, "--max-tags"),
                                  ("SERVICE_* meta", meta, MAX_META_PAIRS, "Consul's limit, our 2 pairs included"),
                                  ("SERVICE_CHECK_*", checks, lim.checks, "--max-checks")):
        if count > cap:
            return Problem(cname, key, str(count), f"{count} over the limit of {cap} ({flag})", ALL_SKIPPED, "limit")
    return None


def services_for(container: Mapping[str, Any], cfg: Config, parent: Mapping[str, Any] | None = None,
                 ) -> tuple[list[Service], list[Problem]]:
    """The services a running container should have, and the problems that made some be skipped. `parent`: the
    inspect of the container whose network it joined (`--network container:<parent>`), when it has one."""
    cname = container_name(container)
    md, problems = read_metadata(container, cname)
    if md is None:
        return [], problems
    ports = ports_of(container)
    facts = _facts(container, cfg, cname, ports, parent)
    if isinstance(facts, Problem):
        return [], [facts]
    chosen = [p for p in ports if _registered(p, md, cfg)]
    if len(chosen) > cfg.limits.ports:  # before building: a container may expose thousands
        return [], [Problem(cname, "ports", str(len(chosen)), f"{len(chosen)} over the limit of "
                            f"{cfg.limits.ports} (--max-ports)", ALL_SKIPPED, "limit")]
    services: list[Service] = []
    for port in chosen:
        svc, found = _one_service(port, md, facts, cfg)
        problems += found
        if svc is not None and any(s.id == svc.id for s in services):
            problems.append(Problem(cname, md.key_of("id", port.exposed), svc.id,
                                    "service ID already used by another port of this container", kind="service_id"))
        elif svc is not None:
            services.append(svc)
    over = _over_limits(services, cfg, cname)
    return ([], [*problems, over]) if over else (services, problems)
