"""Consul HTTP paths, built and quoted in one place.

Every caller-supplied piece (service ID, check ID, service name, KV key, node name) goes through `segment()` or
`kv()`: refused when it could name another endpoint, then percent-encoded completely (`/`, `%`, `?`, `#` too).
Why both: an ID like `../../leave` put into `/v1/agent/service/maintenance/{id}` unencoded is normalised by the
HTTP client (and by Go's ServeMux on the agent, as a redirect) into `PUT /v1/agent/leave`; `%2e%2e` becomes `..`
the same way once decoded. The paths returned here are already encoded and must be sent as they are
(`yarl.URL(..., encoded=True)`, no redirects), which is what `ConsulClient` does.
"""

from __future__ import annotations

import functools
import urllib.parse


class UnsafeSegment(ValueError):
    """A value that cannot be one segment of a Consul path; the message names what it is and the value."""


def _check(value: str, kind: str) -> None:
    if value in ("", ".", ".."):
        raise UnsafeSegment(f"{kind} {value!r} refused: it cannot be empty, '.' or '..' in a Consul path")
    if any(ord(c) < 0x20 or ord(c) == 0x7F for c in value):
        raise UnsafeSegment(f"{kind} {value!r} refused: control characters")


def segment(value: str, kind: str) -> str:
    """One path segment, e.g. a service ID: refused if empty, `.`, `..` or containing `/`; else fully encoded."""
    if not isinstance(value, str):
        raise UnsafeSegment(f"{kind} {value!r} refused: not a string")
    _check(value, kind)
    if "/" in value:
        raise UnsafeSegment(f"{kind} {value!r} refused: '/' would make it more than one path segment")
    return urllib.parse.quote(value, safe="")


def usable(value: str) -> bool:
    """Whether `value` can be one path segment (for data read from Consul: skip what cannot be asked for)."""
    return isinstance(value, str) and _usable(value)


@functools.lru_cache(maxsize=16384)  # asked again of every service name a template reads, on every render
def _usable(value: str) -> bool:
    try:
        segment(value, "value")
    except UnsafeSegment:
        return False
    return True


def kv(key: str) -> str:
    """`/v1/kv/<key>`: keys may hold `/`, but no empty, `.` or `..` segment (a trailing `/` names a folder; the
    empty key is the whole store)."""
    if not isinstance(key, str):
        raise UnsafeSegment(f"KV key {key!r} refused: not a string")
    parts = key.split("/")
    if parts[-1] == "":
        parts.pop()  # "a/b/": the folder a/b
    encoded = [segment(p, f"KV key {key!r}: segment") for p in parts] if key else []
    return "/v1/kv/" + "/".join(encoded) + ("/" if key.endswith("/") and key != "/" else "")


def agent_service_register() -> str:
    return "/v1/agent/service/register"


def agent_service_deregister(service_id: str) -> str:
    return f"/v1/agent/service/deregister/{segment(service_id, 'service ID')}"


def agent_service_maintenance(service_id: str) -> str:
    return f"/v1/agent/service/maintenance/{segment(service_id, 'service ID')}"


def agent_check_update(check_id: str) -> str:
    return f"/v1/agent/check/update/{segment(check_id, 'check ID')}"


def agent_services() -> str:
    return "/v1/agent/services"


def agent_self() -> str:
    return "/v1/agent/self"


def health_service(name: str) -> str:
    return f"/v1/health/service/{segment(name, 'service name')}"


def catalog_services() -> str:
    return "/v1/catalog/services"


def catalog_nodes() -> str:
    return "/v1/catalog/nodes"


def catalog_node(name: str) -> str:
    return f"/v1/catalog/node/{segment(name, 'node name')}"


def catalog_node_services(node: str) -> str:
    return f"/v1/catalog/node-services/{segment(node, 'node name')}"


def health_state(state: str = "any") -> str:
    return f"/v1/health/state/{segment(state, 'check state')}"


def catalog_datacenters() -> str:
    return "/v1/catalog/datacenters"


def prepared_queries() -> str:
    """Every prepared query of a datacenter (a blocking query)."""
    return "/v1/query"


def status_leader() -> str:
    return "/v1/status/leader"


def datacenter(dc: str) -> str:
    """A datacenter goes into the query string (`dc=`), which is encoded there; refuse what Consul cannot name."""
    _check(dc, "datacenter")
    if "/" in dc:
        raise UnsafeSegment(f"datacenter {dc!r} refused: '/' in a datacenter name")
    return dc
