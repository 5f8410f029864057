"""The one way portside talks to Consul.

- `client.ConsulClient`: the calls the daemons make (agent writes, reads, `get_indexed`, `watch`);
- `paths`: every Consul path, built and quoted in one place (caller-supplied IDs refused before they reach a URL);
- `errors`: the `ConsulError` family; nothing else ever escapes a call;
- `watch`: the blocking-query loop, `WatchObserver` and the reusable `Reachability` observer.
"""

from portside.consul import paths
from portside.consul.client import Answer, ConsulClient
from portside.consul.errors import (
    ConsulBadAnswer,
    ConsulBadValue,
    ConsulError,
    ConsulPermissionDenied,
    ConsulRejected,
    ConsulUnreachable,
)
from portside.consul.watch import FILTERED_WAIT, Reachability, WatchObserver

__all__ = [
    "FILTERED_WAIT",
    "Answer",
    "ConsulBadAnswer",
    "ConsulBadValue",
    "ConsulClient",
    "ConsulError",
    "ConsulPermissionDenied",
    "ConsulRejected",
    "ConsulUnreachable",
    "Reachability",
    "WatchObserver",
    "paths",
]
