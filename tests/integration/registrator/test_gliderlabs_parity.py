"""Drop-in parity: every case recorded from gliderlabs/registrator (tests/data/gliderlabs/parity.json) run against
OUR registrator on the real engine and a real agent, compared field by field with what gliderlabs registered.

All cases' containers start once; ours then runs once per distinct command line (the recorded gliderlabs flags,
plus `--node-id <the host name gliderlabs ran under>` and `--http-addr` to see its start-up reconcile end), from
an empty agent each time. Ours is not told about the cases: it registers every container on the engine, and the
ones a case started are picked out by the container ID ours records in each service's meta. Placeholders
({name:main}, {hostport:main:80/tcp}, ...) stand for what changes from run to run (tests/support/parity_fleet.py).

Not compared: ours' ownership meta (`portside-node`, `portside-container`): keys a gliderlabs user never reads,
which ours needs to tell its own services from another node's. Everything else is.

A difference kept on purpose goes into DELIBERATE (case, field, reason). A case ours gets wrong today is in
WRONG_TODAY: it is run and expected to fail (strict, so a fix that makes it pass shows up and the entry goes)."""

from __future__ import annotations

import os
import subprocess
import sys
import urllib.request
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from registrator.metadata import OWNER_CONTAINER, OWNER_NODE
from testbed import acl, engines
from tests.support import parity_agent
from tests.support.parity_fleet import ROOT, Fleet, ensure_images, flag_sets, load_reference

# Run once per `make test`: the registrator's ACL policy allows every service name, so the ACL run would register
# the same, and each run costs a minute or two of engine time.
pytestmark = [pytest.mark.engines,
              pytest.mark.skipif(acl.from_env(), reason="parity does not depend on ACLs; checked in the first run")]

REF = load_reference()
CASES = {c["name"]: c for c in REF["cases"]}
NODE = REF["recorded"]["hostname"]
OWNERSHIP = (OWNER_NODE, OWNER_CONTAINER)
START_TIMEOUT = 120.0  # six registrators start side by side on a loaded 2-core machine: ~25 s seen

# (case, field, why ours differs on purpose): the field is not compared for that case
DELIBERATE: list[tuple[str, str, str]] = [
    ("generic_service_id_two_ports", "ID",
     "gliderlabs gives both ports the same ID, so one registration silently replaces the other (which one varies "
     "from run to run); ours appends :<port> so both stay registered"),
    ("check_script", "Checks",
     "ours leaves a script check out unless --allow-script-checks (a container's label would run a command on the "
     "agent); with it, ours splits the command into Args words where gliderlabs sends it as one argument"),
    ("check_http_and_ttl", "Checks",
     "gliderlabs registers only the first check kind asked for (HTTP before TTL), ours each (the first with "
     "gliderlabs' ID service:<id>, the TTL as <id>:ttl); --first-check-only for gliderlabs' way"),
]

# case -> what ours gets wrong today: run, and expected to fail (strict)
WRONG_TODAY: dict[str, str] = {}


@dataclass(frozen=True)
class Outcome:
    registrations: list[dict[str, Any]]
    failure: str = ""  # ours did not get through its start-up reconcile with these flags


def reconciled(port: int) -> bool:
    """True once ours' start-up reconcile is over (its duration histogram has a sample)."""
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as resp:
        text = resp.read().decode()
    return any(line.startswith("registrator_reconcile_seconds_count ") and float(line.split()[1]) >= 1
               for line in text.splitlines())


def run_ours(flags: tuple[str, ...], agent: engines.ConsulAgent, docker_host: str,
             log: Path) -> tuple[dict[str, dict[str, Any]], str]:
    """Ours with these flags, once, from an empty agent: (what it registered, why it failed or "")."""
    parity_agent.clear(agent)
    port = engines.free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("CONSUL_")}
    env.update(agent.env_for("registrator"), DOCKER_HOST=docker_host, PYTHONUNBUFFERED="1")
    cmd = [sys.executable, "-m", "registrator", "--node-id", NODE, "--http-addr", f"127.0.0.1:{port}", *flags,
           f"consul://{agent.http_addr}"]
    with open(log, "wb") as out:
        proc = subprocess.Popen(cmd, env=env, stdout=out, stderr=subprocess.STDOUT, cwd=ROOT)
        try:
            engines.wait_until(lambda: proc.poll() is not None or reconciled(port), START_TIMEOUT,
                               "our registrator's start-up reconcile")
            if proc.poll() is not None:
                return {}, f"ours exited ({proc.returncode}) with flags {list(flags)}:\n{log.read_text()[-2000:]}"
            return parity_agent.registrations(agent), ""
        except TimeoutError as exc:
            return {}, f"ours with flags {list(flags)}: {exc}\n{log.read_text()[-2000:]}"
        finally:
            if proc.poll() is None:
                proc.terminate()
                try:
                    proc.wait(10)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait(5)


def ours_for_case(fleet: Fleet, name: str, found: dict[str, dict[str, Any]]) -> list[dict[str, Any]]:
    ids = fleet.case_ids(name)
    subs = fleet.substitutions(name, NODE)
    regs = []
    for reg in found.values():
        if reg["Meta"].get(OWNER_CONTAINER) in ids:
            meta = {k: v for k, v in reg["Meta"].items() if k not in OWNERSHIP}
            regs.append(subs.apply({**reg, "Meta": meta}))
    return regs


@pytest.fixture(scope="module")
def ours(dockerd: engines.Dockerd, docker_client: Any, web_image: str, tmp_path_factory) -> Iterator[dict]:
    """case name -> Outcome: every case's containers started, ours run once per distinct flag set. Each flag set
    gets an agent of its own, so the runs go side by side (a SERVICE_ID is the same in every run)."""
    ensure_images(docker_client, REF["images"], web_image)
    sets = flag_sets(REF["cases"])
    logs = tmp_path_factory.mktemp("parity")
    fleet = Fleet(docker_client)
    with ThreadPoolExecutor(len(sets)) as pool:
        # the agents come up while the containers start
        starting = [pool.submit(parity_agent.start_agent, f"portside-parity-{i}") for i in range(len(sets))]
        try:
            fleet.start(REF["cases"])
            agents = [f.result() for f in starting]
            runs = list(pool.map(lambda i: run_ours(sets[i], agents[i], dockerd.host, logs / f"ours-{i}.log"),
                                 range(len(sets))))
            outcomes: dict[str, Outcome] = {}
            for flags, (found, failure) in zip(sets, runs, strict=True):
                for name, case in CASES.items():
                    if tuple(case["flags"]) == flags:
                        outcomes[name] = Outcome(ours_for_case(fleet, name, found), failure)
            yield outcomes
        finally:
            fleet.remove()
            list(pool.map(lambda f: f.exception() is None and f.result().stop(), starting))


def _param(name: str) -> Any:
    if name in WRONG_TODAY:  # only a difference found is the expected failure; a run that failed is not
        return pytest.param(name, marks=pytest.mark.xfail(strict=True, raises=AssertionError,
                                                          reason=WRONG_TODAY[name]))
    return name


@pytest.mark.parametrize("name", [_param(n) for n in CASES])
def test_registers_what_gliderlabs_registers(ours: dict[str, Outcome], name: str) -> None:
    case = CASES[name]
    outcome = ours[name]
    if outcome.failure:
        pytest.fail(outcome.failure)
    ignored = [f for c, f, _ in DELIBERATE if c == name]
    diffs = parity_agent.compare(case["gliderlabs"], outcome.registrations, ignored)
    assert not diffs, f"{name}: {case['about']} (flags {case['flags']})\n  " + "\n  ".join(diffs)


def test_lists_name_recorded_cases_and_fields() -> None:
    """DELIBERATE and WRONG_TODAY name cases that exist (a renamed case must not silently drop its entry)."""
    assert {c for c, _, _ in DELIBERATE} <= CASES.keys()
    assert {f for _, f, _ in DELIBERATE} <= set(parity_agent.FIELDS)
    assert WRONG_TODAY.keys() <= CASES.keys()
    assert not {c for c, _, _ in DELIBERATE} & WRONG_TODAY.keys()
    assert all("gliderlabs" in c for c in CASES.values()), "a case without a recorded gliderlabs outcome"
