"""One address type for every `host:port` portside reads or prints: listen addresses, `--http-addr`, the Consul
address, recursors, instance addresses in templates.

    Address.parse("127.0.0.1:8600")                     -> 127.0.0.1:8600
    Address.parse("[::1]:53")                           -> [::1]:53 (IPv6 in brackets, always, when printed)
    Address.parse("198.18.0.53", default_port=53)       -> a bare host takes the default port
    Address.parse("::1", default_port=53)               -> so does a bare IPv6 literal (its port needs brackets)
    Address.parse("off", allow_off=True)                -> None ("" too): the feature is off
    Address.parse(":8600", default_host="0.0.0.0")      -> every address

Errors name the flag and the value (`--listen '1.2.3.4:99999': port must be 1-65535`), so a CLI can refuse a
bad value at start with exit 2.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass

_LABEL = re.compile(r"(?!-)[A-Za-z0-9_-]{1,63}(?<!-)\Z")


class AddressError(ValueError):
    """A value that is not a usable address; the message names the flag and the value, `reason` says why."""

    def __init__(self, flag: str, text: object, reason: str) -> None:
        super().__init__(f"{flag} {text!r}: {reason}")
        self.reason = reason


def hostport(host: str, port: int) -> str:
    """`host:port` with an IPv6 literal in brackets (nginx, URLs and our own parser want them). No validation:
    for printing addresses read from elsewhere (e.g. Consul), which are checked where they are used."""
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


@dataclass(frozen=True)
class Address:
    host: str  # a hostname or an IP literal, without brackets
    port: int

    def __post_init__(self) -> None:
        _check_host(self.host, "address", self.host)
        if isinstance(self.port, bool) or not isinstance(self.port, int) or not 0 < self.port < 65536:
            raise AddressError("address", self.host, f"port must be 1-65535, got {self.port!r}")

    @classmethod
    def parse(cls, text: str, *, flag: str = "address", default_port: int | None = None, allow_off: bool = False,
              default_host: str | None = None) -> Address | None:
        """Parse `host:port`, `[v6]:port`, a bare host or IPv6 literal (with `default_port`), `:port` (with
        `default_host`), or `off`/empty (None, with `allow_off`)."""
        value = text.strip() if isinstance(text, str) else ""
        if not isinstance(text, str) or value.lower() in ("", "off"):
            if allow_off and isinstance(text, str):
                return None
            raise AddressError(flag, text, "expected host:port")
        host, port_text = _split(value, flag, text)
        if not host:
            if default_host is None:
                raise AddressError(flag, text, "no host (expected host:port)")
            host = default_host
        _check_host(host, flag, text)
        if port_text is None:
            if default_port is None:
                raise AddressError(flag, text, "no port (expected host:port)")
            port = default_port
        elif port_text.isascii() and port_text.isdigit() and 0 < int(port_text) < 65536:
            port = int(port_text)
        else:
            raise AddressError(flag, text, f"port must be 1-65535, got {port_text!r}")
        return cls(host, port)

    @classmethod
    def required(cls, text: str, **kw: object) -> Address:
        """`parse` for a value that cannot be off."""
        address = cls.parse(text, **kw)  # type: ignore[arg-type]
        assert address is not None  # allow_off not given: parse raises instead
        return address

    @property
    def ip(self) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
        """The IP literal, or None for a hostname."""
        try:
            return ipaddress.ip_address(self.host)
        except ValueError:
            return None

    @property
    def is_ipv6(self) -> bool:
        return ":" in self.host

    def __str__(self) -> str:
        return hostport(self.host, self.port)

    def url(self, scheme: str = "http", path: str = "") -> str:
        return f"{scheme}://{self}{path}"

    def connectable(self) -> Address:
        """Where a client on this machine reaches a server listening here (0.0.0.0 / :: mean every address)."""
        ip = self.ip
        if ip is not None and ip.is_unspecified:
            return Address("::1" if ip.version == 6 else "127.0.0.1", self.port)
        return self


def _split(value: str, flag: str, text: str) -> tuple[str, str | None]:
    """-> (host, port text or None)."""
    if value.startswith("["):
        inside, close, rest = value[1:].partition("]")
        if not close:
            raise AddressError(flag, text, "'[' without ']'")
        if rest and not rest.startswith(":"):
            raise AddressError(flag, text, "expected [IPv6]:port")
        if ":" not in inside:
            raise AddressError(flag, text, "brackets are for IPv6 addresses only")
        return inside, rest[1:] if rest else None
    if value.count(":") > 1:  # a bare IPv6 literal: its port would be ambiguous, so it has none
        return value, None
    host, sep, port = value.partition(":")
    return host, port if sep else None


def _check_host(host: str, flag: str, text: str) -> None:
    if not isinstance(host, str) or not host:
        raise AddressError(flag, text, "no host")
    if ":" in host:
        try:
            ipaddress.IPv6Address(host)
        except ValueError:
            raise AddressError(flag, text, f"{host!r} is not an IPv6 address") from None
        return
    try:
        ipaddress.IPv4Address(host)
        return
    except ValueError:
        pass
    name = host[:-1] if host.endswith(".") else host
    if len(name) > 253 or not all(_LABEL.match(label) for label in name.split(".")) or name.replace(".", "").isdigit():
        raise AddressError(flag, text, f"{host!r} is neither an IP address nor a host name")
