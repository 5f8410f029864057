"""The Consul writer: ownership before every write, and the bound on requests in flight."""

from __future__ import annotations

import asyncio
import logging

import pytest

from registrator.config import Config
from registrator.metadata import OWNER_CONTAINER, OWNER_NODE, Service
from registrator.metrics import Metrics
from registrator.writer import ConsulWriter
from tests.unit.registrator.fake_consul import FakeConsul


def svc(sid: str, cid: str = "c1") -> Service:
    return Service(id=sid, name="web", address="127.0.0.1", port=80, meta={OWNER_NODE: "n", OWNER_CONTAINER: cid},
                   container_id=cid, container=f"name-{cid}", id_key="SERVICE_ID")


def writer(consul: FakeConsul, running: set[str] | None = None, **cfg) -> tuple[ConsulWriter, Metrics]:
    metrics = Metrics()
    return ConsulWriter(consul, Config(node_id="n", **cfg), metrics, (running or set()).__contains__), metrics  # type: ignore[arg-type]


def skipped(metrics: Metrics, reason: str) -> float:
    return metrics.registry.get_sample_value("registrator_skipped_services_total", {"reason": reason}) or 0


@pytest.mark.parametrize("meta", [{OWNER_NODE: "other-node", OWNER_CONTAINER: "x"}, {}, {"version": "1"}])
async def test_an_id_registered_by_someone_else_is_left_alone(meta: dict, caplog: pytest.LogCaptureFixture) -> None:
    consul = FakeConsul()
    theirs = {"ID": "their-id", "Service": "db", "Address": "127.0.0.9", "Port": 5432, "Tags": [], "Meta": meta}
    consul.services["their-id"] = dict(theirs)
    w, metrics = writer(consul)
    mine = svc("their-id")
    assert await w.register(mine) is False
    assert await w.register(mine) is False
    await w.maintenance([mine], True, "container stopping")
    await w.deregister(mine.id, mine.container_id)
    await w.check_update(mine, "critical", "docker: unhealthy")
    assert consul.services["their-id"] == theirs
    assert [c for c, _ in consul.calls] == ["list", "list"]  # nothing but reads
    line = next(r.getMessage() for r in caplog.records if "their-id" in r.getMessage())
    assert "name-c1" in line and "SERVICE_ID" in line and "left alone" in line
    assert len([r for r in caplog.records if "their-id" in r.getMessage()]) == 1  # reported once
    assert skipped(metrics, "owner") == 1


async def test_a_snapshot_decides_without_a_request_per_service() -> None:
    consul = FakeConsul()
    w, _ = writer(consul)
    snapshot = {"taken": {"Meta": {OWNER_NODE: "other"}}}
    assert await w.register(svc("free"), snapshot=snapshot) is True
    assert await w.register(svc("taken"), snapshot=snapshot) is False
    assert ("list", "") not in consul.calls


async def test_an_id_held_by_another_running_container_of_this_node_is_not_taken() -> None:
    consul = FakeConsul()
    w, _ = writer(consul, running={"c1", "c2"})
    assert await w.register(svc("shared", "c1"))
    assert await w.register(svc("shared", "c2")) is False
    await w.deregister("shared", "c2")  # the intruder's die must not take the other's service away
    assert consul.services["shared"]["Meta"][OWNER_CONTAINER] == "c1"


async def test_an_id_left_by_a_container_that_is_gone_is_taken_over() -> None:
    consul = FakeConsul()
    consul.services["n:web:80"] = {"ID": "n:web:80", "Meta": {OWNER_NODE: "n", OWNER_CONTAINER: "dead"}}
    w, _ = writer(consul, running={"c1"})
    w.adopt(await consul.agent_services())
    assert await w.register(svc("n:web:80", "c1"))
    assert consul.services["n:web:80"]["Meta"][OWNER_CONTAINER] == "c1"


async def test_ours_registered_over_by_someone_else_is_dropped(caplog: pytest.LogCaptureFixture) -> None:
    consul = FakeConsul()
    w, _ = writer(consul)
    assert await w.register(svc("x"))
    consul.services["x"]["Meta"] = {OWNER_NODE: "intruder"}
    with caplog.at_level(logging.WARNING):
        w.adopt(await consul.agent_services())
    assert not w.holds("x") and "registered over by node 'intruder'" in caplog.text
    await w.deregister("x")
    assert "x" in consul.services


async def test_requests_in_flight_are_bounded() -> None:
    consul = FakeConsul()
    consul.latency = 0.01
    w, _ = writer(consul, consul_concurrency=3)
    snapshot: dict = {}
    results = await asyncio.gather(*(w.register(svc(f"s{i}", f"c{i}"), snapshot=snapshot) for i in range(30)))
    assert all(results) and len(consul.services) == 30
    assert consul.most_in_flight == 3


async def test_lookups_waiting_together_share_one_listing() -> None:
    consul = FakeConsul()
    w, _ = writer(consul, consul_concurrency=1)
    assert all(await asyncio.gather(*(w.register(svc(f"s{i}", f"c{i}")) for i in range(20))))
    lists = [c for c, _ in consul.calls].count("list")
    assert 1 <= lists <= 3, lists
