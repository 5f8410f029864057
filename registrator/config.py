"""The registrator's frozen configuration, built by cli.py from flags and REGISTRATOR_* env vars."""

from __future__ import annotations

from dataclasses import dataclass, field

from portside.address import Address
from portside.settings import ConsulSettings

DEREGISTER_MODES = ("always", "on-success", "never")


@dataclass(frozen=True)
class Config:
    node_id: str = "localhost"
    ip: str | None = None  # -ip: address registered for published ports
    host_ip: str = "127.0.0.1"  # fallback when neither -ip nor a specific HostIp is known
    internal: bool = False
    explicit: bool = False
    tags: tuple[str, ...] = ()
    resync: float = 0.0
    cleanup: bool = False
    deregister: str = "always"
    retry_attempts: int = -1  # -1: wait for Consul forever (gliderlabs' default is 0: give up at once)
    retry_interval_ms: int = 2000
    ip_from_label: str | None = None
    network: str | None = None
    drain_seconds: float = 0.0
    deregister_on_exit: bool = False
    health_starting: str = "critical"  # Docker HEALTHCHECK "starting" -> this Consul status
    http_addr: Address | None = None
    consul: ConsulSettings = field(default_factory=ConsulSettings)
    docker_host: str | None = None
    agent_poll: float = 2.0  # how often the agent is checked for lost registrations (Consul restart)
