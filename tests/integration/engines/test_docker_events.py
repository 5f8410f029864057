"""The test dockerd is real: a container started through it arrives as a `start` event via aiodocker."""

import asyncio
import uuid

import aiodocker
import pytest

pytestmark = pytest.mark.engines


async def test_container_start_arrives_as_event(dockerd, docker_client, web_image):
    name = f"ps-smoke-{uuid.uuid4().hex[:8]}"
    async with aiodocker.Docker(url=dockerd.host) as docker:
        sub = docker.events.subscribe(filters={"type": ["container"], "event": ["start"]})
        try:
            await asyncio.sleep(0.2)  # let the subscription reach the engine
            container = await asyncio.to_thread(docker_client.containers.run, web_image, name=name, detach=True)
            try:
                async with asyncio.timeout(20):
                    while True:
                        ev = await sub.get()
                        assert ev is not None, "event stream ended"
                        if ev["Actor"]["Attributes"].get("name") == name:
                            break
                assert ev["Action"] == "start"
                assert ev["id"] == container.id
                info = await docker.containers.get(container.id)
                assert info["State"]["Running"] is True
                assert info["NetworkSettings"]["IPAddress"].startswith("198.18.")
            finally:
                await asyncio.to_thread(container.remove, force=True)
        finally:
            await docker.events.stop()


async def test_web_image_health_can_be_driven_both_ways(dockerd, docker_client, web_image):
    container = await asyncio.to_thread(docker_client.containers.run, web_image, detach=True)
    try:
        def get(path):
            return container.exec_run(["wget", "-q", "-O", "-", f"http://127.0.0.1:80{path}"])

        async with asyncio.timeout(10):
            while get("/health").exit_code != 0:
                await asyncio.sleep(0.1)
        assert get("/").output.decode().strip() == container.attrs["Config"]["Hostname"]
        container.exec_run(["rm", "/www/health"])
        assert get("/health").exit_code != 0
        container.exec_run(["touch", "/www/health"])
        assert get("/health").exit_code == 0
    finally:
        await asyncio.to_thread(container.remove, force=True)
