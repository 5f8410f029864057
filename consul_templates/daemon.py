"""The running daemon: Consul client, runner (templates) or env mode, the exec child, signals, pid file, /metrics,
and orphan reaping when we are PID 1. The command line (cli.py) only builds the configuration and calls `serve`.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import logging.handlers
import os
import signal
from collections.abc import Callable, Mapping
from dataclasses import replace
from pathlib import Path

from consul_templates import children
from consul_templates.config import Config, ConsulOptions
from consul_templates.envmode import EnvRunner
from consul_templates.loader import Loaded
from consul_templates.metrics import Metrics
from consul_templates.runner import Runner
from consul_templates.supervisor import Supervisor
from consul_templates.watch import Source
from portside import supervise
from portside.consul import ConsulClient, ConsulError
from portside.observe import serve_observability
from portside.settings import ConsulSettings, consul_settings
from portside.shell import token_from_env

log = logging.getLogger("consul_templates")


def settings_for(options: ConsulOptions, environ: Mapping[str, str] | None = None) -> ConsulSettings:
    """The file's and the flags' Consul options (merged: flags win), then the standard CONSUL_* variables
    (CONSUL_HTTP_TOKEN_FILE, CONSUL_HTTP_TOKEN); consul-template's own CONSUL_TOKEN when nothing else names a
    token."""
    env = os.environ if environ is None else environ
    token = options.token or token_from_env(env) or env.get("CONSUL_TOKEN") or None
    settings = consul_settings(env, address=options.address, token=token, ssl=options.ssl, verify=options.verify,
                               cacert=options.ca_cert, client_cert=options.client_cert, client_key=options.client_key)
    return replace(settings, max_connections=options.max_connections)


def add_syslog(facility: str | None) -> None:
    if not facility:
        return
    try:
        code = logging.handlers.SysLogHandler.facility_names[facility.lower()]
        handler = logging.handlers.SysLogHandler(address="/dev/log", facility=code)
    except (KeyError, OSError) as exc:
        log.error("syslog: cannot log to /dev/log with facility %s (%s); logging to stderr only", facility, exc)
        return
    handler.setFormatter(logging.Formatter("consul-templates[%(process)d]: %(levelname)s %(name)s: %(message)s"))
    logging.getLogger().addHandler(handler)


class _Clients:
    """Every Consul client opened (the first, and one per reconnect on SIGHUP); all closed at the end."""

    def __init__(self) -> None:
        self.opened: list[ConsulClient] = []

    async def open(self, options: ConsulOptions) -> ConsulClient:
        client = await ConsulClient.open(settings_for(options))
        self.opened.append(client)
        return client

    @property
    def current(self) -> ConsulClient:
        return self.opened[-1]

    async def close(self) -> None:
        for client in self.opened:
            with contextlib.suppress(Exception):
                await client.close()


def _signals(loop: asyncio.AbstractEventLoop, config: Config, stop: asyncio.Event, reload: Callable[[], None],
             supervisor: Supervisor | None) -> list[int]:
    installed: list[int] = []
    if config.reload_signal is not None:
        loop.add_signal_handler(config.reload_signal, reload)
        installed.append(config.reload_signal)
    if config.kill_signal is not None and config.kill_signal not in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(config.kill_signal, stop.set)
        installed.append(config.kill_signal)
    if supervisor is not None:
        ours = set(installed) | {int(signal.SIGTERM), int(signal.SIGINT)}
        installed += supervisor.install_forwarding(loop, ours)
    return installed


async def _health(client: Callable[[], ConsulClient], tasks: supervise.Supervisor) -> dict[str, bool]:
    try:
        await asyncio.wait_for(client().leader(), 2.0)
        return {"consul": True, **tasks.health()}
    except (ConsulError, TimeoutError):
        return {"consul": False, **tasks.health()}


async def serve(stop: asyncio.Event, loaded: Loaded, reload_config: Callable[[], Loaded], *, once: bool,
                dry: bool) -> int:
    """Run until stopped (or, with once, until every template had its outcome). Returns the exit code."""
    config = loaded.config
    clients = _Clients()
    client = await clients.open(config.consul)
    metrics = Metrics()
    tasks = supervise.Supervisor()  # every watch: restarted when it fails, named by /health when it keeps failing
    loop = asyncio.get_running_loop()
    supervisor = None
    if config.exec is not None and not dry:
        exec_spec = config.exec
        supervisor = Supervisor(exec_spec, lambda: exec_spec.env.apply(os.environ, config.pass_env), stop)
    runner = None
    if config.templates:
        async def reconnect(options: ConsulOptions) -> Source:
            return await clients.open(options)

        runner = Runner(loaded, client, metrics=metrics, reload_config=reload_config, once=once, dry=dry,
                        environ=config.child_environ(os.environ), reconnect=reconnect,
                        on_ready=supervisor.ready if supervisor else None, observer=metrics.consul, tasks=tasks)
    installed = _signals(loop, config, stop, runner.request_reload if runner else lambda: None, supervisor)
    background = [asyncio.create_task(children.reap_forever(), name="reap orphans")] if children.is_init() else []
    stack = contextlib.AsyncExitStack()
    _write_pid(config.pid_file)
    try:
        await stack.enter_async_context(serve_observability(lambda: _health(lambda: clients.current, tasks),
                                                            metrics.registry, config.http_addr))
        log.info("consul-templates: %d template(s)%s, Consul at %s%s%s", len(config.templates),
                 " + env mode" if config.env else "", settings_for(config.consul).address,
                 " (once)" if once else "", " (dry)" if dry else "")
        # Everything built so far lives as long as the process: keep it out of the cyclic GC, whose full passes
        # over it cost tens of ms in the middle of a change.
        gc.collect()
        gc.freeze()
        code = await _main(stop, config, client, runner, supervisor, once, metrics, tasks)
        if supervisor is not None and supervisor.exit_code is not None:
            return supervisor.exit_code  # the child exited by itself: its code is ours, as in consul-template
        return code
    finally:
        for sig in installed:
            with contextlib.suppress(Exception):
                loop.remove_signal_handler(sig)
        if supervisor is not None:
            await supervisor.close()
        for task in background:
            task.cancel()
        await stack.aclose()
        await clients.close()
        _remove_pid(config.pid_file)


async def _main(stop: asyncio.Event, config: Config, client: ConsulClient, runner: Runner | None,
                supervisor: Supervisor | None, once: bool, metrics: Metrics, tasks: supervise.Supervisor) -> int:
    if config.env is not None and supervisor is not None:
        assert config.exec is not None
        inherited = config.exec.env.apply(os.environ, config.pass_env)
        env_runner = EnvRunner(config.env, client, supervisor, inherited, query_wait=config.consul.query_wait,
                               stale=config.consul.stale, observer=metrics.consul, tasks=tasks)
        await env_runner.run(stop)
        return 0
    assert runner is not None
    code = await runner.run(stop)
    if once and supervisor is not None and supervisor.child.running and not stop.is_set():
        await stop.wait()  # -once with -exec: the child runs until it exits (or we are stopped)
    return code


def _write_pid(path: Path | None) -> None:
    if path is None:
        return
    try:
        path.write_text(f"{os.getpid()}\n")
    except OSError as exc:
        log.error("cannot write the pid file %s: %s", path, exc)


def _remove_pid(path: Path | None) -> None:
    if path is not None:
        with contextlib.suppress(OSError):
            path.unlink()
