"""registrator under bursts, restarts of Docker and Consul, kill -9, odd containers and compose scaling."""

from __future__ import annotations

import os
import subprocess
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor

import pytest

from testbed import engines
from tests.support.regharness import checks_of, owned, wait_started

pytestmark = pytest.mark.engines


def start_many(docker_client, image, n: int, prefix: str) -> list:
    def one(i: int):
        return docker_client.containers.run(
            image, name=f"{prefix}-{i}", labels={"portside-test": "1", "SERVICE_NAME": "burst"},
            ports={"80/tcp": ("127.0.0.1", None)}, detach=True)

    with ThreadPoolExecutor(max_workers=16) as pool:
        return list(pool.map(one, range(n)))


def remove_all(docker_client, containers) -> None:
    with ThreadPoolExecutor(max_workers=16) as pool:
        list(pool.map(lambda c: c.remove(force=True), containers))


def expected_ids(node: str, containers) -> set[str]:
    return {f"{node}:{c.name}:80" for c in containers}


def mine(agent, node: str, prefixes: tuple[str, ...]) -> set[str]:
    """This node's service IDs for containers whose names start with one of `prefixes`: the test's own. The engine
    may be shared with other runs, and a registrator registers every container on it."""
    return {sid for sid in owned(agent, node) if sid.startswith(tuple(f"{node}:{p}" for p in prefixes))}


def wait_equal(agent, node: str, want: set[str], timeout: float, what: str, prefixes: tuple[str, ...]) -> None:
    try:
        engines.wait_until(lambda: mine(agent, node, prefixes) == want, timeout, what)
    except TimeoutError:
        have = mine(agent, node, prefixes)
        raise AssertionError(f"{what}: missing {sorted(want - have)[:5]} ({len(want - have)}), "
                             f"stale {sorted(have - want)[:5]} ({len(have - want)})") from None


def test_burst_of_50_three_times_all_registered_none_twice(registrator, docker_client, web_image, consul_agent):
    r = registrator()
    wait_started(r)
    for round_ in range(3):
        prefix = f"b{round_}-{uuid.uuid4().hex[:4]}"
        cs = start_many(docker_client, web_image, 50, prefix)
        want = expected_ids(r.node, cs)
        wait_equal(consul_agent, r.node, want, 30, f"burst {round_ + 1}: 50/50 registered", (prefix,))
        ours = {c.id for c in cs}
        instances = consul_agent.api("/v1/catalog/service/burst")
        per_container = [i["ServiceMeta"]["portside-container"] for i in instances
                         if i["ServiceMeta"]["portside-container"] in ours]
        assert len(per_container) == len(set(per_container)) == 50, "a container registered twice"
        remove_all(docker_client, cs)
        wait_equal(consul_agent, r.node, set(), 30, f"burst {round_ + 1}: all deregistered", (prefix,))
    assert r.alive()


def test_consul_agent_restart_services_back_within_10s(registrator, docker_client, web_image, dockerd):
    agent = engines.ConsulAgent(node="portside-restart", proc_env=dockerd.env).start()
    try:
        r = registrator(agent=agent)
        wait_started(r)
        prefixes = (f"cr-{uuid.uuid4().hex[:4]}",)
        cs = start_many(docker_client, web_image, 5, prefixes[0])
        want = expected_ids(r.node, cs)
        wait_equal(agent, r.node, want, 15, "registered before restart", prefixes)
        agent.restart()
        assert mine(agent, r.node, prefixes) != want, "a dev agent should come back empty"
        t0 = time.monotonic()
        wait_equal(agent, r.node, want, 10, "every service back within 10 s", prefixes)
        print(f"services back {time.monotonic() - t0:.2f}s after the agent answered")
        remove_all(docker_client, cs)
        r.stop()
    finally:
        agent.stop()


def test_a_draining_container_stays_in_maintenance_across_an_agent_restart(registrator, docker_client, web_image,
                                                                         dockerd):
    agent = engines.ConsulAgent(node="portside-drain-restart", proc_env=dockerd.env).start()
    try:
        r = registrator(agent=agent)
        wait_started(r)
        # the web image keeps answering GRACE seconds after SIGTERM: long enough for the agent to come back
        c = docker_client.containers.run(web_image, detach=True, environment={"GRACE": "20"},
                                         ports={"80/tcp": ("127.0.0.1", None)},
                                         labels={"portside-test": "1", "SERVICE_NAME": "draining"})
        sid, maint = f"{r.node}:{c.name}:80", f"_service_maintenance:{r.node}:{c.name}:80"
        engines.wait_until(lambda: sid in owned(agent, r.node), 10, "registered")
        stopper = threading.Thread(target=c.stop, kwargs={"timeout": 30})
        stopper.start()
        engines.wait_until(lambda: maint in checks_of(agent, sid), 10, "maintenance on stop")
        agent.restart()
        engines.wait_until(lambda: sid in owned(agent, r.node), 10, "re-registered after the agent restart")
        engines.wait_until(lambda: maint in checks_of(agent, sid), 5, "back in maintenance")
        c.reload()
        assert c.status == "running", "the container finished draining before the check: the test proved nothing"
        stopper.join()
        engines.wait_until(lambda: sid not in owned(agent, r.node), 10, "deregistered after die")
    finally:
        agent.stop()


def test_kill9_during_burst_then_restart_converges(registrator, docker_client, web_image, consul_agent):
    r = registrator("-cleanup")
    wait_started(r)
    tag = uuid.uuid4().hex[:4]
    prefixes = (f"k9-{tag}", f"k9late-{tag}")
    with ThreadPoolExecutor(max_workers=1) as bg:
        fut = bg.submit(start_many, docker_client, web_image, 50, prefixes[0])
        engines.wait_until(lambda: len(mine(consul_agent, r.node, prefixes)) >= 10, 30, "burst under way")
        r.kill9()
        cs = fut.result()
    # while it is dead: some containers go away (their services become ghosts), some new ones start
    gone, cs = cs[:5], cs[5:]
    remove_all(docker_client, gone)
    cs += start_many(docker_client, web_image, 5, prefixes[1])
    r2 = registrator("-cleanup", node=r.node)
    wait_started(r2)
    wait_equal(consul_agent, r.node, expected_ids(r.node, cs), 30, "Consul == running containers after restart",
               prefixes)
    remove_all(docker_client, cs)
    wait_equal(consul_agent, r.node, set(), 30, "all deregistered", prefixes)


def test_dockerd_restart_reconnects_and_registers_new_containers(registrator, docker_client, web_image, consul_agent,
                                                                  dockerd):
    if dockerd.external:
        pytest.skip("the engine at DOCKER_HOST is not ours to restart")
    r = registrator("-cleanup")
    wait_started(r)
    tag = uuid.uuid4().hex[:4]
    prefixes = (f"dr-{tag}", f"dr2-{tag}")
    before = start_many(docker_client, web_image, 3, prefixes[0])
    wait_equal(consul_agent, r.node, expected_ids(r.node, before), 15, "registered before restart", prefixes)
    dockerd.restart()  # containers without a restart policy stop with the engine
    after = start_many(docker_client, web_image, 3, prefixes[1])
    wait_equal(consul_agent, r.node, expected_ids(r.node, after), 30, "after the restart: exactly the new ones",
               prefixes)
    assert "reconnected" in r.output()
    remove_all(docker_client, before + after)


def test_odd_containers_handled_or_skipped(registrator, docker_client, web_image, consul_agent, dockerd):
    r = registrator()
    wait_started(r)
    # an image with no Env, no Cmd, no ExposedPorts, no Labels
    tag = "portside/bare:test"
    env = {**os.environ, **dockerd.env}
    subprocess.run(f"tar -C / -c usr/bin/busybox --transform 's,usr/bin,bin,' | docker import - {tag}",
                   shell=True, check=True, env=env, capture_output=True)
    img = docker_client.images.get(tag)
    assert img.attrs["Config"] is None or not img.attrs["Config"].get("Env")
    odd = f"odd-{uuid.uuid4().hex[:4]}"
    bare = docker_client.containers.run(tag, ["/bin/busybox", "sleep", "300"], labels={"portside-test": "1"},
                                        detach=True, name=f"{odd}-bare")
    exits = docker_client.containers.run(tag, ["/bin/busybox", "true"], detach=True, name=f"{odd}-exits",
                                         labels={"portside-test": "1", "SERVICE_NAME": "brief"})
    host = docker_client.containers.run(web_image, ["sleep", "300"], network_mode="host", detach=True,
                                        labels={"portside-test": "1", "SERVICE_80_NAME": "hostweb"},
                                        name=f"{odd}-host")
    good = docker_client.containers.run(web_image, detach=True, ports={"80/tcp": ("127.0.0.1", None)},
                                        labels={"portside-test": "1", "SERVICE_NAME": "after-odd"}, name=f"{odd}-good")
    want = {f"{r.node}:{host.name}:80", f"{r.node}:{good.name}:80"}
    wait_equal(consul_agent, r.node, want, 15, "host-network named port and the good container only", (odd,))
    svc = owned(consul_agent, r.node)[f"{r.node}:{host.name}:80"]
    assert (svc["Service"], svc["Port"], svc["Address"]) == ("hostweb", 80, "127.0.0.1")
    assert r.alive() and "Traceback" not in r.output()
    for c in (bare, exits, host, good):
        c.remove(force=True)


def test_compose_scale_up_and_down(registrator, docker_client, web_image, consul_agent, dockerd, tmp_path):
    r = registrator("-cleanup")
    wait_started(r)
    project = f"pst{uuid.uuid4().hex[:6]}"
    (tmp_path / "compose.yml").write_text(f"""
services:
  web:
    image: {web_image}
    labels: {{portside-test: "1", SERVICE_NAME: "composeweb"}}
    ports: ["127.0.0.1::80"]
networks:
  default:
    ipam: {{config: [{{subnet: 198.18.100.0/24}}]}}
""")
    env = {**os.environ, **dockerd.env}

    def compose(*args: str) -> None:
        subprocess.run(["docker", "compose", "-p", project, "-f", str(tmp_path / "compose.yml"), *args],
                       check=True, env=env, capture_output=True, timeout=180)

    def running_ids() -> set[str]:
        cs = docker_client.containers.list(filters={"label": f"com.docker.compose.project={project}"})
        return {f"{r.node}:{c.name}:80" for c in cs}

    try:
        compose("up", "-d", "--scale", "web=10")
        assert len(running_ids()) == 10
        wait_equal(consul_agent, r.node, running_ids(), 30, "10 instances registered", (project,))
        compose("up", "-d", "--scale", "web=3")
        assert len(running_ids()) == 3
        wait_equal(consul_agent, r.node, running_ids(), 30, "exactly the 3 running instances registered",
                   (project,))
    finally:
        compose("down", "-t", "1")
