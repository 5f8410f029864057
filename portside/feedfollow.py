"""Services a feed follows with a blocking query each: a change reaches the catalog in one round trip.

The feed's catalog-wide watches say WHAT moved, then a read brings the data: two round trips, three when the
sweep must find an instance without checks. consul-template's per-service blocking query hands the new instances
over with the wake-up itself. A reader that knows which services it reads (consul-templates' templates) asks
the feed to follow those, as many as its connection budget allows; the feed keeps serving the rest.

Once a followed service has answered, its data comes only from its own query (the feed's reads skip it, so an
older read can never overwrite a newer answer). A query that fails for a reason its retries cannot cure hands
the service back to the feed, which reads it again.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Callable, Collection, Iterable, Mapping
from typing import Any, TypeVar

log = logging.getLogger("portside.feed")

Watch = Callable[[str], AsyncIterator[tuple[int, Any]]]  # name -> the service's blocking query
K = TypeVar("K")


def most_moved(candidates: Iterable[K], rates: Mapping[K, int], followed: Collection[K], limit: int,
               order: Callable[[K], Any] = lambda k: k) -> list[K]:
    """Which services to follow when not all fit: the `limit` candidates that moved most since the last review
    (`rates`: how often each was asked, or changed), a followed one's count doubled, so another must move more
    than twice as often to take its place and a steady mix does not churn queries; ties: followed first, then
    by `order`."""
    return sorted(candidates, key=lambda k: (-rates.get(k, 0) * (2 if k in followed else 1), k not in followed,
                                             order(k)))[:max(0, limit)]


class Followed:
    """The followed services' tasks. `answered` holds the names whose own query has answered at least once;
    `on_answer(name, index, data)` gets every answer, `on_drop(name)` a name the feed must serve again."""

    def __init__(self, watch: Watch, on_answer: Callable[[str, int, Any], None],
                 on_drop: Callable[[str], None]) -> None:
        self._watch = watch
        self._on_answer = on_answer
        self._on_drop = on_drop
        self._tasks: dict[str, asyncio.Task[None]] = {}
        self.answered: set[str] = set()

    def __len__(self) -> int:
        """Blocking queries held."""
        return len(self._tasks)

    def __contains__(self, name: object) -> bool:
        return name in self._tasks

    @property
    def names(self) -> frozenset[str]:
        return frozenset(self._tasks)

    def sync(self, names: Iterable[str]) -> None:
        """Follow exactly these names (must run inside the event loop)."""
        wanted = set(names)
        for name in list(self._tasks.keys() - wanted):
            self._stop(name)
            self._on_drop(name)
        for name in sorted(wanted - self._tasks.keys()):
            self._tasks[name] = asyncio.create_task(self._run(name), name=f"follow {name}")

    def close(self) -> None:
        for name in list(self._tasks):
            self._stop(name)

    def _stop(self, name: str) -> None:
        self._tasks.pop(name).cancel()
        self.answered.discard(name)

    async def _run(self, name: str) -> None:
        try:
            async for index, data in self._watch(name):
                self.answered.add(name)
                self._on_answer(name, index, data)
            raise RuntimeError("the blocking query ended")  # ConsulClient.watch never ends
        except asyncio.CancelledError:
            raise
        except Exception:  # a bug must not stop the other services: the feed reads this one again
            log.exception("following service %r failed; the feed serves it again", name)
            self._tasks.pop(name, None)
            self.answered.discard(name)
            self._on_drop(name)
