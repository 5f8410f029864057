"""`registrator [options] consul://host:port` — flags of gliderlabs/registrator, each also `--long-form`
and env var REGISTRATOR_<NAME>, plus the shared options of portside.shell (logging, --http-addr, Consul
token/TLS); builds a frozen Config once and runs the daemon."""

from __future__ import annotations

import asyncio
import logging
import os
import re
import socket
import sys

import aiodocker
import click

from portside import __version__
from portside.consul import ConsulClient, ConsulError
from portside.observe import serve_observability, setup_logging
from portside.run import run
from portside.shell import shared_options, shell_from
from registrator.config import DEREGISTER_MODES, Config, Limits
from registrator.daemon import Registrator
from registrator.docker import DockerEngine
from registrator.metrics import Metrics
from registrator.naming import id_problem
from registrator.registry import RegistryError, parse_registry
from registrator.tagtemplate import TemplateError, compile_tags

log = logging.getLogger("registrator")




GLIDERLABS_SOCKET = "/tmp/docker.sock"  # where gliderlabs' documented run line mounts the Docker socket


def docker_host(env: str | None) -> str | None:
    """DOCKER_HOST, else gliderlabs' socket when it is there (`-v /var/run/docker.sock:/tmp/docker.sock`), else
    Docker's default (None)."""
    if env:
        return env
    return f"unix://{GLIDERLABS_SOCKET}" if os.path.exists(GLIDERLABS_SOCKET) else None


_GO_FLAG = re.compile(r"^--?([A-Za-z][A-Za-z-]*)=(.*)$", re.S)


def go_flags(args: list[str], booleans: dict[str, tuple[str, str | None]]) -> list[str]:
    """Go's flag forms click does not take: `-internal=true` / `-cleanup=false` for a boolean flag, `-ip=x` for
    one with a value. Only options before the REGISTRY_URI (Go stops at the first argument), never after `--`."""
    out: list[str] = []
    for i, arg in enumerate(args):
        if arg == "--" or not arg.startswith("-"):
            return out + args[i:]
        m = _GO_FLAG.match(arg)
        if m is None:
            out.append(arg)
        elif m.group(1) in booleans:
            value = m.group(2).lower()
            if value not in ("1", "0", "t", "f", "true", "false"):
                raise click.BadParameter(f"{arg!r}: a boolean flag takes true or false")
            on, off = booleans[m.group(1)]
            chosen = on if value in ("1", "t", "true") else off
            out += [chosen] if chosen else []
        else:
            out += [arg.split("=", 1)[0], m.group(2)]
    return out


def default_host_ip() -> str:
    try:
        return socket.gethostbyname(socket.gethostname())
    except OSError:
        return "127.0.0.1"


def _opt(*names: str, env: str, **kw):  # type: ignore[no-untyped-def]
    return click.option(*names, envvar=f"REGISTRATOR_{env}", show_envvar=True, **kw)


@click.command(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 110})
@click.argument("registry_uri", required=False, envvar="REGISTRATOR_REGISTRY_URI")
@_opt("-ip", "--ip", env="IP", help="Address registered for every service (host IP for published ports).")
@_opt("-internal", "--internal", env="INTERNAL", is_flag=True,
      help="Register container IP + exposed port instead of host IP + published port.")
@_opt("-explicit", "--explicit", env="EXPLICIT", is_flag=True,
      help="Only register ports that have SERVICE_NAME or SERVICE_<port>_NAME.")
@_opt("-tags", "--tags", env="TAGS", default="",
      help="Comma list of tags added to every service; a Go template over the container's inspect data "
           "({{.Config.Hostname}}), as gliderlabs.")
@_opt("-resync", "--resync", env="RESYNC", type=float, default=0, show_default=True,
      help="Every N seconds re-register everything and pick up missed containers (0 = off).")
@_opt("-cleanup", "--cleanup", env="CLEANUP", is_flag=True,
      help="Remove services this node registered whose container is gone.")
@_opt("-deregister", "--deregister", env="DEREGISTER", type=click.Choice(DEREGISTER_MODES), default="always",
      show_default=True, help="on-success keeps services of containers that exited non-zero; never keeps all.")
@_opt("-retry-attempts", "--retry-attempts", env="RETRY_ATTEMPTS", type=int, default=-1, show_default=True,
      help="Attempts to reach Consul at start-up (-1 = forever).")
@_opt("-retry-interval", "--retry-interval", env="RETRY_INTERVAL", type=int, default=2000, show_default=True,
      help="Milliseconds between start-up attempts.")
@_opt("-useIpFromLabel", "--use-ip-from-label", env="USE_IP_FROM_LABEL",
      help="Take the service address from this container label (a /cidr suffix is stripped).")
@_opt("--node-id", env="NODE_ID", default=None,
      help="Stable identity used in service IDs and ownership meta [default: hostname].")
@_opt("--network", env="NETWORK", help="Network whose container address -internal registers.")
@_opt("--drain-seconds", env="DRAIN_SECONDS", type=float, default=0, show_default=True,
      help="Keep a stopping container in maintenance at least this long before deregistering it.")
@_opt("--deregister-on-exit", env="DEREGISTER_ON_EXIT", is_flag=True,
      help="On SIGTERM/SIGINT, remove every service this node registered.")
@_opt("--health-starting", env="HEALTH_STARTING", type=click.Choice(["warning", "critical"]), default="critical",
      show_default=True, help="Consul status while a Docker HEALTHCHECK is still 'starting'.")
@_opt("--first-check-only", env="FIRST_CHECK_ONLY", is_flag=True,
      help="Register only the first check a service asks for (http, https, docker, script, ttl, tcp, grpc), as "
           "gliderlabs does; default: every check asked for.")
@_opt("--adopt-gliderlabs/--no-adopt-gliderlabs", env="ADOPT_GLIDERLABS", default=True, show_default=True,
      help="Take over services gliderlabs/registrator registered on this host (ID <node-id>:<container>:<port>, "
           "no portside Meta) when the container proves they are its own: registered over in place, and removed "
           "by -cleanup when their container is gone.")
@_opt("-ttl", "--ttl", env="TTL", type=int, default=0, hidden=True,
      help="gliderlabs' service TTL: its Consul backend ignores it; accepted so its command lines run.")
@_opt("-ttl-refresh", "--ttl-refresh", env="TTL_REFRESH", type=int, default=0, hidden=True,
      help="gliderlabs' TTL refresh: ignored for Consul, as there.")
@click.version_option(__version__, "-version", "--version", prog_name="registrator")
@_opt("--allow-script-checks", env="ALLOW_SCRIPT_CHECKS", is_flag=True,
      help="Register SERVICE_CHECK_SCRIPT (runs on the Consul agent) and SERVICE_CHECK_DOCKER (runs in the "
           "container) checks. Off: any container could run commands through the agent; such a check is left "
           "out (logged) and its service registered without it.")
@_opt("--consul-concurrency", env="CONSUL_CONCURRENCY", type=click.IntRange(1, 64), default=Config.consul_concurrency,
      show_default=True, help="Consul requests in flight at once (events, reconcile and agent poll together).")
@_opt("--max-ports", env="MAX_PORTS", type=click.IntRange(1), default=Limits.ports, show_default=True,
      help="Services (ports) per container; over it none of the container's services is registered.")
@_opt("--max-tags", env="MAX_TAGS", type=click.IntRange(1), default=Limits.tags, show_default=True,
      help="Tags per service (-tags included); over it none of the container's services is registered.")
@_opt("--max-checks", env="MAX_CHECKS", type=click.IntRange(1), default=Limits.checks, show_default=True,
      help="Checks over all of a container's services; over it none of them is registered.")
@shared_options("REGISTRATOR", omit=("consul-addr",))
def cli(registry_uri: str | None, ip: str | None, internal: bool, explicit: bool, tags: str, resync: float,
        cleanup: bool, deregister: str, retry_attempts: int, retry_interval: int, use_ip_from_label: str | None,
        node_id: str | None, network: str | None, drain_seconds: float, deregister_on_exit: bool,
        health_starting: str, first_check_only: bool, adopt_gliderlabs: bool, ttl: int, ttl_refresh: int,
        allow_script_checks: bool, consul_concurrency: int, max_ports: int, max_tags: int,
        max_checks: int, **shared: object) -> None:
    """Register Docker containers' services in Consul (drop-in for gliderlabs/registrator).

    REGISTRY_URI: consul://host:port (default: CONSUL_HTTP_ADDR, else consul://127.0.0.1:8500),
    consul-tls://host:port or consul-unix:///path.sock: the service catalog. consulkv://host:port/prefix or
    consulkv-unix:///path.sock:/prefix: Consul KV instead, one key <prefix>/<service-name>/<service-id> =
    <ip>:<port> per service (no checks, no maintenance; -cleanup removes nothing). Token and TLS: the
    --consul-* options below, else CONSUL_HTTP_TOKEN(_FILE), CONSUL_CACERT, CONSUL_CLIENT_CERT,
    CONSUL_CLIENT_KEY; Docker from DOCKER_HOST.
    """
    node_id = node_id or socket.gethostname()
    if reason := id_problem(node_id):  # it starts every service ID this node makes
        raise click.BadParameter(reason.replace("service ID", "node ID"), param_hint="--node-id")
    try:
        compile_tags(tags)
    except TemplateError as exc:
        raise click.BadParameter(str(exc), param_hint="-tags") from exc
    if ttl or ttl_refresh:
        log.warning("-ttl and -ttl-refresh have no effect with Consul (gliderlabs ignores them there too)")
    try:
        registry = parse_registry(registry_uri)
    except RegistryError as exc:
        raise click.BadParameter(str(exc), param_hint="REGISTRY_URI") from exc
    shell = shell_from(shared, consul_address=registry.address)
    cfg = Config(
        node_id=node_id, ip=ip, host_ip=ip or default_host_ip(), internal=internal,
        explicit=explicit, tags=tags, resync=resync, first_check_only=first_check_only,
        adopt_gliderlabs=adopt_gliderlabs,
        cleanup=cleanup, deregister=deregister, retry_attempts=retry_attempts, retry_interval_ms=retry_interval,
        ip_from_label=use_ip_from_label, network=network, drain_seconds=drain_seconds,
        deregister_on_exit=deregister_on_exit, health_starting=health_starting,
        allow_script_checks=allow_script_checks, consul_concurrency=consul_concurrency,
        limits=Limits(ports=max_ports, tags=max_tags, checks=max_checks), http_addr=shell.http_addr,
        consul=shell.consul, kv_prefix=registry.kv_prefix, docker_host=docker_host(os.environ.get("DOCKER_HOST")),
    )
    setup_logging(shell.log_format, shell.log_level)
    raise SystemExit(run(lambda stop: amain(cfg, stop)))


async def wait_for_consul(consul: ConsulClient, cfg: Config, stop: asyncio.Event) -> bool:
    attempt = 0
    while not stop.is_set():
        try:
            await consul.leader()
            return True
        except ConsulError as exc:
            attempt += 1
            if 0 <= cfg.retry_attempts < attempt:
                log.error("giving up on Consul after %d attempt(s): %s", attempt, exc)
                return False
            log.warning("waiting for Consul (attempt %d): %s", attempt, exc)
            try:
                await asyncio.wait_for(stop.wait(), cfg.retry_interval_ms / 1000)
            except TimeoutError:
                pass
    return False


async def amain(cfg: Config, stop: asyncio.Event) -> int:
    metrics = Metrics()
    async with await ConsulClient.open(cfg.consul) as consul, aiodocker.Docker(url=cfg.docker_host) as client:
        if not await wait_for_consul(consul, cfg, stop):
            return 0 if stop.is_set() else 1
        docker = DockerEngine(client, cfg.docker_concurrency)
        registrator = Registrator(cfg, docker, consul, metrics)

        async def health() -> dict[str, bool]:
            parts = {}
            for name, probe in (("docker", docker.version()), ("consul", consul.leader())):
                try:
                    await asyncio.wait_for(probe, 2)
                    parts[name] = True
                except Exception:  # noqa: BLE001 - any failure means unhealthy
                    parts[name] = False
            return {**parts, **registrator.tasks.health()}

        async with serve_observability(health, metrics.registry, cfg.http_addr):
            log.info("registrator started: node %s, Consul %s, Docker %s", cfg.node_id, cfg.consul.address,
                     cfg.docker_host or "default socket")
            await registrator.run(stop)
        log.info("registrator stopped")
    return 0


def _boolean_flags() -> dict[str, tuple[str, str | None]]:
    """Flag name -> (the option that sets it, the one that clears it: a `--no-` form, else None)."""
    out: dict[str, tuple[str, str | None]] = {}
    for p in cli.params:
        if isinstance(p, click.Option) and p.is_flag:
            for name in p.opts:
                out[name.lstrip("-")] = (name, p.secondary_opts[0] if p.secondary_opts else None)
    return out


def main() -> int:
    try:
        args = go_flags(sys.argv[1:], _boolean_flags())
    except click.BadParameter as exc:
        exc.show()
        return 2
    cli.main(args=args, prog_name="registrator")
    return 0


