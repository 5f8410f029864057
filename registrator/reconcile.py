"""Pure: desired services (from running containers) vs actual (this node's services in the agent) -> actions."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from registrator.metadata import OWNER_NODE, Service


@dataclass(frozen=True)
class Plan:
    register: tuple[Service, ...]
    deregister: tuple[str, ...]


def owned_ids(actual: Mapping[str, Mapping[str, Any]], node_id: str) -> set[str]:
    """IDs of the agent's services that this node registered (never anything registered by others)."""
    return {sid for sid, s in actual.items() if (s.get("Meta") or {}).get(OWNER_NODE) == node_id}


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
