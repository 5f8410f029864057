"""The loop: watch -> (quiescence) -> render -> install (check, swap) -> command, once per cycle.

- A template renders when data it read changed, after its quiescence wait; never while a dependency it
  needs has not answered yet (a first empty pass never reaches disk).
- All files of a cycle are installed first, then each distinct command runs once. A failed command puts
  the files it covered back as they were and retries later with backoff; a failed check keeps the live file
  and waits for new data. Nothing here makes the daemon exit, except `--once` finishing.
- SIGHUP re-reads the configuration and templates; a bad one is logged and the running one kept. A changed
  Consul address, token or TLS setting reconnects (the watches start again from the new agent).
- A refused value that belongs to one service instance drops that instance (logged once, counted in
  consul_templates_values_refused_total) and the rest renders; any other refused value keeps the live file.
- `on_ready(changed)` (exec mode) is awaited after every cycle once every template has been rendered.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import sys
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass, field, replace
from typing import TextIO

from consul_templates.apply import (
    CHECK_FAILED,
    INSTALLED,
    UNCHANGED,
    Installed,
    install,
    restore,
)
from consul_templates.commands import run_command
from consul_templates.config import Config, ConfigError, ConsulOptions, TemplateSpec, Wait
from consul_templates.functions import Dependency
from consul_templates.guards import GUARDS
from consul_templates.languages import Dropped, RefusedValue, Renderer, RenderError, RenderInput, render_guarded
from consul_templates.loader import Loaded, load
from consul_templates.metrics import Metrics
from consul_templates.watch import Source, Store, Watches
from portside.backoff import Backoff
from portside.consul import WatchObserver
from portside.supervise import Supervisor

log = logging.getLogger("consul_templates.runner")


@dataclass(frozen=True)
class Quiescence:
    """Pure timing rule: each change moves the deadline to `now + min`, never beyond `first change + max`."""

    wait: Wait
    first: float | None = None
    deadline: float | None = None

    def touch(self, now: float) -> Quiescence:
        first = now if self.first is None else self.first
        deadline = min(now + self.wait.min, first + max(self.wait.max, self.wait.min))
        return replace(self, first=first, deadline=deadline)

    def due(self, now: float) -> bool:
        return self.deadline is not None and now >= self.deadline

    def cleared(self) -> Quiescence:
        return Quiescence(self.wait)


@dataclass
class TemplateState:
    """Runtime state of one template (the loop's bookkeeping; the pure parts are Template and Quiescence)."""

    spec: TemplateSpec
    template: Renderer
    quiet: Quiescence
    used: frozenset[Dependency] = frozenset()
    outstanding: set[Dependency] = field(default_factory=set)  # read but not answered yet
    pending: bool = True  # render at the next cycle regardless of quiescence (start, reload)
    retry_at: float | None = None
    backoff: Backoff = field(default_factory=lambda: Backoff(base=1.0, cap=60.0))
    failed_digest: bytes | None = None  # a candidate whose check failed: not re-checked until it changes
    waiting_logged: frozenset[Dependency] = frozenset()
    last_output: bytes | None = None  # dry mode: what was printed last
    done: bool = False  # --once: this template has had its final outcome
    failed: bool = False
    ready: bool = False  # its file has been rendered and is in place (exec mode starts once all are)
    dropped_logged: frozenset[tuple[str, str, str]] = frozenset()

    def deadline(self) -> float | None:
        times = [t for t in (self.quiet.deadline, self.retry_at) if t is not None]
        return min(times) if times else None


class Runner:
    def __init__(
        self, config: Config | Loaded, source: Source, *, metrics: Metrics | None = None,
        reload_config: Callable[[], Loaded] | None = None, once: bool = False, dry: bool = False,
        environ: Mapping[str, str] | None = None, out: TextIO | None = None,
        clock: Callable[[], float] = time.monotonic,
        reconnect: Callable[[ConsulOptions], Awaitable[Source]] | None = None,
        on_ready: Callable[[bool], Awaitable[None]] | None = None,
        observer: WatchObserver | None = None, tasks: Supervisor | None = None,
    ) -> None:
        loaded = config if isinstance(config, Loaded) else load(config)
        self.config = loaded.config
        self.metrics = metrics or Metrics()
        self.reload_config = reload_config
        self.reconnect = reconnect
        self.on_ready = on_ready
        self.once = once
        self.dry = dry
        self.environ = dict(environ or {})
        self.out = out or sys.stdout
        self.clock = clock
        self.store = Store()
        self.observer = observer  # sees every fetch (the daemon's Reachability: health and metrics)
        self.tasks = tasks  # the watches run supervised (None: a supervisor of their own)
        self.watches = self._watches(source)
        self.states = [self._state(spec, loaded.renderers[spec]) for spec in self.config.templates]
        self.metrics.templates.set(len(self.states))
        self.failures = 0
        self._wake = asyncio.Event()
        self._reload_requested = False

    def _watches(self, source: Source) -> Watches:
        return Watches(source, self.store, self._on_change, query_wait=self.config.consul.query_wait,
                       stale=self.config.consul.stale, once=self.once, observer=self.observer, tasks=self.tasks)

    def _state(self, spec: TemplateSpec, renderer: Renderer) -> TemplateState:
        wait = Wait() if self.once else self.config.wait_for(spec)
        return TemplateState(spec=spec, template=renderer, quiet=Quiescence(wait))

    # ---- events ------------------------------------------------------------------------------
    def _on_change(self, dep: Dependency) -> None:
        now = self.clock()
        for st in self.states:
            if dep in st.outstanding:
                st.outstanding.discard(dep)
                if st.outstanding:
                    continue  # still waiting for others: rendering now would only find them missing
            elif dep not in st.used:
                continue
            st.quiet = st.quiet.touch(now)
        self._wake.set()

    def request_reload(self) -> None:
        self._reload_requested = True
        self._wake.set()

    async def _reload(self) -> None:
        self._reload_requested = False
        if self.reload_config is None:
            return
        try:
            loaded = self.reload_config()
        except (ConfigError, RenderError) as exc:
            log.error("reload failed, keeping the running configuration: %s", exc)
            return
        previous = self.config
        self.config = loaded.config
        for name in ("exec", "env", "pid_file", "reload_signal", "kill_signal", "http_addr"):
            if getattr(previous, name) != getattr(loaded.config, name):
                log.warning("reload: %s changed; it applies when consul-templates is restarted", name)
        if self.reconnect is not None and previous.consul != loaded.config.consul:
            try:
                source = await self.reconnect(loaded.config.consul)
            except Exception as exc:  # noqa: BLE001 - a bad new address must not stop the daemon
                log.error("reload: cannot connect with the new Consul settings, keeping the old: %s", exc)
                self.config = replace(loaded.config, consul=previous.consul)
            else:
                await self.watches.close()
                self.store = Store()  # data from the old agent must not mix with the new one's
                self.watches = self._watches(source)
                log.info("reload: Consul settings changed, watching again through %s",
                         loaded.config.consul.address or "the default address")
        self.states = [self._state(spec, loaded.renderers[spec]) for spec in self.config.templates]
        self.metrics.templates.set(len(self.states))
        log.info("configuration reloaded: %d template(s)", len(self.states))

    # ---- the loop ----------------------------------------------------------------------------
    async def run(self, stop: asyncio.Event) -> int:
        """Run until `stop` is set (or, with --once, until every template had its outcome). Exit code."""

        async def forward_stop() -> None:
            await stop.wait()
            self._wake.set()

        stopper = asyncio.create_task(forward_stop())
        try:
            while not stop.is_set():
                self._wake.clear()
                if self._reload_requested:
                    await self._reload()
                now = self.clock()
                due = [st for st in self.states if st.pending or st.quiet.due(now)
                       or (st.retry_at is not None and now >= st.retry_at)]
                if due:
                    await self.cycle(due)
                    if self.once and all(st.done for st in self.states):
                        return 1 if any(st.failed for st in self.states) else 0
                    continue
                deadlines = [d for d in (st.deadline() for st in self.states) if d is not None]
                timeout = max(0.0, min(deadlines) - now) if deadlines else None
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), timeout)
            return 0
        finally:
            stopper.cancel()
            await self.watches.close()

    async def cycle(self, due: Iterable[TemplateState]) -> None:
        """Render the due templates, install those complete, then run each distinct command once."""
        staged: list[tuple[TemplateState, bytes]] = []
        for st in due:
            st.pending = False
            st.quiet = st.quiet.cleared()
            st.retry_at = None
            text = self._render(st)
            if text is not None:
                staged.append((st, text.encode()))
        # one template: its own set, not a copy (5,000 dependencies for a template over the catalog); several:
        # set unions, no hashing again
        states = self.states
        self.watches.sync(states[0].used if len(states) == 1 else frozenset().union(*(st.used for st in states)))
        self.metrics.watches.set(len(self.watches))
        if self.dry:
            for st, content in staged:
                self._print(st, content)
            return
        installed: list[tuple[TemplateState, Installed]] = []
        for st, content in staged:
            item = await self._install(st, content)
            if item is not None:
                installed.append((st, item))
        changed = await self._run_commands(installed)
        if self.on_ready is not None and all(st.ready for st in self.states):
            await self.on_ready(changed)

    def _render(self, st: TemplateState) -> str | None:
        name = st.spec.name
        started = time.perf_counter()
        try:
            outcome = render_guarded(st.template, RenderInput(self.store, self.environ), GUARDS[st.spec.syntax],
                                     lambda item: self._dropped(st, item))
        except RenderError as exc:
            if isinstance(exc, RefusedValue):
                self.metrics.values_refused.labels(name, "render_failed").inc()
            st.used = exc.used
            st.outstanding = set()
            self._fail(st, "render_errors", str(exc))
            return None
        finally:
            self.metrics.render_seconds.labels(name).observe(time.perf_counter() - started)
        st.used = outcome.used
        st.outstanding = {d for d in outcome.missing if d not in self.store}
        if outcome.text is None:
            waiting = outcome.missing | outcome.blocked
            if waiting != st.waiting_logged:
                st.waiting_logged = waiting
                names = sorted(map(str, waiting))
                more = f" and {len(names) - 5} more" if len(names) > 5 else ""
                what = "data from" if outcome.missing else "keys to exist:"
                log.info("template %s waiting for %s %s%s", name, what, ", ".join(names[:5]), more)
            return None
        st.waiting_logged = frozenset()
        self.metrics.renders.labels(name).inc()
        return outcome.text

    def _dropped(self, st: TemplateState, item: Dropped) -> None:
        """One hostile instance left out of this render: counted every time, logged once while it stays bad."""
        self.metrics.values_refused.labels(st.spec.name, "instance_dropped").inc()
        key = (str(item.dependency), item.instance_id, item.node)
        if key not in st.dropped_logged:
            st.dropped_logged = st.dropped_logged | {key}
            log.warning("template %s: %s; the other instances are rendered", st.spec.name, item.describe())

    def _fail(self, st: TemplateState, counter: str, message: str) -> None:
        log.error("%s", message)
        getattr(self.metrics, counter).labels(st.spec.name).inc()
        self.failures += 1
        st.done = st.failed = True

    def _print(self, st: TemplateState, content: bytes) -> None:
        st.done = True
        if content == st.last_output:
            self.metrics.skipped.labels(st.spec.name).inc()
            return
        st.last_output = content
        self.out.write(f"> {st.spec.destination}\n{content.decode()}")
        if not content.endswith(b"\n"):
            self.out.write("\n")
        self.out.flush()

    async def _install(self, st: TemplateState, content: bytes) -> Installed | None:
        name = st.spec.name
        # hashed only while a refused candidate is remembered (2 MB of nginx config costs ~3 ms to hash)
        digest = hashlib.sha256(content).digest() if st.failed_digest is not None else None
        if digest is not None and digest == st.failed_digest:
            log.debug("template %s: same candidate as the one that failed its check; not retried", name)
            st.done = True
            return None
        item = await install(st.spec, content, self.environ)
        if item.status == UNCHANGED:
            self.metrics.skipped.labels(name).inc()
            st.failed_digest = None
            st.done = st.ready = True
            return None
        if item.status == INSTALLED:
            st.failed_digest = None
            self.metrics.writes.labels(name).inc()
            log.info("template %s: wrote %s (%d bytes)", name, st.spec.destination, len(content))
            return item
        if item.status == CHECK_FAILED:
            st.failed_digest = digest or hashlib.sha256(content).digest()
            self._fail(st, "check_failures", f"template {name}: candidate refused, {st.spec.destination} kept: "
                       f"{item.detail}")
            return None
        self._fail(st, "render_errors", f"template {name}: {item.detail}")
        st.retry_at = self.clock() + st.backoff.next_delay()
        return None

    async def _run_commands(self, installed: list[tuple[TemplateState, Installed]]) -> bool:
        """Run each distinct command once; True when some file changed and stayed (its command succeeded)."""
        by_command: dict[str, list[tuple[TemplateState, Installed]]] = {}
        changed = False
        for st, item in installed:
            if st.spec.command:
                by_command.setdefault(st.spec.command, []).append((st, item))
            else:
                st.done = st.ready = changed = True
                st.backoff.reset()
        for command, items in by_command.items():
            timeout = max(st.spec.command_timeout for st, _ in items)
            self.metrics.commands.labels(command).inc()
            result = await run_command(command, timeout, self.environ)
            if result.ok:
                log.info("command %r done in %.3fs", command, result.seconds)
                for st, _ in items:
                    st.done = st.ready = changed = True
                    st.backoff.reset()
                continue
            self.metrics.command_failures.labels(command).inc()
            self.failures += 1
            for st, item in items:
                restore(item)
                st.done = st.failed = True
                st.retry_at = self.clock() + st.backoff.next_delay()
            files = ", ".join(str(st.spec.destination) for st, _ in items)
            log.error("command %r %s; restored %s, retrying in %.0fs", command, result.describe(), files,
                      min(st.retry_at or 0.0 for st, _ in items) - self.clock())
        return changed
