"""The corpus: every case the oracle answers, gathered from the cases_* modules (names are unique)."""

from __future__ import annotations

from typing import Any

from tests.support.gotemplate_oracle import cases_builtins, cases_exec, cases_fmt, cases_syntax

CASES: list[dict[str, Any]] = cases_syntax.CASES + cases_exec.CASES + cases_builtins.CASES + cases_fmt.CASES

_names = [c["name"] for c in CASES]
assert len(_names) == len(set(_names)), sorted({n for n in _names if _names.count(n) > 1})
