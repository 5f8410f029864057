"""The registrator's one view of the Docker engine, over aiodocker's public API: list, inspect, events, version.
Inspects are bounded (a burst of starts would otherwise open a connection per container at once)."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any

import aiodocker
from aiodocker.channel import ChannelSubscriber

DockerError = aiodocker.DockerError


@dataclass(frozen=True)
class Summary:
    """One line of the container list."""

    id: str
    state: str  # running | exited | paused | created | ...


class DockerEngine:
    def __init__(self, docker: aiodocker.Docker, concurrency: int = 8) -> None:
        self.docker = docker
        self._slots = asyncio.Semaphore(concurrency)

    async def containers(self) -> list[Summary]:
        """Every container, running or not, in one call."""
        return [Summary(c.id, str(c["State"] if "State" in c else "")) for c in
                await self.docker.containers.list(all=True)]

    async def inspect(self, cid: str) -> dict[str, Any] | None:
        """The container's inspect JSON; None when it is gone (404)."""
        async with self._slots:
            try:
                return await self.docker.containers.container(cid).show()
            except DockerError as exc:
                if exc.status == 404:
                    return None
                raise

    async def version(self) -> dict[str, Any]:
        return await self.docker.version()

    def subscribe(self, since: str, filters: str) -> ChannelSubscriber:
        """Start the event stream from `since` (the engine replays what happened after it)."""
        return self.docker.events.subscribe(since=since, filters=filters)

    async def unsubscribe(self) -> None:
        """End the event stream; a following `subscribe` starts a new one."""
        await self.docker.events.stop()
