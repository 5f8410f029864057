"""Consul connection settings from the standard CONSUL_* environment variables.

Explicit values (CLI flags, config files) always beat the environment; the environment beats defaults.
"""

from __future__ import annotations

import ipaddress
import os
from collections.abc import Mapping
from dataclasses import dataclass, field, replace

from portside.address import Address, AddressError, hostport


class SettingsError(ValueError):
    """A setting could not be understood; the message names the setting and the value."""


@dataclass(frozen=True)
class ConsulSettings:
    host: str = "127.0.0.1"
    port: int = 8500
    scheme: str = "http"
    token: str | None = field(default=None, repr=False)  # a secret: never in a repr, a log line or a metric
    cacert: str | None = None
    client_cert: str | None = None
    client_key: str | None = None
    verify: bool = True
    unix_socket: str | None = None
    max_connections: int = 64  # the most connections the daemon opens to its agent (one per blocking query)

    @property
    def address(self) -> str:
        if self.unix_socket:
            return f"unix://{self.unix_socket}"
        return f"{self.scheme}://{hostport(self.host, self.port)}"

    @property
    def on_this_host(self) -> bool:
        """The agent is reached through a unix socket or a loopback address."""
        if self.unix_socket:
            return True
        if self.host.lower() == "localhost":
            return True
        try:
            return ipaddress.ip_address(self.host).is_loopback
        except ValueError:
            return False


def _truthy(value: str) -> bool:
    return value.strip().lower() in {"1", "true", "yes", "on"}


def parse_address(addr: str, default_scheme: str = "http") -> tuple[str, str, int]:
    """`host:port`, `http://host:port`, `https://host`, `[::1]:8500` -> (scheme, host, port)."""
    text = addr.strip()
    if not text:
        raise SettingsError("empty Consul address")
    scheme, sep, rest = text.partition("://")
    if not sep:
        scheme, rest = default_scheme, text
    if scheme not in {"http", "https"}:
        raise SettingsError(f"Consul address {addr!r}: scheme must be http or https, not {scheme!r}")
    if rest.endswith("/"):
        rest = rest[:-1]  # "http://host:8500/": the API root
    try:
        parsed = Address.required(rest, flag="Consul address", default_port=8501 if scheme == "https" else 8500)
    except AddressError as exc:
        raise SettingsError(f"Consul address {addr!r}: {exc.reason}") from None
    return scheme, parsed.host, parsed.port


def consul_settings(
    env: Mapping[str, str] | None = None,
    *,
    address: str | None = None,
    token: str | None = None,
    ssl: bool | None = None,
    cacert: str | None = None,
    client_cert: str | None = None,
    client_key: str | None = None,
    verify: bool | None = None,
) -> ConsulSettings:
    """Build settings: explicit arguments first, then CONSUL_* variables from `env` (default os.environ)."""
    env = os.environ if env is None else env
    s = ConsulSettings()
    ssl_flag = ssl if ssl is not None else (_truthy(env["CONSUL_HTTP_SSL"]) if "CONSUL_HTTP_SSL" in env else None)
    default_scheme = "https" if ssl_flag else "http"
    addr = address if address is not None else env.get("CONSUL_HTTP_ADDR")
    if addr:
        if addr.startswith("unix://"):
            s = replace(s, unix_socket=addr[len("unix://") :])
        else:
            scheme, host, port = parse_address(addr, default_scheme)
            if ssl_flag is not None and "//" in addr:
                # an explicit scheme in the address wins unless SSL was asked for explicitly
                scheme = "https" if ssl_flag and ssl is not None else scheme
            elif ssl_flag is not None:
                scheme = default_scheme
            s = replace(s, scheme=scheme, host=host, port=port)
    elif ssl_flag:
        s = replace(s, scheme="https", port=8501)
    tok = token if token is not None else env.get("CONSUL_HTTP_TOKEN") or None
    ver = verify if verify is not None else (
        _truthy(env["CONSUL_HTTP_SSL_VERIFY"]) if "CONSUL_HTTP_SSL_VERIFY" in env else True
    )
    return replace(
        s,
        token=tok,
        cacert=cacert if cacert is not None else env.get("CONSUL_CACERT") or None,
        client_cert=client_cert if client_cert is not None else env.get("CONSUL_CLIENT_CERT") or None,
        client_key=client_key if client_key is not None else env.get("CONSUL_CLIENT_KEY") or None,
        verify=ver,
    )
