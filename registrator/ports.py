"""Pure: which ports of a container become services, and the address and port each is registered with."""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from registrator.config import Config


@dataclass(frozen=True)
class Port:
    exposed: int
    proto: str  # tcp | udp | sctp
    host_port: int | None = None
    host_ip: str | None = None


@dataclass(frozen=True)
class Addresses:
    """The container's own addresses on the chosen network (-internal), and why there are none."""

    v4: str | None = None
    v6: str | None = None
    problem: str | None = None


def network_mode(container: Mapping[str, Any]) -> str:
    return str((container.get("HostConfig") or {}).get("NetworkMode") or "")


def host_network(container: Mapping[str, Any]) -> bool:
    return network_mode(container) == "host"


def parent_of(container: Mapping[str, Any]) -> str | None:
    """The container whose network namespace this one joined (`--network container:<parent>`), else None."""
    mode = network_mode(container)
    return mode.split(":", 1)[1] or None if mode.startswith("container:") else None


def shares_host_ports(container: Mapping[str, Any]) -> bool:
    """Its exposed ports are reachable as they are, unpublished: the host's network, or another container's
    (Docker lists no port bindings for either)."""
    return host_network(container) or parent_of(container) is not None


def user_network_address(container: Mapping[str, Any]) -> str | None:
    """gliderlabs' address for a container on a user-defined network (NetworkMode names it) when no -ip is
    given: the container's own address there, registered with the published port."""
    mode = network_mode(container)
    if mode in ("", "bridge", "default", "host", "none") or mode.startswith("container:"):
        return None
    net = ((container.get("NetworkSettings") or {}).get("Networks") or {}).get(mode) or {}
    return net.get("IPAddress") or None


def _binding(bindings: list[Mapping[str, Any]]) -> tuple[int | None, str | None]:
    """(host port, host IP) of a published port, preferring an IPv4 binding: Docker lists 0.0.0.0 and :: for
    the same port."""
    host_port, host_ip = None, None
    for b in bindings:
        if b.get("HostPort"):
            hp, hi = int(b["HostPort"]), b.get("HostIp") or ""
            if host_port is None or (":" in (host_ip or "") and ":" not in hi):
                host_port, host_ip = hp, hi
    return host_port, host_ip


def ports_of(container: Mapping[str, Any]) -> list[Port]:
    """Exposed and published ports, one entry per exposed port/proto, sorted."""
    conf = container.get("Config") or {}
    published = (container.get("NetworkSettings") or {}).get("Ports") or {}
    keys = set((conf.get("ExposedPorts") or {}).keys()) | set(published.keys())
    out: list[Port] = []
    for key in keys:
        num, _, proto = key.partition("/")
        try:
            exposed = int(num)
        except ValueError:
            continue
        host_port, host_ip = _binding(published.get(key) or [])
        if host_port is None and shares_host_ports(container):
            host_port = exposed
        out.append(Port(exposed, proto or "tcp", host_port, host_ip))
    return sorted(out, key=lambda p: (p.exposed, p.proto))


def container_addresses(container: Mapping[str, Any], network: str | None) -> Addresses:
    """The addresses on the chosen network, else on the first network by name that has one."""
    nets: Mapping[str, Any] = (container.get("NetworkSettings") or {}).get("Networks") or {}
    if network:
        if network not in nets:
            have = ", ".join(sorted(nets)) or "none"
            return Addresses(problem=f"container is not on network {network!r} (has {have})")
        chosen = [nets[network]]
    else:
        chosen = [nets[n] for n in sorted(nets)]
    for n in chosen:
        v4, v6 = n.get("IPAddress") or None, n.get("GlobalIPv6Address") or None
        if v4 or v6:
            return Addresses(v4, v6)
    return Addresses(problem="container has no address on any network")


def label_address(value: str) -> tuple[str | None, str | None]:
    """(address, None) from a -useIpFromLabel label (a /cidr suffix stripped), or (None, why not)."""
    ip = value.split("/", 1)[0].strip()
    try:
        addr = ipaddress.ip_address(ip)
    except ValueError:
        return None, "not an IP address"
    if addr.is_unspecified:
        return None, "not an address a client can reach (Consul refuses 0.0.0.0 and ::)"
    return ip, None


def _is_unspecified(ip: str | None) -> bool:
    return not ip or ip in ("0.0.0.0", "::")


def service_address(port: Port, cfg: Config, addrs: Addresses, network_ip: str | None = None,
                    ) -> tuple[str, int] | None:
    """(address, port) registered for `port`: with -internal the container's address and the exposed port, else
    -ip (or its address on its user-defined network, or the binding's own host IP, else the host's) and the
    published port; None when it is not published."""
    if cfg.internal:
        return (addrs.v4 or addrs.v6 or ""), port.exposed
    if port.host_port is None:
        return None
    if cfg.ip:
        return cfg.ip, port.host_port
    if network_ip:
        return network_ip, port.host_port
    if not _is_unspecified(port.host_ip):
        return str(port.host_ip), port.host_port
    return cfg.host_ip, port.host_port


def tagged_addresses(cfg: Config, addrs: Addresses, port: int) -> dict[str, dict[str, Any]]:
    """Both families of a dual-stack container (-internal), so clients can pick theirs."""
    if cfg.internal and addrs.v4 and addrs.v6:
        return {"lan_ipv4": {"Address": addrs.v4, "Port": port}, "lan_ipv6": {"Address": addrs.v6, "Port": port}}
    return {}
