"""Who may ask: the client allow-list (`--allow-from`) and who may recurse (`--recursion-from`), as a verdict per
client address, cached so the packet path pays one dict lookup instead of parsing the address each time."""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from dataclasses import dataclass

Network = ipaddress.IPv4Network | ipaddress.IPv6Network
LOOPBACK: tuple[Network, ...] = (ipaddress.ip_network("127.0.0.0/8"), ipaddress.ip_network("::1/128"))
_CACHE_MAX = 65536  # distinct client addresses remembered; past that the cache starts over


def parse_networks(text: str | Iterable[str]) -> tuple[Network, ...]:
    """"127.0.0.0/8, ::1" (or a list of such strings) -> networks; a bare address is a /32 (/128).
    Raises ValueError naming the item that is not a network."""
    items = [text] if isinstance(text, str) else list(text)
    out: list[Network] = []
    for item in items:
        for part in item.replace(" ", ",").split(","):
            if not part:
                continue
            try:
                out.append(ipaddress.ip_network(part, strict=False))
            except ValueError as exc:
                raise ValueError(f"{part!r} is not an address or CIDR network") from exc
    return tuple(out)


def _address(host: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        ip = ipaddress.ip_address(host.split("%", 1)[0])  # a scoped IPv6 address: the scope is not ours to judge
    except ValueError:
        return None
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:  # a dual-stack socket's IPv4 peer
        return ip.ipv4_mapped
    return ip


@dataclass(frozen=True)
class Verdict:
    allowed: bool  # may query at all (else REFUSED over UDP, the connection closed over TCP)
    recurse: bool  # may have foreign names forwarded to the recursors


class Access:
    """`allow`: None lets everyone ask; `recurse`: the clients that may use the recursors (None: nobody)."""

    def __init__(self, allow: tuple[Network, ...] | None, recurse: tuple[Network, ...] | None) -> None:
        self.allow = allow
        self.recurse = recurse
        self._cache: dict[str, Verdict] = {}

    @property
    def open(self) -> bool:
        """Nothing to check: everyone may ask and nobody may recurse (the packet path can skip the lookup)."""
        return self.allow is None and not self.recurse

    def verdict(self, host: str) -> Verdict:
        found = self._cache.get(host)
        if found is None:
            if len(self._cache) >= _CACHE_MAX:
                self._cache.clear()
            found = self._cache[host] = self._judge(host)
        return found

    def _judge(self, host: str) -> Verdict:
        ip = _address(host)
        if ip is None:
            return Verdict(self.allow is None, False)
        allowed = self.allow is None or any(ip in net for net in self.allow)
        recurse = allowed and bool(self.recurse) and any(ip in net for net in self.recurse or ())
        return Verdict(allowed, recurse)
