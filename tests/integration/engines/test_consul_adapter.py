"""The Consul adapter against a real dev agent, including each py-consul 1.8 defect it covers."""

from __future__ import annotations

import asyncio
import json
import uuid

import consul.aio
import pytest
from consul.exceptions import ACLPermissionDenied

from portside.consul import (
    ConsulClient,
    ConsulPermissionDenied,
    ConsulRejected,
    ConsulUnreachable,
    paths,
)
from portside.settings import consul_settings
from testbed import engines

pytestmark = pytest.mark.engines
MGMT = "portside-test-management-token"


@pytest.fixture(scope="module")
def acl_agent():
    hcl = ('acl { enabled = true\n default_policy = "deny"\n enable_token_persistence = false\n'
           f' tokens {{ initial_management = "{MGMT}" }} }}\n')
    agent = engines.ConsulAgent(node="portside-acl")
    agent.workdir.mkdir(parents=True, exist_ok=True)
    (agent.workdir / "acl.hcl").write_text(hcl)
    agent.extra_args = ["-config-file", str(agent.workdir / "acl.hcl")]
    agent.start()
    yield agent
    agent.stop()


def _svc(name: str, **extra) -> dict:
    return {"ID": f"{name}-1", "Name": name, "Address": "127.0.0.1", "Port": 8080, **extra}


async def _health(c: ConsulClient, name: str, passing: bool = False) -> list[dict]:
    """The daemons' one read API: get_indexed on a path from `paths`."""
    return (await c.get_indexed(paths.health_service(name), [("passing", "1")] if passing else [])).data


async def test_register_appears_in_health_and_blocking_query_wakes(consul_env):
    name = f"smoke-{uuid.uuid4().hex[:6]}"
    async with await ConsulClient.open(consul_settings()) as c:
        await c.register_service(_svc(name, Tags=["a"], Meta={"owner": "test"}))
        entries = await _health(c, name)
        assert [e["Service"]["ID"] for e in entries] == [f"{name}-1"]
        assert entries[0]["Service"]["Meta"] == {"owner": "test"}

        watch = c.watch(paths.health_service(name), wait="30s")
        idx0, data0 = await anext(watch)
        assert len(data0) == 1
        next_change = asyncio.ensure_future(anext(watch))
        await asyncio.sleep(0.3)
        assert not next_change.done(), "blocking query returned without a change"
        t0 = asyncio.get_running_loop().time()
        await c.register_service({**_svc(name), "ID": f"{name}-2", "Port": 8081})
        idx1, data1 = await asyncio.wait_for(next_change, 5)
        waited = asyncio.get_running_loop().time() - t0
        assert idx1 > idx0
        assert sorted(e["Service"]["ID"] for e in data1) == [f"{name}-1", f"{name}-2"]
        assert waited < 1.0, f"blocking query took {waited:.3f}s to return after the change"
        await watch.aclose()
        await c.deregister_service(f"{name}-1")
        await c.deregister_service(f"{name}-2")
        assert await _health(c, name) == []


async def test_blocking_query_outlives_its_wait_without_error(consul_env):
    """wait=1s on an unchanged index: Consul holds up to wait+wait/16; the client timeout is longer."""
    async with await ConsulClient.open(consul_settings()) as c:
        idx = (await c.get_indexed(paths.catalog_services())).index
        t0 = asyncio.get_running_loop().time()
        again = await c.get_indexed(paths.catalog_services(), index=idx, wait="1s")
        assert asyncio.get_running_loop().time() - t0 >= 0.9
        assert again.index == idx


def test_client_is_built_inside_each_running_loop(consul_env):
    """Each asyncio.run gets its own session; py-consul's aiohttp session would be bound to one loop."""

    async def leader():
        async with await ConsulClient.open(consul_settings()) as c:
            return await c.leader()

    assert asyncio.run(leader()) == asyncio.run(leader()) != ""
    with pytest.raises(RuntimeError):
        ConsulClient.open(consul_settings()).send(None)  # no running loop: refused at once


async def test_service_maintenance_and_ttl_checks(consul_env):
    name = f"ttl-{uuid.uuid4().hex[:6]}"
    async with await ConsulClient.open(consul_settings()) as c:
        await c.register_service(_svc(name, Checks=[{"CheckID": f"{name}-ttl", "Name": "ttl", "TTL": "30s"}]))

        async def status():
            return [ck["Status"] for e in await _health(c, name) for ck in e["Checks"]
                    if ck["CheckID"] == f"{name}-ttl"]

        for st in ("passing", "warning", "critical", "passing"):
            await c.check_update(f"{name}-ttl", st, note=f"set {st}")
            assert await status() == [st]
        assert len(await _health(c, name, passing=True)) == 1
        await c.service_maintenance(f"{name}-1", True, "draining")
        assert await _health(c, name, passing=True) == []
        await c.service_maintenance(f"{name}-1", False)
        assert len(await _health(c, name, passing=True)) == 1
        assert f"{name}-1" in await c.agent_services()
        assert name in (await c.get_indexed(paths.catalog_services())).data
        await c.deregister_service(f"{name}-1")


async def test_kv_reads_decode_and_a_missing_key_is_none(consul_env, consul_agent):
    prefix = f"portside-test/{uuid.uuid4().hex[:6]}"
    consul_agent.api(f"/v1/kv/{prefix}/a", "PUT", b"1")
    consul_agent.api(f"/v1/kv/{prefix}/b/c", "PUT", b"2")
    async with await ConsulClient.open(consul_settings()) as c:
        one = await c.get_indexed(paths.kv(f"{prefix}/a"))
        assert [e["Key"] for e in one.data] == [f"{prefix}/a"] and one.index > 0
        many = (await c.get_indexed(paths.kv(prefix), [("recurse", "1")])).data
        assert sorted(e["Key"] for e in many) == [f"{prefix}/a", f"{prefix}/b/c"]
        missing = await c.get_indexed(paths.kv(f"{prefix}/missing"))
        assert missing.data is None and missing.index > 0  # a 404 with an index: a watch can block on it
    consul_agent.api(f"/v1/kv/{prefix}?recurse=true", "DELETE")


async def test_rejected_registration_carries_consuls_reason(consul_env):
    async with await ConsulClient.open(consul_settings()) as c:
        with pytest.raises(ConsulRejected) as err:
            await c.register_service(_svc("bad", Checks=[{"HTTP": "http://x/", "Interval": "abc"}]))
    assert "abc" in str(err.value) or "interval" in str(err.value).lower()


async def test_refused_connection_names_the_address(monkeypatch):
    port = engines.free_port()
    async with await ConsulClient.open(consul_settings({}, address=f"127.0.0.1:{port}")) as c:
        with pytest.raises(ConsulUnreachable) as err:
            await c.leader()
    assert f"127.0.0.1:{port}" in str(err.value)


async def test_explicit_token_beats_env_and_403_names_the_right(acl_agent, monkeypatch):
    addr = acl_agent.http_addr
    monkeypatch.setenv("CONSUL_HTTP_ADDR", addr)
    monkeypatch.setenv("CONSUL_HTTP_TOKEN", "not-a-real-token")
    name = f"acl-{uuid.uuid4().hex[:6]}"

    # py-consul alone lets the env var win over the explicit token: the call is denied
    host, port = addr.split(":")
    raw = consul.aio.Consul(host=host, port=int(port), token=MGMT)
    try:
        assert raw.token == "not-a-real-token"
        with pytest.raises(ACLPermissionDenied):
            await raw.agent.service.register(name, service_id=f"{name}-raw", port=1)
    finally:
        await raw.close()

    # through the adapter the explicit token wins
    async with await ConsulClient.open(consul_settings(token=MGMT)) as c:
        await c.register_service(_svc(name))
        assert f"{name}-1" in await c.agent_services()
        await c.deregister_service(f"{name}-1")

    # with only a read-only token, the error says which right is missing and where
    rules = 'service_prefix "" { policy = "read" }'
    policy = acl_agent.api("/v1/acl/policy", "PUT", {"Name": f"ro-{name}", "Rules": rules}, token=MGMT)
    tok = acl_agent.api("/v1/acl/token", "PUT", {"Policies": [{"ID": policy["ID"]}]}, token=MGMT)
    async with await ConsulClient.open(consul_settings(token=tok["SecretID"])) as c:
        with pytest.raises(ConsulPermissionDenied) as err:
            await c.register_service(_svc(name))
    msg = str(err.value)
    assert "service:write" in msg and addr in msg and "register service" in msg
    assert json.dumps(msg)  # plain text, loggable


@pytest.fixture
def restartable_agent():
    """An agent of this test's own, so restarting it does not disturb the session agent."""
    agent = engines.ConsulAgent(node="portside-restart").start()
    yield agent
    agent.stop()


async def test_watch_survives_agent_restart_and_resets_index(restartable_agent, monkeypatch):
    """A dev agent restarts with an empty state and a small index: the watch must notice the index going
    backwards, reset, keep going through the outage, and deliver the new data."""
    name = f"rs-{uuid.uuid4().hex[:6]}"
    async with await ConsulClient.open(consul_settings({}, address=restartable_agent.http_addr)) as c:
        for i in range(30):  # push the raft index well above what a fresh agent starts at
            restartable_agent.api(f"/v1/kv/bump/{i}", "PUT", b"x")
        await c.register_service(_svc(name))
        # a long wait: a restarted agent is *behind* our index and would hold a query with the old index for
        # the whole wait; after the error the watch must ask without blocking
        watch = c.watch(paths.health_service(name), wait="60s")
        idx0, data0 = await anext(watch)
        assert len(data0) == 1
        pending = asyncio.ensure_future(anext(watch))
        await asyncio.to_thread(restartable_agent.restart, 0.5)
        idx1, data1 = await asyncio.wait_for(pending, 5)
        assert data1 == [] and idx1 < idx0  # state lost, index went backwards
        pending = asyncio.ensure_future(anext(watch))
        await c.register_service(_svc(name))
        idx2, data2 = await asyncio.wait_for(pending, 5)
        assert [e["Service"]["ID"] for e in data2] == [f"{name}-1"]
        await watch.aclose()


async def test_datacenters_and_nodes(consul_env, consul_agent):
    async with await ConsulClient.open(consul_settings()) as c:
        assert await c.datacenters() == ["dc1"]
        assert [n["Node"] for n in (await c.get_indexed(paths.catalog_nodes())).data] == [consul_agent.node]
