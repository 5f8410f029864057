"""Pure: a service's SERVICE_CHECK_* metadata -> Consul check definitions (several per service).

Keys arrive lower-cased without the SERVICE_ prefix (`check_http`, `check_interval`, ...)."""

from __future__ import annotations

import shlex
from collections.abc import Mapping
from typing import Any

from portside.watchrules import parse_duration

STATUSES = ("passing", "warning", "critical")
KINDS = ("http", "https", "tcp", "grpc", "script", "docker", "ttl")


class CheckError(ValueError):
    """A check value is malformed; `key` names the metadata key."""

    def __init__(self, key: str, value: str, reason: str) -> None:
        super().__init__(f"SERVICE_{key.upper()}={value!r}: {reason}")
        self.key = key
        self.value = value


def _duration(meta: Mapping[str, str], key: str) -> str | None:
    value = meta.get(key)
    if value is None or value == "":
        return None
    try:
        parse_duration(value)
    except ValueError as exc:
        raise CheckError(key, value, "not a duration (use forms like 10s, 1m30s, 250ms)") from exc
    return value


def _substitute(value: str, ip: str, port: int) -> str:
    text = value.replace("${SERVICE_IP}", ip).replace("$SERVICE_IP", ip)
    return text.replace("${SERVICE_PORT}", str(port)).replace("$SERVICE_PORT", str(port))


def _args(key: str, value: str, ip: str, port: int) -> list[str]:
    text = _substitute(value, ip, port)
    try:
        args = shlex.split(text)
    except ValueError as exc:
        raise CheckError(key, value, f"cannot split into arguments: {exc}") from exc
    if not args:
        raise CheckError(key, value, "empty command")
    return args


def _hostport(ip: str, port: int) -> str:
    return f"[{ip}]:{port}" if ":" in ip else f"{ip}:{port}"


def build_checks(
    meta: Mapping[str, str], *, service_id: str, ip: str, port: int, container_id: str
) -> list[dict[str, Any]]:
    """All checks the metadata asks for, in a fixed order. Raises CheckError on the first bad value."""
    common: dict[str, Any] = {}
    interval = _duration(meta, "check_interval") or "10s"
    timeout = _duration(meta, "check_timeout")
    if timeout:
        common["Timeout"] = timeout
    dereg = _duration(meta, "check_deregister_after")
    if dereg:
        common["DeregisterCriticalServiceAfter"] = dereg
    status = meta.get("check_initial_status")
    if status:
        if status not in STATUSES:
            raise CheckError("check_initial_status", status, f"must be one of {', '.join(STATUSES)}")
        common["Status"] = status

    checks: list[dict[str, Any]] = []

    def add(kind: str, body: dict[str, Any], periodic: bool = True) -> None:
        check = {"CheckID": f"{service_id}:{kind}", "Name": f"{kind} check", **body, **common}
        if periodic:
            check["Interval"] = interval
        checks.append(check)

    for scheme in ("http", "https"):
        path = meta.get(f"check_{scheme}")
        if path:
            if not path.startswith("/"):
                raise CheckError(f"check_{scheme}", path, "must be a path starting with /")
            if any(c.isspace() for c in path):
                raise CheckError(f"check_{scheme}", path, "path must not contain white space")
            body: dict[str, Any] = {"HTTP": f"{scheme}://{_hostport(ip, port)}{path}"}
            method = meta.get(f"check_{scheme}_method") or meta.get("check_http_method")
            if method:
                if not method.isalpha():
                    raise CheckError(f"check_{scheme}_method", method, "not an HTTP method")
                body["Method"] = method.upper()
            if scheme == "https" and meta.get("check_tls_skip_verify", "").lower() in ("1", "true"):
                body["TLSSkipVerify"] = True
            add(scheme, body)
    tcp = meta.get("check_tcp")
    if tcp:
        if tcp.lower() != "true":
            raise CheckError("check_tcp", tcp, "must be true")
        add("tcp", {"TCP": _hostport(ip, port)})
    grpc = meta.get("check_grpc")
    if grpc:
        target = _hostport(ip, port) if grpc.lower() == "true" else f"{_hostport(ip, port)}/{grpc}"
        body = {"GRPC": target}
        if meta.get("check_grpc_use_tls", "").lower() in ("1", "true"):
            body["GRPCUseTLS"] = True
        add("grpc", body)
    script = meta.get("check_script")
    if script:
        add("script", {"Args": _args("check_script", script, ip, port)})
    docker = meta.get("check_docker")
    if docker:
        # run inside the container through its shell, so `test -f x || exit 2` works as written
        shell = meta.get("check_docker_shell") or "/bin/sh"
        command = _substitute(docker, ip, port).strip()
        if not command:
            raise CheckError("check_docker", docker, "empty command")
        add("docker", {"DockerContainerID": container_id, "Shell": shell, "Args": [shell, "-c", command]})
    ttl = _duration(meta, "check_ttl")
    if ttl:
        add("ttl", {"TTL": ttl}, periodic=False)
    return checks


def docker_health_check(service_id: str, docker_status: str | None, starting: str) -> dict[str, Any]:
    """A TTL check mirroring the container's Docker HEALTHCHECK; its status is pushed on health_status
    events (TTL long, so it never expires on its own between Docker's reports)."""
    return {
        "CheckID": f"{service_id}:docker-health",
        "Name": "docker HEALTHCHECK",
        "TTL": "87600h",
        "Status": docker_status_to_consul(docker_status, starting),
    }


def docker_status_to_consul(docker_status: str | None, starting: str) -> str:
    return {"healthy": "passing", "unhealthy": "critical"}.get(docker_status or "starting", starting)
