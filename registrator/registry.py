"""Pure: the REGISTRY_URI (which backend, which agent) and the Consul KV backend's key layout.

Backends, as gliderlabs/registrator names them: `consul://`, `consul-tls://`, `consul-unix://` (the service
catalog) and `consulkv://<address>:<port>/<prefix>`, `consulkv-unix://<filepath>:/<prefix>` (one KV entry per
service, `<prefix>/<service-name>/<service-id> = <ip>:<port>`). etcd, SkyDNS 2 and ZooKeeper are not offered."""

from __future__ import annotations

import base64
import binascii
import hashlib
import urllib.parse
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from portside.consul import paths

SUPPORTED = ("consul://host:port", "consul-tls://host:port", "consul-unix:///path.sock",
             "consulkv://host:port/prefix", "consulkv-unix:///path.sock:/prefix")
DEFAULT_AGENT = "127.0.0.1:8500"  # gliderlabs' (the Consul API client's) default when the URI names none


class RegistryError(ValueError):
    """A REGISTRY_URI registrator cannot use; the message names the supported forms."""


@dataclass(frozen=True)
class Registry:
    address: str | None  # the Consul address for the shell (None: CONSUL_HTTP_ADDR, else its default)
    kv_prefix: str | None = None  # set: the Consul KV backend, keys under `<kv_prefix>/`


def _refuse(uri: str, why: str) -> RegistryError:
    return RegistryError(f"{uri!r}: {why}; supported: {', '.join(SUPPORTED)}")


def _prefix(uri: str, path: str) -> str:
    """gliderlabs drops the path's first character (the `/`) and puts `/<name>/<id>` after the rest. An empty
    prefix (gliderlabs: a crash or keys at `/<name>`) or one with empty, `.` or `..` segments is refused."""
    prefix = path[1:] if path.startswith("/") else path
    if not prefix or prefix.endswith("/"):
        raise _refuse(uri, "the KV backend needs a prefix without a trailing '/' (consulkv://host:port/prefix)")
    try:
        paths.kv(prefix)
    except paths.UnsafeSegment as exc:
        raise _refuse(uri, f"prefix {exc}") from None
    return prefix


def parse_registry(uri: str | None) -> Registry:
    if not uri:
        return Registry(None)
    parsed = urllib.parse.urlsplit(uri)
    scheme = parsed.scheme
    if scheme == "consul":
        return Registry(f"http://{parsed.netloc or DEFAULT_AGENT}")
    if scheme == "consul-tls":
        return Registry(f"https://{parsed.netloc or '127.0.0.1:8501'}")
    if scheme == "consul-unix":
        return Registry(f"unix://{parsed.path}")
    if scheme == "consulkv":
        return Registry(f"http://{parsed.netloc or DEFAULT_AGENT}", _prefix(uri, parsed.path))
    if scheme == "consulkv-unix":
        # gliderlabs splits the path at its first ':' into the socket and the prefix
        socket_path, sep, rest = parsed.path.partition(":")
        if not sep or not socket_path:
            raise _refuse(uri, "consulkv-unix needs the socket, ':' and the prefix")
        return Registry(f"unix://{socket_path}", _prefix(uri, rest))
    if scheme in ("etcd", "skydns2", "zookeeper"):
        raise _refuse(uri, f"the {scheme} backend of gliderlabs/registrator is not offered")
    raise _refuse(uri, "unknown registry")


def kv_key(prefix: str, name: str, service_id: str) -> str:
    """`<prefix>/<service-name>/<service-id>`; raises paths.UnsafeSegment when the name or the ID would not be
    exactly one key segment under the prefix (`/`, empty, `.`, `..`, control characters)."""
    paths.segment(name, "KV service name")
    paths.segment(service_id, "KV service ID")
    key = f"{prefix}/{name}/{service_id}"
    paths.kv(key)
    return key


def kv_marker(node_id: str) -> int:
    """The KV entry's Flags this node writes: which node wrote an entry, since a KV entry has no Meta. It keeps a
    container's SERVICE_ID from writing over an entry another node (or a person) wrote; it is no proof against a
    client holding key rights, which can write any Flags, so cleanup never relies on it."""
    return int.from_bytes(hashlib.sha256(b"portside-registrator\0" + node_id.encode()).digest()[:8], "big")


@dataclass(frozen=True)
class KVDecision:
    action: str  # put | keep (already holds this value) | refuse
    cas: int = 0  # for put: the ModifyIndex the entry must still have (0: it must still be absent)
    reason: str = ""


def kv_decision(existing: Mapping[str, Any] | None, *, marker: int, value: str, adopt: bool) -> KVDecision:
    """What to do with the key, given its entry now. `adopt`: an entry without a marker (gliderlabs writes Flags 0)
    may be written over, because the service's ID is this node's own form for this very container."""
    if existing is None:
        return KVDecision("put", 0)
    index = existing.get("ModifyIndex")
    if not isinstance(index, int) or isinstance(index, bool) or index < 1:
        return KVDecision("refuse", reason="Consul answered the entry without a usable ModifyIndex")
    flags = existing.get("Flags")
    if flags == marker:
        return KVDecision("keep") if _decoded(existing.get("Value")) == value else KVDecision("put", index)
    if flags == 0 and adopt:
        return KVDecision("put", index)
    return KVDecision("refuse", reason="the key holds an entry this node did not write")


def _decoded(raw: object) -> str | None:
    if raw is None:
        return ""
    try:
        return base64.b64decode(str(raw), validate=True).decode()
    except (binascii.Error, UnicodeDecodeError):
        return None


def kv_value(ip: str, port: int) -> str:
    """`<ip>:<port>`; a host holding ':' (IPv6) in brackets, as Go's net.JoinHostPort writes it."""
    return f"[{ip}]:{port}" if ":" in ip else f"{ip}:{port}"
