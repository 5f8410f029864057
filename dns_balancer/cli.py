"""Command line of `dns-balancer`: its own options and the shared ones (portside.shell: logging, --http-addr,
Consul address/token/TLS), each also read from DNS_BALANCER_<NAME>, validated once into a DaemonConfig.
Consul falls back to the standard CONSUL_* variables (explicit --consul-addr / --consul-token win)."""

from __future__ import annotations

import ipaddress

import click

from dns_balancer.access import LOOPBACK, Network, parse_networks
from dns_balancer.daemon import DaemonConfig, serve
from dns_balancer.forward import parse_recursor
from dns_balancer.ratelimit import RateLimitConfig
from dns_balancer.records import labels_of, valid_label
from dns_balancer.server import ServerConfig, parse_listen
from dns_balancer.zone import ZoneConfig
from portside.address import AddressError
from portside.observe import setup_logging
from portside.run import run
from portside.shell import shared_options, shell_from

ENV_PREFIX = "DNS_BALANCER"


def _domain(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    if value is None:
        return None
    labels = labels_of(value)
    if not labels or not all(valid_label(label) for label in labels):
        raise click.BadParameter(f"{value!r} is not a domain name")
    return ".".join(labels)


def _ns_address(host: str) -> str | None:
    try:
        ip = ipaddress.ip_address(host)
    except ValueError:
        return None
    return None if ip.is_unspecified else str(ip)


def _networks(text: str | None, option: str) -> tuple[Network, ...] | None:
    if text is None or not text.strip():
        return None
    try:
        return parse_networks(text)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint=option) from exc


def build_config(
    *, listen: str, domain: str, alt_domain: str | None, datacenter: str | None, ttl: int, negative_ttl: int,
    only_passing: bool, a_record_limit: int, recursor: tuple[str, ...], recursor_timeout: float, stale: bool,
    tcp_idle_timeout: float, tcp_max_connections: int, tcp_message_timeout: float = 5.0, tcp_max_per_source: int = 16,
    allow_from: str | None = None, recursion_from: str | None = None, rate_limit: float = 0.0,
    rate_limit_slip: int = 2, remote_idle: float = 300.0, remote_wait: float = 3.0, remote_max: int = 4,
    follow_asked: int = 16, **shared: object,
) -> DaemonConfig:
    """Every option validated once (click.BadParameter naming the option: exit 2); `shared`: portside.shell's."""
    shell = shell_from(shared)
    try:
        host, port = parse_listen(listen)
    except AddressError as exc:
        raise click.BadParameter(str(exc), param_hint="'--listen'") from exc
    try:
        recursors = tuple(parse_recursor(r) for r in recursor)
    except AddressError as exc:
        raise click.BadParameter(str(exc), param_hint="'--recursor'") from exc
    zone = ZoneConfig(
        domain=domain, alt_domain=alt_domain, datacenter=datacenter, ttl=ttl, negative_ttl=negative_ttl,
        only_passing=only_passing, ns_address=_ns_address(host),
    )
    allow = _networks(allow_from, "--allow-from")
    # recursion never for everyone: the allow-list when there is one, else this host only
    recursion_nets = _networks(recursion_from, "--recursion-from")
    recurse = (recursion_nets or allow or LOOPBACK) if recursors else None
    server = ServerConfig(
        host=host, port=port, tcp_idle_timeout=tcp_idle_timeout, tcp_max_connections=tcp_max_connections,
        tcp_message_timeout=tcp_message_timeout, tcp_max_per_source=tcp_max_per_source,
        rate_limit=RateLimitConfig(rate_limit, rate_limit_slip) if rate_limit > 0 else None,
    )
    return DaemonConfig(
        consul=shell.consul, zone=zone, server=server, a_record_limit=a_record_limit, recursors=recursors,
        recursor_timeout=recursor_timeout, http_addr=shell.http_addr, stale_reads=stale,
        datacenter=datacenter, allow_from=allow, recursion_from=recurse, remote_idle=remote_idle,
        remote_wait=remote_wait, remote_max=remote_max, follow_asked=follow_asked,
    )


@click.command(context_settings={"help_option_names": ["-h", "--help"], "auto_envvar_prefix": ENV_PREFIX})
@click.option("--listen", default="127.0.0.1:8600", show_default=True, show_envvar=True,
              help="host:port for UDP and TCP ([::1]:port for IPv6).")
@click.option("--domain", default="consul", show_default=True, show_envvar=True, callback=_domain,
              help="Zone answered.")
@click.option("--alt-domain", default=None, show_envvar=True, callback=_domain, help="A second zone, same names.")
@click.option("--datacenter", default=None, show_envvar=True,
              help="Datacenter to mirror and to accept in names (default: the agent's).")
@click.option("--ttl", default=5, show_default=True, show_envvar=True, type=click.IntRange(0, 2**31 - 1))
@click.option("--negative-ttl", default=5, show_default=True, show_envvar=True, type=click.IntRange(0, 2**31 - 1),
              help="TTL of NXDOMAIN/NODATA answers (SOA minimum).")
@click.option("--only-passing", is_flag=True, show_envvar=True, help="Drop instances in warning too.")
@click.option("--a-record-limit", default=0, show_default=True, show_envvar=True, type=click.IntRange(0, 65535),
              help="At most this many records per answer, after rotation (0: no limit).")
@click.option("--recursor", multiple=True, show_envvar=True,
              help="Forward foreign names to this resolver (host[:port]; repeat for fallbacks). Without it: REFUSED.")
@click.option("--recursor-timeout", default=2.0, show_default=True, show_envvar=True,
              type=click.FloatRange(0.01, 60))
@click.option("--stale/--consistent", default=True, show_default=True, show_envvar=True,
              help="Let any Consul server answer the watches (as Consul's own DNS does), or only the leader.")
@click.option("--tcp-idle-timeout", default=10.0, show_default=True, show_envvar=True,
              type=click.FloatRange(0.1, 3600))
@click.option("--tcp-max-connections", default=256, show_default=True, show_envvar=True,
              type=click.IntRange(1, 65535))
@click.option("--tcp-message-timeout", default=5.0, show_default=True, show_envvar=True,
              type=click.FloatRange(0.1, 3600), help="Seconds for a whole TCP message (prefix + body) to arrive.")
@click.option("--tcp-max-per-source", default=16, show_default=True, show_envvar=True,
              type=click.IntRange(1, 65535), help="Open TCP connections per client address.")
@click.option("--allow-from", default=None, show_envvar=True, metavar="CIDR,...",
              help="Answer only these clients (UDP: others get REFUSED; TCP: closed). Default: everyone.")
@click.option("--recursion-from", default=None, show_envvar=True, metavar="CIDR,...",
              help="Clients whose foreign names go to --recursor (default: --allow-from, else loopback only).")
@click.option("--rate-limit", default=0.0, show_default=True, show_envvar=True, type=click.FloatRange(0, 1e6),
              help="UDP responses per second per client /24 (/56) and name/type, as BIND's RRL (0: off).")
@click.option("--rate-limit-slip", default=2, show_default=True, show_envvar=True, type=click.IntRange(0, 10),
              help="Every Nth response over the rate goes out truncated (TC) so real clients retry over TCP.")
@click.option("--remote-idle", default=300.0, show_default=True, show_envvar=True, type=click.FloatRange(1, 86400),
              help="Stop mirroring another datacenter (and reading prepared queries) after this many seconds "
                   "without a question for it.")
@click.option("--remote-wait", default=3.0, show_default=True, show_envvar=True, type=click.FloatRange(0.1, 60),
              help="Hold the first question for another datacenter or a prepared query at most this many seconds "
                   "for its data (then SERVFAIL).")
@click.option("--remote-max", default=4, show_default=True, show_envvar=True, type=click.IntRange(0, 64),
              help="Other datacenters mirrored at once; a question for one more is SERVFAIL until one goes idle.")
@click.option("--follow-asked", default=16, show_default=True, show_envvar=True, type=click.IntRange(0, 256),
              help="Follow up to this many asked services with a blocking query each, so their changes are answered "
                   "in one round trip to Consul instead of two (within the cap on connections to Consul; 0: none).")
@shared_options(ENV_PREFIX, http_default="127.0.0.1:9600")
def cli(log_format: str | None, log_level: str, **options: object) -> None:
    """dns-balancer: round-robin DNS for Consul services, answered from an in-memory mirror."""
    config = build_config(**options)  # type: ignore[arg-type]
    setup_logging(log_format or "text", log_level)
    code = run(lambda stop: serve(config, stop))
    raise SystemExit(code)


def main() -> int:
    cli.main(prog_name="dns-balancer", auto_envvar_prefix=ENV_PREFIX)
    return 0
