"""The HAProxy variant of the stack's load balancer (`--profile haproxy`, compose/haproxy/haproxy.cfg): its
servers come from dns-balancer's SRV answers for _web._tcp.service.consul, so scaling web is followed with no
template and no reload."""

from __future__ import annotations

import pytest

from testbed import engines
from tests.support.compose_stack import Stack, served_by

pytestmark = pytest.mark.engines


def web_hostnames(stack: Stack) -> set[str]:
    """What each running web container answers: its hostname, the first 12 characters of its ID."""
    return {cid[:12] for cid in stack.compose("ps", "-q", "web").split()}


def test_haproxy_follows_scale_up_and_down(stack: Stack, docker_client):
    stack.compose("up", "-d", "--scale", "web=1", "--no-recreate", "web")
    stack.compose("--profile", "haproxy", "up", "-d", "--wait", "haproxy")
    try:
        hc = stack.container("haproxy", docker_client).attrs["HostConfig"]
        assert hc["CapDrop"] == ["ALL"] and not hc["CapAdd"] and hc["ReadonlyRootfs"], hc
        assert "no-new-privileges:true" in hc["SecurityOpt"]
        for n in (3, 1):
            stack.compose("up", "-d", "--scale", f"web={n}", "--no-recreate", "web")
            want = web_hostnames(stack)
            assert len(want) == n

            def follows(want: set[str] = want, n: int = n) -> bool:
                seen = served_by(stack.haproxy_port, 4 * n + 4)
                return set(seen) == want

            engines.wait_until(follows, 30, f"HAProxy serving exactly the {n} web instance(s)", interval=0.5)
    finally:
        stack.compose("--profile", "haproxy", "rm", "-s", "-f", "haproxy")
