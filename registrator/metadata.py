"""Pure: container inspect JSON + Config -> the services to register, and the problems found.

Rules (gliderlabs/registrator compatible):
- metadata comes from env vars and labels named SERVICE_*; a label beats an env var with the same key;
  a port-specific key SERVICE_<port>_X beats SERVICE_X for that port;
- name: SERVICE_NAME, else the image basename without tag; with several ports and no port-specific name,
  `-<port>` is appended; tags: comma list with `\\,` escaping a comma, plus the -tags flag; UDP ports get a
  `udp` tag and `:udp` in the ID; SERVICE_IGNORE skips; -explicit registers only named ports;
- ID `<node-id>:<container-name>:<exposed-port>[:udp]`; SERVICE_ID overrides;
- other keys become Consul Meta (lower case); check_* keys become checks (checks.py);
- ownership Meta `portside-node` and `portside-container` mark what this node registered.
A malformed value skips that one service with a Problem naming container, key and value.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from registrator.checks import CheckError, build_checks, docker_health_check
from registrator.config import Config

OWNER_NODE = "portside-node"
OWNER_CONTAINER = "portside-container"
MAX_VALUE = 4096  # bytes per label/env value we accept
MAX_META_VALUE = 512  # bytes per Consul meta value (Consul refuses the whole registration over it)
_DNS_LABEL = re.compile(r"^[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?$")
_META_KEY = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
_PORT_KEY = re.compile(r"^(\d+)_(.+)$")
RESERVED = {"name", "id", "tags", "ignore"}


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
    container: str
    key: str
    value: str
    reason: str

    def __str__(self) -> str:
        shown = self.value if len(self.value) <= 80 else self.value[:77] + "..."
        return f"container {self.container}: {self.key}={shown!r}: {self.reason}; service skipped"


@dataclass(frozen=True)
class Port:
    exposed: int
    proto: str  # tcp | udp | sctp
    host_port: int | None = None
    host_ip: str | None = None


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


def default_name(image: str) -> str:
    base = image.rsplit("/", 1)[-1].split("@", 1)[0].split(":", 1)[0]
    cleaned = re.sub(r"[^A-Za-z0-9-]+", "-", base).strip("-")[:63].strip("-")
    return cleaned or "service"


def ports_of(container: Mapping[str, Any], cfg: Config) -> list[Port]:
    """Exposed and published ports, one entry per exposed port/proto, sorted."""
    conf = container.get("Config") or {}
    net = container.get("NetworkSettings") or {}
    keys = set((conf.get("ExposedPorts") or {}).keys()) | set((net.get("Ports") or {}).keys())
    host_mode = ((container.get("HostConfig") or {}).get("NetworkMode")) == "host"
    out: list[Port] = []
    for key in keys:
        num, _, proto = key.partition("/")
        try:
            exposed = int(num)
        except ValueError:
            continue
        bindings = (net.get("Ports") or {}).get(key) or []
        host_port, host_ip = None, None
        for b in bindings:  # prefer an IPv4 binding; Docker lists 0.0.0.0 and :: for the same port
            if b.get("HostPort"):
                hp, hi = int(b["HostPort"]), b.get("HostIp") or ""
                if host_port is None or (":" in (host_ip or "") and ":" not in hi):
                    host_port, host_ip = hp, hi
        if host_mode:
            host_port = exposed
        out.append(Port(exposed, proto or "tcp", host_port, host_ip))
    return sorted(out, key=lambda p: (p.exposed, p.proto))


def container_addresses(container: Mapping[str, Any], network: str | None) -> tuple[str | None, str | None, str | None]:
    """(ipv4, ipv6, problem) on the chosen network, else the first network by name that has one."""
    nets: Mapping[str, Any] = (container.get("NetworkSettings") or {}).get("Networks") or {}
    if network:
        if network not in nets:
            return None, None, f"container is not on network {network!r} (has {', '.join(sorted(nets)) or 'none'})"
        chosen = [nets[network]]
    else:
        chosen = [nets[n] for n in sorted(nets)]
    for n in chosen:
        v4, v6 = n.get("IPAddress") or None, n.get("GlobalIPv6Address") or None
        if v4 or v6:
            return v4, v6, None
    return None, None, "container has no address on any network"


def _is_unspecified(ip: str | None) -> bool:
    return not ip or ip in ("0.0.0.0", "::")


def _check_value(key: str, value: str) -> str | None:
    if len(value.encode()) > MAX_VALUE:
        return f"value longer than {MAX_VALUE} bytes"
    if any(ord(c) < 32 and c != "\t" for c in value):
        return "control characters (newline?) in value"
    return None


def services_for(container: Mapping[str, Any], cfg: Config) -> tuple[list[Service], list[Problem]]:
    """The services a running container should have, and the problems that made some be skipped."""
    cname = container_name(container)
    cid = str(container.get("Id", ""))
    raw = raw_metadata(container)
    problems: list[Problem] = []

    def problem(key: str, value: str, reason: str) -> None:
        problems.append(Problem(cname, key, value, reason))

    # Split into generic and per-port keys; a bad key anywhere taints the whole container's services,
    # because we cannot tell which service it was meant for.
    generic: dict[str, str] = {}
    per_port: dict[int, dict[str, str]] = {}
    written: dict[tuple[int | None, str], str] = {}  # (port, lower-cased key) -> the key as written
    tainted = False
    for key, value in raw.items():
        short = key[len("SERVICE_"):]
        reason = _check_value(key, value)
        if reason:
            problem(key, value, reason)
            tainted = True
            continue
        m = _PORT_KEY.match(short)
        if m:
            pnum = int(m.group(1))
            if not 1 <= pnum <= 65535:
                problem(key, value, "port key is not a port number (1-65535)")
                tainted = True
                continue
            per_port.setdefault(pnum, {})[m.group(2).lower()] = value
            written[(pnum, m.group(2).lower())] = key
        elif short and short[0].isdigit():
            problem(key, value, "port-specific key needs the form SERVICE_<port>_<NAME>")
            tainted = True
        else:
            generic[short.lower()] = value
            written[(None, short.lower())] = key
    if tainted:
        return [], problems

    image = str((container.get("Config") or {}).get("Image") or "")
    ports = ports_of(container, cfg)
    host_mode = ((container.get("HostConfig") or {}).get("NetworkMode")) == "host"
    v4, v6, addr_problem = container_addresses(container, cfg.network) if cfg.internal else (None, None, None)
    label_ip = None
    if cfg.ip_from_label:
        label_val = ((container.get("Config") or {}).get("Labels") or {}).get(cfg.ip_from_label)
        if label_val:
            label_ip = label_val.split("/", 1)[0].strip()
            try:
                ipaddress.ip_address(label_ip)
            except ValueError:
                problem(cfg.ip_from_label, label_val, "not an IP address")
                return [], problems
    health = ((container.get("Config") or {}).get("Healthcheck") or {}).get("Test")
    has_docker_health = bool(health) and health != ["NONE"]
    docker_status = (((container.get("State") or {}).get("Health")) or {}).get("Status")

    services: list[Service] = []
    group = len(ports) > 1
    for port in ports:
        meta = {**generic, **per_port.get(port.exposed, {})}
        port_named = "name" in per_port.get(port.exposed, {})
        if meta.get("ignore"):
            continue
        if cfg.explicit and "name" not in meta:
            continue
        if host_mode and not port_named and not (len(ports) == 1 and "name" in meta):
            continue  # host network: only ports named on purpose (see README)
        if cfg.internal:
            if addr_problem:
                problem("network", cfg.network or "", addr_problem)
                continue
            address, svc_port = (v4 or v6 or ""), port.exposed
        else:
            if port.host_port is None:
                continue  # not published
            svc_port = port.host_port
            if cfg.ip:
                address = cfg.ip
            elif not _is_unspecified(port.host_ip):
                address = str(port.host_ip)
            else:
                address = cfg.host_ip
        if label_ip:
            address = label_ip
        def source_key(k: str, _port: int = port.exposed) -> str:
            """The label/env key a merged metadata key came from, as written (lower() does not round-trip)."""
            where = _port if k in per_port.get(_port, {}) else None
            return written.get((where, k)) or (f"SERVICE_{_port}_{k.upper()}" if where else f"SERVICE_{k.upper()}")

        name_key = source_key("name")
        if "name" in meta:
            name = meta["name"]
            if not _DNS_LABEL.match(name):
                problem(name_key, name, "service name must be a DNS label (letters, digits, '-', max 63)")
                continue
            if group and not port_named:
                name = f"{name}-{port.exposed}"
        else:
            name = default_name(image) + (f"-{port.exposed}" if group else "")
        udp = port.proto == "udp"
        sid = meta.get("id") or f"{cfg.node_id}:{cname}:{port.exposed}" + (":udp" if udp else "")
        if "id" in meta and group and "id" not in per_port.get(port.exposed, {}):
            sid = f"{sid}:{port.exposed}"  # one generic SERVICE_ID over several ports must stay unique
        tags = split_tags(meta.get("tags", "")) + [t for t in cfg.tags if t]
        if udp:
            tags.append("udp")
        svc_meta: dict[str, str] = {}
        bad = False
        for k, v in sorted(meta.items()):
            if k in RESERVED or k.startswith("check_"):
                continue
            if not _META_KEY.match(k) or k.startswith("consul-") or k.startswith("portside-"):
                problem(source_key(k), v, "not usable as a Consul meta key ([A-Za-z0-9_-], max 64)")
                bad = True
                break
            if len(v.encode()) > MAX_META_VALUE:
                problem(source_key(k), v, f"meta value longer than {MAX_META_VALUE} bytes (Consul's limit)")
                bad = True
                break
            svc_meta[k] = v
        if bad:
            continue
        svc_meta[OWNER_NODE] = cfg.node_id
        svc_meta[OWNER_CONTAINER] = cid[:64]
        try:
            checks = build_checks(meta, service_id=sid, ip=address, port=svc_port, container_id=cid)
        except CheckError as exc:
            problem(source_key(exc.key), exc.value, str(exc).split(": ", 1)[-1])
            continue
        if has_docker_health:
            checks.append(docker_health_check(sid, docker_status, cfg.health_starting))
        tagged: dict[str, dict[str, Any]] = {}
        if cfg.internal and v4 and v6:
            tagged = {"lan_ipv4": {"Address": v4, "Port": svc_port}, "lan_ipv6": {"Address": v6, "Port": svc_port}}
        services.append(Service(
            id=sid, name=name, address=address, port=svc_port, tags=tuple(dict.fromkeys(tags)), meta=svc_meta,
            checks=tuple(checks), tagged_addresses=tagged, container_id=cid, docker_health=has_docker_health,
        ))
    return services, problems
