"""The one machine-readable shape every benchmark writes with `--json PATH`, for bench/run_all.py.

A row is one workload at one size: what ours costs, what the anchor (the tool we replace, measured in the same
run) costs, and the unit. `anchor` is None when a workload has no anchor (ours only) or the anchor was skipped;
`note` says why. Units ending in "/s" (qps) are better higher; every other unit is a cost, better lower."""

from __future__ import annotations

import argparse
import json
import math
from pathlib import Path
from typing import Any


def add_json_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", metavar="PATH", help="also write the results as JSON rows (bench/run_all.py)")


def row(workload: str, size: float | None, ours: float | None, anchor: float | None, unit: str,
        anchor_name: str = "", note: str = "") -> dict[str, Any]:
    def clean(v: float | None) -> float | None:
        return None if v is None or (isinstance(v, float) and not math.isfinite(v)) else float(v)

    return {"workload": workload, "size": size, "ours": clean(ours), "anchor": clean(anchor), "unit": unit,
            "anchor_name": anchor_name, "note": note}


def write_rows(path: str | None, rows: list[dict[str, Any]]) -> None:
    if path:
        Path(path).write_text(json.dumps(rows, indent=1) + "\n")


def higher_is_better(unit: str) -> bool:
    return unit.endswith("/s")
