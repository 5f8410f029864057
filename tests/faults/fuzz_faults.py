"""Faults 6-8: fuzzed input against the real daemons. Each scenario starts its own Consul dev agent and daemons,
is parametrised in size and deterministic given `seed` (the cases come from Hypothesis, see fuzz_cases.py).

6. label_fuzz: SERVICE_* labels/env on real containers -> registrator alive, bad ones skipped with a log line
   naming container and key, good ones registered exactly as written.
7. dns_fuzz: >= 100k mutated/random packets over UDP and TCP, lying TCP lengths, slow TCP clients -> the server
   stays up, every reply parses and respects the size rules, valid queries keep being answered.
8. template_fuzz: in template_fuzz.py (values in KV, tags, meta, addresses -> nothing unescaped reaches nginx)."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from testbed import engines
from tests.faults.faultlib import LABEL, FaultEnv, Outcome, crashed
from tests.faults.fuzz_cases import PORT, LabelCase, label_cases
from tests.faults.registrator_faults import agent_for, start_registrator
from tests.faults.template_fuzz import template_fuzz
from tests.support.dnsb_fuzz import slow_round, tcp_round, udp_round
from tests.support.dnsb_harness import Daemon as DnsDaemon
from tests.support.dnsb_harness import register
from tests.support.regharness import owned

__all__ = ["dns_fuzz", "label_fuzz", "template_fuzz"]


# --- 6. label fuzz ---------------------------------------------------------------------------------------------
def _start(env: FaultEnv, name: str, case: LabelCase) -> Any:
    try:
        return env.docker.containers.run(env.image, name=name, labels={LABEL: "1", **case.labels},
                                         environment=case.env, ports={f"{PORT}/tcp": ("127.0.0.1", None)},
                                         detach=True)
    except Exception as exc:  # noqa: BLE001 - Docker refusing a label or env var is not registrator's fault
        return exc


def _mismatch(case: LabelCase, svc: dict, checks: dict[str, dict], host_port: int) -> str:
    """What differs between a good case's registration and what was written (empty when it matches)."""
    sid = svc["ID"]
    meta = {k: v for k, v in (svc.get("Meta") or {}).items() if not k.startswith("portside-")}
    ttl = [c for cid, c in checks.items() if c.get("ServiceID") == sid and cid == f"service:{sid}"]
    wrong = []
    if svc.get("Service") != case.name:
        wrong.append(f"name {svc.get('Service')!r} != {case.name!r}")
    if list(svc.get("Tags") or []) != case.tags[::-1]:  # last first, as gliderlabs master registers them
        wrong.append(f"tags {[t[:20] for t in svc.get('Tags') or []]} != {[t[:20] for t in case.tags[::-1]]}")
    if meta != case.meta:
        wrong.append(f"meta {sorted(meta)} != {sorted(case.meta)} (or a value differs)")
    if svc.get("Port") != host_port or svc.get("Address") != "127.0.0.1":
        wrong.append(f"address {svc.get('Address')}:{svc.get('Port')} != 127.0.0.1:{host_port}")
    if bool(ttl) != bool(case.ttl):
        wrong.append(f"ttl check {'present' if ttl else 'missing'}, asked {case.ttl!r}")
    return "; ".join(wrong)


def _logged(log_lines: list[str], cname: str, key: str) -> bool:
    return any(cname in line and key in line for line in log_lines)


def label_fuzz(env: FaultEnv, containers: int = 40, seed: int = 6, settle_s: float = 30.0) -> Outcome:
    """6. `containers` real containers, half with valid SERVICE_* metadata (duplicates across label/env and
    generic/port-specific keys whose winner is known), half with exactly one bad value where it takes effect.
    lost: good containers not registered, or bad ones skipped without a log line naming container and key;
    stale: bad (or SERVICE_IGNORE) containers registered, or good ones registered with a mangled value."""
    node, prefix = env.unique("lf"), env.unique("lfc")
    cases = label_cases(containers, seed)
    with agent_for(env, node) as agent:
        r = start_registrator(env, agent, node)
        t0 = time.monotonic()
        with ThreadPoolExecutor(max_workers=8) as pool:
            started = list(pool.map(lambda ic: _start(env, f"{prefix}-{ic[0]}", ic[1]), enumerate(cases)))
        try:
            refused = [(c, s) for c, s in zip(cases, started, strict=True) if isinstance(s, Exception)]
            live = [(c, s) for c, s in zip(cases, started, strict=True) if not isinstance(s, Exception)]
            ports: dict[str, int] = {}
            for _, cont in live:
                cont.reload()
                ports[cont.name] = int(cont.attrs["NetworkSettings"]["Ports"][f"{PORT}/tcp"][0]["HostPort"])
            want = {f"{node}:{s.name}:{PORT}" for c, s in live if c.bad_key is None and not c.ignore}
            bad = [(c, s) for c, s in live if c.bad_key is not None]

            def settled() -> bool:
                lines = r.output().splitlines()
                return want <= set(owned(agent, node)) and all(_logged(lines, s.name, c.bad_key) for c, s in bad)

            deadline = time.monotonic() + settle_s
            while time.monotonic() < deadline and not settled():
                time.sleep(0.2)
            took = time.monotonic() - t0
            time.sleep(1.0)  # stragglers: a bad container registered late still counts
            have, checks = owned(agent, node), agent.api("/v1/agent/checks") or {}
            lines = r.output().splitlines()
            lost, stale, notes = 0, 0, []
            for c, s in live:
                sid = f"{node}:{s.name}:{PORT}"
                if c.bad_key is not None or c.ignore:
                    if sid in have:
                        stale += 1
                        notes.append(f"{s.name} ({c.why} {c.bad_key}) registered")
                    if c.bad_key is not None and not _logged(lines, s.name, c.bad_key):
                        lost += 1
                        notes.append(f"{s.name} ({c.why}): no log line naming it and {c.bad_key!r}")
                elif sid not in have:
                    lost += 1
                    notes.append(f"{s.name} (good) not registered")
                elif wrong := _mismatch(c, have[sid], checks, ports[s.name]):
                    stale += 1
                    notes.append(f"{s.name} mangled: {wrong}")
            detail = (f"{len(live)} containers ({len(want)} to register, {len(bad)} bad), "
                      f"{len(refused)} refused by Docker")
            if notes:
                detail += "; " + "; ".join(notes[:4]) + (f" (+{len(notes) - 4} more)" if len(notes) > 4 else "")
            return Outcome(lost=lost, stale=stale, converge_s=took, crashes=crashed(r.alive(), r.output()),
                           detail=detail)
        finally:
            r.stop(timeout=10)
            env.remove(s for s in started if not isinstance(s, Exception))


# --- 7. DNS fuzz -----------------------------------------------------------------------------------------------
def dns_fuzz(env: FaultEnv, packets: int = 100_000, tcp_streams: int = 60, slow_clients: int = 20,
             seed: int = 7, idle_timeout: float = 1.5) -> Outcome:
    """7. `packets` UDP datagrams, `tcp_streams` TCP connections of mutated messages with lying length prefixes,
    `slow_clients` dribbling or never-finishing TCP clients. crashes: the server died, counted a handler error,
    or stopped answering a valid query afterwards; stale: replies that did not parse, broke the UDP size rule,
    matched no query, or TCP streams that were not whole length-prefixed messages; lost: over 5% of the UDP
    replies missing, slow clients not answered or not closed, probes during the slow round unanswered."""
    name = "fz"
    with agent_for(env, env.unique("dnsfz")) as agent:
        for i in range(12):
            register(agent, name, f"{name}-{i}", f"127.0.2.{i + 1}", 8000 + i, tags=["tag"])
        timeouts = ("--tcp-idle-timeout", str(idle_timeout), "--tcp-message-timeout", str(idle_timeout))
        d = DnsDaemon(agent, *timeouts).start()
        try:
            engines.wait_until(lambda: len(d.addresses(f"{name}.service.consul", tcp=True)) == 12, 15, "registered")
            errors_before = d.metrics()["dns_balancer_handler_errors_total"]
            udp = udp_round(d.port, packets, seed, name)
            tcp = tcp_round(d.port, tcp_streams, seed + 1, name)
            slow = slow_round(d.port, slow_clients, seed + 2, idle_timeout,
                              probe=lambda: bool(d.ask("consul", "SOA", tcp=True, timeout=1).answer), name=name)
            t0 = time.monotonic()
            answered = False
            try:
                answered = len(d.addresses(f"{name}.service.consul")) == 12 and bool(
                    d.ask("consul", "SOA", tcp=True).answer)
            except Exception:  # noqa: BLE001 - counted as a crash below
                pass
            after = time.monotonic() - t0
            handler_errors = d.metrics()["dns_balancer_handler_errors_total"] - errors_before if d.alive() else -1
            missing = udp.expected - udp.replies
            lost = (missing if missing > 0.05 * udp.expected else 0) + slow.lost
            stale = udp.bad + tcp.bad + slow.stats.bad
            crashes = crashed(d.alive(), d.log.read_text(errors="replace")) + (not answered) + (handler_errors != 0)
            examples = (udp.examples + tcp.examples + slow.stats.examples)[:3]
            detail = (f"udp: {udp}; tcp: {tcp}; slow: {slow}; handler errors {handler_errors:.0f}; "
                      f"valid query after: {'ok' if answered else 'FAILED'}")
            detail += f"; e.g. {examples}" if examples else ""
            return Outcome(lost=lost, stale=stale, converge_s=after, crashes=crashes, detail=detail)
        finally:
            d.stop()
