"""What a registrator left in a Consul agent, read back in full, and the field-by-field comparison of two runs.

Consul's HTTP API shows a check's ID, name and type but not its definition (`Definition` comes back empty from
/v1/agent/checks and /v1/health/checks for API registrations). The agent keeps the definition it accepted in
its data directory (`checks/<hash>`: the check and its `ChkType`), so the parity agent is a dev agent *with*
a data directory and the definitions are read from there: what the agent holds, not what a client meant to
send."""

from __future__ import annotations

import json
import urllib.error
import urllib.parse
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from testbed import engines

FIELDS = ("ID", "Name", "Address", "Port", "Tags", "Meta", "Checks")
DURATIONS = ("Interval", "Timeout", "TTL", "DeregisterCriticalServiceAfter")


def start_agent(node: str = "portside-parity", proc_env: Mapping[str, str] | None = None) -> engines.ConsulAgent:
    """A dev agent that keeps its state on disk (ACLs as the session's, PORTSIDE_CONSUL_ACL)."""
    agent = engines.ConsulAgent(node=node, proc_env=dict(proc_env or {}))
    agent.extra_args = ["-data-dir", str(agent.workdir / "data")]
    return agent.start()


def go_duration(ns: int) -> str:
    """Nanoseconds as a short duration (15s, 10m, 500ms), the unit the largest that divides it."""
    for unit, size in (("h", 3600 * 10**9), ("m", 60 * 10**9), ("s", 10**9), ("ms", 10**6)):
        if ns % size == 0:
            return f"{ns // size}{unit}"
    return f"{ns}ns"


def check_definitions(agent: engines.ConsulAgent) -> dict[str, dict[str, Any]]:
    """CheckID -> the definition the agent accepted: every field that is set, durations as text, ScriptArgs as
    Args (the registration's name for it); Status is the initial status asked for ("" when none)."""
    out: dict[str, dict[str, Any]] = {}
    for path in (Path(agent.workdir) / "data" / "checks").glob("*"):
        try:
            saved = json.loads(path.read_text())
        except (OSError, json.JSONDecodeError):
            continue  # removed or being replaced while we list: the API listing decides what exists
        definition: dict[str, Any] = {}
        for key, value in (saved.get("ChkType") or {}).items():
            if key in ("CheckID", "Name") or value in (None, "", 0, False, [], {}):
                continue
            definition["Args" if key == "ScriptArgs" else key] = go_duration(value) if key in DURATIONS else value
        out[saved["Check"]["CheckID"]] = definition
    return out


def registrations(agent: engines.ConsulAgent) -> dict[str, dict[str, Any]]:
    """Service ID -> {ID, Name, Address, Port, Tags, Meta, Checks}, checks sorted by CheckID."""
    services = agent.api("/v1/agent/services") or {}
    checks = agent.api("/v1/agent/checks") or {}
    definitions = check_definitions(agent)
    out: dict[str, dict[str, Any]] = {}
    for sid, s in services.items():
        own = sorted((c for c in checks.values() if c["ServiceID"] == sid), key=lambda c: c["CheckID"])
        out[sid] = {
            "ID": s["ID"], "Name": s["Service"], "Address": s.get("Address", ""), "Port": s.get("Port", 0),
            "Tags": list(s.get("Tags") or []), "Meta": dict(s.get("Meta") or {}),
            "Checks": [{"CheckID": c["CheckID"], "Name": c["Name"], "Type": c["Type"],
                        **definitions.get(c["CheckID"], {})} for c in own],
        }
    return out


def clear(agent: engines.ConsulAgent) -> None:
    """Deregister every service, so the next registrator run starts from an empty agent. A registrator registers
    every container on the engine, other tests' too; an ID the agent's own URL handling cannot reach (one with
    `..` or `//`, from attack tests) stays: it is never one of a case's services."""
    stuck: set[str] = set()
    for sid in agent.api("/v1/agent/services") or {}:
        try:
            agent.api(f"/v1/agent/service/deregister/{urllib.parse.quote(sid, safe='')}", "PUT")
        except urllib.error.HTTPError:
            stuck.add(sid)
    engines.wait_until(lambda: set(agent.api("/v1/agent/services") or {}) <= stuck, 10, "empty agent")


def _show(value: Any) -> str:
    return json.dumps(value, sort_keys=True)


def compare(expected: Iterable[Mapping[str, Any]], actual: Iterable[Mapping[str, Any]],
            ignore: Iterable[str] = ()) -> list[str]:
    """Differences between two lists of registrations, one line each, empty when they match. Registrations pair
    up by ID, or by Port when the ID is a difference on purpose; fields in `ignore` are not compared."""
    ignored = set(ignore)
    key = "Port" if "ID" in ignored else "ID"
    left = {_show(r[key]): r for r in expected}
    right = {_show(r[key]): r for r in actual}
    diffs: list[str] = []
    for k in sorted(left.keys() - right.keys()):
        diffs.append(f"{key} {k}: registered by gliderlabs, not by ours")
    for k in sorted(right.keys() - left.keys()):
        diffs.append(f"{key} {k}: registered by ours, not by gliderlabs ({_show(right[k])})")
    for k in sorted(left.keys() & right.keys()):
        for f in FIELDS:
            if f not in ignored and left[k].get(f) != right[k].get(f):
                diffs.append(f"{key} {k}: {f}: gliderlabs {_show(left[k].get(f))}, ours {_show(right[k].get(f))}")
    return diffs
