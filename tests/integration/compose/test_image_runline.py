"""gliderlabs/registrator's README run line, unchanged, with our image: the Docker socket mounted at /tmp/docker.sock,
no flags but the Consul URI, no --group-add or -u. The entrypoint runs registrator, which reads the root-owned
socket and runs as the image's unprivileged user."""

from __future__ import annotations

import contextlib
import uuid

import docker.errors
import pytest

from testbed import engines
from tests.support.compose_stack import Stack

pytestmark = pytest.mark.engines


def test_the_gliderlabs_run_line_registers_a_published_port(stack: Stack, consul_agent: engines.ConsulAgent,
                                                            dockerd: engines.Dockerd, docker_client, web_image: str):
    name = f"runline-{uuid.uuid4().hex[:6]}"
    sock = dockerd.host.removeprefix("unix://")
    started = []
    try:
        # docker run -d --net=host -v /var/run/docker.sock:/tmp/docker.sock <image> consul://localhost:8500
        reg = docker_client.containers.run(stack.env["PORTSIDE_IMAGE"], [f"consul://{consul_agent.http_addr}"],
                                           volumes={sock: {"bind": "/tmp/docker.sock", "mode": "rw"}},
                                           network_mode="host", detach=True, name=f"{name}-registrator")
        started.append(reg)
        web = docker_client.containers.run(web_image, detach=True, name=name, labels={"SERVICE_NAME": name},
                                           ports={"80/tcp": ("127.0.0.1", None)})
        started.append(web)
        web.reload()
        port = int(web.attrs["NetworkSettings"]["Ports"]["80/tcp"][0]["HostPort"])

        def registered() -> list:
            return [s for s in consul_agent.api(f"/v1/catalog/service/{name}") or [] if s["ServicePort"] == port]

        engines.wait_until(registered, 30, f"{name} registered by the image's registrator",)
        assert reg.exec_run(["cat", "/proc/1/status"]).output.decode().count("\t10001\t") >= 2  # Uid and Gid lines
        assert "registrator" in reg.exec_run(["cat", "/proc/1/cmdline"]).output.decode()
    finally:
        for c in reversed(started):  # the web container first: its service leaves with it
            with contextlib.suppress(docker.errors.APIError):
                c.remove(force=True)
        for svc in consul_agent.api(f"/v1/catalog/service/{name}") or []:  # what the registrator had no time for
            consul_agent.api(f"/v1/agent/service/deregister/{svc['ServiceID']}", "PUT")
