"""Asked services are followed with a blocking query each (one round trip from a change to the answer), the most
asked first, never more than --follow-asked; with 0, none."""

from __future__ import annotations

import pytest

from tests.support.dnsb_harness import Daemon, unique, wait_for

pytestmark = pytest.mark.engines

FOLLOWED = "dns_balancer_followed_services"
ANSWERS = 'dns_balancer_feed_total{what="followed_answers"}'


def followed(d: Daemon) -> str:
    """The services the daemon's last review chose (its debug log)."""
    said = [line for line in d.log.read_text(errors="replace").splitlines() if "asked service(s):" in line]
    return said[-1].rpartition(":")[2] if said else ""


def test_the_most_asked_services_are_followed_within_the_limit(consul_agent, services) -> None:
    names = [unique("fw") for _ in range(4)]
    sids = {n: [services(n, i, f"127.0.0.{i + 2}", ttl_check="passing") for i in range(2)] for n in names}
    d = Daemon(consul_agent, "--follow-asked", "2", "--ttl", "0", "--log-level", "debug")
    try:
        d.start()
        for name in names:
            wait_for(lambda name=name: len(d.addresses(f"{name}.service.consul")) == 2, 10, f"{name} in DNS")
        wait_for(lambda: d.metrics().get(FOLLOWED, 0) == 2, 10, "two services followed")
        # a client asking one name much more than the others moves it in, the count stays
        for _ in range(3):
            for _ in range(40):
                d.addresses(f"{names[3]}.service.consul")
        wait_for(lambda: names[3] in followed(d), 10, f"{names[3]} followed")
        assert d.metrics()[FOLLOWED] == 2
        before = d.metrics().get(ANSWERS, 0)
        consul_agent.api(f"/v1/agent/check/fail/{sids[names[3]][0]}-ttl", "PUT")
        wait_for(lambda: "127.0.0.2" not in d.addresses(f"{names[3]}.service.consul"), 3, "drop")
        consul_agent.api(f"/v1/agent/check/pass/{sids[names[3]][0]}-ttl", "PUT")
        wait_for(lambda: "127.0.0.2" in d.addresses(f"{names[3]}.service.consul"), 3, "back")
        assert d.metrics().get(ANSWERS, 0) >= before + 2  # both came through its own query
        assert d.metrics()[FOLLOWED] == 2
    finally:
        d.stop()


def test_none_are_followed_with_zero(consul_agent, services) -> None:
    name = unique("nf")
    services(name, 0, "127.0.0.2", ttl_check="passing")
    d = Daemon(consul_agent, "--follow-asked", "0")
    try:
        d.start()
        wait_for(lambda: d.addresses(f"{name}.service.consul") == ["127.0.0.2"], 10, f"{name} in DNS")
        wait_for(lambda: d.metrics().get(FOLLOWED, -1) == 0, 3, "the gauge")
        for _ in range(50):
            d.addresses(f"{name}.service.consul")
        with pytest.raises(TimeoutError):
            wait_for(lambda: d.metrics().get(FOLLOWED, 0) > 0, 2.5, "something followed")
    finally:
        d.stop()
