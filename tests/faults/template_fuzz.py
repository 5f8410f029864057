"""Fault 8, template fuzz: Hypothesis values in KV, tags, meta and service addresses, rendered by a real
consul-templates into a real nginx's conf.d. One template (one conf.d file) per value, so a refused value
holds back only its own file and every safe value must still show up.

Checked: the live config passes `nginx -t` all along (sampled) and at the end, nginx never logged a failed
reload, no bad value reaches its file, every safe value is in its file exactly (raw, or exactly as nginx
quotes it), the daemon stays up."""

from __future__ import annotations

import json
import threading
import time
import urllib.error
from pathlib import Path

from testbed import engines
from tests.faults.faultlib import FaultEnv, Outcome, crashed
from tests.faults.fuzz_cases import ValueCase, value_cases
from tests.faults.registrator_faults import agent_for
from tests.support.ct_harness import NGINX_CHECK
from tests.support.ct_harness import Daemon as CtDaemon

HEAD = "map $host $fz_{run}_{i} {{\n    default 0;\n"
SLOT_LINES = {
    "kv_raw": "    raw {{{{ key('fz/{run}/{i}') }}}};\n",
    "kv_quoted": "    quoted {{{{ key('fz/{run}/{i}') | nginx_quote }}}};\n",
    "tag_raw": "{{% for s in service('fz-{run}-{i}') %}}{{% for t in s.tags %}}"
               "    tag{{{{ loop.index }}}} {{{{ t }}}};\n{{% endfor %}}{{% endfor %}}",
    "meta_raw": "{{% for s in service('fz-{run}-{i}') %}}{{% for k, v in s.meta.items() %}}"
                "    meta-{{{{ k }}}} {{{{ v }}}};\n{{% endfor %}}{{% endfor %}}",
    "meta_quoted": "{{% for s in service('fz-{run}-{i}') %}}{{% for k, v in s.meta.items() %}}"
                   "    meta-{{{{ k }}}} {{{{ v | nginx_quote }}}};\n{{% endfor %}}{{% endfor %}}",
}
UPSTREAM = ("upstream fz_{run}_{i} {{\n{{% for s in service('fz-{run}-{i}') %}}    server {{{{ s.hostport }}}};\n"
            "{{% else %}}    {{{{ empty_upstream() }}}}\n{{% endfor %}}}}\n")


def quote(value: str) -> str:
    """How nginx reads a double-quoted string back: `\\` and `"` escaped (the oracle for nginx_quote)."""
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def template_text(case: ValueCase, run: str, i: int) -> str:
    if case.slot == "address":
        return UPSTREAM.format(run=run, i=i)
    return HEAD.format(run=run, i=i) + SLOT_LINES[case.slot].format(run=run, i=i) + "}\n"


def expected_line(case: ValueCase, port: int) -> str:
    """The text a safe value must produce in its file."""
    v = case.value
    return {
        "kv_raw": f"raw {v};", "kv_quoted": f"quoted {quote(v)};", "tag_raw": f"tag1 {v};",
        "meta_raw": f"meta-note {v};", "meta_quoted": f"meta-note {quote(v)};",
        "address": f"server {f'[{v}]' if ':' in v else v}:{port};",
    }[case.slot]


def write_value(agent: engines.ConsulAgent, case: ValueCase, run: str, i: int) -> str:
    """Put the value in Consul; returns Consul's refusal (empty when it took it)."""
    try:
        _write(agent, case, run, i)
    except urllib.error.HTTPError as exc:
        return f"{exc.code} {exc.read().decode(errors='replace')[:120]}"
    return ""


def _write(agent: engines.ConsulAgent, case: ValueCase, run: str, i: int) -> None:
    if case.slot.startswith("kv_"):
        agent.api(f"/v1/kv/fz/{run}/{i}", "PUT", case.value.encode())
        return
    body: dict = {"ID": f"fz-{run}-{i}", "Name": f"fz-{run}-{i}", "Address": "127.0.0.1", "Port": 8000 + i}
    if case.slot == "address":
        body["Address"] = case.value
    elif case.slot == "tag_raw":
        body["Tags"] = [case.value]
    else:
        body["Meta"] = {"note": case.value}
    agent.api("/v1/agent/service/register", "PUT", body)


class Sampler(threading.Thread):
    """Run `nginx -t` on the live config every `interval` s while the fuzz runs; keep the first failure."""

    def __init__(self, nginx: engines.Nginx, interval: float = 0.25) -> None:
        super().__init__(daemon=True)
        self.nginx, self.interval = nginx, interval
        self.samples = self.failures = 0
        self.first = ""
        self.stop = threading.Event()

    def run(self) -> None:
        while not self.stop.wait(self.interval):
            done = self.nginx.test_config()
            self.samples += 1
            if done.returncode:
                self.failures += 1
                self.first = self.first or done.stderr.strip()[-300:]


# How the daemon says it kept a bad value out: refused (the file kept), the candidate refused by nginx -t, or the
# service instance carrying it dropped from the render (the other instances rendered).
DECIDED = ("refused value", "candidate refused", "instance '")


def template_fuzz(env: FaultEnv, values: int = 60, seed: int = 8, settle_s: float = 45.0) -> Outcome:
    """8. `values` values (half safe, half bad), one template each. stale: bad values that reached their file
    (or a live config that failed `nginx -t`, or a reload nginx refused); lost: safe values not rendered
    exactly; crashes: the daemon died or logged a traceback."""
    run = env.unique("t").replace("-", "")
    cases = value_cases(values, seed)
    nginx = engines.Nginx().start()
    sampler = Sampler(nginx)
    workdir = Path(env.workdir) / f"ct-{run}"
    workdir.mkdir(parents=True, exist_ok=True)
    reloads = workdir / "reloads.log"
    command = f"echo reload >> {reloads} && {nginx.check_command} && {nginx.reload_command}"
    dests = [nginx.conf_d / f"fz-{run}-{i}.conf" for i in range(len(cases))]
    templates = [{"contents": template_text(c, run, i), "destination": str(d), "check_command": NGINX_CHECK,
                  "command": command} for i, (c, d) in enumerate(zip(cases, dests, strict=True))]
    (workdir / "templates.yaml").write_text(json.dumps({"wait": {"min": "50ms", "max": "1s"},
                                                        "templates": templates}))
    with agent_for(env, env.unique("ctfz")) as agent:
        daemon = CtDaemon(["--config", str(workdir / "templates.yaml")], workdir,
                          {"CONSUL_HTTP_ADDR": f"http://{agent.http_addr}"})
        try:
            sampler.start()
            t0 = time.monotonic()
            refused = {i: why for i, c in enumerate(cases) if (why := write_value(agent, c, run, i))}

            def state() -> tuple[list[int], list[int], list[int]]:
                """(safe cases not rendered yet, bad cases that reached their file, bad cases not decided)."""
                log = daemon.log()
                missing, leaked, pending = [], [], []
                for i, (c, d) in enumerate(zip(cases, dests, strict=True)):
                    if i in refused:
                        continue
                    text = d.read_text(errors="replace") if d.exists() else ""
                    if c.safe:
                        if expected_line(c, 8000 + i) not in text:
                            missing.append(i)
                    elif c.value and c.value in text or (c.slot == "kv_raw" and "raw ;" in text):
                        leaked.append(i)
                    elif not any(f"inline:{d}: {outcome}" in log for outcome in DECIDED):
                        pending.append(i)
                return missing, leaked, pending

            deadline = time.monotonic() + settle_s
            while time.monotonic() < deadline and any(state()[::2]):
                time.sleep(0.2)
            took = time.monotonic() - t0
            time.sleep(1.0)
            missing, leaked, pending = state()
        finally:
            sampler.stop.set()
            sampler.join(10)
            alive, log = daemon.alive(), daemon.log()
            daemon.stop()
    try:
        final = nginx.test_config()
        error_log = (nginx.prefix / "error.log").read_text(errors="replace") if (nginx.prefix / "error.log").exists() \
            else ""
        emerg = [line for line in error_log.splitlines() if "[emerg]" in line]
        n_reloads = len(reloads.read_text().splitlines()) if reloads.exists() else 0
    finally:
        nginx.stop()
    stale = len(leaked) + sampler.failures + (final.returncode != 0) + len(emerg)
    notes = [f"{len(cases)} values ({sum(c.safe for c in cases)} safe), {n_reloads} reloads, "
             f"nginx -t sampled {sampler.samples}x ({sampler.failures} failed)"]
    notes += [f"Consul refused {len(refused)}: " + "; ".join(
        f"{cases[i].slot} {cases[i].value[:30]!r} ({why})" for i, why in list(refused.items())[:3])] if refused else []
    notes += [f"leaked {cases[i].slot} {cases[i].value[:40]!r}" for i in leaked[:2]]
    notes += [f"safe {cases[i].slot} {cases[i].value[:40]!r} not rendered" for i in missing[:2]]
    notes += [f"{len(pending)} bad values neither refused nor rendered"] if pending else []
    notes += [f"nginx -t: {sampler.first or final.stderr.strip()[-200:]}"] if sampler.failures or final.returncode \
        else []
    notes += [f"nginx: {emerg[0][-200:]}"] if emerg else []
    return Outcome(lost=len(missing), stale=stale, converge_s=took, crashes=crashed(alive, log),
                   detail="; ".join(notes))
