"""Every way an answer can be broken comes out of the adapter as a ConsulError naming the call and the address.

A real TCP server on loopback plays a broken Consul byte for byte (a pure-protocol test: the adapter against a
real Consul agent lives in tests/integration/engines)."""

from __future__ import annotations

import asyncio
import socket
import struct
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

import pytest

from portside.consul import (
    ConsulBadAnswer,
    ConsulClient,
    ConsulError,
    ConsulRejected,
    ConsulUnreachable,
    paths,
)
from portside.consul import client as client_module
from portside.settings import consul_settings


def http(status: str = "200 OK", body: bytes = b"{}", headers: dict[str, str] | None = None,
         length: int | None = None) -> bytes:
    head = {"Content-Type": "application/json", "X-Consul-Index": "7", **(headers or {})}
    head["Content-Length"] = str(len(body) if length is None else length)
    lines = "".join(f"{k}: {v}\r\n" for k, v in head.items() if v is not None)
    return f"HTTP/1.1 {status}\r\n{lines}\r\n".encode() + body


Script = Callable[[int], tuple[bytes, str]]  # request number -> (bytes to send, then "close" | "reset" | "hang")


@asynccontextmanager
async def broken_consul(script: Script) -> AsyncIterator[tuple[ConsulClient, list[str]]]:
    """A loopback server that reads each request line and answers what `script` says; yields (client, requests)."""
    requests: list[str] = []
    done = asyncio.Event()

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            head = await reader.readuntil(b"\r\n\r\n")
        except (asyncio.IncompleteReadError, ConnectionError):
            writer.close()
            return
        requests.append(head.split(b"\r\n", 1)[0].decode())
        data, then = script(len(requests))
        writer.write(data)
        await writer.drain()
        if then == "hang":
            await done.wait()
        if then == "reset":  # RST instead of FIN: SO_LINGER with a zero timeout
            sock = writer.get_extra_info("socket")
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    client = await ConsulClient.open(consul_settings({}, address=f"127.0.0.1:{port}"))
    try:
        yield client, requests
    finally:
        done.set()
        await client.close()
        server.close()


CASES = {
    "truncated body": (http(body=b'{"a": 1', length=100), "close", ConsulBadAnswer),
    "reset mid-body": (http(body=b'{"a": [1, 2', length=5000), "reset", ConsulError),
    "invalid JSON": (http(body=b"{not json"), "close", ConsulBadAnswer),
    "invalid UTF-8": (http(body=b'{"a": "\xff\xfe"}'), "close", ConsulBadAnswer),
    "bad index header": (http(headers={"X-Consul-Index": "12abc"}), "close", ConsulBadAnswer),
    "negative index header": (http(headers={"X-Consul-Index": "-5"}), "close", ConsulBadAnswer),
    "500": (http("500 Internal Server Error", b"rpc error: no leader"), "close", ConsulError),
    "not HTTP at all": (b"SSH-2.0-OpenSSH_9.2\r\n\r\n", "close", ConsulBadAnswer),
    "closed without a word": (b"", "close", ConsulUnreachable),
    "redirect": (http("301 Moved Permanently", b"", {"Location": "/v1/agent/leave"}), "close", ConsulRejected),
}


@pytest.mark.parametrize("case", CASES)
async def test_a_broken_answer_becomes_a_consul_error_naming_the_call(case: str) -> None:
    data, then, expected = CASES[case]
    async with broken_consul(lambda _: (data, then)) as (client, requests):
        with pytest.raises(expected) as err:
            await client.get_indexed(paths.catalog_services(), what="list catalog services")
    message = str(err.value)
    assert message.startswith("list catalog services: ") and client.settings.address in message, message
    if case == "redirect":
        assert requests == ["GET /v1/catalog/services HTTP/1.1"]  # not followed to /v1/agent/leave


@pytest.mark.parametrize("call", ["leader", "datacenters", "agent_services", "maintenance", "register"])
async def test_every_call_maps_garbage_and_wrong_shapes(call: str) -> None:
    calls: dict[str, Callable[[ConsulClient], Any]] = {
        "leader": lambda c: c.leader(),
        "datacenters": lambda c: c.datacenters(),
        "agent_services": lambda c: c.agent_services(),
        "maintenance": lambda c: c.service_maintenance("web-1", True, "drain"),
        "register": lambda c: c.register_service({"ID": "web-1", "Name": "web"}),
    }
    async with broken_consul(lambda _: (http("502 Bad Gateway", b"\xff\x00"), "close")) as (client, _):
        with pytest.raises(ConsulError):
            await calls[call](client)
    if call in ("leader", "datacenters", "agent_services"):  # a 200 of the wrong JSON type is no answer either
        async with broken_consul(lambda _: (http(body=b"12"), "close")) as (client, _):
            with pytest.raises(ConsulBadAnswer):
                await calls[call](client)


async def test_a_silent_agent_times_out_as_unreachable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(client_module, "CALL_TIMEOUT", 0.3)
    async with broken_consul(lambda _: (b"", "hang")) as (client, _):
        with pytest.raises(ConsulUnreachable, match="did not answer in time"):
            await client.leader()


async def test_a_watch_rides_out_garbage_and_yields_the_first_good_answer() -> None:
    broken = [CASES[c][:2] for c in ("truncated body", "invalid JSON", "bad index header", "500", "reset mid-body")]

    def script(n: int) -> tuple[bytes, str]:
        return broken[n - 1] if n <= len(broken) else (http(body=b'{"web": []}', headers={"X-Consul-Index": "9"}),
                                                         "close")

    async with broken_consul(script) as (client, requests):
        from portside.backoff import Backoff

        watch = client.watch(paths.catalog_services(), min_interval=0, backoff=Backoff(base=0.001, cap=0.001))
        assert await asyncio.wait_for(anext(watch), 10) == (9, {"web": []})
        await watch.aclose()
    assert len(requests) == len(broken) + 1


@pytest.mark.parametrize("fast", [True, False], ids=["orjson", "json"])
async def test_answers_decode_the_same_with_or_without_the_fast_parser(fast: bool, monkeypatch: pytest.MonkeyPatch
                                                                        ) -> None:
    if not fast:
        monkeypatch.setattr(client_module, "_fast_loads", None)
    elif client_module._fast_loads is None:
        pytest.skip("orjson is not installed")
    # what json takes and orjson refuses (NaN, an int past 64 bits) still decodes: json decides
    body = b'{"web": ["a"], "n": NaN, "big": 123456789012345678901234567890}'
    async with broken_consul(lambda _: (http(body=body), "close")) as (client, _):
        got = await client.get_indexed(paths.catalog_services(), what="list catalog services")
    assert got.data["web"] == ["a"] and got.data["big"] == 123456789012345678901234567890
    async with broken_consul(lambda _: (http(body=b'{"a": "\xff"}'), "close")) as (client, _):
        with pytest.raises(ConsulBadAnswer, match="invalid UTF-8"):
            await client.get_indexed(paths.catalog_services(), what="list catalog services")


async def test_an_agent_on_this_host_is_asked_for_uncompressed_answers() -> None:
    """Consul gzips whatever a client accepts gzip for; on loopback that only costs time on both sides."""
    heads: list[bytes] = []

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        heads.append(await reader.readuntil(b"\r\n\r\n"))
        writer.write(http(body=b'{"web": []}'))
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    client = await ConsulClient.open(consul_settings({}, address=f"127.0.0.1:{port}"))
    try:
        await client.get_indexed(paths.catalog_services())
    finally:
        await client.close()
        server.close()
    lines = heads[0].decode().lower().split("\r\n")
    assert "accept-encoding: identity" in lines and not any("gzip" in x for x in lines)
