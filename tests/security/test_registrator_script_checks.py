"""Attack: a container's SERVICE_CHECK_SCRIPT runs a command on the Consul agent's host (and SERVICE_CHECK_DOCKER
one through the agent's Docker access). Without `--allow-script-checks` neither is registered: the service is,
without that check, and the refusal is logged naming container and key. With the opt-in the check runs: the
proof that this test would see it."""

from __future__ import annotations

import time
import uuid
from pathlib import Path

import pytest

from testbed import engines
from tests.support.regharness import checks_of, lines_naming, owned, wait_started

pytestmark = pytest.mark.engines


def run(docker_client, image, marker: Path):
    return docker_client.containers.run(
        image, name=f"scr-{uuid.uuid4().hex[:8]}", detach=True, ports={"80/tcp": ("127.0.0.1", None)},
        labels={"portside-test": "1", "SERVICE_NAME": "scripted", "SERVICE_CHECK_INTERVAL": "200ms",
                "SERVICE_CHECK_SCRIPT": f"touch {marker}", "SERVICE_CHECK_TTL": "30s"})


@pytest.mark.parametrize("opt_in", [False, True], ids=["refused by default", "registered with the opt-in"])
def test_script_check_only_with_the_opt_in(registrator, docker_client, web_image, consul_agent, tmp_path, opt_in):
    marker = tmp_path / f"ran-on-the-agent-{uuid.uuid4().hex[:6]}"  # the session agent runs on this host
    r = registrator(*(["--allow-script-checks"] if opt_in else []))
    wait_started(r)
    c = run(docker_client, web_image, marker)
    sid = f"{r.node}:{c.name}:80"
    engines.wait_until(lambda: sid in owned(consul_agent, r.node), 10, "registered")
    if opt_in:
        engines.wait_until(marker.exists, 10, "the script check ran on the agent")
        # the script check comes first in gliderlabs' order: Consul's default ID for a service's check
        assert set(checks_of(consul_agent, sid)) == {f"service:{sid}", f"{sid}:ttl"}
        return
    assert set(checks_of(consul_agent, sid)) == {f"service:{sid}"}  # registered, only with the TTL check
    line = lines_naming(r, c.name, "SERVICE_CHECK_SCRIPT")
    assert line and "--allow-script-checks" in line[0] and "check not registered" in line[0]
    time.sleep(1.0)  # five check intervals: with the check registered, the command would have run by now
    assert not marker.exists()
