"""Attack: with the Consul KV backend, a container's SERVICE_NAME / SERVICE_ID become KV key segments. A name or
ID like `../x`, `a/b` or `.` must never write outside `<prefix>/<name>/`: each is refused with a logged reason,
nothing is sent for it, and the other containers are written as usual. A SERVICE_ID naming an entry someone else
wrote does not replace it."""

from __future__ import annotations

import uuid

import pytest

from testbed import engines
from tests.support.regharness import kv_entries, kv_token, lines_naming, wait_started

pytestmark = pytest.mark.engines

HOSTILE = [
    {"SERVICE_NAME": "../x"},
    {"SERVICE_NAME": "a/b"},
    {"SERVICE_NAME": "."},  # a name the catalog takes, but `.` is no key segment
    {"SERVICE_NAME": "web", "SERVICE_ID": "../x"},
    {"SERVICE_NAME": "web", "SERVICE_ID": "a/b"},
    {"SERVICE_NAME": "web", "SERVICE_ID": "."},
    {"SERVICE_NAME": "web", "SERVICE_ID": "other-host:db:80"},  # an entry another node wrote: not replaced
]


def test_hostile_names_and_ids_never_write_outside_the_prefix(registrator, docker_client, web_image, consul_agent):
    prefix = f"kvsec-{uuid.uuid4().hex[:6]}/services"
    theirs = f"{prefix}/web/other-host:db:80"
    consul_agent.api(f"/v1/kv/{theirs}", "PUT", b"198.18.0.9:80")
    before = kv_entries(consul_agent)
    r = registrator(uri=f"consulkv://{consul_agent.http_addr}/{prefix}", token=kv_token(consul_agent, prefix))
    wait_started(r)
    try:
        names = []
        for labels in HOSTILE:
            c = docker_client.containers.run(web_image, name=f"kvsec-{uuid.uuid4().hex[:6]}",
                                             labels={"portside-test": "1", **labels},
                                             ports={"80/tcp": ("127.0.0.1", None)}, detach=True)
            names.append(c.name)
        good = docker_client.containers.run(web_image, name=f"kvsec-ok-{uuid.uuid4().hex[:6]}",
                                            labels={"portside-test": "1", "SERVICE_NAME": "ok"},
                                            ports={"80/tcp": ("127.0.0.1", None)}, detach=True)
        good_key = f"{prefix}/ok/{r.node}:{good.name}:80"
        engines.wait_until(lambda: good_key in kv_entries(consul_agent, prefix), 15, "the good container's entry")
        # each hostile container is refused by name, with its reason, in the log
        engines.wait_until(lambda: all(lines_naming(r, f"container {n}:") for n in names), 15, "every refusal logged")
        for n in names:
            why = ("refused", "must not", "this node did not write")
            assert any(w in ln for ln in lines_naming(r, f"container {n}:") for w in why), r.output()
        new = set(kv_entries(consul_agent)) - set(before)
        assert good_key in new
        # the engine is shared: other tests' containers get entries too, but every entry is <prefix>/<name>/<id>
        outside = [k for k in new if not k.startswith(f"{prefix}/") or len(k[len(prefix) + 1:].split("/")) != 2]
        assert outside == [], f"written outside <prefix>/<name>/<id>: {outside}"
        parts = [k[len(prefix) + 1:].split("/") for k in new]
        assert kv_entries(consul_agent, prefix)[theirs] == "198.18.0.9:80"
        assert not [p for p in parts if {".", "..", ""} & set(p) or p[0] in ("web", "a", "x")], parts
        assert r.alive(), r.output()
    finally:
        consul_agent.api(f"/v1/kv/{prefix.split('/')[0]}?recurse=true", "DELETE")
