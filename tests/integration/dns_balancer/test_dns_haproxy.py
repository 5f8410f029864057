"""HAProxy as a client: `resolvers` + `server-template` on _<svc>._tcp.service.consul, with the config the
compose stack uses (compose/haproxy/haproxy.cfg, unchanged, its addresses from the environment). The backend
follows scale up and scale down of real containers registered through the agent API."""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from testbed import engines
from tests.support.dnsb_fleet import Fleet, answered_by
from tests.support.dnsb_harness import Daemon, wait_for

pytestmark = pytest.mark.engines
CONFIG = Path(__file__).resolve().parents[3] / "compose" / "haproxy" / "haproxy.cfg"


@pytest.fixture
def haproxy(dns_daemon: Daemon, fleet: Fleet, tmp_path: Path) -> Iterator[str]:
    assert shutil.which("haproxy"), "haproxy is missing (make setup installs it)"
    port = engines.free_port()
    env = {**os.environ, "DNS_BALANCER_ADDR": f"127.0.0.1:{dns_daemon.port}", "HAPROXY_LISTEN": f"127.0.0.1:{port}",
           "HAPROXY_SRV_NAME": f"_{fleet.name}._tcp.service.consul"}
    log = open(tmp_path / "haproxy.log", "wb")  # noqa: SIM115
    proc = subprocess.Popen(["haproxy", "-db", "-f", str(CONFIG)], env=env, stdout=log, stderr=log)
    try:
        yield f"http://127.0.0.1:{port}/"
    finally:
        proc.terminate()
        proc.wait(10)
        log.close()


def test_haproxy_servers_follow_scale_up_and_down(fleet, haproxy, tmp_path):
    def follows(want: set[str]) -> bool:
        return answered_by(haproxy, 4 * len(want) + 4) == want

    want = fleet.scale(1)
    wait_for(lambda: follows(want), 20, f"haproxy serving 1 instance (log {tmp_path / 'haproxy.log'})")
    want = fleet.scale(3)
    wait_for(lambda: follows(want), 20, "haproxy serving 3 instances")
    want = fleet.scale(1)
    wait_for(lambda: follows(want), 20, "haproxy back to 1 instance")
    assert answered_by(haproxy, 12) == want  # and it stays there
