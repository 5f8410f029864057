"""The differential test's two renderers and its data: the real consul-template and our Go templates, over the
same Consul catalog and KV (a fixture loaded into a real agent).

- `load_fixture(agent)`: nodes with meta and tagged addresses, services with tags, meta, weights and checks in
  every state (passing, warning, critical, maintenance of a service and of a node), KV trees under
  `portside/ctd/` (nested keys, a "directory" key, unicode, JSON and YAML documents, flags), and a few values
  built to inject nginx syntax.
- `run_consul_template(...)`: consul-template -once over every template in ONE run (one config file, one
  template block per template), so the whole corpus costs one process start.
- `render_ours(...)`: our GoTemplates in-process, fed by the daemon's own watches (`Watches` over
  `ConsulClient`, once per query), as the daemon reads Consul.
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
import subprocess
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from consul_templates.gotemplates import GoTemplate
from consul_templates.languages import Outcome, RenderError, RenderInput, render_guarded
from consul_templates.watch import Store, Watches
from portside.consul import ConsulClient
from portside.settings import consul_settings
from testbed import engines

ROOT = Path(__file__).resolve().parents[2]
KV = "portside/ctd"  # under portside/: the consul-templates ACL policy may read it

# Values built to break out of an nginx statement: what the guard must refuse.
EVIL_ADDRESS = "127.0.0.1:1; } server { listen 127.0.0.1:9999; }"
EVIL_KV = "127.0.0.1:80;\n    deny all"

NODES: list[dict[str, Any]] = [
    {"Node": "ctd-node-a", "Address": "127.0.0.21", "NodeMeta": {"rack": "r1", "zone": "eu-west-1a", "env": "prod"},
     "TaggedAddresses": {"lan": "127.0.0.21", "wan": "198.18.5.21"}},
    {"Node": "ctd-node-b", "Address": "127.0.0.22", "NodeMeta": {"rack": "r2", "owner": "équipe-ops"},
     "TaggedAddresses": {"wan": "198.18.5.22"}},
    {"Node": "ctd-node-c", "Address": "127.0.0.23"},
    {"Node": "ctd-node-d", "Address": "127.0.0.24", "NodeMeta": {"rack": "r2"}},
]
# node-level checks: node-c is in warning, node-d in maintenance (what `consul maint` writes)
NODE_CHECKS = [
    {"Node": "ctd-node-c", "CheckID": "ctd-load", "Name": "load", "Status": "warning", "Output": "load 7.5"},
    {"Node": "ctd-node-d", "CheckID": "_node_maintenance", "Name": "Node Maintenance Mode", "Status": "critical",
     "Notes": "kernel upgrade"},
]


def _svc(node: str, sid: str, name: str, port: int, *, address: str = "", tags: tuple[str, ...] = (),
         meta: dict[str, str] | None = None, status: str = "passing", weights: tuple[int, int] | None = None,
         maint: bool = False, tagged: dict[str, Any] | None = None) -> dict[str, Any]:
    service: dict[str, Any] = {"ID": sid, "Service": name, "Port": port, "Address": address, "Tags": list(tags)}
    if meta is not None:  # {} is sent as {}, no meta as null: a Go template prints the two apart
        service["Meta"] = meta
    if weights:
        service["Weights"] = {"Passing": weights[0], "Warning": weights[1]}
    if tagged:
        service["TaggedAddresses"] = tagged
    checks = [{"Node": node, "CheckID": f"{sid}-check", "Name": f"{name} health", "Status": status,
               "ServiceID": sid, "Output": f"HTTP GET: {status}"}]
    if maint:
        checks.append({"Node": node, "CheckID": f"_service_maintenance:{sid}", "Name": "Service Maintenance Mode",
                       "Status": "critical", "ServiceID": sid, "Notes": "draining"})
    return {"Node": node, "Service": service, "Checks": checks}


SERVICES = [
    _svc("ctd-node-a", "web-a1", "web", 8080, address="127.0.1.1", tags=("v2", "prod", "primary"),
         meta={"version": "1.2.0", "weight": "10", "team": "shop"}, weights=(10, 1)),
    _svc("ctd-node-a", "web-a2", "web", 8081, tags=("prod", "v1"), meta={"version": "1.1.9", "weight": "5"},
         status="warning"),
    _svc("ctd-node-b", "web-b1", "web", 8080, address="127.0.2.1", tags=("canary", "v3"),
         meta={"version": "2.0.0-rc1", "team": "shop"}, status="critical"),
    _svc("ctd-node-b", "web-b2", "web", 8082, address="127.0.2.2", tags=("prod", "v2"), meta={"weight": "7"},
         maint=True),
    _svc("ctd-node-c", "web-c1", "web", 8080, address="127.0.3.1", tags=("prod",), meta={"version": "1.2.0"}),
    _svc("ctd-node-d", "web-d1", "web", 8080, address="127.0.4.1", tags=("prod", "v2")),
    _svc("ctd-node-a", "api-a", "api", 9000, tags=("env=prod", "rpc:grpc", "http"),
         meta={"proto": "grpc", "city": "zürich"},
         tagged={"lan_ipv4": {"Address": "127.0.1.9", "Port": 9000}, "wan": {"Address": "198.18.5.9", "Port": 19000}}),
    _svc("ctd-node-b", "api-b", "api", 9000, tags=("env=prod", "http"), meta={"proto": "http"}),
    _svc("ctd-node-c", "api-c", "api", 9001, tags=("env=staging",)),
    _svc("ctd-node-a", "db-1", "db", 5432, tags=("primary",), meta={"engine": "postgres"}),
    _svc("ctd-node-a", "cache-1", "cache", 6379, status="critical"),
    _svc("ctd-node-b", "cache-2", "cache", 6379, status="critical"),
    _svc("ctd-node-b", "qw-1", "queue_worker", 0, tags=("jobs", "batch", "jobs"), meta={}),
    # a check in a state Consul does not define (the catalog API takes any string): consul-template's aggregated
    # status is "", which matches no filter but `any`
    _svc("ctd-node-c", "odd-1", "odd", 7100, tags=("x",), status="degraded"),
]
# Registered only for the guard cases (load_evil), so the rest of the corpus sees a clean catalog.
EVIL_SERVICES = [
    _svc("ctd-node-c", "evil-1", "ctd-evil", 80, address=EVIL_ADDRESS, tags=("a;b",), meta={"note": "x } y"}),
]

KV_VALUES: dict[str, str | bytes] = {
    "app/name": "shop", "app/port": "8080", "app/enabled": "true", "app/ratio": "0.75", "app/max_conns": "1024",
    "app/negative": "-42", "app/big": "18446744073709551615", "app/empty": "",
    "app/config.json": json.dumps({"name": "shop", "replicas": 3, "ratio": 0.5, "tags": ["a", "b"],
                                   "nested": {"k": "v", "n": None, "t": True}, "html": "<b>&</b>",
                                   "big": 12345678901234567890, "small": 0.000001234, "huge": 1e21}),
    "app/config.yaml": ("name: shop\nreplicas: 3\nenabled: yes\nratio: 0.5\nlist:\n  - a\n  - 1\n  - 1.5\n"
                        "  - true\n  - null\nnested:\n  k: v\n  '1': one\n  10: ten\n  2: two\nwhen: 2024-01-02\n"
                        "hex: 0x1F\noctal: 017\nempty:\nquoted: \"yes\"\n"),
    "app/unicode": "héllo wörld ✓ 日本語", "app/spaces": "  padded value  ",
    "app/multiline": "line one\nline two\n\nline four\n", "app/list": "a,b,c,d", "app/kv": "k1=v1;k2=v2;k3",
    "app/b64": base64.b64encode("hello, wörld".encode()).decode(), "app/url": "https://example.org/a?b=c&d=e",
    "app/html": "<script>alert('x')</script> & more", "app/host": "web-01.eu-west.example.org",
    "app/folder/": "", "app/nested/a/b/c": "deep", "app/nested/a/x": "shallow", "app/nested/z": "last",
    "appendix": "prefix match", "upstreams/web/a": "127.0.0.1:9001", "upstreams/web/b": "127.0.0.1:9002",
    "upstreams/api/a": "127.0.0.1:9101", "config/max_fails": "3", "config/fail_timeout": "10s",
    "flags/feature-x": "on", "base/a/b/c": "base-c", "base/a/b/d": "base-d",
    "overrides/a/b/c": "over-c", "overrides/a/b/e": "over-e",
}
KV_FLAGS = {"flags/feature-x": 42}
ENVIRON = {"CTD_ENV": "production", "CTD_EMPTY": ""}


def _register(agent: engines.ConsulAgent, entries: list[dict[str, Any]]) -> None:
    for entry in entries:
        node = next(n for n in NODES if n["Node"] == entry["Node"])
        agent.api("/v1/catalog/register", "PUT", {**node, "Service": entry["Service"], "Checks": entry["Checks"]})


def load_evil(agent: engines.ConsulAgent) -> None:
    """The values built to inject nginx syntax: a service address, tag and meta, and a KV value."""
    _register(agent, EVIL_SERVICES)
    agent.api(f"/v1/kv/{KV}/evil/upstream", "PUT", EVIL_KV.encode())


def load_fixture(agent: engines.ConsulAgent) -> None:
    """Register the catalog and write the KV tree (idempotent: catalog registration replaces)."""
    for node in NODES:
        agent.api("/v1/catalog/register", "PUT", node)
    for check in NODE_CHECKS:
        node = next(n for n in NODES if n["Node"] == check["Node"])
        agent.api("/v1/catalog/register", "PUT", {**node, "Check": check})
    _register(agent, SERVICES)
    # one service on the agent's own node, with a TTL check it keeps passing (the serfHealth check is added)
    agent.api("/v1/agent/service/register", "PUT", {
        "ID": "local-1", "Name": "local", "Port": 7000, "Tags": ["agent"], "Meta": {"kind": "agent-local"},
        "Check": {"CheckID": "local-ttl", "TTL": "1h", "Status": "passing", "Notes": "set by the fixture"}})
    for key, value in KV_VALUES.items():
        data = value if isinstance(value, bytes) else value.encode()
        flags = KV_FLAGS.get(key)
        agent.api(f"/v1/kv/{KV}/{key}" + (f"?flags={flags}" if flags else ""), "PUT", data)


@dataclass(frozen=True)
class Case:
    """One corpus template: its file, the consul-template options it is rendered with, and the file it writes
    (relative to the output directory; its name tells consul-templates the syntax to guard, guards.py)."""

    name: str
    path: Path
    left_delim: str = ""
    right_delim: str = ""
    dest: str = ""

    @property
    def destination(self) -> str:
        return self.dest or f"{self.name}.out"


def _hcl_string(s: str) -> str:
    return json.dumps(s)


def consul_template_binary() -> str:
    """The pinned consul-template, built once by scripts/consul-template.sh (cached in ~/.cache/portside)."""
    out = subprocess.run(["bash", str(ROOT / "scripts" / "consul-template.sh")], check=True, stdout=subprocess.PIPE,
                         text=True)
    return out.stdout.strip().splitlines()[-1]


def write_config(agent: engines.ConsulAgent, cases: list[Case], out_dir: Path, token: str) -> Path:
    """One consul-template config: the agent, and a template block per case writing into out_dir."""
    blocks = []
    for case in cases:
        delims = ""
        if case.left_delim:
            delims = (f"  left_delimiter = {_hcl_string(case.left_delim)}\n"
                      f"  right_delimiter = {_hcl_string(case.right_delim)}\n")
        blocks.append(f"template {{\n  source = {_hcl_string(str(case.path))}\n"
                      f"  destination = {_hcl_string(str(out_dir / case.destination))}\n{delims}}}\n")
    config = out_dir / "consul-template.hcl"
    consul = f"consul {{\n  address = {_hcl_string(agent.http_addr)}\n"
    consul += f"  token = {_hcl_string(token)}\n" if token else ""
    config.write_text(consul + "}\nlog_level = \"warn\"\n" + "".join(blocks))
    return config


def environment() -> dict[str, str]:
    """The environment both tools run with: no CONSUL_* of the caller's (the config names agent and token)."""
    return {**{k: v for k, v in os.environ.items() if not k.startswith("CONSUL_")}, **ENVIRON}


def run_consul_template(binary: str, agent: engines.ConsulAgent, cases: list[Case], out_dir: Path,
                        token: str = "", timeout: float = 60) -> subprocess.CompletedProcess[str]:
    """consul-template -once over every case in one run."""
    config = write_config(agent, cases, out_dir, token)
    return subprocess.run([binary, "-config", str(config), "-once"], env=environment(), capture_output=True, text=True,
                          timeout=timeout)


def start_consul_template(binary: str, agent: engines.ConsulAgent, cases: list[Case], out_dir: Path,
                          token: str = "") -> subprocess.Popen[bytes]:
    """consul-template as a daemon (the caller stops it), for what -once cannot show: a blocked template."""
    config = write_config(agent, cases, out_dir, token)
    log = open(out_dir / "consul-template.log", "wb")  # noqa: SIM115 - the process holds it
    return subprocess.Popen([binary, "-config", str(config)], env=environment(), stdout=log, stderr=subprocess.STDOUT,
                            start_new_session=True)


async def _render_all(templates: Mapping[str, GoTemplate], addr: str, token: str, timeout: float
                      ) -> dict[str, Outcome | RenderError]:
    settings = consul_settings({}, address=addr, token=token or None)
    results: dict[str, Outcome | RenderError] = {}
    async with await ConsulClient.open(settings) as client:
        store = Store()
        changed = asyncio.Event()
        watches = Watches(client, store, lambda _dep: changed.set(), once=True)
        wanted: set[Any] = set()
        pending = dict(templates)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        try:
            while pending:
                waiting = False
                for name, template in list(pending.items()):
                    try:  # as the runner renders: a refused value of a service instance drops that instance
                        outcome = render_guarded(template, RenderInput(store, ENVIRON), template.guard)
                    except RenderError as exc:
                        results[name] = exc
                        del pending[name]
                        continue
                    wanted |= outcome.used
                    if any(dep not in store for dep in outcome.missing):
                        waiting = True
                    else:
                        results[name] = outcome
                        del pending[name]
                watches.sync(wanted)
                if pending and waiting:
                    changed.clear()
                    await asyncio.wait_for(changed.wait(), max(0.1, deadline - loop.time()))
                elif pending:
                    raise AssertionError(f"no progress rendering {sorted(pending)}")
        finally:
            await watches.close()
    return results


def render_ours(templates: Mapping[str, GoTemplate], agent: engines.ConsulAgent, token: str = "",
                timeout: float = 30) -> dict[str, Outcome | RenderError]:
    """Render every template against the agent through the daemon's watch layer; an Outcome or the
    RenderError per template."""
    return asyncio.run(_render_all(templates, agent.http_addr, token, timeout))
