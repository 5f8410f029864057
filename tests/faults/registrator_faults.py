"""Faults against registrator: kill -9 in a burst, the Consul agent restarted or unreachable, dockerd restarted.
Each runs a real registrator (`-cleanup`) against its own Consul dev agent and the shared test dockerd."""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from testbed import engines
from tests.faults.faultlib import FaultEnv, Outcome, converge, crashed, expected_ids
from tests.support.regharness import RegistratorProcess, owned

CONVERGE_TIMEOUT = 30.0


@contextmanager
def agent_for(env: FaultEnv, node: str) -> Iterator[engines.ConsulAgent]:
    agent = engines.ConsulAgent(node=node, proc_env=env.dockerd.env).start()
    try:
        yield agent
    finally:
        agent.stop()


def start_registrator(env: FaultEnv, agent: engines.ConsulAgent, node: str, *args: str) -> RegistratorProcess:
    r = RegistratorProcess(env.dockerd, agent, ["-cleanup", "-resync", "30", *args], node)
    engines.wait_until(lambda: "registrator started" in r.output() or not r.alive(), 30, "registrator start")
    return r


def ours(agent: engines.ConsulAgent, node: str, prefix: str) -> set[str]:
    """The registrations of the scenario's own containers (named `prefix...`). The registrator registers every
    container on the engine: those of other tests (a shared engine, or one an earlier test left a container on)
    are running and registered rightly, and are neither the scenario's lost nor its stale."""
    return {sid for sid in owned(agent, node) if sid.startswith(f"{node}:{prefix}")}


def settle(env: FaultEnv, agent: engines.ConsulAgent, node: str, prefix: str, r: RegistratorProcess,
           timeout: float = CONVERGE_TIMEOUT) -> Outcome:
    took, missing, stale = converge(lambda: expected_ids(node, env.running(prefix)),
                                    lambda: ours(agent, node, prefix), timeout)
    detail = ""
    if missing or stale:
        detail = f"missing {sorted(missing)[:3]} stale {sorted(stale)[:3]}"
    return Outcome(lost=len(missing), stale=len(stale), converge_s=took, crashes=crashed(r.alive(), r.output()),
                   detail=detail)


def back_after_fault(agent: engines.ConsulAgent, node: str, stable: set[str]) -> float:
    """Seconds from now (the engine just came back) until every container that lived through the fault is
    registered again, while the churn goes on around them."""
    took, missing, _ = converge(lambda: stable, lambda: set(owned(agent, node)) & stable, CONVERGE_TIMEOUT)
    return took


class Churn:
    """Start and remove containers in the background for `seconds` (bounded), like a busy host."""

    def __init__(self, env: FaultEnv, prefix: str, seconds: float, *, restart: bool = False,
                 seed: int | None = None) -> None:
        self.env, self.prefix, self.seconds, self.restart = env, prefix, seconds, restart
        self.rng = random.Random(seed)
        self.errors = 0
        self.started = 0
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> Churn:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._thread.join(self.seconds + 60)

    def _run(self) -> None:
        mine: list[Any] = []
        deadline = time.monotonic() + self.seconds
        while time.monotonic() < deadline:
            try:
                if mine and self.rng.random() < 0.4:
                    mine.pop(self.rng.randrange(len(mine))).remove(force=True)
                else:
                    mine.append(self.env.run(f"{self.prefix}-{self.started}", restart=self.restart))
                    self.started += 1
            except Exception:  # noqa: BLE001 - the engine may be restarting: that is the fault
                self.errors += 1
                time.sleep(0.2)
            time.sleep(self.rng.uniform(0.02, 0.15))


def kill9_in_burst(env: FaultEnv, burst: int = 100) -> Outcome:
    """1. kill -9 registrator in the middle of a burst of `burst` starts; restart it -> Consul == running."""
    node, prefix = env.unique("k9"), env.unique("k9c")
    with agent_for(env, node) as agent:
        r = start_registrator(env, agent, node)
        done: list[Any] = []
        t = threading.Thread(target=lambda: done.extend(env.start_many(burst, prefix)))
        t.start()
        engines.wait_until(lambda: len(owned(agent, node)) >= burst // 5, 60, "burst under way")
        r.kill9()
        t.join(120)
        # while it is dead, some containers go and others come: ghosts and newcomers for the restart to fix
        env.remove(done[:10])
        env.start_many(10, prefix + "-late")
        r2 = start_registrator(env, agent, node)
        try:
            return settle(env, agent, node, prefix, r2)
        finally:
            r2.stop(timeout=10)
            env.remove(env.running(prefix))


def consul_restart_in_churn(env: FaultEnv, churn_seconds: float = 6.0) -> Outcome:
    """2. the Consul dev agent restarted (all its state gone) during container churn -> all back <= 10 s."""
    node, prefix = env.unique("cr"), env.unique("crc")
    with agent_for(env, node) as agent:
        r = start_registrator(env, agent, node)
        stable = expected_ids(node, env.start_many(10, prefix))
        with Churn(env, prefix + "-ch", churn_seconds):
            time.sleep(churn_seconds / 2)
            agent.restart()
            back = back_after_fault(agent, node, stable)
        try:
            return settle(env, agent, node, prefix, r).after(back)
        finally:
            r.stop(timeout=10)
            env.remove(env.running(prefix))


def dockerd_restart_in_churn(env: FaultEnv, churn_seconds: float = 6.0) -> Outcome:
    """3. dockerd restarted during churn (containers with restart=always come back) -> registrator reconnects,
    replays with `since`; no duplicates (one service per container), no ghosts."""
    if env.dockerd.external:
        return Outcome(detail="skipped: the engine at DOCKER_HOST is not ours to restart")
    node, prefix = env.unique("dr"), env.unique("drc")
    with agent_for(env, node) as agent:
        r = start_registrator(env, agent, node)
        stable = expected_ids(node, env.start_many(10, prefix, restart=True))
        with Churn(env, prefix + "-ch", churn_seconds, restart=True):
            time.sleep(churn_seconds / 2)
            env.dockerd.restart()
            back = back_after_fault(agent, node, stable)
        try:
            out = settle(env, agent, node, prefix, r).after(back)
            if "reconnected" not in r.output():
                out.detail += " (no reconnect logged)"
                out.crashes += 1
            return out
        finally:
            r.stop(timeout=10)
            env.remove(env.docker.containers.list(all=True, filters={"name": prefix}))
