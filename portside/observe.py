"""Logging set-up (text or JSON lines) and the small aiohttp app serving /health and /metrics."""

from __future__ import annotations

import json
import logging
import sys
import time
from collections.abc import Awaitable, Callable

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        doc = {
            "ts": round(record.created, 3),
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        for key, value in getattr(record, "fields", {}).items():
            doc[key] = value
        if record.exc_info:
            doc["exc"] = self.formatException(record.exc_info)
        return json.dumps(doc, default=str)


def setup_logging(fmt: str = "text", level: str = "info") -> None:
    """Configure the root logger once: `text` for people, `json` for log shippers."""
    if fmt not in {"text", "json"}:
        raise ValueError(f"log format must be text or json, not {fmt!r}")
    handler = logging.StreamHandler(sys.stderr)
    if fmt == "json":
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())


HealthCheck = Callable[[], Awaitable[dict[str, bool]]]


def make_app(registry: CollectorRegistry, health: HealthCheck) -> web.Application:
    """`/health` -> 200 when every component `health()` reports is up, else 503 (JSON body says which);
    `/metrics` -> Prometheus text from `registry`."""
    started = time.time()

    async def health_handler(_: web.Request) -> web.Response:
        parts = await health()
        ok = all(parts.values())
        body = {"status": "ok" if ok else "degraded", "components": parts, "uptime": round(time.time() - started)}
        return web.json_response(body, status=200 if ok else 503)

    async def metrics_handler(_: web.Request) -> web.Response:
        resp = web.Response(body=generate_latest(registry))
        resp.content_type = CONTENT_TYPE_LATEST.split(";")[0]
        return resp

    app = web.Application()
    app.router.add_get("/health", health_handler)
    app.router.add_get("/metrics", metrics_handler)
    return app


async def serve_http(app: web.Application, addr: str) -> web.AppRunner:
    """Start `app` on `host:port` ("" or "off" = not at all is the caller's choice). Returns the runner."""
    host, _, port = addr.rpartition(":")
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, host.strip("[]") or "127.0.0.1", int(port))
    await site.start()
    return runner
