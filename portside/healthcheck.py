"""`portside-healthcheck`: the image's HEALTHCHECK. GETs /health on whichever daemon's --http-addr is set in the
environment; exit 0 when it answers 200, else 1. An address set to `off` means nothing to check (exit 0); one
that is not an address is a failure naming the variable."""

from __future__ import annotations

import os
import sys
import urllib.request

from portside.address import Address, AddressError

VARS = ("REGISTRATOR_HTTP_ADDR", "DNS_BALANCER_HTTP_ADDR", "CONSUL_TEMPLATES_HTTP_ADDR", "PORTSIDE_HTTP_ADDR")


def main() -> int:
    var = next((v for v in VARS if os.environ.get(v, "").strip()), None)
    if var is None:
        print("portside-healthcheck: no *_HTTP_ADDR set; nothing to check", file=sys.stderr)
        return 0
    try:
        addr = Address.parse(os.environ[var], flag=var, allow_off=True)
    except AddressError as exc:
        print(f"portside-healthcheck: {exc}", file=sys.stderr)
        return 1
    if addr is None:
        print(f"portside-healthcheck: {var} is off; nothing to check", file=sys.stderr)
        return 0
    try:
        with urllib.request.urlopen(addr.connectable().url("http", "/health"), timeout=2) as resp:
            return 0 if resp.status == 200 else 1
    except Exception as exc:  # noqa: BLE001 - any failure is unhealthy
        print(f"portside-healthcheck: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
