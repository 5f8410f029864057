"""Our engine against Go's text/template, case by case over the corpus (tests/support/gotemplate_oracle).

recorded.json holds Go's answers; every case must give the same phase, the same bytes written (also before an
error) and the same error text. With `go` on PATH the answers are regenerated to prove they are still Go's.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from portside.gotemplate import go_bytes
from tests.support.gotemplate_oracle import inputs, load_recorded, out_bytes, run_go, run_python
from tests.support.gotemplate_oracle.corpus import CASES

RECORDED = load_recorded()

# Where we differ from Go on purpose: case -> (the part of the error text allowed to differ, why).
DELIBERATE = {
    "deep-recursion-error": (
        r"exceeded maximum template depth \(\d+\)",
        "Go nests 100000 templates; a Python stack holds a few hundred, so we stop earlier and say where",
    ),
}


def _normalise(name: str, err: str) -> str:
    if name in DELIBERATE:
        return re.sub(DELIBERATE[name][0], "<deliberate>", err)
    return err


def test_corpus_is_large_and_recorded_for_every_case() -> None:
    assert len(CASES) >= 300
    assert [inputs(c) for c in CASES] == [inputs(r) for r in RECORDED], \
        "recorded.json is stale: run python -m tests.support.gotemplate_oracle.record"


@pytest.mark.parametrize("rec", RECORDED, ids=[r["name"] for r in RECORDED])
def test_same_as_go(rec: dict[str, Any]) -> None:
    go = rec["go"]
    ours = run_python(inputs(rec))
    assert ours["phase"] == go["phase"], (ours, go)
    assert _normalise(rec["name"], ours["err"]) == _normalise(rec["name"], go.get("err", ""))
    assert go_bytes(ours["out"]) == out_bytes(go)


def test_deliberate_differences_are_still_differences() -> None:
    """A listed difference that Go no longer shows (or we no longer show) must leave the list."""
    by_name = {r["name"]: r for r in RECORDED}
    for name, (pattern, _why) in DELIBERATE.items():
        go_err = by_name[name]["go"]["err"]
        ours = run_python(inputs(by_name[name]))["err"]
        assert re.search(pattern, go_err) and re.search(pattern, ours) and go_err != ours


def test_recorded_answers_are_still_gos(go_oracle: Path) -> None:
    """Regenerate every answer with Go itself: the recorded behaviour is Go's, not ours."""
    fresh = run_go(go_oracle, [inputs(r) for r in RECORDED])
    for rec, got in zip(RECORDED, fresh, strict=True):
        assert got["name"] == rec["name"]
        assert got["phase"] == rec["go"]["phase"], rec["name"]
        assert got.get("err", "") == rec["go"].get("err", ""), rec["name"]
        assert out_bytes(got) == out_bytes(rec["go"]), rec["name"]


def test_unicode_tables_are_gos(go_oracle: Path) -> None:
    """portside/gotemplate/unitables.py is what Go answers for every code point (printable, identifier)."""
    from portside.gotemplate import unitables
    from tests.support.gotemplate_oracle.record import render_unitables, unicode_tables

    tables = unicode_tables(go_oracle)
    assert render_unitables(tables) == Path(unitables.__file__).read_text(encoding="utf-8")
