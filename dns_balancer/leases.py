"""Answers of other sources (another datacenter's names, prepared query names) lent to the local zone's table, so
the answer path's fast path serves them as it serves local names, with no code of its own.

The fast path tells nobody what it answered, yet a datacenter's mirror must stop when nobody asks for it any
more. So what is lent is lent for a while (`period`): then it is taken back, and the next question for one of
those names misses the table, goes the careful way to its owner (remote.py, queries.py), which answers it and
lends the names again. An owner therefore hears of its names at most once per period while they are asked,
and of their silence within a period after it began: it counts a taken-back lease as use up to that moment, so
"not asked for `idle` seconds" is never less than `idle` seconds of silence (at most `idle + period`).

Lent parts live in the zone under keys no service can have (`\\0<owner>\\0<key>`) and are swapped in with
`Zone.apply` (reference-counted, so they never disturb a local part) followed by `Responder.set_zone`, as every
zone change is. A zone built anew (a config or datacenter change) holds none of them: leases are then void and
taken again by the next question."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable, Mapping

from dns_balancer.wire import Responder
from dns_balancer.zone import Part, Update, Zone


class Leases:
    """What each owner has lent to the responder's zone, and when it is taken back."""

    def __init__(self, responder: Responder, period: float) -> None:
        self.responder = responder
        self.period = period
        self._zone: Zone | None = None  # the zone the current leases are in
        self._keys: dict[str, set[str]] = {}  # owner -> its keys (unprefixed) lent now
        self._expiry: dict[str, asyncio.TimerHandle] = {}
        self._on_expire: dict[str, Callable[[frozenset[str]], None]] = {}

    def _valid(self) -> bool:
        if self._zone is not self.responder.zone:  # a new zone holds nothing lent to the old one
            self._zone = self.responder.zone
            void, self._keys = self._keys, {}
            for handle in self._expiry.values():
                handle.cancel()
            self._expiry.clear()
            for owner, keys in void.items():  # as if they had expired now: their owners count them as used
                if keys and owner in self._on_expire:
                    self._on_expire[owner](frozenset(keys))
            return False
        return True

    def lent(self, owner: str) -> frozenset[str]:
        """The keys `owner` has in the zone now."""
        return frozenset(self._keys.get(owner, ())) if self._valid() else frozenset()

    def is_lent(self, owner: str) -> bool:
        """Whether `owner` has parts in the zone now (a careful-path question for them means: lend again)."""
        return self._valid() and bool(self._keys.get(owner))

    def lend(self, owner: str, parts: Mapping[str, Part | None], on_expire: Callable[[frozenset[str]], None],
             ) -> None:
        """Put (or, for None, take out) these parts of `owner`; a first key starts the owner's lease period."""
        self._valid()
        keys = self._keys.setdefault(owner, set())
        for key, part in parts.items():
            (keys.add if part is not None else keys.discard)(key)
        self._apply({f"\0{owner}\0{k}": p for k, p in parts.items()})
        self._on_expire[owner] = on_expire
        if owner not in self._expiry and keys:
            loop = asyncio.get_running_loop()
            self._expiry[owner] = loop.call_later(self.period, self._expire, owner)

    def update(self, owner: str, parts: Mapping[str, Part | None]) -> None:
        """New versions of parts already lent (others are ignored: they are not in the zone)."""
        if not self._valid():
            return
        keys = self._keys.get(owner, set())
        changed = {k: p for k, p in parts.items() if k in keys}
        for key, part in changed.items():
            if part is None:
                keys.discard(key)
        if changed:
            self._apply({f"\0{owner}\0{k}": p for k, p in changed.items()})

    def take_back(self, owner: str) -> frozenset[str]:
        """Take every part of `owner` out of the zone now; returns the keys it had lent."""
        handle = self._expiry.pop(owner, None)
        if handle is not None:
            handle.cancel()
        if not self._valid():
            return frozenset()
        keys = frozenset(self._keys.pop(owner, ()))
        if keys:
            self._apply(dict.fromkeys((f"\0{owner}\0{k}" for k in keys), None))
        return keys

    def _expire(self, owner: str) -> None:
        self._expiry.pop(owner, None)
        keys = self.take_back(owner)
        callback = self._on_expire.get(owner)
        if callback is not None:
            callback(keys)

    def _apply(self, parts: Mapping[str, Part | None]) -> None:
        zone = self.responder.zone
        zone.apply(Update(parts))
        self.responder.set_zone(zone, ready=self.responder.ready)  # as every zone change: caches follow it


def without(parts: Mapping[str, Part | None], skip: Iterable[str]) -> dict[str, Part | None]:
    skipped = set(skip)
    return {k: p for k, p in parts.items() if k not in skipped}
