"""Command line of `consul-templates`: options (each with a CONSUL_TEMPLATES_* env var) -> Config -> Runner.

Configuration errors (bad YAML, unknown key, wrong type, unreadable template, template syntax) exit 2
before anything runs. SIGHUP re-reads the configuration and templates; SIGTERM/SIGINT stop cleanly.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import gc
import logging
import os
import signal
from collections.abc import Callable
from pathlib import Path

import click

from consul_templates.config import Config, ConfigError, load_config, merge, parse_template_flag
from consul_templates.metrics import Metrics
from consul_templates.render import RenderError
from consul_templates.runner import Runner, compile_spec
from portside.consul import ConsulClient, ConsulError
from portside.observe import make_app, serve_http, setup_logging
from portside.run import run
from portside.settings import SettingsError, consul_settings
from portside.supervise import Supervisor

log = logging.getLogger("consul_templates")
option = functools.partial(click.option, show_envvar=True)  # --help names each CONSUL_TEMPLATES_* var


def build_config(config_path: Path | None, templates: tuple[str, ...], *, log_format: str | None,
                 http_addr: str | None, consul_addr: str | None, consul_token: str | None) -> Config:
    """File (if any) + CLI shorthand + explicit CLI values; every template compiled once to catch syntax errors."""
    config = load_config(config_path) if config_path else Config()
    specs = [parse_template_flag(t) for t in templates]
    merged = merge(config, templates=specs, log_format=log_format, http_addr=http_addr,
                   consul_address=consul_addr, consul_token=consul_token)
    for spec in merged.templates:
        compile_spec(spec)
    return merged


async def _daemon(stop: asyncio.Event, config: Config, reload_config: Callable[[], Config], *, once: bool,
                  dry: bool) -> int:
    settings = consul_settings(address=config.consul.address, token=config.consul.token)
    client = await ConsulClient.open(settings)
    metrics = Metrics()
    tasks = Supervisor()  # every watch: restarted when it fails, named by /health when it keeps failing
    runner = Runner(config, client, metrics=metrics, reload_config=reload_config, once=once, dry=dry,
                    environ=os.environ, observer=metrics.consul, tasks=tasks)
    loop = asyncio.get_running_loop()
    loop.add_signal_handler(signal.SIGHUP, runner.request_reload)
    http = None
    try:
        if config.http_addr:
            async def health() -> dict[str, bool]:
                try:
                    await asyncio.wait_for(client.leader(), 2.0)
                    return {"consul": True, **tasks.health()}
                except (ConsulError, TimeoutError):
                    return {"consul": False, **tasks.health()}

            http = await serve_http(make_app(metrics.registry, health), config.http_addr)
            log.info("serving /health and /metrics on %s", config.http_addr)
        log.info("consul-templates: %d template(s), Consul at %s%s%s", len(config.templates), settings.address,
                 " (once)" if once else "", " (dry)" if dry else "")
        # Everything built so far (modules, compiled templates, the client) lives as long as the process: keep it
        # out of the cyclic GC, whose full passes over it cost tens of ms in the middle of a change.
        gc.collect()
        gc.freeze()
        return await runner.run(stop)
    finally:
        with contextlib.suppress(Exception):
            loop.remove_signal_handler(signal.SIGHUP)
        if http is not None:
            await http.cleanup()
        await client.close()


@click.command(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 110})
@option("--config", "config_path", type=click.Path(path_type=Path, dir_okay=False),
              envvar="CONSUL_TEMPLATES_CONFIG", help="YAML configuration file.")
@option("--template", "templates", multiple=True, envvar="CONSUL_TEMPLATES_TEMPLATE", metavar="SRC:DEST[:CMD]",
              help="A template, as consul-template's -template (repeatable; env: space-separated).")
@option("--once", is_flag=True, envvar="CONSUL_TEMPLATES_ONCE", help="Render every template once, then exit.")
@option("--dry", is_flag=True, envvar="CONSUL_TEMPLATES_DRY",
              help="Print renders to stdout instead of writing files; run no command.")
@option("--log-format", type=click.Choice(["text", "json"]), envvar="CONSUL_TEMPLATES_LOG_FORMAT", default=None)
@option("--log-level", default="info", envvar="CONSUL_TEMPLATES_LOG_LEVEL", show_default=True,
              type=click.Choice(["debug", "info", "warning", "error"]))
@option("--http-addr", envvar="CONSUL_TEMPLATES_HTTP_ADDR", default=None,
              help="host:port for /health and /metrics ('off' to disable).")
@option("--consul-addr", envvar="CONSUL_TEMPLATES_CONSUL_ADDR", default=None,
              help="Consul HTTP address (default: CONSUL_HTTP_ADDR, then 127.0.0.1:8500).")
@option("--consul-token", envvar="CONSUL_TEMPLATES_CONSUL_TOKEN", default=None,
              help="Consul ACL token (default: CONSUL_HTTP_TOKEN).")
def cli(config_path: Path | None, templates: tuple[str, ...], once: bool, dry: bool, log_format: str | None,
        log_level: str, http_addr: str | None, consul_addr: str | None, consul_token: str | None) -> None:
    """consul-templates: render files from Consul data, check them, swap them in, reload (never break nginx)."""

    def reload_config() -> Config:
        return build_config(config_path, templates, log_format=log_format, http_addr=http_addr,
                            consul_addr=consul_addr, consul_token=consul_token)

    try:
        config = reload_config()
        consul_settings(address=config.consul.address, token=config.consul.token)
    except (ConfigError, RenderError, SettingsError) as exc:
        click.echo(f"consul-templates: configuration error: {exc}", err=True)
        raise SystemExit(2) from None
    setup_logging(config.log_format, log_level)
    code = run(lambda stop: _daemon(stop, config, reload_config, once=once, dry=dry))
    raise SystemExit(code)


def main() -> int:
    cli.main(prog_name="consul-templates", standalone_mode=True)
    return 0
