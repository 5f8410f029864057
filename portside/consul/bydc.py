"""Reachability per datacenter: which datacenter's reads fail, not only that some read fails.

A read of another datacenter goes through the local agent and its servers over the WAN (`?dc=dc2`); when dc2 is
partitioned away, those reads fail (HTTP 500 "rpc error ... No path to datacenter", or a timeout) while the
local ones work. The daemons keep serving the last good data of each datacenter; this observer says which
datacenter that data is stale for. A target's datacenter is its `dc` query parameter; a target without one is
the agent's own datacenter, named `LOCAL` here (its real name is the agent's business)."""

from __future__ import annotations

import urllib.parse
from collections.abc import Callable

from portside.consul.errors import ConsulError
from portside.consul.watch import Reachability

LOCAL = "local"


def datacenter_of(target: str) -> str:
    """The `dc` parameter of a watch target (`path?query`), else LOCAL."""
    _, _, query = target.partition("?")
    for key, value in urllib.parse.parse_qsl(query):
        if key == "dc" and value:
            return value
    return LOCAL


class ReachabilityByDatacenter(Reachability):
    """A Reachability over every target (what it always said), plus one per datacenter in `datacenters`."""

    def __init__(self, on_change: Callable[[bool, str], None] | None = None) -> None:
        super().__init__(on_change)
        self.datacenters: dict[str, Reachability] = {}

    def of(self, datacenter: str) -> Reachability:
        found = self.datacenters.get(datacenter)
        if found is None:
            found = self.datacenters[datacenter] = Reachability()
        return found

    def on_answer(self, target: str) -> None:
        super().on_answer(target)
        self.of(datacenter_of(target)).on_answer(target)

    def on_error(self, target: str, exc: ConsulError) -> None:
        super().on_error(target, exc)
        self.of(datacenter_of(target)).on_error(target, exc)

    def on_stop(self, target: str) -> None:
        super().on_stop(target)
        self.of(datacenter_of(target)).on_stop(target)
