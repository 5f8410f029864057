"""Go as the oracle for portside.gotemplate: build the Go program in this directory, run cases through Go's
text/template and through ours, in the same result format.

A case is a dict: name, template, data (JSON with the markers main.go documents), options, delims, extra
(more templates, [name, text]), exec (a template name for ExecuteTemplate). A result: name, phase ("parse",
"exec" or "ok"), out (what was written, also before an error), err.

`recorded.json` holds every corpus case with Go's result: the recorded behaviour the unit tests compare with.
Regenerate it with `python -m tests.support.gotemplate_oracle.record` (needs `go`).
"""

from __future__ import annotations

import base64
import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

from portside.gotemplate import ExecError, ParseError, TemplateError, go_bytes
from tests.support.gotemplate_oracle.twins import build_template, decode_data

ORACLE_DIR = Path(__file__).resolve().parent
RECORDED = ORACLE_DIR / "recorded.json"
CASE_KEYS = ("name", "template", "data", "options", "delims", "extra", "exec")


def case(name: str, template: str, data: Any = None, *, options: tuple[str, ...] = (),
         delims: tuple[str, str] | None = None, extra: tuple[tuple[str, str], ...] = (),
         exec: str | None = None) -> dict[str, Any]:
    """One case, in the JSON shape the oracle reads (empty fields left out)."""
    c: dict[str, Any] = {"name": name, "template": template}
    if data is not None:
        c["data"] = data
    if options:
        c["options"] = list(options)
    if delims:
        c["delims"] = list(delims)
    if extra:
        c["extra"] = [list(e) for e in extra]
    if exec:
        c["exec"] = exec
    return c


def go_available() -> bool:
    return shutil.which("go") is not None


def build(dest: Path) -> Path:
    """Compile the oracle into dest (the Go build cache makes a rebuild take a fraction of a second)."""
    binary = dest / "gotemplate-oracle"
    env = {**os.environ, "GOTOOLCHAIN": "local", "GOFLAGS": "-buildvcs=false", "CGO_ENABLED": "0"}
    subprocess.run(["go", "build", "-o", str(binary), "."], cwd=ORACLE_DIR, env=env, check=True,
                   capture_output=True, timeout=300)
    return binary


def run_go(binary: Path, cases: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Every case through Go, in one process."""
    proc = subprocess.run([str(binary)], input=json.dumps(cases).encode(), capture_output=True, check=True,
                          timeout=120)
    results: list[dict[str, Any]] = json.loads(proc.stdout)
    for r in results:
        r.setdefault("out", "")
        r.setdefault("err", "")
    return results


class OracleProcess:
    """One oracle process answering case after case (`-lines` mode): a test session asks it many times."""

    def __init__(self, binary: Path) -> None:
        self.proc = subprocess.Popen([str(binary), "-lines"], stdin=subprocess.PIPE, stdout=subprocess.PIPE)

    def ask(self, c: dict[str, Any]) -> dict[str, Any]:
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self.proc.stdin.write(json.dumps(c).encode() + b"\n")
        self.proc.stdin.flush()
        line = self.proc.stdout.readline()
        if not line:
            raise RuntimeError(f"the Go oracle stopped (exit {self.proc.wait()})")
        result: dict[str, Any] = json.loads(line)
        result.setdefault("out", "")
        result.setdefault("err", "")
        return result

    def close(self) -> None:
        if self.proc.stdin:
            self.proc.stdin.close()
        self.proc.wait(timeout=30)


def out_bytes(result: dict[str, Any]) -> bytes:
    """The bytes a result's template wrote (Go's answer may carry them as base64)."""
    if result.get("out_b64"):
        return base64.b64decode(result["out_b64"])
    return go_bytes(result.get("out", ""))


def run_python(c: dict[str, Any]) -> dict[str, Any]:
    """One case through portside.gotemplate, answered like the oracle answers."""
    try:
        t = build_template(c)
    except ParseError as e:
        return {"name": c["name"], "phase": "parse", "out": "", "err": str(e)}
    data = decode_data(c.get("data"))
    try:
        out = t.execute_template(c["exec"], data) if c.get("exec") else t.execute(data)
    except ExecError as e:
        return {"name": c["name"], "phase": "exec", "out": e.output, "err": str(e)}
    except TemplateError as e:
        return {"name": c["name"], "phase": "exec", "out": "", "err": str(e)}
    return {"name": c["name"], "phase": "ok", "out": out, "err": ""}


def load_recorded() -> list[dict[str, Any]]:
    return json.loads(RECORDED.read_text(encoding="utf-8"))  # type: ignore[no-any-return]


def inputs(c: dict[str, Any]) -> dict[str, Any]:
    return {k: c[k] for k in CASE_KEYS if k in c}
