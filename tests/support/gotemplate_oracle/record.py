"""Record Go's answers for the corpus into recorded.json: `python -m tests.support.gotemplate_oracle.record`.

Run it after changing a case; the unit tests compare our engine with this file, and (with `go` present) check
that the file is still what Go answers. With --unicode it writes portside/gotemplate/unitables.py instead: Go's
own printable and identifier-character sets.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from tests.support.gotemplate_oracle import RECORDED, build, go_available, inputs, run_go
from tests.support.gotemplate_oracle.corpus import CASES


def record_all() -> list[dict[str, Any]]:
    with tempfile.TemporaryDirectory() as tmp:
        results = run_go(build(Path(tmp)), CASES)
    out = []
    for c, r in zip(CASES, results, strict=True):
        go = {k: r[k] for k in ("phase", "out", "out_b64", "err") if r.get(k)}
        go["phase"] = r["phase"]
        out.append({**inputs(c), "go": go})
    return out


UNITABLES = Path(__file__).resolve().parents[3] / "portside" / "gotemplate" / "unitables.py"
UNITABLES_DOC = '''"""Go's Unicode sets for the questions text/template and fmt ask of a rune: is it printable
(unicode.IsPrint, used by %q and the js escaper) and may it be in an identifier (a letter, a digit or '_').

Generated from Go 1.26 itself (Unicode 15.0) by `python -m tests.support.gotemplate_oracle.record --unicode`:
Python's unicodedata follows the Unicode version of the running Python (14.0 in 3.11), and characters added
since would otherwise print differently. Each table is flat [first, last + 1) pairs: a rune r is in the set
when bisect_right(table, r) is odd.
"""'''


def unicode_tables(binary: Path) -> dict[str, list[list[int]]]:
    out = subprocess.run([str(binary), "-unicode"], capture_output=True, check=True, timeout=120).stdout
    return json.loads(out)  # type: ignore[no-any-return]


def render_unitables(tables: dict[str, list[list[int]]]) -> str:
    parts = [UNITABLES_DOC, "", "from __future__ import annotations", ""]
    for key, name in (("print", "PRINT"), ("alnum", "ALNUM")):
        flat = [x for first, last in tables[key] for x in (first, last + 1)]
        parts.append(f"{name}: tuple[int, ...] = (")
        for i in range(0, len(flat), 12):
            parts.append("    " + ", ".join(str(x) for x in flat[i:i + 12]) + ",")
        parts.append(")")
        parts.append("")
    return "\n".join(parts)


def main() -> int:
    if not go_available():
        print("record: `go` is not on PATH", file=sys.stderr)
        return 1
    if "--unicode" in sys.argv[1:]:
        with tempfile.TemporaryDirectory() as tmp:
            UNITABLES.write_text(render_unitables(unicode_tables(build(Path(tmp)))), encoding="utf-8")
        print(f"record: {UNITABLES} written")
        return 0
    records = record_all()
    RECORDED.write_text(json.dumps(records, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    print(f"record: {len(records)} cases written to {RECORDED}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
