"""`portside-healthcheck`: the image's HEALTHCHECK. GETs /health on whichever daemon's --http-addr is set
in the environment; exit 0 when it answers 200, else 1."""

from __future__ import annotations

import os
import sys
import urllib.request

VARS = ("REGISTRATOR_HTTP_ADDR", "DNS_BALANCER_HTTP_ADDR", "CONSUL_TEMPLATES_HTTP_ADDR", "PORTSIDE_HTTP_ADDR")


def main() -> int:
    addr = next((os.environ[v] for v in VARS if os.environ.get(v)), "")
    if not addr:
        print("portside-healthcheck: no *_HTTP_ADDR set; nothing to check", file=sys.stderr)
        return 0
    host, _, port = addr.rpartition(":")
    host = host.strip("[]")
    if host in ("", "0.0.0.0", "::"):
        host = "127.0.0.1"
    try:
        with urllib.request.urlopen(f"http://{host}:{port}/health", timeout=2) as resp:
            return 0 if resp.status == 200 else 1
    except Exception as exc:  # noqa: BLE001 - any failure is unhealthy
        print(f"portside-healthcheck: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
