"""Faults across the three daemons: Consul unreachable for a while, nginx reloads failing, SIGTERM under load."""

from __future__ import annotations

import signal
import socket
import threading
import time
from pathlib import Path
from typing import Any

import dns.message

from testbed import engines
from tests.faults.faultlib import FaultEnv, Outcome, converge, crashed
from tests.faults.registrator_faults import Churn, agent_for, settle, start_registrator
from tests.support import ct_harness, dnsb_harness
from tests.support.regharness import owned

HOSTPORTS = "{% for i in service('fault') %}{{ i.hostport }}\n{% endfor %}"


def published(containers: list[Any]) -> set[str]:
    out = set()
    for c in containers:
        c.reload()
        out.add(f"127.0.0.1:{c.ports['80/tcp'][0]['HostPort']}")
    return out


def dns_hostports(d: dnsb_harness.Daemon, name: str = "fault.service.consul") -> set[str]:
    msg = d.ask(name, "SRV", edns=4096)
    return {f"127.0.0.1:{rd.port}" for rrset in msg.answer for rd in rrset}


def file_lines(path: Path) -> set[str]:
    return set(path.read_text().split()) if path.exists() else set()


def templates_daemon(env: FaultEnv, agent: engines.ConsulAgent, template: str, dest: Path,
                     command: str | None = None) -> tuple[ct_harness.Daemon, int]:
    """A consul-templates process rendering `template` to `dest` (then `command`); returns it and its HTTP port."""
    src = env.workdir / f"{dest.name}.j2"
    src.write_text(template)
    http = engines.free_port()
    spec = f"{src}:{dest}" + (f":{command}" if command else "")
    d = ct_harness.Daemon(["--template", spec, "--http-addr", f"127.0.0.1:{http}"], env.workdir,
                          {"CONSUL_HTTP_ADDR": f"http://{agent.http_addr}"})
    return d, http


def consul_unreachable(env: FaultEnv, outage_s: float = 30.0) -> Outcome:
    """4. Consul down for `outage_s` while containers start and stop: dns_balancer keeps answering from its
    mirror, consul_templates keeps the last good file; all three converge when Consul is back (a dev agent
    comes back empty: registrator must register everything again)."""
    node, prefix = env.unique("cu"), env.unique("cuc")
    dest = env.workdir / f"{prefix}.txt"
    with agent_for(env, node) as agent:
        r = start_registrator(env, agent, node)
        dnsd = dnsb_harness.Daemon(agent, "--ttl", "0").start()
        ct, _ = templates_daemon(env, agent, HOSTPORTS, dest)
        try:
            first = env.start_many(4, prefix)
            want = published(first)
            engines.wait_until(lambda: dns_hostports(dnsd) == want and file_lines(dest) == want, 30,
                               "DNS and file before the outage")
            agent.stop(keep_dir=True)
            t_end = time.monotonic() + outage_s
            lost = 0
            env.remove(first[:2])
            env.start_many(3, prefix + "-during")
            while time.monotonic() < t_end:  # during the outage: answers and file are the last good data
                if dns_hostports(dnsd) != want:
                    lost += 1
                if file_lines(dest) != want:
                    lost += 1
                time.sleep(1.0)
            agent.start()
            out = settle(env, agent, node, prefix, r)
            now = published(env.running(prefix))
            def views() -> set[str]:  # DNS's answer when the file agrees with it, else the disagreement too
                d, f = dns_hostports(dnsd), file_lines(dest)
                return d if d == f else d | {f"file-differs:{x}" for x in d ^ f}

            took, missing, stale = converge(lambda: now, views, 30)
            out.lost += lost + len(missing)
            out.stale += len(stale)
            out.converge_s = max(out.converge_s, took)
            out.crashes += crashed(dnsd.alive(), dnsd.log.read_text(errors="replace"))
            out.crashes += crashed(ct.alive(), ct.log())
            return out
        finally:
            ct.stop()
            dnsd.stop()
            r.stop(timeout=10)
            env.remove(env.running(prefix))


COUNT_TEMPLATE = """\
upstream fault_{{ port }} {
{% for i in service('fault') %}    server {{ i.hostport }};
{% else %}    {{ empty_upstream() }}
{% endfor %}}
server { listen 127.0.0.1:{{ port }}; location /count { return 200 "{{ service('fault')|length }}"; } }
"""


def nginx_reload_failing(env: FaultEnv) -> Outcome:
    """5. nginx's own config made invalid outside our file: the reload fails, consul_templates stays up, counts
    the failure, keeps nginx on the last good config; once fixed, the next change goes through."""
    node = env.unique("nr")
    nginx = engines.Nginx().start()
    port = engines.free_port()
    dest = nginx.conf_d / "fault.conf"
    with agent_for(env, node) as agent:
        template = "{% set port = " + str(port) + " %}" + COUNT_TEMPLATE
        ct, http = templates_daemon(env, agent, template, dest, f"{nginx.check_command} && {nginx.reload_command}")
        failures_metric = "consul_templates_command_failures_total"

        def reg(i: int) -> None:
            dnsb_harness.register(agent, "fault", f"fault-{i}", "127.0.0.1", 9000 + i)

        def count() -> str:
            return ct_harness.get(port, "/count", timeout=1)[1]

        try:
            reg(1)
            engines.wait_until(lambda: count() == "1", 20, "first render served by nginx")
            broken = nginx.conf_d / "zz-broken.conf"
            broken.write_text("this is not nginx syntax;\n")
            failures = ct_harness.metric(http, failures_metric)
            reg(2)
            engines.wait_until(lambda: ct_harness.metric(http, failures_metric) > failures, 20, "failed reload counted")
            lost = int(count() != "1")  # nginx still serves the last good config
            lost += int(":9002" in dest.read_text())  # and the live file was put back
            broken.unlink()
            reg(3)  # the next change, now that nginx's config is fixed
            took, missing, _ = converge(lambda: {"3"}, lambda: {count()}, 30)
            lost += len(missing) + int(nginx.test_config().returncode != 0)
            return Outcome(lost=lost, converge_s=took, crashes=crashed(ct.alive(), ct.log()))
        finally:
            ct.stop()
            nginx.stop()


def _flood_dns(port: int, stop: threading.Event, counter: list[int]) -> None:
    """Queries as fast as one socket goes (loopback only) until `stop`; counts replies."""
    wire = dns.message.make_query("fault.service.consul", "A").to_wire()
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.settimeout(0.2)
        while not stop.is_set():
            try:
                s.sendto(wire, ("127.0.0.1", port))
                s.recv(4096)
                counter[0] += 1
            except OSError:
                pass


def sigterm_under_load(env: FaultEnv, load_s: float = 3.0) -> Outcome:
    """9. SIGTERM to all three daemons at once while they are busy (container churn, a DNS query flood, catalog
    changes): each exits 0 within 2 s with no traceback; registrator (--deregister-on-exit) leaves nothing."""
    node, prefix = env.unique("st"), env.unique("stc")
    with agent_for(env, node) as agent:
        r = start_registrator(env, agent, node, "--deregister-on-exit")
        dnsd = dnsb_harness.Daemon(agent).start()
        ct, _ = templates_daemon(env, agent, HOSTPORTS, env.workdir / f"{prefix}.txt")
        stop = threading.Event()
        replies = [0]
        flood = threading.Thread(target=_flood_dns, args=(dnsd.port, stop, replies), daemon=True)

        def changes() -> None:
            i = 0
            while not stop.is_set():
                dnsb_harness.register(agent, "fault", f"fault-{i % 20}", "127.0.0.1", 9000 + i % 20)
                i += 1
                time.sleep(0.01)

        changer = threading.Thread(target=changes, daemon=True)
        try:
            env.start_many(5, prefix)
            flood.start()
            changer.start()
            with Churn(env, prefix + "-ch", load_s):
                time.sleep(load_s / 2)
                procs = {"registrator": r.proc, "dns-balancer": dnsd.proc, "consul-templates": ct.proc}
                t0 = time.monotonic()
                for p in procs.values():
                    p.send_signal(signal.SIGTERM)  # type: ignore[union-attr]
                took: dict[str, float] = {}
                while len(took) < len(procs) and time.monotonic() - t0 < 5.0:  # each one's own exit time
                    for name, p in procs.items():
                        if name not in took and p.poll() is not None:  # type: ignore[union-attr]
                            took[name] = time.monotonic() - t0
                    time.sleep(0.005)
                for name, p in procs.items():
                    if name not in took:
                        p.kill()  # type: ignore[union-attr]
                        p.wait(5)  # type: ignore[union-attr]
                        took[name] = time.monotonic() - t0
            logs = {"registrator": r.output(), "dns-balancer": dnsd.log.read_text(errors="replace"),
                    "consul-templates": ct.log()}
            bad = [n for n, p in procs.items()
                   if took[n] > 2.0 or p.returncode != 0 or "Traceback" in logs[n]]  # type: ignore[union-attr]
            left = set(owned(agent, node))
            detail = ", ".join(f"{n} {t:.2f}s rc={procs[n].returncode}" for n, t in took.items())  # type: ignore
            return Outcome(stale=len(left), converge_s=max(took.values()), crashes=len(bad),
                           detail=f"{detail}; {replies[0]} DNS replies during load" + (f"; bad: {bad}" if bad else ""))
        finally:
            stop.set()
            ct.stop()
            dnsd.stop()
            r.stop(timeout=10)
            env.remove(env.running(prefix))
