"""Docker inspect JSON builders for the registrator model tests."""

from __future__ import annotations

import copy
from typing import Any


def make_container(
    *, name: str = "web1", image: str = "registry.example/team/nginx:1.25", env: list[str] | None = None,
    labels: dict[str, str] | None = None, exposed: list[str] | None = None,
    published: dict[str, list[dict[str, str]]] | None = None, networks: dict[str, dict[str, str]] | None = None,
    network_mode: str = "bridge", healthcheck: list[str] | None = None, health_status: str | None = None,
) -> dict[str, Any]:
    exposed = ["80/tcp"] if exposed is None else exposed
    published = {"80/tcp": [{"HostIp": "0.0.0.0", "HostPort": "32768"}, {"HostIp": "::", "HostPort": "32768"}]} \
        if published is None else published
    networks = {"bridge": {"IPAddress": "198.18.0.5", "GlobalIPv6Address": ""}} if networks is None else networks
    c: dict[str, Any] = {
        "Id": "c0ffee" + "0" * 58,
        "Name": f"/{name}",
        "Config": {"Image": image, "Env": env, "Labels": labels, "ExposedPorts": {p: {} for p in exposed} or None,
                   "Hostname": "c0ffee000000"},
        "HostConfig": {"NetworkMode": network_mode},
        "NetworkSettings": {"Ports": {**{p: None for p in exposed}, **published}, "Networks": networks},
        "State": {"Running": True, "Status": "running"},
    }
    if healthcheck:
        c["Config"]["Healthcheck"] = {"Test": healthcheck}
        c["State"]["Health"] = {"Status": health_status or "starting"}
    return copy.deepcopy(c)
