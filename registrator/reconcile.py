"""Pure: desired services (from running containers) vs actual (the agent's services) -> actions, and whose a
service in the agent is.

Ownership: a service is this node's when its Meta `portside-node` names this node, and one container's when
`portside-container` names it. This node registers over an existing ID only when it is its own and not held by
another running container of this node; it deregisters and sets maintenance only on its own. Anything else in
the agent (another node's registrator sharing the agent, a hand-made registration, a service without our Meta)
is left alone: a label naming its ID must not overwrite it.

A host switched from gliderlabs/registrator holds its services: no Meta of ours, ID
`<host>:<container>:<port>[:udp]` (gliderlabs' own cleanup recognises its services by that form and the host
name). With adoption on, such a service on this node is taken over by the container that proves it is the one:
ours makes that very ID for it (container names are unique on a host), or registers the same address and port;
and -cleanup removes the ones no running container wants, as gliderlabs' -cleanup would have."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from registrator.metadata import OWNER_CONTAINER, OWNER_NODE, Service

GLIDERLABS_ID = re.compile(r"^(.+?):([a-zA-Z0-9][a-zA-Z0-9_.-]+):[0-9]+(?::udp)?$")  # gliderlabs' cleanup's form


@dataclass(frozen=True)
class Plan:
    register: tuple[Service, ...]
    deregister: tuple[str, ...]


def owner(entry: Mapping[str, Any]) -> tuple[str | None, str | None]:
    """(node, container) an agent service entry names in its Meta."""
    meta = entry.get("Meta") or {}
    return meta.get(OWNER_NODE), meta.get(OWNER_CONTAINER)


def gliderlabs_service(sid: str, entry: Mapping[str, Any], node_id: str) -> bool:
    """Whether the agent's service `sid` is one gliderlabs registered on this node (no Meta of ours)."""
    m = GLIDERLABS_ID.match(sid)
    return m is not None and m.group(1) == node_id and owner(entry) == (None, None)


def adoptable(svc: Service, entry: Mapping[str, Any] | None, node_id: str) -> bool:
    """Whether `svc` may take over the gliderlabs service `entry` (see the module's docstring)."""
    if entry is None or not gliderlabs_service(svc.id, entry, node_id):
        return False
    return not svc.id_key or (entry.get("Address"), entry.get("Port")) == (svc.address, svc.port)


def owned_ids(actual: Mapping[str, Mapping[str, Any]], node_id: str) -> set[str]:
    """IDs of the agent's services that this node registered (never anything registered by others)."""
    return {sid for sid, s in actual.items() if owner(s)[0] == node_id}


def claim_refused(existing: Mapping[str, Any] | None, node_id: str, container_id: str,
                  running: Callable[[str], bool], *, adopt: bool = False) -> str | None:
    """Why this node's container may not register over `existing` (None: it may). A service of this node left by
    a container that no longer runs (registrator was down meanwhile) is taken over: its ID is free again."""
    if existing is None or adopt:
        return None
    node, container = owner(existing)
    if node != node_id:
        return f"the ID belongs to node {node!r}" if node else "the ID belongs to a service this node did not register"
    if container and container != container_id and running(container):
        return f"the ID is held by container {container[:12]}, running on this node"
    return None


def differs(want: Service, have: Mapping[str, Any]) -> bool:
    return (
        have.get("Service") != want.name
        or have.get("Address") != want.address
        or have.get("Port") != want.port
        or list(have.get("Tags") or []) != list(want.tags)
        or dict(have.get("Meta") or {}) != dict(want.meta)
    )


def plan(
    desired: Iterable[Service], actual: Mapping[str, Mapping[str, Any]], node_id: str, *, cleanup: bool,
    keep: Iterable[str] = (), adopt_gliderlabs: bool = False,
) -> Plan:
    """Register what is missing or different; with `cleanup`, deregister this node's services that no running
    container wants, except the `keep` ones (e.g. failed containers kept visible by -deregister on-success)."""
    want = {s.id: s for s in desired}
    register = tuple(s for sid, s in sorted(want.items()) if sid not in actual or differs(s, actual[sid]))
    stale: tuple[str, ...] = ()
    if cleanup:
        theirs = {sid for sid, s in actual.items() if adopt_gliderlabs and gliderlabs_service(sid, s, node_id)}
        stale = tuple(sorted((owned_ids(actual, node_id) | theirs) - set(want) - set(keep)))
    return Plan(register, stale)


def missing(desired: Iterable[Service], actual: Mapping[str, Any]) -> list[Service]:
    """Services we registered that the agent no longer has (agent restarted, or it was down)."""
    return [s for s in desired if s.id not in actual]
