"""Differential test: every template of the corpus, rendered by the real consul-template v0.41.1 and by our Go
templates against the same Consul catalog and KV, must give the same bytes.

consul-template runs once over the whole corpus (-once, one config with a template block per template); ours
renders in-process through the daemon's own watch layer. A private Consul agent holds the fixture, so what the
templates list (all services, all nodes) is exactly the fixture. With PORTSIDE_CONSUL_ACL=1 the agent has ACLs
on and both tools read with the consul-templates token (compose/acl/consul-templates.hcl).

Where we differ on purpose, the case is named here with the reason:
- GUARD_REFUSES: templates that print Consul text with characters their syntax's guard refuses (guards.py;
  nginx unless SYNTAX says otherwise): spaces, quotes, newlines. Under the guard ours refuses them with an error naming
  the value and where it came from; with syntax `none` (no guard) they are byte-identical (test_byte_identical).
- guard_*.ctmpl: values built to inject nginx syntax (a service address, tag and meta, a KV value), registered
  only for these cases. consul-template writes them into the file; ours leaves the instance out (logged as
  dropped), or refuses the render for a KV value (EVIL); a JSON encoder's output is escaped and stays identical.
"""

from __future__ import annotations

import re
import signal
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from consul_templates.ctfuncs import function_map
from consul_templates.gotemplates import GoTemplate
from consul_templates.guards import GUARDS, default_syntax
from consul_templates.languages import CompileOptions, Outcome, RenderError
from testbed import engines
from tests.support import ct_differential as D

pytestmark = pytest.mark.engines

CORPUS = Path(__file__).parent / "corpus"
DELIMS = {"delimiters": ("[[", "]]")}
# The syntax (value guard) each template is rendered with: its destination's name says it (guards.py), nginx else.
SYNTAX = {"prometheus_targets": "json", "to_json_structs": "json", "docs_grouping": "json", "kv_json": "json",
          "to_yaml": "yaml", "kv_yaml": "yaml", "docs_encoders": "yaml", "envfile": "env", "haproxy_backend": "haproxy",
          "guard_evil_json": "json"}
# `node` with no name reads the agent's own name (/v1/agent/self): agent:read, which the least-privilege
# consul-templates token does not have. Both tools are refused under ACLs, so it is left out of that run.
NEEDS_AGENT_READ = {"node_local"}
GUARD_REFUSES = {
    "docs_loop_strings": "a KV text with spaces, upper-cased and joined",
    "kv_encoding": "base64Decode of a KV value: the decoded text (with a space) is Consul's data too",
    "kv_key": "a KV value with spaces (unicode text)",
    "kv_ls": "KV values printed with %q (quotes)",
    "kv_text": "KV text with spaces and newlines",
    "printf_verbs": "printf over a KV JSON document (quotes, spaces)",
    "svc_checks": "check names and outputs with spaces",
    "to_toml": "TOML of KV documents with spaces and quotes",
}
# Differences that are the Go template engine's (portside.gotemplate), not the function library's: strict xfail,
# so the day the engine prints these as Go does, the test says so.
ENGINE_GAPS = {
    "docs_service": "a missing key of a map of structs (ServiceTaggedAddresses.wan) must give the struct's zero "
                    "value ({ 0}, so `with` is true); the engine gives nil",
    "kv_yaml": "Go orders interface-typed map keys of different types by type (nil, string, uint64, int, "
               "float64, bool in Go 1.26); the engine orders numbers first",
}
CASES = sorted(p.stem for p in CORPUS.glob("*.ctmpl") if not p.stem.startswith("guard_"))
EVIL_CASES = sorted(p.stem for p in CORPUS.glob("guard_*.ctmpl"))


_SUFFIX = {"json": "{}.json", "yaml": "{}.yaml", "env": "{}.env", "haproxy": "haproxy/{}.cfg", "nginx": "{}.conf"}


def _case(name: str) -> D.Case:
    dest = _SUFFIX[SYNTAX.get(name, "nginx")].format(name)
    assert default_syntax(Path(dest)) == SYNTAX.get(name, "nginx")
    return D.Case(name, CORPUS / f"{name}.ctmpl", *DELIMS.get(name, ("", "")), dest=dest)


def _compile(case: D.Case, syntax: str) -> GoTemplate:
    options = CompileOptions(guard=GUARDS[syntax], left_delimiter=case.left_delim or None,
                             right_delimiter=case.right_delim or None)
    return GoTemplate(case.name, case.path.read_text(), options)


@dataclass
class Run:
    """One corpus run: consul-template's files, our outcomes with no guard and with the template's guard."""

    ct_dir: Path
    ct: subprocess.CompletedProcess[str]
    cases: dict[str, D.Case]
    unguarded: dict[str, Outcome | RenderError]
    guarded: dict[str, Outcome | RenderError]
    daemon_dir: Path | None = None
    daemon: subprocess.CompletedProcess[str] | None = None

    def theirs(self, name: str) -> bytes:
        path = self.ct_dir / self.cases[name].destination
        assert path.exists(), f"consul-template did not write {name}: {self.ct.stderr[-2000:]}"
        return path.read_bytes()


def _run(agent: engines.ConsulAgent, names: list[str], out: Path) -> Run:
    cases = [_case(n) for n in names]
    token = agent.tokens["consul-templates"] if agent.acl else ""
    ct = D.run_consul_template(D.consul_template_binary(), agent, cases, out, token=token)
    assert ct.returncode == 0, f"consul-template failed: {ct.stderr[-3000:]}"
    unguarded = D.render_ours({c.name: _compile(c, "none") for c in cases}, agent, token)
    guarded = D.render_ours({c.name: _compile(c, SYNTAX.get(c.name, "nginx")) for c in cases}, agent, token)
    return Run(out, ct, {c.name: c for c in cases}, unguarded, guarded)


@pytest.fixture(scope="module")
def agent() -> Iterator[engines.ConsulAgent]:
    a = engines.ConsulAgent(node="ctd-agent").start()
    try:
        D.load_fixture(a)
        yield a
    finally:
        a.stop()


@pytest.fixture(scope="module")
def runs(agent: engines.ConsulAgent, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Run]:
    names = [n for n in CASES if not (agent.acl and n in NEEDS_AGENT_READ)]
    corpus = _run(agent, names, tmp_path_factory.mktemp("ct-corpus"))
    corpus.daemon_dir = tmp_path_factory.mktemp("daemon")
    corpus.daemon = _daemon(agent, list(corpus.cases.values()), corpus.daemon_dir)
    D.load_evil(agent)
    evil = _run(agent, EVIL_CASES, tmp_path_factory.mktemp("ct-evil"))
    return {"corpus": corpus, "evil": evil}


def _text(outcome: Outcome | RenderError, name: str) -> bytes:
    assert not isinstance(outcome, RenderError), f"{name}: {outcome}"
    assert outcome.text is not None, f"{name}: not rendered (missing {outcome.missing}, blocked {outcome.blocked})"
    return outcome.text.encode()


def test_corpus_covers_every_function() -> None:
    """At least 60 templates, and every function we offer (but sprig's, counted apart) is called somewhere."""
    assert len(CASES) + len(EVIL_CASES) >= 60
    text = "\n".join(p.read_text() for p in CORPUS.glob("*.ctmpl"))

    def called(name: str) -> bool:  # as a command: after `{{`, `(` or `|`, before an argument or the end
        head = r"(\{\{-?|\[\[)\s*((range|with|if|else if)\s+)?(\$\w*\s*(,\s*\$\w*\s*)?:?=\s*)?|\(\s*|\|\s*"
        return re.search(rf"({head}){re.escape(name)}(\s|\)|\}}\}}|\]\]|\.)", text) is not None

    unused = sorted(name for name in function_map() if not name.startswith("sprig_") and not called(name))
    assert not unused, f"corpus calls none of: {unused}"
    sprig_used = sum(1 for name in function_map() if name.startswith("sprig_") and called(name))
    assert sprig_used >= 60


def _params(names: list[str]) -> list[object]:
    return [pytest.param(n, marks=pytest.mark.xfail(strict=True, reason=ENGINE_GAPS[n])) if n in ENGINE_GAPS else n
            for n in names]


@pytest.mark.parametrize("name", _params(CASES))
def test_byte_identical(runs: dict[str, Run], agent: engines.ConsulAgent, name: str) -> None:
    """Syntax `none` (no guard): consul-template's bytes exactly."""
    if agent.acl and name in NEEDS_AGENT_READ:
        pytest.skip("needs agent:read, which the consul-templates token does not have")
    run = runs["corpus"]
    assert _text(run.unguarded[name], name) == run.theirs(name)


@pytest.mark.parametrize("name", _params(CASES))
def test_default_guard(runs: dict[str, Run], agent: engines.ConsulAgent, name: str) -> None:
    """The guard of the template's syntax: the same bytes, except the named cases, refused with a clear error."""
    if agent.acl and name in NEEDS_AGENT_READ:
        pytest.skip("needs agent:read, which the consul-templates token does not have")
    run = runs["corpus"]
    outcome = run.guarded[name]
    if name in GUARD_REFUSES:
        assert isinstance(outcome, RenderError), f"{name} is listed as refused ({GUARD_REFUSES[name]}) but rendered"
        assert "refused value" in str(outcome) and "set the template's syntax" in str(outcome)
    else:
        assert _text(outcome, name) == run.theirs(name)


EVIL = {  # case -> what ours does under its syntax's guard
    "guard_evil_address": "dropped", "guard_evil_derived": "dropped", "guard_evil_kv": "refused",
    "guard_evil_json": "identical",
}


@pytest.mark.parametrize("name", EVIL_CASES)
def test_injected_values_refused(runs: dict[str, Run], name: str) -> None:
    """consul-template writes the injected syntax into the file; ours drops the instance that carries it (the
    file renders without it) or refuses a KV value (the render fails); with no guard ours writes what
    consul-template writes."""
    run = runs["evil"]
    theirs = run.theirs(name)
    assert any(evil.encode() in theirs for evil in (D.EVIL_ADDRESS, D.EVIL_KV, "a;b", "x } y")), theirs
    outcome = run.guarded[name]
    if EVIL[name] == "refused":
        assert isinstance(outcome, RenderError) and "refused value" in str(outcome), outcome
        assert "kv.get(portside/ctd/evil/upstream)" in str(outcome), str(outcome)
    elif EVIL[name] == "dropped":
        ours = _text(outcome, name)
        assert isinstance(outcome, Outcome) and [d.instance_id for d in outcome.dropped] == ["evil-1"], outcome
        assert not any(evil.encode() in ours for evil in (D.EVIL_ADDRESS, "a;b", "x } y")), ours
    else:
        assert _text(outcome, name) == theirs
    assert _text(run.unguarded[name], name) == theirs


def _daemon(agent: engines.ConsulAgent, cases: list[D.Case], out: Path) -> subprocess.CompletedProcess[str]:
    """consul-templates -once -config with consul-template's own HCL file (only the output directory differs)."""
    token = agent.tokens["consul-templates"] if agent.acl else ""
    config = D.write_config(agent, cases, out, token)
    return subprocess.run([sys.executable, "-m", "consul_templates", "-once", "-config", str(config)],
                          env=D.environment(), capture_output=True, text=True, timeout=120)


def test_daemon_reads_consul_templates_config(runs: dict[str, Run]) -> None:
    """The daemon itself with consul-template's config file: every file consul-template wrote, byte for byte, but
    those its guard refuses (not written, exit status 1); the syntax comes from each destination's name."""
    run = runs["corpus"]
    assert run.daemon is not None and run.daemon_dir is not None
    stderr = run.daemon.stderr
    assert run.daemon.returncode == (1 if GUARD_REFUSES else 0), stderr[-3000:]
    for case in run.cases.values():
        ours = run.daemon_dir / case.destination
        if case.name in GUARD_REFUSES:
            assert not ours.exists() and f"{case.name}.ctmpl: refused value" in stderr, case.name
        elif case.name not in ENGINE_GAPS:
            assert ours.exists(), f"{case.name} not written: {stderr[-2000:]}"
            assert ours.read_bytes() == run.theirs(case.name), case.name


BLOCKING = {
    "sentinel": 'name={{ key "portside/ctd/app/name" }}\n',
    "missing_key": 'later={{ key "portside/ctd/later/key" }}\n',
    "safe_ls_empty": '{{ range safeLs "portside/ctd/later/dir" }}{{ .Key }}={{ .Value }}\n{{ end }}',
    "safe_tree_empty": '{{ range safeTree "portside/ctd/later/dir" }}{{ .Key }}\n{{ end }}',
}


def test_missing_key_and_empty_safe_prefix_block(agent: engines.ConsulAgent, tmp_path: Path) -> None:
    """`key` of a missing key, `safeLs`/`safeTree` of an empty prefix: neither tool writes the file until the data
    exists, then both write the same bytes (consul-template as a daemon here: -once would wait forever)."""
    cases = []
    for name, text in BLOCKING.items():
        (tmp_path / f"{name}.ctmpl").write_text(text)
        cases.append(D.Case(name, tmp_path / f"{name}.ctmpl"))
    token = agent.tokens["consul-templates"] if agent.acl else ""
    templates = {c.name: _compile(c, "nginx") for c in cases}
    before = D.render_ours(templates, agent, token)
    assert _text(before["sentinel"], "sentinel") == b"name=shop\n"
    for name in ("missing_key", "safe_ls_empty", "safe_tree_empty"):
        outcome = before[name]
        assert isinstance(outcome, Outcome) and outcome.text is None and outcome.blocked, name
    proc = D.start_consul_template(D.consul_template_binary(), agent, cases, tmp_path, token=token)
    try:
        engines.wait_until(lambda: (tmp_path / "sentinel.out").exists(), 30, "consul-template's sentinel file")
        assert not any((tmp_path / f"{n}.out").exists() for n in BLOCKING if n != "sentinel")  # none was rendered
        agent.api(f"/v1/kv/{D.KV}/later/key", "PUT", b"now")
        agent.api(f"/v1/kv/{D.KV}/later/dir/x", "PUT", b"1")
        # consul-template renames each file into place: one that exists is complete
        engines.wait_until(lambda: all((tmp_path / f"{n}.out").exists() for n in BLOCKING), 30,
                           "consul-template's files once the keys exist")
        after = D.render_ours(templates, agent, token)
        for name in BLOCKING:
            assert _text(after[name], name) == (tmp_path / f"{name}.out").read_bytes(), name
    finally:
        proc.send_signal(signal.SIGINT)
        proc.wait(10)
        agent.api(f"/v1/kv/{D.KV}/later?recurse", "DELETE")
