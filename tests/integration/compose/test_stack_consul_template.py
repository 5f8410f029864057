"""The stack's consul-templates runs a consul-template configuration unchanged (compose/templates/consul-template.hcl
and its Go template web-upstream.ctmpl): the file it renders for nginx is byte for byte the one the real
consul-template renders from the same two files against the same Consul. And env mode: the greeter app's
setting comes from a KV key, and changing the key in Consul changes what the app answers."""

from __future__ import annotations

import os
import subprocess
import time
import urllib.request
import uuid
from pathlib import Path

import pytest

from testbed import engines
from tests.support.compose_stack import Stack, served_by
from tests.support.ct_differential import consul_template_binary

pytestmark = pytest.mark.engines
TEMPLATES = Path(__file__).resolve().parents[3] / "compose" / "templates"


def live_upstream(stack: Stack, docker_client) -> bytes:
    c = stack.container("nginx", docker_client)
    return c.exec_run(["cat", "/etc/portside/conf.d/web.conf"]).output


def test_the_unchanged_consul_template_config_renders_what_consul_template_renders(stack: Stack, docker_client,
                                                                                   tmp_path: Path):
    command = stack.container("templates", docker_client).attrs["Config"]["Cmd"]
    assert command[-2:] == ["-config", "/etc/portside/templates/consul-template.hcl"]
    stack.compose("up", "-d", "--scale", "web=3", "--no-recreate")
    engines.wait_until(lambda: len([k for k in served_by(stack.web_port) if k != "(failed)"]) == 3, 20,
                       "nginx routes to 3 instances")
    ours = live_upstream(stack, docker_client)
    assert ours.count(b"    server ") == 3, ours
    token = stack.acl_state(docker_client)["consul-templates.secret"]
    out = tmp_path / "web.conf"
    env = {"PATH": os.environ.get("PATH", ""), "HOME": str(tmp_path), "CONSUL_HTTP_TOKEN": token,
           "PORTSIDE_SERVICE": "web", "PORTSIDE_LISTEN": "0.0.0.0:8080"}
    subprocess.run([consul_template_binary(), "-once", "-consul-addr", f"127.0.0.1:{stack.consul_port}",
                    "-template", f"{TEMPLATES / 'web-upstream.ctmpl'}:{out}"], env=env, check=True,
                   capture_output=True, timeout=60)
    theirs = out.read_bytes()
    # the stack could have moved between the two reads: read ours again when they differ
    if theirs != ours:
        time.sleep(1)
        ours = live_upstream(stack, docker_client)
    assert theirs == ours


def greeting(stack: Stack) -> str:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{stack.greeter_port}/", timeout=2) as resp:
            return resp.read().decode()
    except OSError as exc:
        return f"(failed: {exc})"


def test_env_mode_app_follows_its_kv_setting(stack: Stack, docker_client):
    engines.wait_until(lambda: not greeting(stack).startswith("(failed"), 60, "the greeter answers")
    mgmt = stack.acl_state(docker_client)["management.secret"]
    words = f"hello {uuid.uuid4().hex[:8]}"
    req = urllib.request.Request(f"http://127.0.0.1:{stack.consul_port}/v1/kv/portside/greeter/greeting",
                                 data=words.encode(), method="PUT", headers={"X-Consul-Token": mgmt})
    with urllib.request.urlopen(req, timeout=10) as resp:
        assert resp.read().strip() == b"true"
    t0 = time.monotonic()
    engines.wait_until(lambda: greeting(stack) == words + "\n", 30, "the greeter answers the new setting")
    print(f"the app answered the new setting {time.monotonic() - t0:.2f}s after the KV write")
    # the greeter's token reads its own prefix and nothing else
    secret = stack.acl_state(docker_client)["greeter.secret"]
    assert stack.api("/v1/kv/portside/greeter/greeting", token=secret)[0] == 200
    assert stack.api("/v1/kv/portside/demo", token=secret)[0] == 403
    assert stack.api("/v1/catalog/services", token=secret)[1] in ({}, [])
