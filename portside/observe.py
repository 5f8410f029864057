"""Logging set-up (text or JSON lines) and the small aiohttp app serving /health and /metrics."""

from __future__ import annotations

import contextlib
import json
import logging
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest

from portside.address import Address


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


# Level names: ours and consul-template's (trace, warn, err), as Python's logging names them.
LOG_LEVELS = {"trace": "debug", "debug": "debug", "info": "info", "warn": "warning", "warning": "warning",
              "err": "error", "error": "error"}


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


async def serve_http(app: web.Application, addr: Address) -> web.AppRunner:
    """Start `app` on `addr`. Returns the runner (`cleanup()` stops it)."""
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    try:
        await web.TCPSite(runner, addr.host, addr.port).start()
    except BaseException:
        await runner.cleanup()
        raise
    return runner


@contextlib.asynccontextmanager
async def serve_observability(probes: HealthCheck, registry: CollectorRegistry,
                              addr: Address | None) -> AsyncIterator[web.AppRunner | None]:
    """/health (200 when every probe is up, else 503 naming the ones down) and /metrics on `addr` for the
    duration of the block; nothing when `addr` is None (off). OSError when the address cannot be bound."""
    if addr is None:
        yield None
        return
    runner = await serve_http(make_app(registry, probes), addr)
    logging.getLogger("portside.observe").info("/health and /metrics on %s", addr.url("http"))
    try:
        yield runner
    finally:
        await runner.cleanup()
