"""`ConsulClient`: the calls portside makes, each sent on py-consul's aiohttp session with a path from `paths`.

py-consul builds the session (TLS context, client certificate, connection limit); the requests are ours, because
py-consul's helpers put caller-supplied IDs into URL paths unencoded and its HTTP layer re-quotes whatever it is
given (an encoded path would be encoded twice). The defects of py-consul 1.8 this also covers:
- the session must be built inside the running loop: `open()` is async and refuses to run without one;
- an explicit token must beat CONSUL_HTTP_TOKEN (py-consul lets the env var win): the resolved token is sent;
- a blocking query's HTTP timeout must exceed `wait + wait/16` (the session default cuts at 300 s).
"""

from __future__ import annotations

import asyncio
import json
import urllib.parse
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from typing import Any, Self

import aiohttp
import consul.aio
import yarl

from portside.backoff import Backoff
from portside.consul import paths
from portside.consul.errors import (
    ConsulBadAnswer,
    ConsulBadValue,
    ConsulError,
    parse_index,
    status_error,
    transport_error,
)
from portside.consul.watch import WatchObserver, target_of, watch_loop
from portside.settings import ConsulSettings
from portside.watchrules import blocking_timeout

try:  # optional (the `speed` extra, in the image): parses Consul's answers ~2x faster than json
    from orjson import loads as _fast_loads
except ImportError:  # pragma: no cover - exercised when orjson is not installed
    _fast_loads = None  # type: ignore[assignment]

CALL_TIMEOUT = 30.0  # a call that does not block answers in well under this, or the agent is in trouble


@dataclass(frozen=True)
class Answer:
    """One answer to a GET: X-Consul-Index, the decoded JSON (None for a missing KV key), and whether Consul's
    ACLs left part of it out (X-Consul-Results-Filtered-By-ACLs)."""

    index: int
    data: Any
    filtered: bool = False


@dataclass(frozen=True)
class _Reply:
    status: int
    headers: Any
    body: bytes


class ConsulClient:
    """Async Consul client. Build it with `await ConsulClient.open(settings)` inside the running loop."""

    def __init__(self, settings: ConsulSettings, raw: consul.aio.Consul) -> None:
        self.settings = settings
        self.raw = raw
        # An agent on this host is asked for its answers uncompressed: Consul gzips every answer a client accepts
        # gzip for, and on loopback that buys nothing; measured on a change stream (a 40-instance answer per
        # change), compressing and inflating cost ~1 ms of the ~7 ms from the change to the file.
        self._encoding = {"Accept-Encoding": "identity"} if settings.on_this_host else {}

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
        # Every watch holds one connection for its blocking query (HTTP/1.1 has no multiplexing): the pool's
        # limit is the most connections this daemon ever opens to its agent (the agent refuses more than
        # `limits.http_max_conns_per_client`, 200 by default, per client address).
        limit = settings.max_connections
        if settings.unix_socket:
            raw = consul.aio.Consul(host="localhost", port=80, scheme="http", token=settings.token)
            await raw.http._session.close()
            raw.http._session = aiohttp.ClientSession(connector=aiohttp.UnixConnector(settings.unix_socket,
                                                                                      limit=limit))
        else:
            raw = consul.aio.Consul(
                host=settings.host, port=settings.port, scheme=settings.scheme, token=settings.token,
                verify=verify if settings.scheme == "https" else False, cert=cert, connections_limit=limit,
            )
        raw.token = settings.token  # py-consul reads CONSUL_HTTP_TOKEN over the explicit one
        return cls(settings, raw)

    async def close(self) -> None:
        await self.raw.close()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    def __repr__(self) -> str:
        return f"ConsulClient({self.settings.address})"

    # ---- the one way a request is sent ----------------------------------------------------------
    async def _request(
        self, what: str, method: str, build: Any, params: Sequence[tuple[str, str]] = (), *, body: Any = None,
        timeout: float | None = None, allow_404: bool = False, content: bytes | None = None,
    ) -> tuple[str, _Reply]:
        """Send one request; every failure comes out as a ConsulError naming `what`. `build` is a path from
        `paths` or a callable making one (its refusal of a value is raised before anything is sent)."""
        address = self.settings.address
        try:
            path = build() if callable(build) else build
        except paths.UnsafeSegment as exc:
            raise ConsulBadValue(what, f"{exc}; nothing was sent to Consul") from None
        _refuse_dot_segments(path, what)
        query = urllib.parse.urlencode(list(params))
        url = yarl.URL(f"{self.raw.http.base_uri}{path}{'?' + query if query else ''}", encoded=True)
        headers = {**self.raw.prepare_headers(), **self._encoding}
        data = content if body is None else json.dumps(body).encode()
        try:
            async with self.raw.http._session.request(
                method, url, headers=headers, data=data, allow_redirects=False,
                timeout=aiohttp.ClientTimeout(total=timeout or CALL_TIMEOUT),
            ) as resp:
                reply = _Reply(resp.status, resp.headers, await resp.read())
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # noqa: BLE001 - mapped, never let out raw
            raise transport_error(exc, what, address) from exc
        error = None if (allow_404 and reply.status == 404) else status_error(
            reply.status, reply.body, what, path, address)
        if error is not None:
            raise error
        return path, reply

    def _decode(self, reply: _Reply, what: str) -> Any:
        if reply.status == 404 or not reply.body.strip():
            return None
        if _fast_loads is not None:
            try:
                return _fast_loads(reply.body)
            except ValueError:  # what orjson refuses and json may take (NaN, ints past 64 bits): json decides
                pass
        try:
            return json.loads(reply.body.decode("utf-8"))
        except UnicodeDecodeError as exc:
            raise ConsulBadAnswer(what, f"Consul at {self.settings.address} answered invalid UTF-8 ({exc})") from None
        except (json.JSONDecodeError, RecursionError) as exc:
            raise ConsulBadAnswer(what, f"Consul at {self.settings.address} answered invalid JSON ({exc}): "
                                  f"{reply.body[:80]!r}") from None

    async def _get_json(self, what: str, build: Any, params: Sequence[tuple[str, str]] = ()) -> Any:
        _, reply = await self._request(what, "GET", build, params)
        return self._decode(reply, what)

    # ---- agent -------------------------------------------------------------------------------
    async def register_service(self, definition: dict[str, Any], replace_existing_checks: bool = True) -> None:
        """PUT /v1/agent/service/register with a full definition (ID, Name, Tags, Address, Port, Meta, Checks).
        The ID travels in the body, but later calls put it in a path: refuse one they could not use."""
        sid = definition.get("ID") or definition.get("Name") or ""
        params = [("replace-existing-checks", "true")] if replace_existing_checks else []

        def build() -> str:
            paths.segment(str(sid), "service ID")
            return paths.agent_service_register()

        await self._request("register service", "PUT", build, params, body=definition)

    async def deregister_service(self, service_id: str) -> None:
        await self._request("deregister service", "PUT", lambda: paths.agent_service_deregister(service_id))

    async def agent_services(self) -> dict[str, dict[str, Any]]:
        data = await self._get_json("list agent services", paths.agent_services())
        if not isinstance(data, dict):
            raise ConsulBadAnswer("list agent services", f"expected a JSON object, got {type(data).__name__}")
        return data

    async def service_maintenance(self, service_id: str, enable: bool, reason: str | None = None) -> None:
        params = [("enable", "true" if enable else "false")] + ([("reason", reason)] if reason else [])
        await self._request("set service maintenance", "PUT", lambda: paths.agent_service_maintenance(service_id),
                            params)

    async def check_update(self, check_id: str, status: str, note: str | None = None) -> None:
        """status: passing | warning | critical (TTL checks)."""
        if status not in ("passing", "warning", "critical"):
            raise ConsulBadValue("update TTL check", f"status {status!r} refused: passing, warning or critical")
        await self._request("update TTL check", "PUT", lambda: paths.agent_check_update(check_id),
                            body={"Status": status, "Output": note or ""})

    # ---- KV ----------------------------------------------------------------------------------
    async def kv_get(self, key: str) -> dict[str, Any] | None:
        """GET /v1/kv/<key>: that one entry (Key, Flags, Value in base64, ModifyIndex, ...), None when absent."""
        _, reply = await self._request("read KV key", "GET", lambda: paths.kv(key), allow_404=True)
        data = self._decode(reply, "read KV key")
        if data is None:
            return None
        if not isinstance(data, list) or len(data) != 1 or not isinstance(data[0], dict):
            raise ConsulBadAnswer("read KV key", "expected a JSON list of one entry")
        return data[0]

    async def kv_put(self, key: str, value: str, *, flags: int = 0, cas: int | None = None) -> bool:
        """PUT /v1/kv/<key> with `value` as the raw body (Consul stores the bytes as they are). `cas`: only if the
        entry's ModifyIndex is still that (0: only if absent). False when Consul did not store it (cas lost)."""
        params = [("flags", str(flags))] + ([("cas", str(cas))] if cas is not None else [])
        _, reply = await self._request("write KV key", "PUT", lambda: paths.kv(key), params, content=value.encode())
        return reply.body.strip() == b"true"

    async def kv_delete(self, key: str) -> None:
        """DELETE /v1/kv/<key>: that one key (a missing key is no error: Consul answers true)."""
        await self._request("delete KV key", "DELETE", lambda: paths.kv(key))

    # ---- reads -------------------------------------------------------------------------------
    async def datacenters(self) -> list[str]:
        data = await self._get_json("read datacenters", paths.catalog_datacenters())
        if not isinstance(data, list) or not all(isinstance(d, str) for d in data):
            raise ConsulBadAnswer("read datacenters", "expected a JSON list of names")
        return data

    async def agent_self(self) -> dict[str, Any]:
        """The agent's own configuration and member entry (e.g. Config.NodeName); no blocking index."""
        data = await self._get_json("read the agent's own configuration", paths.agent_self())
        if not isinstance(data, dict):
            raise ConsulBadAnswer("read the agent's own configuration", "expected a JSON object")
        return data

    async def leader(self) -> str:
        data = await self._get_json("read leader", paths.status_leader())
        if not isinstance(data, str):
            raise ConsulBadAnswer("read leader", "expected a JSON string")
        return data

    async def get_indexed(
        self, path: str, params: Sequence[tuple[str, str]] = (), *, index: int = 0, wait: str = "5m",
        stale: bool = False, what: str | None = None, observer: WatchObserver | None = None,
    ) -> Answer:
        """One (possibly blocking) GET of a path from `paths`. A missing KV key is data None, not an error.
        `observer` is told how it went (`watch()` tells its own observer, once per fetch, itself)."""
        if observer is None:
            return await self._get_indexed(path, params, index=index, wait=wait, stale=stale, what=what)
        target = target_of(path, params)
        try:
            answer = await self._get_indexed(path, params, index=index, wait=wait, stale=stale, what=what)
        except ConsulError as exc:
            observer.on_error(target, exc)
            raise
        observer.on_answer(target)
        return answer

    async def _get_indexed(
        self, path: str, params: Sequence[tuple[str, str]], *, index: int, wait: str, stale: bool, what: str | None,
    ) -> Answer:
        name = what or f"GET {path}"
        query = list(params)
        if stale:
            query.append(("stale", "1"))
        timeout = None
        if index > 0:
            query += [("index", str(index)), ("wait", wait)]
            timeout = blocking_timeout(wait)
        _, reply = await self._request(name, "GET", path, query, timeout=timeout,
                                       allow_404=path.startswith("/v1/kv/"))
        got = parse_index(reply.headers, name, self.settings.address)
        filtered = reply.headers.get("X-Consul-Results-Filtered-By-ACLs") == "true"
        return Answer(got, self._decode(reply, name), filtered)

    def watch(
        self, path: str, params: Sequence[tuple[str, str]] = (), *, wait: str = "5m", stale: bool = False,
        min_interval: float = 0.1, backoff: Backoff | None = None, what: str | None = None,
        observer: WatchObserver | None = None,
    ) -> AsyncIterator[tuple[int, Any]]:
        """Yield (index, data) for the first answer and then each change: see `portside.consul.watch`."""
        return watch_loop(self, path, params, wait=wait, stale=stale, min_interval=min_interval, backoff=backoff,
                     what=what, observer=observer)


def _refuse_dot_segments(path: str, what: str) -> None:
    """Last line of defence for paths not made by `paths`: nothing that a client or the agent would normalise
    into another endpoint (`..`, `.`, their encodings, an empty segment) is ever sent."""
    if not path.startswith("/v1/") or "?" in path or "#" in path:
        raise ConsulBadValue(what, f"path {path!r} refused: not a Consul API path; nothing was sent to Consul")
    for part in path[len("/v1/"):].split("/")[:-1]:
        if urllib.parse.unquote(part) in ("", ".", ".."):
            raise ConsulBadValue(what, f"path {path!r} refused: empty, '.' or '..' segment; nothing was sent")
    if urllib.parse.unquote(path.rsplit("/", 1)[-1]) in (".", ".."):
        raise ConsulBadValue(what, f"path {path!r} refused: '.' or '..' segment; nothing was sent")
