"""Attack: a container asking for more than Consul (or this host) should carry: ports, tags, Meta pairs, checks,
long values. Over a cap none of that container's services is registered, the reason is logged once naming
container and key, and nothing is re-sent in a loop; at the cap, the real agent takes it (so no cap sits below
what Consul accepts). And a registration Consul refuses for good (400) is retried with a growing delay and
reported once, not every poll and not as "lost"."""

from __future__ import annotations

import time
import uuid

import pytest

from registrator.config import MAX_META_PAIRS, MAX_META_VALUE, MAX_VALUE
from testbed import engines
from tests.support.regharness import lines_naming, metrics, owned, wait_started

pytestmark = pytest.mark.engines
CAPS = ("--max-ports", "3", "--max-tags", "4", "--max-checks", "3")


def run(docker_client, image, labels: dict[str, str], ports: int = 1):
    published = {f"{80 + i}/tcp": ("127.0.0.1", None) for i in range(ports)}
    return docker_client.containers.run(image, name=f"cap-{uuid.uuid4().hex[:8]}", detach=True, ports=published,
                                        labels={"portside-test": "1", "SERVICE_NAME": "capped", **labels})


def test_each_cap_at_and_over(registrator, docker_client, web_image, consul_agent):
    port = engines.free_port()
    r = registrator(*CAPS, "--http-addr", f"127.0.0.1:{port}")
    wait_started(r)
    user_meta = MAX_META_PAIRS - 2  # ours: portside-node, portside-container
    meta = {f"SERVICE_K{i}": "v" for i in range(user_meta)}
    checks = {"SERVICE_CHECK_TCP": "true", "SERVICE_CHECK_TTL": "30s"}
    at_cap = {  # container -> services it must have
        run(docker_client, web_image, {}, ports=3): 3,
        run(docker_client, web_image, {"SERVICE_TAGS": "a,b,c,d"}): 1,
        run(docker_client, web_image, meta): 1,
        run(docker_client, web_image, checks): 1,
        run(docker_client, web_image, {"SERVICE_TAGS": "t" * MAX_VALUE, "SERVICE_NOTE": "n" * MAX_META_VALUE}): 1,
    }
    over = {  # container -> the key its log line names
        run(docker_client, web_image, {}, ports=4): "ports",
        run(docker_client, web_image, {"SERVICE_TAGS": "a,b,c,d,e"}): "SERVICE_TAGS",
        run(docker_client, web_image, {**meta, "SERVICE_ONE_MORE": "v"}): "SERVICE_* meta",
        run(docker_client, web_image, checks, ports=2): "SERVICE_CHECK_*",
        run(docker_client, web_image, {"SERVICE_TAGS": "t" * (MAX_VALUE + 1)}): "SERVICE_TAGS",
        run(docker_client, web_image, {"SERVICE_NOTE": "n" * (MAX_META_VALUE + 1)}): "SERVICE_NOTE",
    }

    def registered(c) -> int:
        return sum(1 for s in owned(consul_agent, r.node).values() if s["Meta"]["portside-container"] == c.id)

    engines.wait_until(lambda: all(registered(c) == n for c, n in at_cap.items()), 20, "the ones at the caps")
    services = owned(consul_agent, r.node).values()
    assert max(len(s["Meta"]) for s in services) == MAX_META_PAIRS  # what Consul takes, exactly
    for c, key in over.items():
        engines.wait_until(lambda c=c, key=key: lines_naming(r, c.name, key), 10, f"{c.name}: {key} logged")
    time.sleep(2 * 2.0 + 0.5)  # two agent polls: a skipped container is not retried in a loop
    for c, key in over.items():
        assert registered(c) == 0, c.name
        assert len(lines_naming(r, c.name, key)) == 1, lines_naming(r, c.name, key)
    assert "lost" not in r.output() and r.alive()
    assert metrics(port)['registrator_skipped_services_total{reason="limit"}'] >= 4


def test_a_registration_refused_for_good_is_retried_with_backoff_and_reported_once(
        registrator, docker_client, web_image, consul_agent):
    # Consul: 400 Invalid service address; debug lines show each attempt after the first
    r = registrator("-ip", "0.0.0.0", "--log-level", "debug")
    wait_started(r)
    c = run(docker_client, web_image, {})
    sid = f"{r.node}:{c.name}:80"
    engines.wait_until(lambda: lines_naming(r, sid, "failed", "Invalid service address"), 10, "the refusal reported")
    t0 = time.monotonic()
    time.sleep(9.0)  # four agent polls: re-sent at each, that would be 5 attempts; with backoff (2 s, 4 s, ...) <= 3
    attempts = len(lines_naming(r, f"register {sid} ("))
    assert 2 <= attempts <= 3, f"{attempts} attempts in {time.monotonic() - t0:.1f} s"
    assert len(lines_naming(r, sid, "failed", "Invalid service address")) == 1
    assert not lines_naming(r, "lost") and r.alive()
