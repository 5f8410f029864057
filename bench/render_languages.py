"""One template in three renderers, side by side in one run: consul-templates' Go language (consul-template's
.ctmpl), the same template in Jinja2, and consul-template v0.41.1 itself, on a catalog of ~1,000 instances.

    .venv/bin/python bench/render_languages.py [--services 20] [--instances 50] [--changes 30] [--renders 20]

1. render step: each template parsed once, then rendered --renders times from data already decoded in the
   store (in-process; consul-template's own render step cannot be timed from outside, so it has no column here);
2. change -> file: the three daemons run at once over the same catalog; one instance is registered, and the time
   until each destination lists it is taken; p50/p99 over --changes changes. The three share the 2 cores.
The three files must hold the same upstream lines (checked), so the comparison is of equal work.
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
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench.benchjson import add_json_option, row, write_rows
from testbed import bulk, engines

ROOT = Path(__file__).resolve().parent.parent

GO = '{{- range services }}{{ if .Tags | contains "bulk" }}' + bulk.CTMPL_UPSTREAM + "\n{{- end }}{{ end }}\n"
JINJA = """\
{% for s in services() if "bulk" in s.tags %}
upstream {{ s.name }} {
{% for i in service(s.name) %}
    server {{ i.address }}:{{ i.port }};
{% else %}
    server 127.0.0.1:1 down;
{% endfor %}
}
{% endfor %}
"""
TOOLS = ("go", "jinja2", "consul-template")


def consul_template_binary() -> str:
    out = subprocess.run(["bash", str(ROOT / "scripts" / "consul-template.sh")], check=True, stdout=subprocess.PIPE,
                         text=True)
    return out.stdout.strip().splitlines()[-1]


def bench_agent() -> engines.ConsulAgent:
    """A dev agent whose per-client connection cap fits every blocking query the three daemons hold."""
    agent = engines.ConsulAgent(node="bench-languages")
    agent.workdir.mkdir(parents=True, exist_ok=True)
    (agent.workdir / "limits.hcl").write_text("limits { http_max_conns_per_client = 8192 }\n")
    agent.extra_args = ["-config-file", str(agent.workdir / "limits.hcl")]
    return agent.start()


def _get(agent: engines.ConsulAgent, path: str, params: list[tuple[str, str]]) -> Any:
    url = f"http://{agent.http_addr}{path}" + ("?" + urllib.parse.urlencode(params) if params else "")
    try:
        with urllib.request.urlopen(url, timeout=60) as resp:
            return json.loads(resp.read())
    except urllib.error.HTTPError as exc:
        if exc.code == 404:  # a KV key that does not exist
            return None
        raise


def filled_store(renderer: Any, agent: engines.ConsulAgent) -> dict[Any, Any]:
    """The store a render needs: render, fetch what it misses (each query once), until nothing is missing."""
    from consul_templates.languages import RenderInput

    store: dict[Any, Any] = {}
    for _ in range(10):
        outcome = renderer.render(RenderInput(store, {}))
        if not outcome.missing:
            return store
        for dep in outcome.missing:
            store[dep] = dep.decode(_get(agent, *dep.query()))
    raise RuntimeError("the render kept finding queries with no data")


def render_step(agent: engines.ConsulAgent, renders: int) -> dict[str, tuple[float, str]]:
    """Median seconds of one render from a filled store, and the text, per language."""
    from consul_templates.guards import GUARDS
    from consul_templates.languages import CompileOptions, RenderInput, compiler

    out = {}
    for language, text in (("go", GO), ("jinja2", JINJA)):
        renderer = compiler(language)(text, f"bench.{language}", CompileOptions(guard=GUARDS["nginx"]))
        data = RenderInput(filled_store(renderer, agent), {})
        times = []
        rendered = ""
        for _ in range(renders):
            t0 = time.perf_counter()
            rendered = renderer.render(data).text or ""
            times.append(time.perf_counter() - t0)
        out[language] = (statistics.median(times), rendered)
    return out


def servers(text: str) -> list[str]:
    return sorted(line.strip() for line in text.splitlines() if line.strip().startswith("server "))


class Daemons:
    """The three daemons over the same catalog, each writing its own file."""

    def __init__(self, agent: engines.ConsulAgent, work: Path, ct: str) -> None:
        (work / "t.ctmpl").write_text(GO)
        (work / "t.j2").write_text(JINJA)
        self.dest = {tool: work / f"{tool}.conf" for tool in TOOLS}
        ours = [sys.executable, "-m", "consul_templates", "--consul-addr", agent.http_addr, "--log-level", "warning"]
        argv = {
            "go": [*ours, "--template", f"{work / 't.ctmpl'}:{self.dest['go']}"],
            "jinja2": [*ours, "--template", f"{work / 't.j2'}:{self.dest['jinja2']}"],
            "consul-template": [ct, "-consul-addr", agent.http_addr, "-log-level", "err", "-template",
                                f"{work / 't.ctmpl'}:{self.dest['consul-template']}"],
        }
        env = {k: v for k, v in os.environ.items() if not k.startswith("CONSUL_")}
        self.procs = [subprocess.Popen(a, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
                      for a in argv.values()]

    def text(self, tool: str) -> str:
        try:
            return self.dest[tool].read_text()
        except FileNotFoundError:
            return ""

    def stop(self) -> None:
        for proc in self.procs:
            proc.send_signal(signal.SIGINT)
        for proc in self.procs:
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(5)


def wait_all(preds: dict[str, Callable[[], bool]], t0: float, timeout: float = 30.0) -> dict[str, float]:
    """Seconds from t0 until each predicate holds (polled together, so no tool waits on another's check)."""
    done: dict[str, float] = {}
    while len(done) < len(preds):
        for name, pred in preds.items():
            if name not in done and pred():
                done[name] = time.perf_counter() - t0
        if time.perf_counter() - t0 > timeout:
            raise TimeoutError(f"not reached: {sorted(set(preds) - set(done))}")
        time.sleep(0.0005)
    return done


def change_to_file(agent: engines.ConsulAgent, daemons: Daemons, changes: int, pause: float) -> dict[str, list[float]]:
    lat: dict[str, list[float]] = {tool: [] for tool in TOOLS}
    node, _ = bulk.Layout(1, 1).node(0)
    for n in range(changes):
        port = 40000 + n
        op = bulk.service_op(node, "svc0", f"bench-change-{n}", port, tags=("bulk",))
        t0 = time.perf_counter()
        bulk.txn(agent.http_addr, [op, bulk.check_op(node, f"bench-change-{n}")])
        line = f":{port};"
        done = wait_all({tool: (lambda tool=tool, line=line: line in daemons.text(tool)) for tool in TOOLS}, t0)
        for tool, seconds in done.items():
            lat[tool].append(seconds)
        time.sleep(pause)
    return lat


def pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))] * 1000


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--services", type=int, default=20)
    parser.add_argument("--instances", type=int, default=50)
    parser.add_argument("--changes", type=int, default=30)
    parser.add_argument("--renders", type=int, default=20)
    parser.add_argument("--pause", type=float, default=0.3, help="seconds between changes")
    add_json_option(parser)
    args = parser.parse_args()
    ct = consul_template_binary()
    agent = bench_agent()
    work = Path(tempfile.mkdtemp(prefix="bench-languages-"))
    daemons: Daemons | None = None
    try:
        layout = bulk.Layout(args.services, args.instances)
        bulk.load(agent.http_addr, bulk.ops_for(layout))
        steps = render_step(agent, args.renders)
        daemons = Daemons(agent, work, ct)
        engines.wait_until(lambda: all(servers(daemons.text(t)) for t in TOOLS), 120, "the three first renders")
        first = {tool: servers(daemons.text(tool)) for tool in TOOLS}
        expected = args.services * args.instances
        for tool, lines in (*first.items(), *((lang, servers(text)) for lang, (_, text) in steps.items())):
            assert len(lines) == expected and lines == first["consul-template"], f"{tool} rendered other servers"
        lat = change_to_file(agent, daemons, args.changes, args.pause)
    finally:
        if daemons is not None:
            daemons.stop()
        agent.stop()
        shutil.rmtree(work, ignore_errors=True)
    report(steps, lat, args)
    return 0


def report(steps: dict[str, tuple[float, str]], lat: dict[str, list[float]], args: argparse.Namespace) -> None:
    results = {tool: {"change_p50_ms": pct(lat[tool], 50), "change_p99_ms": pct(lat[tool], 99)} for tool in TOOLS}
    for language, (seconds, _) in steps.items():
        results[language]["render_ms"] = seconds * 1000
    print(json.dumps(results, indent=2))
    ct = results["consul-template"]
    n = args.services * args.instances
    print(f"\n{n} instances ({args.services} services x {args.instances}), {args.changes} changes, "
          f"{args.renders} renders\n")
    print("| measure | Go (consul-templates) | Jinja2 (consul-templates) | consul-template v0.41.1 | Go / Jinja2 | "
          "Go / consul-template |\n|---|---|---|---|---|---|")
    go, jinja = results["go"], results["jinja2"]
    print(f"| render step, parsed once (ms) | {go['render_ms']:.1f} | {jinja['render_ms']:.1f} | - | "
          f"{go['render_ms'] / jinja['render_ms']:.2f} | - |")
    for label, key in (("change -> file p50 (ms)", "change_p50_ms"), ("change -> file p99 (ms)", "change_p99_ms")):
        print(f"| {label} | {go[key]:.1f} | {jinja[key]:.1f} | {ct[key]:.1f} | {go[key] / jinja[key]:.2f} | "
              f"{go[key] / ct[key]:.2f} |")
    size = args.services * args.instances
    rows = [row(f"change -> file p{p}, {lang} template", size, results[lang][f"change_p{p}_ms"],
                ct[f"change_p{p}_ms"], "ms", "consul-template v0.41.1", "size: instances; three daemons at once")
            for lang in ("go", "jinja2") for p in (50, 99)]
    rows.append(row("render step, Go template (Jinja2 as anchor)", size, go["render_ms"], jinja["render_ms"], "ms",
                    "the same template in Jinja2 (ours)", "consul-template's render step is not timeable apart"))
    write_rows(args.json, rows)


if __name__ == "__main__":
    sys.exit(main())
