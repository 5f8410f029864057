"""The local services clients ask for, followed by the feed with a blocking query each.

The feed's catalog-wide watches say WHAT moved and a read then brings it: two round trips from a change to a
new answer, where Consul's own DNS answers from its state at once. A followed service's own query brings the
change with the wake-up (portside.feedfollow): one round trip. Measured with bench/scale_feed.py before this,
a health flip reached our answer in 12.6 ms where Consul's DNS took ~6.5 ms; the second round trip (the read
after the checks watch) was ~2 ms of it, the rest the machine's 2 cores busy with the same change.

Which services: local services with a name clients ask (local service parts only: not the nodes, the apexes,
parts lent by other datacenters or prepared queries), the most asked first. How often a name is asked is
counted already, at no cost to the packet path: the responder's rotation counter of a name with several records
advances on every answer, cached or not. Each review (every `period` s) ranks the asked services by how much
their counters moved since the last one, a followed service's count doubled: another must be asked more than
twice as often to take its place, so a steady mix does not churn queries. A name asked but never rotated (one
record) counts 0 and fills what room is left. A client that asks for many names can move the choice, never the
count: at most `room` connections, whatever is asked, and an unfollowed service is still answered, through the
feed's reads.

Room: what the daemon's connection cap leaves after the local feed (4 watches and its read pool), the other
datacenters it may mirror (each 4 watches and half the pool), the prepared-query watch and one spare.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Iterable, Mapping

from dns_balancer.zone import Zone
from portside.feed import Feed
from portside.feedfollow import most_moved

log = logging.getLogger("dns_balancer.follow")

FEED_WATCHES = 4  # the feed's blocking queries: services, nodes, critical and warning checks
SPARE = 2  # the prepared queries' watch of /v1/query, and one spare


def room(cap: int, want: int, fetch_pool: int, remote_max: int) -> int:
    """How many services may be followed under a cap of `cap` connections (at most `want`)."""
    others = FEED_WATCHES + fetch_pool + remote_max * (FEED_WATCHES + max(1, fetch_pool // 2)) + SPARE
    return max(0, min(want, cap - others))


def asked_services(zone: Zone, rotation: Mapping[bytes, list[int]]) -> dict[str, int]:
    """The local services with a name clients asked (encoded in the zone's table) -> the answers their rotating
    names have given so far (`rotation`: the responder's counters, by name + qtype)."""
    return count_asked(list(zone.hot), list(rotation.items()), zone.owners)


def count_asked(hot: Iterable[bytes], rotation: Iterable[tuple[bytes, list[int]]],
                owners: Mapping[bytes, str | dict[str, None]]) -> dict[str, int]:
    """asked_services over copies of the zone's names and the counters, so that it can run in a worker thread
    while the loop goes on changing the zone: each read of `owners` is one atomic lookup, and a name with several
    owners is copied whole (tuple) before it is walked. Parts that are not a local service (the nodes, the
    apexes, parts lent by other datacenters or prepared queries) have keys starting with NUL, which no service
    name can."""
    out: dict[str, int] = {}
    for name in hot:
        owner = owners.get(name)
        for key in (owner,) if isinstance(owner, str) else tuple(owner or ()):
            if key[:1] != "\0":
                out[key] = 0
    for asked, (n,) in rotation:
        owner = owners.get(asked[:-2])
        for part in (owner,) if isinstance(owner, str) else tuple(owner or ()):
            if part in out:
                out[part] += n
    return out


def choose(rates: Mapping[str, int], followed: Iterable[str], limit: int) -> list[str]:
    """The `limit` most asked services (`rates`), a followed one's rate doubled, then followed first, then by name."""
    return most_moved(rates, rates, set(followed), limit)


class AskedFollower:
    """Every `period` s, follows the services asked most since the last review (`choose`)."""

    def __init__(self, feed: Feed, zone: Callable[[], Zone], rotation: Callable[[], Mapping[bytes, list[int]]],
                 limit: int, period: float = 1.0) -> None:
        self.feed, self.zone, self.rotation, self.limit, self.period = feed, zone, rotation, limit, period
        self._counted: dict[str, int] = {}

    def step(self) -> None:
        """One review, here (tests); `run` counts in a worker thread."""
        self._choose(asked_services(self.zone(), self.rotation()))

    def _choose(self, counted: dict[str, int]) -> None:
        last = self._counted
        # a counter only grows; one that fell was dropped and started again (the responder prunes them)
        rates = {s: n - last.get(s, 0) if n >= last.get(s, 0) else n for s, n in counted.items()}
        self._counted = counted
        followed = self.feed.followed.names
        wanted = choose(rates, followed, self.limit)
        if set(wanted) != followed:
            log.debug("following %d asked service(s): %s", len(wanted), " ".join(wanted[:8]))
            self.feed.follow(wanted)

    async def run(self) -> None:
        while True:
            await asyncio.sleep(self.period)
            # Counting walks every asked name: 11-14 ms when clients ask every name of 5,000 services, a pause
            # the answers would wait out if it ran on the loop. Here only the copies are made on the loop.
            zone = self.zone()
            counted = await asyncio.to_thread(count_asked, list(zone.hot), list(self.rotation().items()),
                                              zone.owners)
            self._choose(counted)
