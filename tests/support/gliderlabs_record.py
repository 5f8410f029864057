"""Record what gliderlabs/registrator registers for every parity case, into tests/data/gliderlabs/parity.json.

    DOCKER_HOST=unix:///... python -m tests.support.gliderlabs_record --registrator /path/to/registrator \\
        --commit <gliderlabs commit> [--hostname gliderlabs-host] [--runs 8]

The binary is not part of portside (build it yourself from gliderlabs' source; tests/data/gliderlabs/README.md
says how this recording was made). Every case's containers are started on the engine at DOCKER_HOST, a Consul dev
agent is started with a data directory, and the registrator runs once per distinct flag set and run (`--runs`),
from an empty agent each time, in a UTS namespace whose host name is `--hostname` (the host part of its service
IDs). Its start-up sync is over when the oldest container, the sentinel, is registered (it syncs newest first).
Which services belong to which container comes from its `added: <container> <service-id>` log lines. A case
whose registrations differ between runs is recorded with every variant seen and a note (`gliderlabs_varies`)."""

from __future__ import annotations

import argparse
import datetime
import json
import os
import re
import subprocess
import sys
import tempfile
from collections import Counter
from pathlib import Path
from typing import Any

from testbed import engines
from tests.support import parity_agent
from tests.support.parity_fleet import REFERENCE, ROOT, Fleet, ensure_images, flag_sets, load_reference

SENTINEL = {"name": "sentinel", "flags": [], "containers": [
    {"key": "main", "image": "portside-parity/web:1", "publish": ["80/tcp"], "expose": [], "network": "bridge",
     "labels": {"SERVICE_NAME": "parity-sentinel"}, "env": {}}]}
ADDED = re.compile(r"added: ([0-9a-f]{12}) (\S+)\s*$")


def run_once(binary: str, hostname: str, flags: tuple[str, ...], agent: engines.ConsulAgent, sentinel: str,
             workdir: Path) -> tuple[dict[str, dict[str, Any]], dict[str, set[str]]]:
    """One start-up sync: (service id -> registration, container id[:12] -> service ids it logged)."""
    parity_agent.clear(agent)
    log_path = workdir / f"gliderlabs-{len(list(workdir.iterdir()))}.log"
    script = 'hostname "$0" && exec "$@"'
    cmd = ["unshare", "--uts", "sh", "-c", script, hostname, binary, *flags, f"consul://{agent.http_addr}"]
    env = {**os.environ, "CONSUL_HTTP_TOKEN": ""}
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=env)
        try:
            engines.wait_until(lambda: f"added: {sentinel[:12]}" in log_path.read_text() or proc.poll() is not None,
                               120, f"gliderlabs sync with {' '.join(flags)}")
            if proc.poll() is not None:
                raise RuntimeError(f"gliderlabs exited:\n{log_path.read_text()[-3000:]}")
            found = parity_agent.registrations(agent)
        finally:
            proc.terminate()
            proc.wait(10)
    added: dict[str, set[str]] = {}
    for line in log_path.read_text().splitlines():
        m = ADDED.search(line)
        if m:
            added.setdefault(m.group(1), set()).add(m.group(2))
    return found, added


def outcome(fleet: Fleet, case: str, hostname: str, found: dict[str, dict[str, Any]],
            added: dict[str, set[str]]) -> list[dict[str, Any]]:
    sids = {sid for cid in fleet.case_ids(case) for sid in added.get(cid[:12], ())}
    subs = fleet.substitutions(case, hostname)
    regs = [subs.apply(found[sid]) for sid in sorted(sids) if sid in found]
    return sorted(regs, key=lambda r: json.dumps(r, sort_keys=True))


def merge(outcomes: list[list[dict[str, Any]]]) -> tuple[list[dict[str, Any]], str | None]:
    """All runs agree: their registrations. Otherwise every registration seen, and a note of the variants."""
    shown = Counter(json.dumps(o, sort_keys=True) for o in outcomes)
    if len(shown) == 1:
        return outcomes[0], None
    union: dict[str, dict[str, Any]] = {}
    for o in outcomes:
        for r in o:
            union.setdefault(json.dumps(r, sort_keys=True), r)
    variants = "; ".join(
        f"{n}x: " + (", ".join(f"{r['ID']} port {r['Port']}" for r in json.loads(text)) or "nothing")
        for text, n in shown.most_common())
    note = (f"{len(outcomes)} runs gave {len(shown)} different outcomes ({variants}); every registration seen "
            "is listed")
    return sorted(union.values(), key=lambda r: json.dumps(r, sort_keys=True)), note


def record(args: argparse.Namespace) -> int:
    import docker

    ref = load_reference(args.out)
    client = docker.DockerClient(base_url=os.environ.get("DOCKER_HOST"), timeout=60)
    web = subprocess.run(["bash", str(ROOT / "scripts" / "web-image.sh")], check=True, capture_output=True,
                         text=True).stdout.strip().splitlines()[-1]
    ensure_images(client, ref["images"], web)
    fleet = Fleet(client)
    agent = parity_agent.start_agent("gliderlabs-parity")
    try:
        fleet.start(ref["cases"], first=SENTINEL)
        sentinel = fleet.running["sentinel"]["main"].id
        runs: dict[str, list[list[dict[str, Any]]]] = {c["name"]: [] for c in ref["cases"]}
        with tempfile.TemporaryDirectory(prefix="glrec-") as tmp:
            for flags in flag_sets(ref["cases"]):
                for _ in range(args.runs):
                    found, added = run_once(args.registrator, args.hostname, flags, agent, sentinel, Path(tmp))
                    for case in ref["cases"]:
                        if tuple(case["flags"]) == flags:
                            runs[case["name"]].append(outcome(fleet, case["name"], args.hostname, found, added))
        for case in ref["cases"]:
            case["gliderlabs"], note = merge(runs[case["name"]])
            case["source"] = "measured"
            case.pop("gliderlabs_varies", None)
            if note:
                case["gliderlabs_varies"] = note
        version = subprocess.run([args.registrator, "--version"], capture_output=True, text=True).stdout.strip()
        ref["recorded"] = {
            "tool": "gliderlabs/registrator", "commit": args.commit, "version": version,
            "date": datetime.date.today().isoformat(), "hostname": args.hostname, "runs_per_flag_set": args.runs,
            "consul": agent.api("/v1/agent/self")["Config"]["Version"],
            "docker": client.version()["Version"], "docker_api": client.version()["ApiVersion"],
        }
        args.out.write_text(json.dumps(ref, indent=1, ensure_ascii=False) + "\n")
    finally:
        fleet.remove()
        agent.stop()
        client.close()
    print(f"recorded {len(ref['cases'])} cases into {args.out}")
    return 0


def main(argv: list[str]) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--registrator", required=True, help="path of a gliderlabs/registrator binary")
    p.add_argument("--commit", required=True, help="the gliderlabs commit it was built from (recorded)")
    p.add_argument("--hostname", default="gliderlabs-host", help="its host name, the host part of service IDs")
    p.add_argument("--runs", type=int, default=8, help="runs per flag set (finds what varies between runs)")
    p.add_argument("--out", type=Path, default=REFERENCE)
    return record(p.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
