"""Attack: a container's SERVICE_ID aimed at another Consul endpoint or at a service that is not ours.

An ID travels into Consul's URLs: `SERVICE_ID=../../leave` would turn the maintenance call of `docker stop`
(`PUT /v1/agent/service/maintenance/<id>`) into `PUT /v1/agent/leave`; `../../check/fail/<id>` would fail another
service's check; a plain ID of a service someone else registered in the same agent would overwrite it. Each
hostile ID must be refused with a log line naming container and key, a metric, and no effect on the agent;
a service that is not this node's must stay as it was through the container's start, stop and death."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest

from testbed import engines
from tests.support.regharness import checks_of, lines_naming, metrics, owned, wait_started

pytestmark = pytest.mark.engines
VICTIM, VICTIM_CHECK = "victim", "victim-ttl"
HOSTILE = ["../../leave", "../../join/127.0.0.2", f"../../check/fail/{VICTIM_CHECK}",
           f"../../service/deregister/{VICTIM}", "x?enable=false", "%2e%2e/%2e%2e/leave", "tab\there"]


@pytest.fixture(scope="module")
def agent(dockerd) -> Iterator[engines.ConsulAgent]:
    """An agent of the module's own: were the attack to work, it would leave or lose its services."""
    a = engines.ConsulAgent(node=f"portside-ids-{uuid.uuid4().hex[:4]}", proc_env=dockerd.env).start()
    yield a
    a.stop()


def register_by_hand(agent: engines.ConsulAgent, sid: str, meta: dict[str, str]) -> dict:
    agent.api("/v1/agent/service/register", "PUT", {"ID": sid, "Name": sid, "Address": "127.0.0.9", "Port": 9999,
                                                   "Meta": meta, "Check": {"CheckID": f"{sid}-ttl", "TTL": "1h"}})
    agent.api(f"/v1/agent/check/pass/{sid}-ttl", "PUT")
    return state(agent, sid)


def state(agent: engines.ConsulAgent, sid: str) -> dict:
    """What must not change: the service as the agent holds it, and its checks' statuses (maintenance included)."""
    svc = (agent.api("/v1/agent/services") or {}).get(sid)
    return {"service": svc and {k: svc.get(k) for k in ("Service", "Address", "Port", "Meta", "Tags")},
            "checks": checks_of(agent, sid)}


def member_alive(agent: engines.ConsulAgent) -> bool:
    return any(m["Name"] == agent.node and m["Status"] == 1 for m in agent.api("/v1/agent/members") or [])


def run(docker_client, image, labels=None, env=None):
    return docker_client.containers.run(image, name=f"ids-{uuid.uuid4().hex[:8]}", detach=True,
                                        labels={"portside-test": "1", **(labels or {})}, environment=env,
                                        ports={"80/tcp": ("127.0.0.1", None)})


def stop_and_remove(r, port: int, containers) -> None:
    """docker stop (maintenance path), die (deregister path), destroy; returns once the registrator has handled
    every container's die: a container's events are handled in order, so its destroy counted means its die done."""
    before = metrics(port).get('registrator_docker_events_total{action="destroy"}', 0)
    for c in containers:
        c.stop(timeout=2)
        c.remove()
    engines.wait_until(lambda: metrics(port).get('registrator_docker_events_total{action="destroy"}', 0)
                       >= before + len(containers), 20, "destroy events handled")


def test_hostile_ids_reach_no_other_endpoint(registrator, docker_client, web_image, agent):
    victim = register_by_hand(agent, VICTIM, {})
    port = engines.free_port()
    r = registrator("--http-addr", f"127.0.0.1:{port}", agent=agent)
    wait_started(r)
    hostile = [run(docker_client, web_image, {"SERVICE_NAME": "hostile", "SERVICE_ID": sid}) for sid in HOSTILE[1:]]
    hostile.append(run(docker_client, web_image, {"SERVICE_NAME": "hostile"}, env={"SERVICE_ID": HOSTILE[0]}))
    good = run(docker_client, web_image, {"SERVICE_NAME": "good"})
    engines.wait_until(lambda: f"{r.node}:{good.name}:80" in owned(agent, r.node), 15, "the good one registered")
    for c in hostile:
        engines.wait_until(lambda c=c: lines_naming(r, c.name, "SERVICE_ID"), 10, f"refusal of {c.name} logged")
    hostile_ids = {c.id for c in hostile}
    assert not [sid for sid, s in owned(agent, r.node).items() if s["Meta"]["portside-container"] in hostile_ids]
    assert metrics(port)['registrator_skipped_services_total{reason="service_id"}'] >= len(hostile)

    stop_and_remove(r, port, hostile)
    assert member_alive(agent), "the agent left"
    assert state(agent, VICTIM) == victim
    services = agent.api("/v1/agent/services") or {}
    assert f"{r.node}:{good.name}:80" in services and not set(HOSTILE) & set(services)
    assert r.alive() and "Traceback" not in r.output()


@pytest.mark.parametrize("meta", [{"portside-node": "another-node", "portside-container": "c0ffee"}, {}],
                         ids=["another node's", "hand-made"])
def test_a_service_not_ours_is_untouched_on_start_stop_and_die(registrator, docker_client, web_image, agent, meta):
    sid = f"shared-{uuid.uuid4().hex[:6]}"
    theirs = register_by_hand(agent, sid, meta)
    port = engines.free_port()
    r = registrator("-cleanup", "--http-addr", f"127.0.0.1:{port}", agent=agent)
    wait_started(r)
    c = run(docker_client, web_image, {"SERVICE_NAME": "intruder", "SERVICE_ID": sid})
    engines.wait_until(lambda: lines_naming(r, c.name, "SERVICE_ID", sid, "left alone"), 10, "refusal logged")
    assert state(agent, sid) == theirs, "overwritten on start"
    assert metrics(port)['registrator_skipped_services_total{reason="owner"}'] >= 1
    stop_and_remove(r, port, [c])
    assert state(agent, sid) == theirs, "changed by stop or die (maintenance, deregistration)"
    assert r.alive()
    agent.api(f"/v1/agent/service/deregister/{sid}", "PUT")


def test_an_id_held_by_another_container_of_this_node_is_not_taken(registrator, docker_client, web_image, agent):
    sid = f"sibling-{uuid.uuid4().hex[:6]}"
    port = engines.free_port()
    r = registrator("--http-addr", f"127.0.0.1:{port}", agent=agent)
    wait_started(r)
    first = run(docker_client, web_image, {"SERVICE_NAME": "first", "SERVICE_ID": sid})
    engines.wait_until(lambda: sid in owned(agent, r.node), 10, "first registered")
    held = state(agent, sid)
    second = run(docker_client, web_image, {"SERVICE_NAME": "second", "SERVICE_ID": sid})
    engines.wait_until(lambda: lines_naming(r, second.name, sid, "held by container"), 10, "refusal logged")
    stop_and_remove(r, port, [second])
    assert state(agent, sid) == held
    stop_and_remove(r, port, [first])
    assert sid not in (agent.api("/v1/agent/services") or {})
