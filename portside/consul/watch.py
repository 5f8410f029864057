"""`watch()`: a Consul blocking query kept alive forever, and the observers that see how each fetch went.

The blocking-query rules live in `portside.watchrules.WatchState` (pure); this loop drives them, retries every
failure with backoff for as long as it lasts, and tells an optional observer about each answer and error.
"""

from __future__ import annotations

import asyncio
import logging
import urllib.parse
from collections.abc import AsyncIterator, Callable, Sequence
from typing import TYPE_CHECKING, Any, Protocol

from portside.backoff import Backoff
from portside.consul.errors import ConsulError, ConsulPermissionDenied, response_code, right
from portside.watchrules import WatchState, parse_duration

if TYPE_CHECKING:
    from portside.consul.client import ConsulClient

log = logging.getLogger("portside.consul")

# While an answer is filtered by ACLs, block at most this long (see WatchState).
FILTERED_WAIT = "5s"
_NOTHING = object()


class WatchObserver(Protocol):
    """Told about every fetch of a watch. `target` is the path with its query parameters (two watches of one
    path with other parameters are two targets)."""

    def on_answer(self, target: str) -> None: ...

    def on_error(self, target: str, exc: ConsulError) -> None: ...

    def on_stop(self, target: str) -> None: ...


class Reachability:
    """A WatchObserver for health and metrics: is Consul answering every watch, is any refused by ACLs?

    `reachable` is False while some target's last fetch failed for another reason than a 403 (refused, reset,
    timed out, 5xx, an answer that could not be used); `permitted` is False while some target's last fetch was a
    403. `on_change(reachable, detail)` is called when `reachable` flips. `responses` counts fetches by HTTP
    status ("unreachable": no answer; "error": an answer that could not be used)."""

    def __init__(self, on_change: Callable[[bool, str], None] | None = None) -> None:
        self.failing: dict[str, str] = {}
        self.denied: dict[str, str] = {}
        self.errors = 0
        self.responses: dict[str, int] = {}
        self.on_change = on_change

    @property
    def reachable(self) -> bool:
        return not self.failing

    @property
    def permitted(self) -> bool:
        return not self.denied

    def on_answer(self, target: str) -> None:
        self.responses["200"] = self.responses.get("200", 0) + 1
        self._forget(target)

    def on_stop(self, target: str) -> None:
        self._forget(target)

    def on_error(self, target: str, exc: ConsulError) -> None:
        self.errors += 1
        code = response_code(exc)
        self.responses[code] = self.responses.get(code, 0) + 1
        was = self.reachable
        if isinstance(exc, ConsulPermissionDenied):
            self.failing.pop(target, None)
            self.denied[target] = str(exc)
        else:
            self.denied.pop(target, None)
            self.failing[target] = str(exc)
        self._notify(was, str(exc))

    def _forget(self, target: str) -> None:
        was = self.reachable
        self.failing.pop(target, None)
        self.denied.pop(target, None)
        self._notify(was, target)

    def _notify(self, was: bool, detail: str) -> None:
        if was != self.reachable and self.on_change is not None:
            self.on_change(self.reachable, detail)


def target_of(path: str, params: Sequence[tuple[str, str]]) -> str:
    return f"{path}?{urllib.parse.urlencode(list(params))}" if params else path


class _Failures:
    """A watch's run of failures: each one logged (a missing right must stay visible while it lasts; the backoff
    keeps it to one line per 5 s at most), the recovery once; and the observer told of each fetch."""

    def __init__(self, path: str, target: str, observer: WatchObserver | None) -> None:
        self.path, self.target, self.observer = path, target, observer
        self.count = 0

    def failed(self, exc: ConsulError, delay: float) -> None:
        self.count += 1
        log.warning("watch %s: %s; retrying in %.2fs (attempt %d)", self.path, exc, delay, self.count)
        if self.observer is not None:
            self.observer.on_error(self.target, exc)

    def answered(self) -> None:
        if self.count:
            log.info("watch %s: Consul answers again after %d failed attempt(s)", self.path, self.count)
            self.count = 0
        if self.observer is not None:
            self.observer.on_answer(self.target)


def _log_filtered(name: str, what: str | None, path: str, filtered: bool) -> None:
    if filtered:
        log.warning("%s: Consul's ACLs hide part of the answer: the token lacks %s on some entries; asking again "
                    "at least every %s", name, right(what or "", path), FILTERED_WAIT)
    else:
        log.info("%s: no longer filtered by Consul's ACLs", name)


async def watch_loop(
    client: ConsulClient, path: str, params: Sequence[tuple[str, str]] = (), *, wait: str = "5m",
    stale: bool = False, min_interval: float = 0.1, backoff: Backoff | None = None, what: str | None = None,
    observer: WatchObserver | None = None,
) -> AsyncIterator[tuple[int, Any]]:
    """Yield (index, data) for the first answer and then each time the index changes.

    An unchanged index is not a change; an index that goes backwards or is <= 0 resets to 0; a wake-up that
    brought nothing new (same index, index reset, data equal to the last handed out) waits out `min_interval`
    before the next fetch, while a real change is handed on and the next fetch starts at once (consul-template's
    rule: rate-limiting every wake-up added up to `min_interval` to each change of a busy catalog); on errors,
    back off with jitter and keep going (the caller keeps its last good data), ask without blocking on the next
    try and hand out that first answer even when its index looks unchanged.
    While Consul's ACLs filter the answer, block at most FILTERED_WAIT and hand out changed data at an unchanged
    index: a granted right shows that way."""
    backoff = backoff or Backoff()
    short_wait = min(wait, FILTERED_WAIT, key=parse_duration)
    state = WatchState()
    handed: Any = _NOTHING  # the data last handed out: equal data at a new index is nothing new
    failures = _Failures(path, target_of(path, params), observer)
    loop = asyncio.get_running_loop()
    try:
        while True:
            started = loop.time()
            try:
                answer = await client.get_indexed(path, params, index=state.index, stale=stale, what=what,
                                                  wait=short_wait if state.filtered else wait)
            except ConsulError as exc:
                delay = backoff.next_delay()
                failures.failed(exc, delay)
                state = state.after_error()
                await asyncio.sleep(delay)
                continue
            failures.answered()
            backoff.reset()
            was_filtered = state.filtered
            state, changed = state.after_answer(answer.index, answer.data, answer.filtered)
            if state.filtered != was_filtered:
                _log_filtered(what or f"GET {path}", what, path, state.filtered)
            if changed:
                fresh, handed = answer.data != handed, answer.data
                yield answer.index, answer.data
                if fresh:
                    # what the change woke (a render, a zone update, the feed's reads) runs before the next
                    # request goes out: sending it first put its cost on the path from a change to the file
                    # (~0.3-0.5 ms of ~2 ms from a followed service's answer to the swapped file). A change in the
                    # meantime is not lost: the next request asks from this index.
                    await asyncio.sleep(0)
                    continue
            elapsed = loop.time() - started
            if elapsed < min_interval:
                await asyncio.sleep(min_interval - elapsed)
    finally:
        if observer is not None:
            observer.on_stop(failures.target)
