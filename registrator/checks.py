"""Pure: a service's SERVICE_CHECK_* metadata -> Consul check definitions (several per service).

Keys arrive lower-cased without the SERVICE_ prefix (`check_http`, `check_interval`, ...).

Script and docker-exec checks run commands: a script check on the Consul agent's host, a docker check inside
the container through the agent's Docker access. Any container may set the label, so both are refused unless
the operator opted in (`--allow-script-checks`); a refused one is reported and the service registered
without it."""

from __future__ import annotations

import shlex
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from portside.watchrules import parse_duration

STATUSES = ("passing", "warning", "critical")
COMMAND_CHECKS = ("check_script", "check_docker")


class CheckError(ValueError):
    """A check value is malformed; `key` names the metadata key."""

    def __init__(self, key: str, value: str, reason: str) -> None:
        super().__init__(f"SERVICE_{key.upper()}={value!r}: {reason}")
        self.key = key
        self.value = value
        self.reason = reason


@dataclass(frozen=True)
class Target:
    """Where the checks of one service look: the registered address and port, and the container."""

    service_id: str
    service_name: str
    ip: str
    port: int
    container_id: str


@dataclass(frozen=True)
class Built:
    checks: tuple[dict[str, Any], ...] = ()
    refused: tuple[str, ...] = field(default=())  # command-check keys left out (no opt-in)


def _duration(meta: Mapping[str, str], key: str, *, positive: bool = False) -> str | None:
    value = meta.get(key)
    if value is None or value == "":
        return None
    try:
        seconds = parse_duration(value)
    except ValueError as exc:
        raise CheckError(key, value, "not a duration (use forms like 10s, 1m30s, 250ms)") from exc
    if positive and seconds <= 0:
        raise CheckError(key, value, "must be longer than 0 (Consul refuses the service otherwise)")
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


def hostport(ip: str, port: int) -> str:
    return f"[{ip}]:{port}" if ":" in ip else f"{ip}:{port}"


def _common(meta: Mapping[str, str]) -> dict[str, Any]:
    """Settings every check of the service shares (Timeout is added per kind: a TTL check has none)."""
    common: dict[str, Any] = {}
    dereg = _duration(meta, "check_deregister_after")
    if dereg:
        common["DeregisterCriticalServiceAfter"] = dereg
    status = meta.get("check_initial_status")
    if status:
        if status not in STATUSES:
            raise CheckError("check_initial_status", status, f"must be one of {', '.join(STATUSES)}")
        common["Status"] = status
    return common


def _http(meta: Mapping[str, str], scheme: str, t: Target) -> dict[str, Any] | None:
    path = meta.get(f"check_{scheme}")
    if not path:
        return None
    if not path.startswith("/"):
        raise CheckError(f"check_{scheme}", path, "must be a path starting with /")
    if any(c.isspace() for c in path):
        raise CheckError(f"check_{scheme}", path, "path must not contain white space")
    body: dict[str, Any] = {"HTTP": f"{scheme}://{hostport(t.ip, t.port)}{path}"}
    method = meta.get(f"check_{scheme}_method") or meta.get("check_http_method")
    if method:
        if not method.isalpha():
            raise CheckError(f"check_{scheme}_method", method, "not an HTTP method")
        body["Method"] = method.upper()
    if scheme == "https" and meta.get("check_tls_skip_verify", "").lower() in ("1", "true"):
        body["TLSSkipVerify"] = True
    return body


def _tcp(meta: Mapping[str, str], t: Target) -> dict[str, Any] | None:
    tcp = meta.get("check_tcp")
    if not tcp:
        return None
    if tcp.lower() != "true":
        raise CheckError("check_tcp", tcp, "must be true")
    return {"TCP": hostport(t.ip, t.port)}


def _grpc(meta: Mapping[str, str], t: Target) -> dict[str, Any] | None:
    grpc = meta.get("check_grpc")
    if not grpc:
        return None
    target = hostport(t.ip, t.port) if grpc.lower() == "true" else f"{hostport(t.ip, t.port)}/{grpc}"
    body: dict[str, Any] = {"GRPC": target}
    if meta.get("check_grpc_use_tls", "").lower() in ("1", "true"):
        body["GRPCUseTLS"] = True
        if meta.get("check_tls_skip_verify", "").lower() in ("1", "true"):
            body["TLSSkipVerify"] = True
    return body


def _script(meta: Mapping[str, str], t: Target) -> dict[str, Any] | None:
    script = meta.get("check_script")
    return {"Args": _args("check_script", script, t.ip, t.port)} if script else None


def _docker(meta: Mapping[str, str], t: Target) -> dict[str, Any] | None:
    docker = meta.get("check_docker")
    if not docker:
        return None
    # run inside the container through its shell, so `test -f x || exit 2` works as written
    shell = meta.get("check_docker_shell") or "/bin/sh"
    command = _substitute(docker, t.ip, t.port).strip()
    if not command:
        raise CheckError("check_docker", docker, "empty command")
    return {"DockerContainerID": t.container_id, "Shell": shell, "Args": [shell, "-c", command]}


# gliderlabs registers one check per service, the first of these it finds; ours registers each kind asked for,
# in this order, and the first gets the ID gliderlabs' one had (Consul's default `service:<id>`)
KINDS = ("http", "https", "docker", "script", "ttl", "tcp", "grpc")
TIMED = ("http", "https", "tcp", "grpc")  # the kinds that take SERVICE_CHECK_TIMEOUT


def _bodies(meta: Mapping[str, str], t: Target, refused: tuple[str, ...]) -> dict[str, dict[str, Any] | None]:
    return {
        "http": _http(meta, "http", t), "https": _http(meta, "https", t), "tcp": _tcp(meta, t),
        "grpc": _grpc(meta, t), "script": None if "check_script" in refused else _script(meta, t),
        "docker": None if "check_docker" in refused else _docker(meta, t),
        "ttl": {"TTL": ttl} if (ttl := _duration(meta, "check_ttl", positive=True)) else None,
    }


def check_identity(kind: str, first: bool, t: Target) -> dict[str, str]:
    """CheckID and Name: the first check has the ones Consul gives a service's only check (apps heartbeat
    `/v1/agent/check/pass/service:<id>`); any further one `<id>:<kind>`, the same whatever else is asked for."""
    if first:
        return {"CheckID": f"service:{t.service_id}", "Name": f"Service '{t.service_name}' check"}
    return {"CheckID": f"{t.service_id}:{kind}", "Name": f"{kind} check"}


def build_checks(meta: Mapping[str, str], t: Target, *, allow_commands: bool = False, first_only: bool = False,
                 ) -> Built:
    """The checks the metadata asks for, in KINDS order (only the first with `first_only`, as gliderlabs).
    Raises CheckError on the first bad value; command checks (script, docker) without `allow_commands` are left
    out and named in `refused`."""
    common = _common(meta)
    interval = _duration(meta, "check_interval", positive=True) or "10s"
    timeout = _duration(meta, "check_timeout")
    refused = tuple(k for k in COMMAND_CHECKS if meta.get(k) and not allow_commands)
    bodies = _bodies(meta, t, refused)
    checks: list[dict[str, Any]] = []
    for kind in KINDS:
        body = bodies[kind]
        if body is None or (first_only and checks):
            continue
        extra = {"Timeout": timeout} if timeout and kind in TIMED else {}
        periodic = {} if kind == "ttl" else {"Interval": interval}
        checks.append({**check_identity(kind, not checks, t), **body, **extra, **common, **periodic})
    return Built(tuple(checks), refused)


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
