"""consul-templates vs consul-template v0.41.1, side by side in one run, same Consul agent, same template.

    .venv/bin/python bench/render_latency.py [--changes 50] [--services 1000] [--instances 10]

1. change -> file: one instance registered -> the destination file lists it; p50/p99 over N changes;
2. change -> nginx serving it: the same, with `nginx -s reload` as the command, until nginx answers with the
   new instance count;
3. a catalog of S services x I instances rendered in one file with --once / -once: wall time from start to
   exit, peak RSS (ru_maxrss); and our render step alone (data already in the store).
No quiescence on either side. consul-template comes from scripts/consul-template.sh (built once, cached).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path

from bench.benchjson import add_json_option, row, write_rows
from testbed import bulk, engines

ROOT = Path(__file__).resolve().parent.parent

CT_VERSION = "v0.41.1"

OURS_UPSTREAM = """\
upstream SVC {
{% for i in service('SVC') %}
    server {{ i.address }}:{{ i.port }};
{% else %}
    server 127.0.0.1:1 down;
{% endfor %}
}
server { listen 127.0.0.1:PORT; location /count { return 200 "{{ service('SVC')|length }}"; } }
"""
CT_UPSTREAM = """\
upstream SVC {
{{- range service "SVC" }}
    server {{ .Address }}:{{ .Port }};
{{- else }}
    server 127.0.0.1:1 down;
{{- end }}
}
server { listen 127.0.0.1:PORT; location /count { return 200 "{{ len (service "SVC") }}"; } }
"""
OURS_BIG = """\
{% for s in services() %}
upstream {{ s.name }} {
{% for i in service(s.name) %}
    server {{ i.address }}:{{ i.port }};
{% else %}
    server 127.0.0.1:1 down;
{% endfor %}
}
{% endfor %}
"""
CT_BIG = bulk.EVERY_SERVICE_CTMPL


def consul_template_binary() -> str:
    """The pinned consul-template, built once by scripts/consul-template.sh (cached in ~/.cache/portside)."""
    out = subprocess.run(["bash", str(ROOT / "scripts" / "consul-template.sh")], check=True, stdout=subprocess.PIPE,
                         text=True)
    return out.stdout.strip().splitlines()[-1]


class Tool:
    def __init__(self, name: str, template: str, argv: Callable[[Path, Path, str | None, bool], list[str]],
                 suffix: str) -> None:
        # the suffix tells consul-templates the template language (.j2: Jinja2, .tmpl/.ctmpl: Go templates)
        self.name, self.template, self.argv, self.suffix = name, template, argv, suffix


def tools(agent: engines.ConsulAgent, ct: str) -> list[Tool]:
    addr = agent.http_addr

    def ct_argv(src: Path, dest: Path, command: str | None, once: bool) -> list[str]:
        spec = f"{src}:{dest}" + (f":{command}" if command else "")
        return [ct, "-consul-addr", addr, "-template", spec, "-log-level", "err", *(["-once"] if once else [])]

    def ours_argv(src: Path, dest: Path, command: str | None, once: bool) -> list[str]:
        spec = f"{src}:{dest}" + (f":{command}" if command else "")
        return [sys.executable, "-m", "consul_templates", "--consul-addr", addr, "--template", spec,
                "--log-level", "warning", *(["--once"] if once else [])]

    return [Tool("consul-template", CT_UPSTREAM, ct_argv, ".ctmpl"),
            Tool("consul-templates", OURS_UPSTREAM, ours_argv, ".j2")]


def poll(pred: Callable[[], bool], timeout: float = 10.0, interval: float = 0.0002) -> None:
    deadline = time.perf_counter() + timeout
    while not pred():
        if time.perf_counter() > deadline:
            raise TimeoutError("condition not reached")
        time.sleep(interval)


def file_has(path: Path, text: str) -> Callable[[], bool]:
    def check() -> bool:
        try:
            return text in path.read_text()
        except FileNotFoundError:
            return False
    return check


def nginx_count(port: int, want: int) -> Callable[[], bool]:
    """nginx serves a config listing at least `want` instances."""
    def check() -> bool:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/count", timeout=1) as r:
                return int(r.read().decode()) >= want
        except (OSError, ValueError):
            return False
    return check


class Phase:
    """One tool's daemon in a latency phase: its own service, template, destination (and nginx port)."""

    def __init__(self, agent: engines.ConsulAgent, tool: Tool, work: Path, nginx: engines.Nginx | None,
                 command: str | None = None, extra: tuple[str, ...] = (), label: str = "") -> None:
        self.agent, self.tool, self.nginx = agent, tool, nginx
        self.svc = f"lat-{tool.name}-{label or ('nginx' if nginx else 'file')}"
        self.port = engines.free_port()
        src = work / f"{self.svc}{tool.suffix}"
        src.write_text(tool.template.replace("SVC", self.svc).replace("PORT", str(self.port)))
        self.dest = (nginx.conf_d if nginx else work) / f"{self.svc}.conf"
        command = command or (nginx.reload_command if nginx else None)
        self.proc = subprocess.Popen([*tool.argv(src, self.dest, command, False), *extra], stdout=subprocess.DEVNULL,
                                     stderr=subprocess.DEVNULL, cwd=ROOT)
        self.registered = 0
        self.latencies: list[float] = []

    def ready(self) -> None:
        poll(file_has(self.dest, "127.0.0.1:1 down"), 30)
        if self.nginx:
            poll(nginx_count(self.port, 0), 30)

    def register(self) -> int:
        """One more instance (check-less, through the agent, as an app registers itself); its number."""
        self.registered += 1
        i = self.registered
        self.agent.api("/v1/agent/service/register", "PUT",
                       {"ID": f"{self.svc}-{i}", "Name": self.svc, "Address": "127.0.0.1", "Port": 20000 + i})
        return i

    def shown(self) -> int:
        """How many instances the file lists (nginx serves): one read, however many are awaited."""
        if self.nginx:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/count", timeout=1) as r:
                    return int(r.read().decode())
            except (OSError, ValueError):
                return -1
        try:
            return self.dest.read_text().count("    server 127.0.0.1:2")
        except FileNotFoundError:
            return -1

    def shows(self, i: int) -> bool:
        """The file lists instance i (or nginx serves at least i instances: they are only ever added)."""
        if self.nginx:
            return nginx_count(self.port, i)()
        return file_has(self.dest, f"127.0.0.1:{20000 + i};")()

    def change(self) -> None:
        """Register one more instance; time until the file (or nginx) shows it."""
        t0 = time.perf_counter()
        i = self.register()
        poll(lambda: self.shows(i))
        self.latencies.append(time.perf_counter() - t0)

    def close(self) -> None:
        stop(self.proc)
        for i in range(1, self.registered + 1):
            self.agent.api(f"/v1/agent/service/deregister/{self.svc}-{i}", "PUT")
        self.dest.unlink(missing_ok=True)


def latency_run(agent: engines.ConsulAgent, tools_: list[Tool], work: Path, changes: int,
                nginx: engines.Nginx | None, pause: float) -> dict[str, list[float]]:
    """Both daemons run at once, each on its own service; changes alternate between them, so background
    noise falls on both alike. Returns the latencies per tool."""
    phases = [Phase(agent, tool, work, nginx) for tool in tools_]
    try:
        for ph in phases:
            ph.ready()
        time.sleep(0.5)
        for n in range(changes):
            for ph in phases if n % 2 == 0 else reversed(phases):
                ph.change()
                time.sleep(pause)
    finally:
        for ph in phases:
            ph.close()
        if nginx:
            nginx.reload()
    return {ph.tool.name: ph.latencies for ph in phases}


def stop(proc: subprocess.Popen) -> None:
    proc.send_signal(signal.SIGINT)  # consul-template's kill_signal; ours stops on SIGINT and SIGTERM
    try:
        proc.wait(5)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(5)


def register_catalog(agent: engines.ConsulAgent, services: int, instances: int) -> None:
    """services x instances through /v1/txn (64 operations per transaction), on `instances` fake nodes."""
    ops: list[dict] = [{"Node": {"Verb": "set", "Node": {"Node": f"bench-node-{k}", "Address": "127.0.0.1"}}}
                       for k in range(instances)]
    for s in range(services):
        for k in range(instances):
            ops.append({"Service": {"Verb": "set", "Node": f"bench-node-{k}", "Service": {
                "ID": f"big-{s}-{k}", "Service": f"big-{s:04d}", "Address": "127.0.0.1", "Port": 10000 + k}}})
    for i in range(0, len(ops), 64):
        agent.api("/v1/txn", "PUT", ops[i:i + 64])


def once_run(argv: list[str]) -> tuple[float, float]:
    """Wall seconds from start to exit and peak RSS (MiB) of one --once process."""
    with tempfile.TemporaryFile() as err:  # a file, not a pipe: a chatty process must never block on it
        t0 = time.perf_counter()
        proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=err, cwd=ROOT)
        _, status, usage = os.wait4(proc.pid, 0)
        seconds = time.perf_counter() - t0
        proc.returncode = os.waitstatus_to_exitcode(status)
        if proc.returncode != 0:
            err.seek(0)
            raise RuntimeError(f"{argv[0]} exited {proc.returncode}: {err.read().decode()[-2000:]}")
    return seconds, usage.ru_maxrss / 1024


def render_only(agent: engines.ConsulAgent, repeats: int = 5) -> tuple[float, int]:
    """Our render step alone, data already decoded in the store: median seconds and instance count."""
    from consul_templates.functions import SERVICE, SERVICES, Dependency
    from consul_templates.languages import RenderInput
    from consul_templates.render import Template

    def fetch(path: str) -> object:
        with urllib.request.urlopen(f"http://{agent.http_addr}{path}", timeout=30) as r:
            return json.loads(r.read())

    catalog = Dependency(SERVICES)
    store: dict = {catalog: catalog.decode(fetch("/v1/catalog/services"))}
    for svc in store[catalog]:
        dep = Dependency(SERVICE, svc.name, passing=True)
        store[dep] = dep.decode(fetch(f"/v1/health/service/{svc.name}?passing=1"))
    template = Template("big", OURS_BIG)
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        out = template.render(RenderInput(store, {}))
        times.append(time.perf_counter() - t0)
        assert out.text is not None
    count = sum(len(v) for k, v in store.items() if k.kind == SERVICE)
    return statistics.median(times), count


def bench_agent() -> engines.ConsulAgent:
    """A dev agent whose per-client connection cap (200 by default) fits 1,000+ watches: both tools hold one
    connection per blocking query, and both would otherwise be refused past 200 dependencies."""
    agent = engines.ConsulAgent(node="bench")
    agent.workdir.mkdir(parents=True, exist_ok=True)
    (agent.workdir / "limits.hcl").write_text("limits { http_max_conns_per_client = 8192 }\n")
    agent.extra_args = ["-config-file", str(agent.workdir / "limits.hcl")]
    return agent.start()


def pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))] * 1000


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--changes", type=int, default=50)
    parser.add_argument("--services", type=int, default=1000)
    parser.add_argument("--instances", type=int, default=10)
    parser.add_argument("--pause", type=float, default=0.2, help="seconds between changes")
    parser.add_argument("--once-runs", type=int, default=3, help="--once runs per tool (median wall, max RSS)")
    add_json_option(parser)
    args = parser.parse_args()
    ct = consul_template_binary()
    agent = bench_agent()
    nginx = engines.Nginx().start()
    work = Path(tempfile.mkdtemp(prefix="ct-bench-"))
    results: dict[str, dict[str, float]] = {}
    try:
        both = tools(agent, ct)
        for label, engine in (("file", None), ("nginx", nginx)):
            for name, lat in latency_run(agent, both, work, args.changes, engine, args.pause).items():
                r = results.setdefault(name, {})
                r[f"{label}_p50_ms"], r[f"{label}_p99_ms"] = pct(lat, 50), pct(lat, 99)
                print(f"{name} {label}: p50 {pct(lat, 50):.1f} ms, p99 {pct(lat, 99):.1f} ms", file=sys.stderr,
                      flush=True)
        register_catalog(agent, args.services, args.instances)
        for tool, big in zip(both, (CT_BIG, OURS_BIG), strict=True):
            src, dest = work / f"big-{tool.name}{tool.suffix}", work / f"big-{tool.name}.conf"
            src.write_text(big)
            runs = [once_run(tool.argv(src, dest, None, True)) for _ in range(args.once_runs)]
            results[tool.name]["big_once_s"] = statistics.median(s for s, _ in runs)
            results[tool.name]["big_peak_rss_mib"] = max(m for _, m in runs)
            servers = dest.read_text().count("    server ")
            results[tool.name]["big_servers"] = servers
        seconds, count = render_only(agent)
        results["consul-templates"]["big_render_only_ms"] = seconds * 1000
        results["consul-templates"]["big_instances"] = count
    finally:
        nginx.stop()
        agent.stop()
        shutil.rmtree(work, ignore_errors=True)
    print(json.dumps(results, indent=2))
    rows = [("change -> file p50 (ms)", "file_p50_ms"), ("change -> file p99 (ms)", "file_p99_ms"),
            ("change -> nginx serving p50 (ms)", "nginx_p50_ms"), ("change -> nginx serving p99 (ms)", "nginx_p99_ms"),
            (f"{args.services}x{args.instances} --once wall (s)", "big_once_s"),
            (f"{args.services}x{args.instances} peak RSS (MiB)", "big_peak_rss_mib")]
    print(f"\n| measure | consul-template {CT_VERSION} | consul-templates |\n|---|---|---|")
    for label, key in rows:
        a, b = results["consul-template"].get(key, float("nan")), results["consul-templates"].get(key, float("nan"))
        print(f"| {label} | {a:.2f} | {b:.2f} |")
    ours = results["consul-templates"]
    print(f"| render step only, {ours['big_instances']:.0f} instances (ms) | - | {ours['big_render_only_ms']:.1f} |")
    write_rows(args.json, json_rows(results, args))
    return 0


def json_rows(results: dict[str, dict[str, float]], args: argparse.Namespace) -> list[dict]:
    ours, ct = results["consul-templates"], results["consul-template"]
    anchor = f"consul-template {CT_VERSION}"
    out = [row(f"single change -> {target} p{p}", 1, ours[f"{target}_p{p}_ms"], ct[f"{target}_p{p}_ms"], "ms", anchor)
           for target in ("file", "nginx") for p in (50, 99)]
    out.append(row(f"--once render of every service (x{args.instances}): wall", args.services, ours["big_once_s"],
                   ct["big_once_s"], "s", anchor, "size: services"))
    out.append(row(f"--once render of every service (x{args.instances}): peak RSS", args.services,
                   ours["big_peak_rss_mib"], ct["big_peak_rss_mib"], "MiB", anchor, "size: services"))
    out.append(row(f"render step alone, data in the store (x{args.instances})", args.services,
                   ours["big_render_only_ms"], None, "ms", "", "consul-template's render step is not timeable apart"))
    return out


if __name__ == "__main__":
    sys.exit(main())
