"""Real stub resolvers as clients: glibc's and musl's getaddrinfo, in containers whose /etc/resolv.conf names
dns-balancer. resolv.conf cannot name a port, so this daemon answers on port 53 of a loopback address of its
own and the containers use the host's network. The probe (tests/support/getaddrinfo_probe.c) is built with gcc
for glibc (run in the project's debootstrap image) and with musl-gcc -static for musl (Debian's busybox-static
is linked against glibc, so the busybox image alone would not show musl; the static probe runs in it)."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from testbed import engines
from tests.support.dnsb_harness import Daemon, deregister, register, unique, wait_for

pytestmark = pytest.mark.engines

ROOT = Path(__file__).resolve().parents[3]
PROBE = ROOT / "tests" / "support" / "getaddrinfo_probe.c"
ADDRESSES = ["127.0.8.1", "127.0.8.2", "127.0.8.3"]


@pytest.fixture(scope="module")
def port53(consul_agent: engines.ConsulAgent, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Daemon]:
    host = f"127.53.{os.getpid() % 250 + 1}.{os.getpid() // 250 % 250 + 1}"  # ours alone, port 53 is free
    d = Daemon(consul_agent, "--ttl", "0", host=host, port=53).start()
    yield d
    d.stop()


@pytest.fixture(scope="module")
def probes(tmp_path_factory: pytest.TempPathFactory, port53: Daemon) -> dict[str, Path]:
    out = tmp_path_factory.mktemp("probes")
    (out / "resolv.conf").write_text(f"nameserver {port53.host}\noptions timeout:2 attempts:2\n")
    subprocess.run(["gcc", "-O2", "-o", str(out / "glibc"), str(PROBE)], check=True)
    subprocess.run(["musl-gcc", "-static", "-O2", "-o", str(out / "musl"), str(PROBE)], check=True)
    return {"glibc": out / "glibc", "musl": out / "musl", "resolv.conf": out / "resolv.conf"}


@pytest.fixture(scope="module")
def base_image(dockerd: engines.Dockerd) -> str:
    out = subprocess.run(["bash", str(ROOT / "scripts" / "base-image.sh")], env={**os.environ, **dockerd.env},
                         check=True, capture_output=True, text=True)
    return out.stdout.strip().splitlines()[-1]


@pytest.fixture(scope="module")
def service(consul_agent: engines.ConsulAgent, port53: Daemon) -> Iterator[str]:
    name = unique("libc")
    for i, address in enumerate(ADDRESSES):
        register(consul_agent, name, f"{name}-{i}", address, 8000 + i)
    wait_for(lambda: len(port53.addresses(f"{name}.service.consul")) == 3, 10, "registered")
    yield name
    deregister(consul_agent, *(f"{name}-{i}" for i in range(3)))


def run_probe(docker_client, image: str, probes: dict[str, Path], libc: str, name: str, count: int) -> list[str]:
    out = docker_client.containers.run(
        image, ["/probe", name, str(count)], network_mode="host", remove=True, entrypoint=[],
        volumes={str(probes[libc]): {"bind": "/probe", "mode": "ro"},
                 str(probes["resolv.conf"]): {"bind": "/etc/resolv.conf", "mode": "ro"}},
    )
    return out.decode().splitlines()


@pytest.mark.parametrize("libc", ["glibc", "musl"])
def test_getaddrinfo_rotates_and_gets_nxdomain(libc, docker_client, base_image, web_image, probes, service):
    image = base_image if libc == "glibc" else web_image
    lines = run_probe(docker_client, image, probes, libc, f"{service}.service.consul", 9)
    assert len(lines) == 9, lines
    answers = [line.split() for line in lines]
    assert all(sorted(a) == ADDRESSES for a in answers), lines  # every call: all three, nothing else
    firsts = [a[0] for a in answers]
    assert set(firsts) == set(ADDRESSES), f"{libc} always put the same address first: {lines}"
    assert all(a != b for a, b in zip(firsts, firsts[1:], strict=False)), lines  # moves on at every call
    missing = run_probe(docker_client, image, probes, libc, "nothing-here.service.consul", 1)
    assert len(missing) == 1 and missing[0].startswith("ERR "), missing
