"""nginx as a client: the `resolver` directive with a variable `proxy_pass`, so nginx asks dns-balancer at run
time (cached `valid=1s`) instead of at start-up; requests follow the DNS answer as instances come and go."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest

from testbed import engines
from tests.support.dnsb_fleet import Fleet, answered_by
from tests.support.dnsb_harness import Daemon, wait_for

pytestmark = pytest.mark.engines

NGINX_VALID_AT_MOST = 2.0  # seconds a `valid=1s` answer can be used: nginx compares whole seconds

SERVER = """\
server {{
    listen 127.0.0.1:{port};
    resolver 127.0.0.1:{dns_port} valid=1s ipv6=off;
    resolver_timeout 2s;
    location / {{
        set $backend {name}.service.consul;
        proxy_pass http://$backend:80;
        proxy_next_upstream off;
    }}
}}
"""


@pytest.fixture
def proxied(dns_daemon: Daemon, fleet: Fleet) -> Iterator[str]:
    nginx = engines.Nginx().start()
    try:
        port = engines.free_port()
        (nginx.conf_d / "dnsb.conf").write_text(SERVER.format(port=port, dns_port=dns_daemon.port, name=fleet.name))
        checked = nginx.test_config()
        assert checked.returncode == 0, checked.stderr
        nginx.reload()
        yield f"http://127.0.0.1:{port}/"
    finally:
        nginx.stop()


def test_nginx_requests_follow_the_dns_answer(fleet, proxied, dns_daemon):
    def follows(want: set[str]) -> bool:
        return answered_by(proxied, 8 * len(want)) == want

    def dns_has(n: int) -> bool:
        ips = sorted(c.attrs["NetworkSettings"]["IPAddress"] for c, _ in fleet.members)
        return len(ips) == n and sorted(dns_daemon.addresses(f"{fleet.name}.service.consul")) == ips

    want = fleet.scale(1)
    wait_for(lambda: follows(want), 20, "nginx serving 1 instance")
    want = fleet.scale(3)
    wait_for(lambda: follows(want), 20, "nginx spreading over 3 instances")
    want = fleet.scale(2)
    # nginx sends a variable proxy_pass's requests to few of a cached answer's addresses, so two answers that
    # both still hold the deregistered instance can show exactly the two wanted ones: first DNS must have
    # dropped it, then nginx's cached answer must have expired. valid=1s is counted on nginx's whole-second
    # clock (an answer cached at second T is used while the clock reads T or T+1), so an answer taken just
    # before DNS dropped the instance can live almost 2 s: 1.5 s was not enough
    wait_for(lambda: dns_has(2), 20, "DNS dropping the deregistered instance")
    time.sleep(NGINX_VALID_AT_MOST + 0.3)
    wait_for(lambda: follows(want), 20, "nginx dropping the deregistered instance")
    got = answered_by(proxied, 12)
    # the deregistered one (still running) gets nothing more
    assert got <= want, f"answered by {sorted(got)}, want {sorted(want)}\n{dns_daemon.explain(fleet.name)}"
