"""Env mode (envconsul-style): a child whose environment comes from Consul KV prefixes and service addresses.

    env {prefixes = ["app/config"], services = ["web"], upcase = true}   +   exec {command = "app"}

`app/config/db/host = h1` becomes `db_host=h1` (`DB_HOST` with upcase; with sanitize, every character outside
[A-Za-z0-9_] becomes `_`); `services = ["web"]` adds `WEB_ADDR=host:port,host:port` (passing instances,
sorted). Later prefixes win over earlier ones, Consul's values over inherited ones. The child is started only
once every prefix exists and every query has answered (never with half its configuration), and is restarted
(or sent the reload signal, when one is configured) when the environment changes.

Values are attacker-writable data: a value with a NUL byte (which no environment can carry), a name that is
not a variable name, and names that change how a program loads code (LD_*, PATH, PYTHONPATH, BASH_ENV, ...)
or carry our credentials are refused, each with a log line naming the key; the rest is used.
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from consul_templates.config import SECRET_VARIABLES, EnvModeSpec
from consul_templates.functions import KEYS, SERVICE, Dependency
from consul_templates.supervisor import Supervisor
from consul_templates.watch import Source, Store, Watches
from portside import supervise
from portside.consul import WatchObserver

log = logging.getLogger("consul_templates.env")

_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")
_UNSAFE_NAME_CHARS = re.compile(r"[^A-Za-z0-9_]")
# Names a KV writer must not set: they make the child load or run other code, or carry credentials.
DENIED = frozenset({"PATH", "IFS", "ENV", "BASH_ENV", "SHELLOPTS", "BASHOPTS", "PS4", "PROMPT_COMMAND",
                    "PYTHONPATH", "PYTHONSTARTUP", "PYTHONHOME", "PYTHONINSPECT", "PERL5LIB", "PERL5OPT", "RUBYLIB",
                    "RUBYOPT", "NODE_OPTIONS", "NODE_PATH", "JAVA_TOOL_OPTIONS", "_JAVA_OPTIONS", "GCONV_PATH",
                    "HOSTALIASES", "LOCPATH", "NLSPATH", "MALLOC_CHECK_", "TMPDIR"}) | SECRET_VARIABLES
_DENIED_PREFIXES = ("LD_", "DYLD_", "GLIBC_")


@dataclass(frozen=True)
class EnvResult:
    """`env` is None while some prefix has not answered or does not exist yet (`waiting` names them)."""

    env: dict[str, str] | None
    waiting: tuple[str, ...] = ()
    refused: tuple[str, ...] = ()


def dependencies(spec: EnvModeSpec) -> list[Dependency]:
    return ([Dependency(KEYS, p.strip("/")) for p in spec.prefixes]
            + [Dependency(SERVICE, s, passing=True) for s in spec.services])


def variable_name(raw: str, spec: EnvModeSpec) -> str | None:
    name = raw.replace("/", "_")
    if spec.sanitize:
        name = _UNSAFE_NAME_CHARS.sub("_", name)
    if spec.upcase:
        name = name.upper()
    if not _NAME.match(name):
        return None
    return name


def refusal(name: str) -> str | None:
    upper = name.upper()
    if upper in DENIED or upper.startswith(_DENIED_PREFIXES):
        return "it would change how the child loads code or carry a credential"
    return None


def environment(spec: EnvModeSpec, store: Mapping[Dependency, Any]) -> EnvResult:
    """Pure: the variables Consul's data gives (or what is still awaited), and what was refused."""
    env: dict[str, str] = {}
    waiting: list[str] = []
    refused: list[str] = []
    for prefix in spec.prefixes:
        clean = prefix.strip("/")
        pairs = store.get(Dependency(KEYS, clean))
        base = f"{clean}/" if clean else ""
        pairs = [(k[len(base):], v) for k, v in pairs or () if k.startswith(base) and not k.endswith("/")]
        if not pairs:
            waiting.append(f"prefix {prefix!r}")
            continue
        for rel, value in pairs:
            name = variable_name(rel, spec)
            why = "is not a variable name" if name is None else refusal(name)
            if why is None and "\x00" in value:
                why = "has a NUL byte in its value"
            if why is not None:
                refused.append(f"key {base + rel!r} ({name or rel!r}) refused: {why}")
                continue
            env[str(name)] = value
    for service in spec.services:
        dep = Dependency(SERVICE, service, passing=True)
        if dep not in store:
            waiting.append(f"service {service!r}")
            continue
        hostports = []
        for inst in store[dep]:
            if re.search(r"[\s,\x00]", inst.address) or not inst.address:
                refused.append(f"service {service!r} instance {inst.id!r}: address {inst.address!r} refused")
                continue
            hostports.append(inst.hostport)
        env[f"{_UNSAFE_NAME_CHARS.sub('_', service).upper()}_ADDR"] = ",".join(sorted(hostports))
    if waiting:
        return EnvResult(None, tuple(waiting), tuple(refused))
    return EnvResult(env, (), tuple(refused))


class EnvRunner:
    """Watches the prefixes and services; starts, restarts or signals the child through the Supervisor."""

    def __init__(self, spec: EnvModeSpec, source: Source, supervisor: Supervisor, inherited: Mapping[str, str],
                 *, query_wait: str = "60s", stale: bool = False, observer: WatchObserver | None = None,
                 tasks: supervise.Supervisor | None = None) -> None:
        self.spec = spec
        self.supervisor = supervisor
        self.inherited = dict(inherited)
        self.store = Store()
        self.watches = Watches(source, self.store, self._on_change, query_wait=query_wait, stale=stale,
                               observer=observer, tasks=tasks)
        self.current: dict[str, str] | None = None
        self._wake = asyncio.Event()
        self._logged: tuple[tuple[str, ...], tuple[str, ...]] = ((), ())
        supervisor.environ = lambda: {**self.inherited, **(self.current or {})}

    def _on_change(self, dep: Dependency) -> None:
        self._wake.set()

    async def run(self, stop: asyncio.Event) -> None:
        self.watches.sync(dependencies(self.spec))
        stopper = asyncio.create_task(stop.wait())
        try:
            while not stop.is_set():
                waker = asyncio.create_task(self._wake.wait())
                await asyncio.wait({waker, stopper}, return_when=asyncio.FIRST_COMPLETED)
                waker.cancel()
                self._wake.clear()
                if not stop.is_set():
                    await self.step()
        finally:
            stopper.cancel()
            await self.watches.close()

    async def step(self) -> None:
        result = environment(self.spec, self.store)
        if (result.waiting, result.refused) != self._logged:
            self._logged = (result.waiting, result.refused)
            for line in result.refused:
                log.warning("env: %s", line)
            if result.waiting:
                log.info("env: child not started/updated yet, waiting for %s", ", ".join(result.waiting))
        if result.env is None or result.env == self.current:
            return
        first = self.current is None
        self.current = result.env
        await self.supervisor.ready(changed=not first)
