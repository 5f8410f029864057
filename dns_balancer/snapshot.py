"""DNS's view of the one catalog model (portside.catalog): which instances a name serves.

The data (instances, nodes, the status of each instance) is `portside.catalog`'s, decoded once by the feed;
this module only says what DNS does with it: critical instances (a maintenance check, an unknown or missing
status, a failing check) are never served, warning ones are unless `--only-passing`. The zone (zone.py) is
built from a `Catalog`; `Snapshot` is the name the zone and its tests have always used for it."""

from __future__ import annotations

import socket
from collections.abc import Iterable

from portside.catalog import CRITICAL, PASSING, WARNING, Catalog, Instance, Node

Snapshot = Catalog

__all__ = ["CRITICAL", "PASSING", "WARNING", "Instance", "Node", "Snapshot", "ip_version", "served"]


def served(instances: Iterable[Instance], only_passing: bool) -> list[Instance]:
    """The instances DNS answers with, in the catalog's order (by node, then ID)."""
    ok = (PASSING,) if only_passing else (PASSING, WARNING)
    return [i for i in instances if i.status in ok]


def ip_version(address: str) -> int:
    """4 or 6 for an IP literal, 0 for anything else (hostnames, empty)."""
    for family, version in ((socket.AF_INET, 4), (socket.AF_INET6, 6)):
        try:
            socket.inet_pton(family, address)
        except (OSError, ValueError):
            continue
        return version
    return 0
