"""The registrator's frozen configuration, built by cli.py from flags and REGISTRATOR_* env vars."""

from __future__ import annotations

from dataclasses import dataclass, field

from portside.address import Address
from portside.settings import ConsulSettings

DEREGISTER_MODES = ("always", "on-success", "never")
# What Consul holds against us, measured on Consul 1.20: a registration over these is refused as a whole (400)
MAX_META_PAIRS = 64  # Meta pairs per service, our two ownership pairs included
MAX_META_VALUE = 512  # bytes per Meta value
MAX_VALUE = 4096  # bytes per SERVICE_* label or env value we read at all


@dataclass(frozen=True)
class Limits:
    """Per container: over any of these, none of its services is registered (the reason logged once)."""

    ports: int = 64  # services (one per registered port)
    tags: int = 64  # tags on one service, -tags included
    checks: int = 64  # checks over all of its services


@dataclass(frozen=True)
class Config:
    node_id: str = "localhost"
    ip: str | None = None  # -ip: address registered for published ports
    host_ip: str = "127.0.0.1"  # fallback when neither -ip nor a specific HostIp is known
    internal: bool = False
    explicit: bool = False
    tags: str = ""  # -tags: a Go template over the inspect data, rendered per container, then a comma list
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
    first_check_only: bool = False  # gliderlabs: only the first check kind asked for
    adopt_gliderlabs: bool = True  # take over services gliderlabs registered on this host (see reconcile.py)
    allow_script_checks: bool = False  # SERVICE_CHECK_SCRIPT / SERVICE_CHECK_DOCKER run commands: opt-in only
    limits: Limits = field(default_factory=Limits)
    consul_concurrency: int = 8  # Consul requests in flight at once, over every path (events, reconcile, poll)
    docker_concurrency: int = 16  # inspects in flight at once (the engine has no 429; this bounds memory)
    http_addr: Address | None = None
    consul: ConsulSettings = field(default_factory=ConsulSettings)
    kv_prefix: str | None = None  # consulkv://: services as KV entries under this prefix (see kvwriter.py)
    docker_host: str | None = None
    agent_poll: float = 2.0  # how often the agent is checked for lost registrations (Consul restart)
    refused_retry_cap: float = 300.0  # a registration Consul refuses (400) is retried at most this far apart
