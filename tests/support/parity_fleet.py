"""The containers of the gliderlabs parity cases (tests/data/gliderlabs/parity.json) on a real engine.

A case names its containers by key (`main`, `parent`, ...). Names, IDs, addresses and host ports change from run
to run, so a registration is stored with placeholders in their place: `{name:<key>}`, `{id:<key>}`, `{ip:<key>}`,
`{hostport:<key>:<port>/<proto>}`, and `{node}` for the registrator's host name / node ID. The same
`normalise()` turns what gliderlabs registered (when recording) and what ours registers (in the test) into that
form, so the two compare field by field."""

from __future__ import annotations

import contextlib
import json
import re
import uuid
from collections.abc import Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
REFERENCE = ROOT / "tests" / "data" / "gliderlabs" / "parity.json"
MARK_LABEL = "portside-parity"  # on every container the fleet starts, so leftovers can be found
SLEEP = '["/bin/sleep", "1000000"]'  # nothing listens: host-network containers must not take a host port
PARALLEL = 4


def load_reference(path: Path = REFERENCE) -> dict[str, Any]:
    return dict(json.loads(path.read_text()))


def flag_sets(cases: Iterable[Mapping[str, Any]]) -> list[tuple[str, ...]]:
    """The distinct registrator command lines, in the order the cases first use them."""
    seen: dict[tuple[str, ...], None] = {}
    for case in cases:
        seen.setdefault(tuple(case["flags"]), None)
    return list(seen)


def ensure_images(client: Any, images: Mapping[str, Mapping[str, Any]], base_image: str) -> None:
    """The cases' images, made from the busybox root of `base_image` with no registry: one `docker import` per
    distinct EXPOSE list, the other names as tags of it. Existing images are kept (they may be in use)."""
    missing = [name for name in images if not _image_exists(client, name)]
    if not missing:
        return
    made: dict[tuple[str, ...], str] = {}
    holder = client.api.create_container(base_image, command=["true"])["Id"]
    try:
        rootfs = b"".join(client.api.export(holder))
    finally:
        client.api.remove_container(holder, force=True)
    for name in missing:
        expose = tuple(images[name].get("expose") or ())
        repo, tag = split_image(name)
        if expose not in made:
            changes = ["ENV PATH=/bin", f"CMD {SLEEP}", *(f"EXPOSE {p}" for p in expose)]
            client.api.import_image_from_data(rootfs, repository=repo, tag=tag, changes=changes)
            made[expose] = name
        else:
            client.api.tag(made[expose], repo, tag)


def _image_exists(client: Any, name: str) -> bool:
    import docker.errors

    try:
        client.api.inspect_image(name)
        return True
    except docker.errors.ImageNotFound:
        return False


def split_image(name: str) -> tuple[str, str]:
    """`localhost:5000/team/svc` -> (repo, 'latest'); a ':' before the last '/' is a registry port."""
    last = name.rsplit("/", 1)[-1]
    if ":" in last:
        return name[: len(name) - len(last)] + last.split(":", 1)[0], last.split(":", 1)[1]
    return name, "latest"


@dataclass(frozen=True)
class Running:
    key: str
    name: str
    id: str
    ips: tuple[str, ...]
    host_ports: Mapping[str, int]  # "80/tcp" -> host port


@dataclass
class Fleet:
    """Every case's containers, started once; `remove()` takes them and the user network away."""

    client: Any
    run: str = field(default_factory=lambda: uuid.uuid4().hex[:6])
    network: str = ""
    running: dict[str, dict[str, Running]] = field(default_factory=dict)  # case -> key -> container

    def start(self, cases: Iterable[Mapping[str, Any]], first: Mapping[str, Any] | None = None) -> Fleet:
        """Start every case's containers. `first` (a case) is created before all others: gliderlabs syncs the
        newest container first, so the oldest one registered means its start-up sync is over."""
        cases = list(cases)
        if any(c["network"] == "user" for case in cases for c in case["containers"]):
            self.network = f"parity-{self.run}"
            self.client.api.create_network(self.network, driver="bridge", labels={MARK_LABEL: self.run})
        if first is not None:
            self._start_cases([first])
        self._start_cases(cases)
        return self

    def _start_cases(self, cases: list[Mapping[str, Any]]) -> None:
        # containers that join another container's network start after the others
        jobs = [(case, spec) for case in cases for spec in case["containers"]]
        independent = [j for j in jobs if not j[1]["network"].startswith("container:")]
        dependent = [j for j in jobs if j[1]["network"].startswith("container:")]
        for batch in (independent, dependent):
            with ThreadPoolExecutor(PARALLEL) as pool:
                for case_name, run in pool.map(lambda j: (j[0]["name"], self._start_one(*j)), batch):
                    self.running.setdefault(case_name, {})[run.key] = run

    def _start_one(self, case: Mapping[str, Any], spec: Mapping[str, Any]) -> Running:
        api = self.client.api
        net = spec["network"]
        kw: dict[str, Any] = {}
        if net.startswith("container:"):
            parent = self.running[case["name"]][net.split(":", 1)[1]]
            mode = f"container:{parent.id}"  # Docker refuses exposed ports and a host name here
        else:
            mode = self.network if net == "user" else net
            ports = [_port_arg(p) for p in [*spec["expose"], *spec["publish"]]]
            kw = {"ports": ports or None, "hostname": spec.get("hostname")}
        host_config = api.create_host_config(
            network_mode=mode, port_bindings={p: ("127.0.0.1",) for p in spec["publish"]} or None)
        name = f"parity-{self.run}-{case['name']}-{spec['key']}"
        cid = api.create_container(spec["image"], name=name, labels={**spec["labels"], MARK_LABEL: self.run},
                                   environment=[f"{k}={v}" for k, v in spec["env"].items()] or None,
                                   host_config=host_config, **kw)["Id"]
        api.start(cid)
        return inspect_running(self.client, spec["key"], cid)

    def remove(self) -> None:
        import docker.errors

        def remove(cid: str) -> None:
            with contextlib.suppress(docker.errors.NotFound):
                self.client.api.remove_container(cid, force=True)

        ids = [r.id for runs in self.running.values() for r in runs.values()]
        with ThreadPoolExecutor(PARALLEL) as pool:
            list(pool.map(remove, ids))
        self.running.clear()
        if self.network:
            self.client.api.remove_network(self.network)
            self.network = ""

    def case_ids(self, case: str) -> set[str]:
        return {r.id for r in self.running.get(case, {}).values()}

    def substitutions(self, case: str, node: str) -> Substitutions:
        return Substitutions.of(self.running.get(case, {}).values(), node)


def _port_arg(port: str) -> int | tuple[int, str]:
    num, _, proto = port.partition("/")
    return int(num) if proto in ("", "tcp") else (int(num), proto)


def inspect_running(client: Any, key: str, cid: str) -> Running:
    info = client.api.inspect_container(cid)
    net = info["NetworkSettings"]
    ips = [net.get("IPAddress") or ""] + [n.get("IPAddress") or "" for n in (net.get("Networks") or {}).values()]
    host_ports = {port: int(b[0]["HostPort"]) for port, b in (net.get("Ports") or {}).items() if b}
    return Running(key, info["Name"].lstrip("/"), info["Id"], tuple(dict.fromkeys(ip for ip in ips if ip)),
                   host_ports)


@dataclass(frozen=True)
class Substitutions:
    """Run-specific values -> placeholders, applied to every string of a registration."""

    rules: tuple[tuple[re.Pattern[str], str], ...]
    ports: Mapping[int, str]

    @classmethod
    def of(cls, running: Iterable[Running], node: str) -> Substitutions:
        rules: list[tuple[re.Pattern[str], str]] = []
        ports: dict[int, str] = {}
        running = list(running)
        for r in running:  # long unique strings first, so a port or IP never matches inside them
            rules.append((re.compile(re.escape(r.id)), f"{{id:{r.key}}}"))
            rules.append((re.compile(re.escape(r.name)), f"{{name:{r.key}}}"))
        for r in running:
            rules.extend((re.compile(rf"(?<![0-9.]){re.escape(ip)}(?![0-9])"), f"{{ip:{r.key}}}") for ip in r.ips)
        for r in running:
            for port, host in r.host_ports.items():
                ports[host] = f"{{hostport:{r.key}:{port}}}"
                rules.append((re.compile(rf"(?<![0-9]){host}(?![0-9])"), ports[host]))
        rules.append((re.compile(re.escape(node)), "{node}"))
        return cls(tuple(rules), ports)

    def text(self, value: str) -> str:
        for pattern, placeholder in self.rules:
            value = pattern.sub(placeholder, value)
        return value

    def apply(self, value: Any, key: str = "") -> Any:
        if isinstance(value, str):
            return self.text(value)
        if isinstance(value, bool):
            return value
        if isinstance(value, int) and key == "Port":
            return self.ports.get(value, value)
        if isinstance(value, list):
            return [self.apply(v) for v in value]
        if isinstance(value, dict):
            return {self.text(k): self.apply(v, k) for k, v in value.items()}
        return value
