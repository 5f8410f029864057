"""Pure: desired services (from running containers) vs actual (the agent's services) -> actions, and whose a
service in the agent is.

Ownership: a service is this node's when its Meta `portside-node` names this node, and one container's when
`portside-container` names it. This node registers over an existing ID only when it is its own and not held by
another running container of this node; it deregisters and sets maintenance only on its own. Anything else in
the agent (another node's registrator sharing the agent, a hand-made registration, a service without our Meta)
is left alone: a label naming its ID must not overwrite it."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from registrator.metadata import OWNER_CONTAINER, OWNER_NODE, Service


@dataclass(frozen=True)
class Plan:
    register: tuple[Service, ...]
    deregister: tuple[str, ...]


def owner(entry: Mapping[str, Any]) -> tuple[str | None, str | None]:
    """(node, container) an agent service entry names in its Meta."""
    meta = entry.get("Meta") or {}
    return meta.get(OWNER_NODE), meta.get(OWNER_CONTAINER)


def owned_ids(actual: Mapping[str, Mapping[str, Any]], node_id: str) -> set[str]:
    """IDs of the agent's services that this node registered (never anything registered by others)."""
    return {sid for sid, s in actual.items() if owner(s)[0] == node_id}


def claim_refused(existing: Mapping[str, Any] | None, node_id: str, container_id: str,
                  running: Callable[[str], bool]) -> str | None:
    """Why this node's container may not register over `existing` (None: it may). A service of this node left by
    a container that no longer runs (registrator was down meanwhile) is taken over: its ID is free again."""
    if existing is None:
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
    keep: Iterable[str] = (),
) -> Plan:
    """Register what is missing or different; with `cleanup`, deregister this node's services that no running
    container wants, except the `keep` ones (e.g. failed containers kept visible by -deregister on-success)."""
    want = {s.id: s for s in desired}
    register = tuple(s for sid, s in sorted(want.items()) if sid not in actual or differs(s, actual[sid]))
    stale: tuple[str, ...] = ()
    if cleanup:
        stale = tuple(sorted(owned_ids(actual, node_id) - set(want) - set(keep)))
    return Plan(register, stale)


def missing(desired: Iterable[Service], actual: Mapping[str, Any]) -> list[Service]:
    """Services we registered that the agent no longer has (agent restarted, or it was down)."""
    return [s for s in desired if s.id not in actual]
