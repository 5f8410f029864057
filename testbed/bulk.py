"""Bulk-load a synthetic catalog into a Consul agent through /v1/txn (nodes, services, checks), for the scale
tests and benchmarks. Registrations go straight into the catalog on made-up nodes, so the agent's
anti-entropy leaves them alone and their check status stays what we wrote until we write it again."""

from __future__ import annotations

import json
import urllib.request
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any

# A Jinja2 template over every service of the catalog (consul-templates' scale test and benchmark): one nginx
# upstream per service, each reading that service's instances.
EVERY_SERVICE_TEMPLATE = """{% for s in services() %}
upstream {{ s.name }} {
{% for i in service(s.name) %}
    server {{ i.hostport }};
{% else %}
    {{ empty_upstream() }}
{% endfor %}
}
{% endfor %}
"""
# its Go twin, consul-template's own .ctmpl of the same file (the anchor renders it; so can consul-templates)
CTMPL_UPSTREAM = """
upstream {{ .Name }} {
{{- range service .Name }}
    server {{ .Address }}:{{ .Port }};
{{- else }}
    server 127.0.0.1:1 down;
{{- end }}
}"""
EVERY_SERVICE_CTMPL = "{{- range services }}" + CTMPL_UPSTREAM + "\n{{- end }}\n"
TXN_OPS = 64  # Consul refuses a transaction of more than 128 operations; half keeps each request small


@dataclass(frozen=True)
class Layout:
    """`services` names svc0..svcN-1, each with `instances` instances spread round-robin over `nodes` nodes
    node0..nodeM-1 (address 127.1.<i/256>.<i%256>); each instance gets one service check, passing."""

    services: int
    instances: int
    nodes: int = 10

    def node(self, n: int) -> tuple[str, str]:
        return f"node{n}", f"127.1.{n // 256}.{n % 256}"

    def placement(self, s: int, i: int) -> tuple[str, str, int]:
        """(node name, service ID, port) of instance i of service s."""
        node, _ = self.node((s * self.instances + i) % self.nodes)
        return node, f"svc{s}-{i}", 20000 + i


def node_op(name: str, address: str) -> dict[str, Any]:
    return {"Node": {"Verb": "set", "Node": {"Node": name, "Address": address}}}


def service_op(node: str, service: str, sid: str, port: int, tags: Iterable[str] = (),
               address: str = "") -> dict[str, Any]:
    svc = {"ID": sid, "Service": service, "Port": port, "Tags": list(tags), "Address": address}
    return {"Service": {"Verb": "set", "Node": node, "Service": svc}}


def check_op(node: str, sid: str, status: str = "passing") -> dict[str, Any]:
    return {"Check": {"Verb": "set", "Check": {"Node": node, "CheckID": f"check:{sid}", "Name": "synthetic",
                                                "Status": status, "ServiceID": sid}}}


def ops_for(layout: Layout, start: int = 0) -> Iterator[dict[str, Any]]:
    """The operations that register services `start`..`layout.services - 1` (and the nodes, from 0)."""
    if start == 0:
        for n in range(layout.nodes):
            yield node_op(*layout.node(n))
    for s in range(start, layout.services):
        for i in range(layout.instances):
            node, sid, port = layout.placement(s, i)
            yield service_op(node, f"svc{s}", sid, port, tags=("bulk",))
            yield check_op(node, sid)


def txn(http_addr: str, ops: list[dict[str, Any]], token: str = "") -> None:
    req = urllib.request.Request(f"http://{http_addr}/v1/txn", data=json.dumps(ops).encode(), method="PUT")
    if token:
        req.add_header("X-Consul-Token", token)
    with urllib.request.urlopen(req, timeout=60) as resp:
        resp.read()


def load(http_addr: str, ops: Iterable[dict[str, Any]], token: str = "",
         progress: Callable[[int], None] | None = None) -> int:
    """Send `ops` in transactions of TXN_OPS, one at a time (the agent's connection limit is never near)."""
    batch: list[dict[str, Any]] = []
    sent = 0
    for op in ops:
        batch.append(op)
        if len(batch) == TXN_OPS:
            txn(http_addr, batch, token)
            sent += len(batch)
            batch = []
            if progress:
                progress(sent)
    if batch:
        txn(http_addr, batch, token)
        sent += len(batch)
    return sent
