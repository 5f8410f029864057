"""registrator's Consul KV backend (consulkv://) against real dockerd + real Consul: gliderlabs' layout
`<prefix>/<service-name>/<service-id> = <ip>:<port>`, written on start, deleted when the container dies."""

from __future__ import annotations

import uuid

import pytest

from testbed import engines
from tests.support.regharness import kv_entries, kv_token, owned, wait_started

pytestmark = pytest.mark.engines


def test_a_published_port_becomes_a_kv_entry_deleted_on_stop_and_on_removal(registrator, docker_client, web_image,
                                                                           consul_agent):
    prefix = f"kvtest-{uuid.uuid4().hex[:6]}/services"
    r = registrator(uri=f"consulkv://{consul_agent.http_addr}/{prefix}", token=kv_token(consul_agent, prefix))
    wait_started(r)
    started = []
    for name in ("shop", "cart"):
        c = docker_client.containers.run(
            web_image, name=f"kv-{name}-{uuid.uuid4().hex[:6]}", labels={"portside-test": "1", "SERVICE_NAME": name},
            ports={"80/tcp": ("127.0.0.1", None)}, detach=True)
        c.reload()
        started.append((c, f"{prefix}/{name}/{r.node}:{c.name}:80", f"127.0.0.1:{c.ports['80/tcp'][0]['HostPort']}"))
    want = {key: value for _, key, value in started}

    def mine() -> dict[str, str]:  # the engine is shared: other tests' containers get entries under the prefix too
        return {k: v for k, v in kv_entries(consul_agent, prefix).items() if k in want}

    try:
        engines.wait_until(lambda: mine() == want, 15, "both KV entries written")
        assert owned(consul_agent, r.node) == {}, "the KV backend registers no catalog service"
        assert set(kv_entries(consul_agent, prefix)) >= set(want)
        (shop, shop_key, _), (cart, cart_key, _) = started
        shop.stop(timeout=5)
        engines.wait_until(lambda: shop_key not in mine(), 15, "entry deleted on stop")
        assert cart_key in mine()
        cart.remove(force=True)
        engines.wait_until(lambda: mine() == {}, 15, "entry deleted on removal")
        assert r.alive(), r.output()
    finally:
        consul_agent.api(f"/v1/kv/{prefix.split('/')[0]}?recurse=true", "DELETE")
