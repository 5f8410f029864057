"""The Consul KV backend's writer: gliderlabs' layout, deletes only what it wrote, refuses unsafe keys unsent."""

from __future__ import annotations

import logging

import pytest

from portside.consul import paths
from registrator.config import Config
from registrator.kvwriter import KVWriter
from registrator.metadata import Service
from registrator.metrics import Metrics


class FakeKV:
    """The two KV calls of ConsulClient, over a dict; each key checked by `paths.kv` as the client does."""

    def __init__(self) -> None:
        self.kv: dict[str, str] = {}
        self.calls: list[tuple[str, str]] = []

    async def kv_put(self, key: str, value: str) -> None:
        paths.kv(key)
        self.calls.append(("put", key))
        self.kv[key] = value

    async def kv_delete(self, key: str) -> None:
        paths.kv(key)
        self.calls.append(("delete", key))
        self.kv.pop(key, None)


def svc(sid: str, name: str = "web", cid: str = "c1", port: int = 8080) -> Service:
    return Service(id=sid, name=name, address="127.0.0.1", port=port, container_id=cid, container=f"name-{cid}")


def writer(kv: FakeKV) -> KVWriter:
    return KVWriter(kv, Config(node_id="n"), Metrics(), set().__contains__, "services")  # type: ignore[arg-type]


async def test_register_puts_the_key_and_deregister_deletes_it() -> None:
    kv = FakeKV()
    w = writer(kv)
    assert await w.register(svc("n:web-1:80"))
    assert kv.kv == {"services/web/n:web-1:80": "127.0.0.1:8080"}
    await w.maintenance([svc("n:web-1:80")], True, "container stopping")
    await w.check_update(svc("n:web-1:80"), "critical", "docker: unhealthy")
    assert kv.calls == [("put", "services/web/n:web-1:80")]  # nothing for maintenance or health
    await w.deregister("n:web-1:80", "other-container")  # not that container's: left alone
    assert kv.kv
    await w.deregister("n:web-1:80", "c1")
    assert kv.kv == {}


async def test_only_keys_this_process_wrote_are_deleted_and_cleanup_lists_nothing() -> None:
    kv = FakeKV()
    kv.kv["services/web/n:gone:80"] = "127.0.0.9:1"  # this host's ID form, but no proof it is ours
    w = writer(kv)
    assert await w.agent_services() == {}
    await w.deregister("n:gone:80")
    assert kv.kv == {"services/web/n:gone:80": "127.0.0.9:1"} and kv.calls == []


async def test_a_rename_moves_the_key() -> None:
    kv = FakeKV()
    w = writer(kv)
    assert await w.register(svc("n:c:80", name="old"))
    assert await w.register(svc("n:c:80", name="new"))
    assert kv.kv == {"services/new/n:c:80": "127.0.0.1:8080"}
    assert w.owned() == ["n:c:80"]


@pytest.mark.parametrize(("name", "sid"), [(".", "n:c:80"), ("web", ".."), ("a/b", "x"), ("web", "../x")])
async def test_an_unsafe_key_is_refused_logged_once_and_never_sent(name: str, sid: str,
                                                                 caplog: pytest.LogCaptureFixture) -> None:
    kv = FakeKV()
    w = writer(kv)
    with caplog.at_level(logging.WARNING, "registrator"):
        assert not await w.register(svc(sid, name=name))
        assert not await w.register(svc(sid, name=name))
    assert kv.calls == []
    lines = [r.getMessage() for r in caplog.records if "not a safe Consul KV key" in r.getMessage()]
    assert len(lines) == 1 and "not written to Consul KV" in lines[0], lines
