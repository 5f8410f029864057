"""Source: the Docker event stream through aiodocker, reconnected with backoff and replayed with `since`;
plus ordered per-container dispatch (one queue per container, containers handled concurrently)."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from portside.backoff import Backoff
from registrator.docker import DockerEngine, DockerError

log = logging.getLogger("registrator.events")

CONTAINER_ACTIONS = ("start", "die", "kill", "stop", "pause", "unpause", "destroy", "rename", "health_status")
NETWORK_ACTIONS = ("connect", "disconnect")


@dataclass(frozen=True)
class Event:
    container_id: str
    # start | die | kill | ... | health_status | connect; synthetic: sync (from reconcile), restore (the agent
    # lost what we registered)
    action: str
    attributes: dict[str, str]
    time_nano: int = 0  # when Docker saw it: a restarted event loop replays from the last one seen
    status: str = ""  # health_status: healthy | unhealthy | starting


def parse_event(raw: dict[str, Any]) -> Event | None:
    """Docker event JSON -> Event, or None for events we do not act on."""
    typ = raw.get("Type")
    action = str(raw.get("Action") or "")
    attrs = dict((raw.get("Actor") or {}).get("Attributes") or {})
    tn = int(raw.get("timeNano") or 0)
    if typ == "container":
        base, _, status = action.partition(":")
        if base not in CONTAINER_ACTIONS:
            return None
        cid = str((raw.get("Actor") or {}).get("ID") or raw.get("id") or "")
        return Event(cid, base, attrs, tn, status.strip())
    if typ == "network" and action in NETWORK_ACTIONS and attrs.get("container"):
        return Event(attrs["container"], action, attrs, tn)
    return None


def since_arg(time_nano: int) -> str:
    return f"{time_nano // 1_000_000_000}.{time_nano % 1_000_000_000:09d}"


async def docker_events(
    docker: DockerEngine, since_nano: int, on_reconnect: Callable[[], Awaitable[None]],
    backoff: Backoff | None = None,
) -> AsyncIterator[Event]:
    """Yield events forever. When the stream ends or fails, reconnect with backoff, replay from the last
    event seen (`since`), then call `on_reconnect` (the caller reconciles)."""
    backoff = backoff or Backoff(base=0.1, cap=5.0)
    last = since_nano
    filters = json.dumps({"type": ["container", "network"], "event": [*CONTAINER_ACTIONS, *NETWORK_ACTIONS]})
    first = True
    while True:
        sub = docker.subscribe(since_arg(last), filters)
        try:
            if not first:
                log.info("Docker event stream reconnected (replaying since %s)", since_arg(last))
                await on_reconnect()
            first = False
            while True:
                raw = await sub.get()
                if raw is None:
                    break
                backoff.reset()
                tn = int(raw.get("timeNano") or 0)
                last = max(last, tn)
                ev = parse_event(raw)
                if ev is not None:
                    yield ev
        except (DockerError, OSError) as exc:
            log.warning("Docker event stream failed: %s", exc)
        finally:
            try:
                await docker.unsubscribe()
            except Exception as exc:  # noqa: BLE001 - the stream task's own failure, already ended
                log.debug("event stream task ended with %r", exc)
        delay = backoff.next_delay()
        log.warning("Docker event stream ended; reconnecting in %.2fs", delay)
        await asyncio.sleep(delay)


class Dispatcher:
    """One ordered queue per container; workers run concurrently across containers and exit when idle."""

    def __init__(self, handle: Callable[[Event], Awaitable[None]]) -> None:
        self._handle = handle
        self._queues: dict[str, asyncio.Queue[tuple[Event, asyncio.Future[None]]]] = {}
        self._tasks: set[asyncio.Task[None]] = set()

    @property
    def depth(self) -> int:
        """Events waiting (not counting those being handled)."""
        return sum(q.qsize() for q in self._queues.values())

    @property
    def busy(self) -> int:
        """Containers with an event being handled or waiting."""
        return len(self._queues)

    def submit(self, ev: Event) -> asyncio.Future[None]:
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        q = self._queues.get(ev.container_id)
        if q is None:
            q = self._queues[ev.container_id] = asyncio.Queue()
            task = asyncio.create_task(self._work(ev.container_id, q))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        q.put_nowait((ev, done))
        return done

    async def _work(self, cid: str, q: asyncio.Queue[tuple[Event, asyncio.Future[None]]]) -> None:
        while not q.empty():
            ev, done = q.get_nowait()
            try:
                await self._handle(ev)
            except Exception:  # noqa: BLE001 - one container's failure never stops the others
                log.exception("handling %s of container %s failed", ev.action, cid[:12])
            finally:
                if not done.done():
                    done.set_result(None)
        del self._queues[cid]  # no await since the queue was seen empty: a new event starts a new worker

    async def close(self) -> None:
        for t in list(self._tasks):
            t.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
