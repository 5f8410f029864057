"""The Consul KV backend's writer: gliderlabs' layout, deletes only what it wrote, refuses unsafe keys unsent."""

from __future__ import annotations

import base64
import logging
from typing import Any

import pytest

from portside.consul import paths
from registrator.config import Config
from registrator.kvwriter import KVWriter
from registrator.metadata import Service
from registrator.metrics import Metrics
from registrator.registry import kv_marker


class FakeKV:
    """The KV calls of ConsulClient over a dict, with Consul's Flags, ModifyIndex and check-and-set; each key checked
    by `paths.kv` as the client does."""

    def __init__(self) -> None:
        self.kv: dict[str, str] = {}
        self.flags: dict[str, int] = {}
        self.index: dict[str, int] = {}
        self.calls: list[tuple[str, str]] = []
        self._next = 1

    def set(self, key: str, value: str, flags: int = 0) -> None:
        self._next += 1
        self.kv[key], self.flags[key], self.index[key] = value, flags, self._next

    async def kv_get(self, key: str) -> dict[str, Any] | None:
        paths.kv(key)
        if key not in self.kv:
            return None
        return {"Key": key, "Flags": self.flags[key], "ModifyIndex": self.index[key],
                "Value": base64.b64encode(self.kv[key].encode()).decode()}

    async def kv_put(self, key: str, value: str, *, flags: int = 0, cas: int | None = None) -> bool:
        paths.kv(key)
        self.calls.append(("put", key))
        if cas is not None and cas != self.index.get(key, 0):
            return False
        self.set(key, value, flags)
        return True

    async def kv_delete(self, key: str) -> None:
        paths.kv(key)
        self.calls.append(("delete", key))
        self.kv.pop(key, None)


def svc(sid: str, name: str = "web", cid: str = "c1", port: int = 8080, id_key: str = "") -> Service:
    return Service(id=sid, name=name, address="127.0.0.1", port=port, container_id=cid, container=f"name-{cid}",
                   id_key=id_key)


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
    kv.set("services/web/n:gone:80", "127.0.0.9:1", kv_marker("n"))  # even with our marker: no proof
    w = writer(kv)
    assert await w.agent_services() == {}
    await w.deregister("n:gone:80")
    assert kv.kv == {"services/web/n:gone:80": "127.0.0.9:1"} and kv.calls == []


async def test_an_entry_someone_else_wrote_is_not_written_over(caplog: pytest.LogCaptureFixture) -> None:
    kv = FakeKV()
    kv.set("services/db/other:db:5432", "127.0.0.9:5432", kv_marker("other"))  # another node's
    kv.set("services/db/by-hand", "127.0.0.8:5432")  # a person's (Flags 0)
    w = writer(kv)
    with caplog.at_level(logging.WARNING, "registrator"):
        assert not await w.register(svc("other:db:5432", name="db", id_key="SERVICE_ID"))
        assert not await w.register(svc("by-hand", name="db", id_key="SERVICE_ID"))
        assert not await w.register(svc("by-hand", name="db", id_key="SERVICE_ID"))
    assert kv.kv["services/db/other:db:5432"] == "127.0.0.9:5432" and kv.kv["services/db/by-hand"] == "127.0.0.8:5432"
    assert [c for c in kv.calls if c[0] == "put"] == []
    assert len([r for r in caplog.records if "this node did not write" in r.getMessage()]) == 2
    await w.deregister("by-hand")
    assert "services/db/by-hand" in kv.kv


async def test_gliderlabs_entry_of_this_very_container_is_taken_over_and_an_unchanged_one_not_rewritten() -> None:
    kv = FakeKV()
    kv.set("services/web/n:web-1:80", "127.0.0.1:1")  # gliderlabs wrote it (Flags 0), an ID made of node+container
    w = writer(kv)
    assert await w.register(svc("n:web-1:80"))
    assert kv.kv["services/web/n:web-1:80"] == "127.0.0.1:8080" and kv.flags["services/web/n:web-1:80"] == w.marker
    puts = len(kv.calls)
    assert await w.register(svc("n:web-1:80"))  # -resync: same value, nothing written
    assert len(kv.calls) == puts


async def test_two_running_containers_of_this_node_do_not_share_an_id() -> None:
    kv = FakeKV()
    w = KVWriter(kv, Config(node_id="n"), Metrics(), {"c1", "c2"}.__contains__, "services")  # type: ignore[arg-type]
    assert await w.register(svc("same", cid="c1", id_key="SERVICE_ID"))
    assert not await w.register(svc("same", cid="c2", port=9090, id_key="SERVICE_ID"))
    assert kv.kv["services/web/same"] == "127.0.0.1:8080"


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
