"""Attack: a caller-supplied ID (a container's SERVICE_ID label, a check ID, a service name or KV key read from
Consul) crafted to walk out of its URL path segment, e.g. `docker stop` turning the maintenance call for
`SERVICE_ID=../../leave` into `PUT /v1/agent/leave`.

Against a real Consul agent of this module's own (if an attack got through, the session's agent would leave):
each hostile value must raise a clear ConsulError naming the value, and reach no other endpoint: the agent is still
an alive member of its cluster, joined nothing, is not in maintenance, and no check changed its status."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable, Iterator
from typing import Any

import pytest

from portside.consul import ConsulBadValue, ConsulClient, ConsulError, ConsulRejected, paths
from portside.settings import consul_settings
from testbed import engines

pytestmark = pytest.mark.engines

HOSTILE = ["../../leave", "../../join/127.0.0.9", "../../check/fail/x", "a/b", "%2e%2e", "..%2f",
           "..", ".", "", "%2e%2e%2f%2e%2e%2fleave", "x/../../../leave", "..\\..\\leave"]
# Refused before anything is sent; the rest are sent as literal, fully encoded IDs (Consul: no such ID).
REFUSED = {"../../leave", "../../join/127.0.0.9", "../../check/fail/x", "a/b", "..", ".", "", "x/../../../leave"}
# A KV key may hold "/" (and "portside/" is a folder), but no "." or ".." segment.
REFUSED_KV = REFUSED - {"a/b", ""}


@pytest.fixture(scope="module")
def agent() -> Iterator[engines.ConsulAgent]:
    a = engines.ConsulAgent(node="portside-paths", acl=False).start()
    a.api("/v1/agent/service/register", "PUT", {
        "ID": "x", "Name": "victim", "Port": 80, "Check": {"CheckID": "x", "TTL": "10m", "Status": "passing"}})
    yield a
    a.stop()


def state(agent: engines.ConsulAgent) -> dict[str, Any]:
    """What an attack that reached another endpoint would change."""
    members = agent.api("/v1/agent/members")
    return {
        "members": sorted((m["Name"], m["Addr"], m["Status"]) for m in members),
        "checks": sorted((c["CheckID"], c["Status"]) for c in agent.api("/v1/agent/checks").values()),
        "services": sorted(agent.api("/v1/agent/services")),
        "keys": agent.api("/v1/kv/?keys") if _has_keys(agent) else [],
    }


def _has_keys(agent: engines.ConsulAgent) -> bool:
    try:
        agent.api("/v1/kv/?keys")
        return True
    except OSError:  # 404: no key at all
        return False


CALLS: dict[str, Callable[[ConsulClient, str], Awaitable[Any]]] = {
    "set service maintenance": lambda c, v: c.service_maintenance(v, True, "attack"),
    "deregister service": lambda c, v: c.deregister_service(v),
    "update TTL check": lambda c, v: c.check_update(v, "critical", "attack"),
    "register service": lambda c, v: c.register_service({"ID": v, "Name": "attack", "Port": 1}),
    "read service health": lambda c, v: c.get_indexed(paths.health_service(v)),
    "read KV": lambda c, v: c.get_indexed(paths.kv(f"portside/{v}")),
}


@pytest.mark.parametrize("value", HOSTILE)
@pytest.mark.parametrize("call", CALLS)
async def test_hostile_ids_reach_no_other_endpoint(agent, call, value):
    before = state(agent)
    async with await ConsulClient.open(consul_settings({}, address=agent.http_addr)) as consul:
        try:
            await CALLS[call](consul, value)
            outcome: Exception | None = None
        except (ConsulError, paths.UnsafeSegment) as exc:
            outcome = exc
    assert agent.api("/v1/agent/self")["Member"]["Status"] == 1  # alive: it did not leave
    after = state(agent)
    if call == "register service" and outcome is None:  # a literal odd ID is a valid registration: undo it
        sid = value or "attack"  # no ID: Consul takes the name
        after["services"].remove(sid)
        agent.api(paths.agent_service_deregister(sid), "PUT")
    assert after == before, f"{call}({value!r}) changed the agent"
    maint = [c for c in agent.api("/v1/agent/checks").values() if c["CheckID"].startswith("_")]
    assert maint == []  # neither node nor service maintenance was switched on
    if value in (REFUSED_KV if call == "read KV" else REFUSED) and (value or call != "register service"):
        assert isinstance(outcome, ConsulBadValue | paths.UnsafeSegment), outcome
        named = f"portside/{value}" if call == "read KV" else value
        assert repr(named) in str(outcome) and "refused" in str(outcome)
    elif call.startswith("read"):
        assert outcome is None  # a literal name with nothing registered under it: an empty answer
    elif call != "register service":
        assert isinstance(outcome, ConsulRejected), outcome  # Consul: no such service or check ID
        assert call in str(outcome)


async def test_an_ordinary_id_still_works_end_to_end(agent):
    """The same calls on a normal ID do what they should (the refusals above are not refusing everything)."""
    sid = f"web-{uuid.uuid4().hex[:6]}:80:udp"
    async with await ConsulClient.open(consul_settings({}, address=agent.http_addr)) as consul:
        await consul.register_service({"ID": sid, "Name": "web", "Port": 80,
                                       "Check": {"CheckID": f"{sid}:ttl", "TTL": "10m"}})
        await consul.check_update(f"{sid}:ttl", "passing", "ok")
        await consul.service_maintenance(sid, True, "drain")
        health = (await consul.get_indexed(paths.health_service("web"))).data
        assert {c["CheckID"] for e in health for c in e["Checks"]} >= {f"{sid}:ttl", f"_service_maintenance:{sid}"}
        await consul.deregister_service(sid)
        assert sid not in await consul.agent_services()
