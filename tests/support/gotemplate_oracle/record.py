"""Record Go's answers for the corpus into recorded.json: `python -m tests.support.gotemplate_oracle.record`.

Run it after changing a case; the unit tests compare our engine with this file, and (with `go` present) check
that the file is still what Go answers.
"""

from __future__ import annotations

import json
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


def main() -> int:
    if not go_available():
        print("record: `go` is not on PATH", file=sys.stderr)
        return 1
    records = record_all()
    RECORDED.write_text(json.dumps(records, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    print(f"record: {len(records)} cases written to {RECORDED}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
