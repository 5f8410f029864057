"""The one way portside talks to Consul: a thin adapter over py-consul's asyncio client.

It covers py-consul 1.8's known defects:
- the client (an aiohttp session) must be built inside the running loop: `ConsulClient.open()` is async
  and refuses to run without one;
- an explicit token must beat CONSUL_HTTP_TOKEN (py-consul lets the env var win): we set it after;
- a blocking query's HTTP timeout must exceed `wait + wait/16` (the session default cuts at 300 s):
  `watch()` passes its own per-request timeout;
- Docker checks need `Args` (Consul removed `Script`): `docker_check()` builds them right.
Errors come out as `ConsulError` subclasses whose message says what was attempted and why it failed.
"""

from __future__ import annotations

import asyncio
import json
import logging
import ssl
from collections.abc import AsyncIterator, Sequence
from typing import Any, Self

import aiohttp
import consul.aio
from consul.callback import CB
from consul.exceptions import ACLPermissionDenied, BadRequest, ClientError, ConsulException, NotFound

from portside.backoff import Backoff
from portside.settings import ConsulSettings
from portside.watchrules import blocking_timeout, next_index, parse_duration

log = logging.getLogger("portside.consul")


class ConsulError(Exception):
    """A Consul call failed; `what` names the call, the message says why."""

    def __init__(self, what: str, message: str, status: int | None = None) -> None:
        super().__init__(f"{what}: {message}")
        self.what = what
        self.status = status


class ConsulUnreachable(ConsulError):
    """No answer from the agent at the configured address."""


class ConsulPermissionDenied(ConsulError):
    """403: the token lacks a right for this call."""


class ConsulRejected(ConsulError):
    """400/4xx: Consul refused the request (bad definition); the message carries Consul's reason."""


# The ACL right each call needs, named in permission errors.
_RIGHTS = {
    "register service": "service:write on the service name",
    "deregister service": "service:write on the service name",
    "set service maintenance": "service:write on the service name",
    "list agent services": "service:read",
    "update TTL check": "service:write on the check's service",
    "list catalog services": "service:read and node:read",
    "read service health": "service:read and node:read",
    "read KV": "key:read on the key",
    "write KV": "key:write on the key",
    "delete KV": "key:write on the key",
    "read nodes": "node:read",
}
# The same by path, for blocking queries named otherwise (consul-templates names them after the template call).
_PATH_RIGHTS = (
    ("/v1/kv/", "key:read on the key"),
    ("/v1/health/service/", "service:read and node:read"),
    ("/v1/catalog/services", "service:read and node:read"),
    ("/v1/catalog/nodes", "node:read"),
)
# Consul answers a read the token may only partly see with the rest left out and the header
# X-Consul-Results-Filtered-By-ACLs (never for the anonymous token), not with a 403. A policy change neither wakes
# a blocking query nor moves the index, so while an answer is filtered a watch blocks at most this long and
# compares the data. Consul 1.20 drops the header on /v1/health/service answers at the end of a blocking wait:
# once filtered, an answer counts as filtered until its index or its data changes.
FILTERED_WAIT = "5s"


_NOTHING = object()


def _right(what: str, path: str = "") -> str:
    return _RIGHTS.get(what) or next((r for p, r in _PATH_RIGHTS if path.startswith(p)), "the matching ACL right")


def docker_check(
    container_id: str, args: Sequence[str], *, interval: str = "10s", shell: str = "/bin/sh", **extra: Any
) -> dict[str, Any]:
    """A docker-exec check definition. py-consul's `Check.docker` still sends the removed `Script` field."""
    check: dict[str, Any] = {
        "DockerContainerID": container_id,
        "Shell": shell,
        "Args": list(args),
        "Interval": interval,
    }
    check.update(extra)
    return check


class ConsulClient:
    """Async Consul client. Build it with `await ConsulClient.open(settings)` inside the running loop."""

    def __init__(self, settings: ConsulSettings, raw: consul.aio.Consul) -> None:
        self.settings = settings
        self.raw = raw
        self.filtered: set[str] = set()  # paths whose last answer carried X-Consul-Results-Filtered-By-ACLs

    @classmethod
    async def open(cls, settings: ConsulSettings) -> Self:
        asyncio.get_running_loop()  # raises RuntimeError outside a loop: py-consul would bind a dead one
        verify: bool | str = settings.verify
        if settings.verify and settings.cacert:
            verify = settings.cacert
        cert: tuple[str, str] | str | None = None
        if settings.client_cert and settings.client_key:
            cert = (settings.client_cert, settings.client_key)
        elif settings.client_cert:
            cert = settings.client_cert
        if settings.unix_socket:
            raw = consul.aio.Consul(host="localhost", port=80, scheme="http", token=settings.token)
            await raw.http._session.close()
            raw.http._session = aiohttp.ClientSession(connector=aiohttp.UnixConnector(settings.unix_socket))
        else:
            raw = consul.aio.Consul(
                host=settings.host, port=settings.port, scheme=settings.scheme, token=settings.token,
                verify=verify if settings.scheme == "https" else False, cert=cert,
            )
        # py-consul reads CONSUL_HTTP_TOKEN *over* the explicit token; the settings already resolved
        # explicit-beats-env, so put the resolved one back.
        raw.token = settings.token
        # Each watch holds one connection for its blocking query (HTTP/1.1 has no multiplexing), so the pool
        # must not be smaller than the number of watches: aiohttp's default of 100 would make the 101st
        # watched service wait a whole `wait` for its first answer. Lift the limit (the agent's own
        # `limits.http_max_conns_per_client`, 200 by default, still applies: see the README).
        connector = getattr(getattr(raw.http, "_session", None), "connector", None)
        if connector is not None and hasattr(connector, "_limit"):
            connector._limit = 0
        return cls(settings, raw)

    async def close(self) -> None:
        await self.raw.close()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    # ---- error translation -------------------------------------------------------------------
    async def _call(self, what: str, awaitable: Any, path: str = "") -> Any:
        try:
            return await awaitable
        except ACLPermissionDenied as exc:
            right = _right(what, path)
            raise ConsulPermissionDenied(
                what, f"permission denied by Consul at {self.settings.address}: the token lacks {right} ({exc})",
                403,
            ) from exc
        except (BadRequest, ClientError) as exc:
            raise ConsulRejected(what, f"Consul refused the request: {exc}", 400) from exc
        except NotFound as exc:
            raise ConsulRejected(what, f"not found: {exc}", 404) from exc
        except ConsulException as exc:
            raise ConsulError(what, f"Consul at {self.settings.address} failed: {exc}") from exc
        except (aiohttp.ClientConnectionError, OSError, ssl.SSLError) as exc:
            raise ConsulUnreachable(what, f"cannot reach Consul at {self.settings.address}: {exc}") from exc
        except TimeoutError as exc:
            raise ConsulUnreachable(what, f"Consul at {self.settings.address} did not answer in time") from exc

    def _headers(self) -> dict[str, str]:
        return self.raw.prepare_headers()

    # ---- agent -------------------------------------------------------------------------------
    async def register_service(self, definition: dict[str, Any], replace_existing_checks: bool = True) -> None:
        """PUT /v1/agent/service/register with a full definition (ID, Name, Tags, Address, Port, Meta, Checks)."""
        params = [("replace-existing-checks", "true")] if replace_existing_checks else []
        await self._call(
            "register service",
            self.raw.http.put(
                CB.boolean(), "/v1/agent/service/register", params=params, headers=self._headers(),
                data=json.dumps(definition),
            ),
        )

    async def deregister_service(self, service_id: str) -> None:
        await self._call("deregister service", self.raw.agent.service.deregister(service_id))

    async def agent_services(self) -> dict[str, dict[str, Any]]:
        return await self._call("list agent services", self.raw.agent.services()) or {}

    async def service_maintenance(self, service_id: str, enable: bool, reason: str | None = None) -> None:
        await self._call(
            "set service maintenance", self.raw.agent.service.maintenance(service_id, enable, reason)
        )

    async def check_update(self, check_id: str, status: str, note: str | None = None) -> None:
        """status: passing | warning | critical (TTL checks)."""
        fn = {
            "passing": self.raw.agent.check.ttl_pass,
            "warning": self.raw.agent.check.ttl_warn,
            "critical": self.raw.agent.check.ttl_fail,
        }[status]
        await self._call("update TTL check", fn(check_id, notes=note))

    async def agent_checks(self) -> dict[str, dict[str, Any]]:
        return await self._call("list agent checks", self.raw.agent.checks()) or {}

    # ---- reads -------------------------------------------------------------------------------
    async def catalog_services(self, dc: str | None = None) -> dict[str, list[str]]:
        _, data = await self._call("list catalog services", self.raw.catalog.services(dc=dc))
        return data or {}

    async def health_service(self, name: str, passing: bool = False, dc: str | None = None) -> list[dict]:
        _, data = await self._call("read service health", self.raw.health.service(name, passing=passing, dc=dc))
        return data or []

    async def kv_get(self, key: str, recurse: bool = False) -> Any:
        _, data = await self._call("read KV", self.raw.kv.get(key, recurse=recurse))
        return data

    async def kv_put(self, key: str, value: str | bytes) -> bool:
        return bool(await self._call("write KV", self.raw.kv.put(key, value)))

    async def kv_delete(self, key: str, recurse: bool = False) -> None:
        await self._call("delete KV", self.raw.kv.delete(key, recurse=recurse))

    async def datacenters(self) -> list[str]:
        return await self._call("read datacenters", self.raw.catalog.datacenters()) or []

    async def agent_self(self) -> dict[str, Any]:
        """The agent's own configuration and member entry (e.g. Config.NodeName); no blocking index."""
        return await self._call("read the agent's own configuration", self.raw.agent.self()) or {}

    async def nodes(self, dc: str | None = None) -> list[dict[str, Any]]:
        _, data = await self._call("read nodes", self.raw.catalog.nodes(dc=dc))
        return data or []

    async def leader(self) -> str:
        return await self._call("read leader", self.raw.status.leader())

    # ---- blocking queries --------------------------------------------------------------------
    async def get_indexed(
        self, path: str, params: Sequence[tuple[str, str]] = (), *, index: int = 0, wait: str = "5m",
        stale: bool = False, what: str | None = None,
    ) -> tuple[int, Any]:
        """One (possibly blocking) GET; returns (X-Consul-Index, decoded JSON)."""
        query = list(params)
        if stale:
            query.append(("stale", "1"))
        timeout = 30.0
        if index > 0:
            query += [("index", str(index)), ("wait", wait)]
            timeout = blocking_timeout(wait)
        decode = CB.json(index=True)

        def callback(response: Any) -> tuple[Any, Any, bool]:
            idx, data = decode(response)
            return idx, data, response.headers.get("X-Consul-Results-Filtered-By-ACLs") == "true"

        idx, data, filtered = await self._call(
            what or f"GET {path}",
            self.raw.http.get(callback, path, params=query, headers=self._headers(), connections_timeout=timeout),
            path,
        )
        if filtered:
            self.filtered.add(path)
        else:
            self.filtered.discard(path)
        return int(idx or 0), data

    async def watch(
        self, path: str, params: Sequence[tuple[str, str]] = (), *, wait: str = "5m", stale: bool = False,
        min_interval: float = 0.1, backoff: Backoff | None = None, what: str | None = None,
    ) -> AsyncIterator[tuple[int, Any]]:
        """Yield (index, data) for the first answer and then each time the index changes.

        The blocking-query rules, implemented once: ignore an unchanged index; reset to 0 when the index
        goes backwards or is <= 0; a wake-up that brought nothing new (same index, index reset, data equal to
        the last handed out) waits out `min_interval` before the next fetch, while a real change is handed on
        and the next fetch starts at once (consul-template's rule: rate-limiting every wake-up added up to
        `min_interval` to each change of a busy catalog); on errors, back off with jitter,
        keep going (the caller keeps its last good data), ask without blocking on the next try and hand out
        that first answer even when its index looks unchanged. While Consul's ACLs filter the answer, block at
        most FILTERED_WAIT and hand out changed data at an unchanged index: a granted right shows that way."""
        backoff = backoff or Backoff()
        index = 0
        last_yielded: int | None = None
        last: tuple[int, Any] | None = None  # the last answer, kept while filtered
        handed: Any = _NOTHING  # the data last handed out: equal data at a new index is nothing new
        filtered = False
        short_wait = min(wait, FILTERED_WAIT, key=parse_duration)
        loop = asyncio.get_running_loop()
        while True:
            started = loop.time()
            try:
                got, data = await self.get_indexed(path, params, index=index, wait=short_wait if filtered else wait,
                                                   stale=stale, what=what)
            except ConsulError as exc:
                delay = backoff.next_delay()
                log.warning("watch %s: %s; retrying in %.2fs", path, exc, delay)
                # The agent may come back behind our index (restart, snapshot restore) and would hold a query
                # with the old index for the whole wait: ask without blocking first. A restarted agent's index
                # can even land on the number we last handed out while its data differs (a dev agent comes
                # back empty), so the first answer after an error is always handed out.
                index = 0
                last_yielded = None
                await asyncio.sleep(delay)
                continue
            backoff.reset()
            index, changed = next_index(index, got, last_yielded)
            was = filtered
            filtered = path in self.filtered or (was and last == (got, data))
            changed = changed or (was and last is not None and data != last[1])
            if filtered != was:
                name = what or f"GET {path}"
                if filtered:
                    log.warning("%s: Consul's ACLs hide part of the answer: the token lacks %s on some entries; "
                                "asking again at least every %s", name, _right(what or "", path), FILTERED_WAIT)
                else:
                    log.info("%s: no longer filtered by Consul's ACLs", name)
            last = (got, data) if filtered else None
            fresh = changed and data != handed
            if changed:
                last_yielded = got
                handed = data
                yield got, data
            if fresh:
                continue
            elapsed = loop.time() - started
            if elapsed < min_interval:
                await asyncio.sleep(min_interval - elapsed)
