"""Go-semantics facts of consul-template's pure functions, recorded from consul-template v0.41.1 itself.

Each snippet (a line of tests/unit/consul_templates/go_facts.snippets) is a template using no Consul data.
`python -m tests.support.ct_facts` renders every snippet with the real consul-template (one -once run each, ~20 s
in all) and writes what it wrote, or the error it failed with, to go_facts.json; the unit test renders the same
snippets with our Go templates and compares. Re-record after changing a snippet.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from pathlib import Path

from testbed import engines

ROOT = Path(__file__).resolve().parents[2]
FACTS = ROOT / "tests" / "unit" / "consul_templates" / "go_facts.json"
SNIPPETS = FACTS.with_suffix(".snippets")


def snippets() -> list[str]:
    """The snippets, one per line of go_facts.snippets (a line starting with # is a comment)."""
    lines = SNIPPETS.read_text().splitlines()
    return [line for line in lines if line.strip() and not line.startswith("#")]


def _run(binary: str, addr: str, text: str, work: Path) -> subprocess.CompletedProcess[str]:
    src, dest = work / "in.ctmpl", work / "out.txt"
    src.write_text(text)
    dest.unlink(missing_ok=True)
    return subprocess.run([binary, "-consul-addr", addr, "-once", "-log-level", "err", "-template", f"{src}:{dest}"],
                          capture_output=True, text=True, timeout=30, env={"PATH": "/usr/bin:/bin"})


def record() -> dict[str, dict[str, str]]:
    from tests.support.ct_differential import consul_template_binary

    binary = consul_template_binary()
    agent = engines.ConsulAgent(node="ct-facts").start()  # consul-template wants an agent even with no query
    work = Path(tempfile.mkdtemp(prefix="ct-facts-"))
    facts: dict[str, dict[str, str]] = {"ok": {}, "errors": {}}
    try:
        for snippet in snippets():
            proc = _run(binary, agent.http_addr, snippet, work)
            if proc.returncode == 0:
                facts["ok"][snippet] = (work / "out.txt").read_text()
            else:  # Go's error from consul-template's last log line (its temp file path cut off)
                line = proc.stderr.strip().splitlines()[-1]
                facts["errors"][snippet] = line[line.index("template: :"):] if "template: :" in line else line
    finally:
        agent.stop()
    return facts


def main() -> int:
    facts = record()
    FACTS.write_text(json.dumps(facts, indent=1, ensure_ascii=False) + "\n")
    print(f"wrote {FACTS}: {len(facts['ok'])} renders, {len(facts['errors'])} errors", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
