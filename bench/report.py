"""bench/RESULTS.md and bench/results.svg|png from the rows the benchmarks wrote (bench/benchjson.py): one table
row per workload and size (ours, anchor, ratio), how each figure grows with size (log-log slope), and a picture
of cost vs size for each daemon and its anchor. Used by bench/run_all.py."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from bench.benchjson import higher_is_better


def fmt(v: float | None) -> str:
    if v is None:
        return "-"
    if v == 0:
        return "0"
    a = abs(v)
    return f"{v:.0f}" if a >= 100 else f"{v:.1f}" if a >= 10 else f"{v:.2f}" if a >= 0.1 else f"{v:.3g}"


def fmt_size(v: float | None) -> str:
    return "-" if v is None else f"{v:.0f}" if float(v).is_integer() else fmt(v)


def competitor(r: dict[str, Any]) -> bool:
    """The anchor is another tool (not our own reference point, such as a plain query or the other language)."""
    return bool(r["anchor_name"]) and not r["anchor_name"].endswith("(ours)")


def ratio(r: dict[str, Any]) -> float | None:
    if r["ours"] is None or not r["anchor"]:
        return None
    return r["ours"] / r["anchor"]


def slower(r: dict[str, Any]) -> bool:
    """Ours is worse than the anchor on this row (lower qps, or a higher cost)."""
    x = ratio(r)
    if x is None or not competitor(r):
        return False
    return x < 1 if higher_is_better(r["unit"]) else x > 1


def grows(r: dict[str, Any]) -> bool:
    """Rows whose size is a count (services, containers, instances), not a spacing or a packet."""
    return r["size"] is not None and "ms between" not in r["note"] and "worst packet" not in r["workload"]


def series(rows: list[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    """Workloads measured at two sizes or more, their rows by size."""
    by: dict[str, list[dict[str, Any]]] = {}
    for r in rows:
        if grows(r) and r["ours"] is not None:
            by.setdefault(r["workload"], []).append(r)
    return {w: sorted(rs, key=lambda r: r["size"]) for w, rs in by.items() if len({r["size"] for r in rs}) >= 2}


def slope(points: list[tuple[float, float]]) -> float | None:
    """Least-squares slope of log(value) on log(size): 1 = linear, 0 = flat, 2 = quadratic."""
    pts = [(math.log(s), math.log(v)) for s, v in points if s > 0 and v and v > 0]
    if len(pts) < 2:
        return None
    mx, my = sum(x for x, _ in pts) / len(pts), sum(y for _, y in pts) / len(pts)
    den = sum((x - mx) ** 2 for x, _ in pts)
    return sum((x - mx) * (y - my) for x, y in pts) / den if den else None


def table(rows: list[dict[str, Any]]) -> list[str]:
    out = ["| workload | size | ours | anchor | ours / anchor | unit | anchor is | note |",
           "|---|---|---|---|---|---|---|---|"]
    for r in rows:
        x = ratio(r)
        mark = " **(ours slower)**" if slower(r) else ""
        size = fmt_size(r["size"])
        out.append(f"| {r['workload']} | {size} | {fmt(r['ours'])} | {fmt(r['anchor'])} | "
                   f"{'-' if x is None else f'{x:.2f}'}{mark} | {r['unit']} | {r['anchor_name'] or '-'} | "
                   f"{r['note']} |")
    return out


def growth(rows: list[dict[str, Any]]) -> list[str]:
    out = ["| workload | sizes | ours | slope ours | anchor | slope anchor |", "|---|---|---|---|---|---|"]
    for w, rs in series(rows).items():
        ours = slope([(r["size"], r["ours"]) for r in rs])
        anchor = slope([(r["size"], r["anchor"]) for r in rs if r["anchor"] is not None])
        out.append(f"| {w} ({rs[0]['unit']}) | {' / '.join(fmt_size(r['size']) for r in rs)} | "
                   f"{' / '.join(fmt(r['ours']) for r in rs)} | {'-' if ours is None else f'{ours:.2f}'} | "
                   f"{' / '.join(fmt(r['anchor']) for r in rs)} | {'-' if anchor is None else f'{anchor:.2f}'} |")
    return out


def plot(rows: list[dict[str, Any]], stem: Path, title: str = "") -> list[Path]:
    """Cost vs size, log-log, one panel per workload measured at several sizes: ours and its anchor."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import LogLocator, NullFormatter, ScalarFormatter

    panels = series(rows)
    if not panels:
        return []
    cols = 3
    nrows = math.ceil(len(panels) / cols)
    fig, axes = plt.subplots(nrows, cols, figsize=(5.2 * cols, 3.6 * nrows), squeeze=False)
    for ax, (w, rs) in zip(axes.flat, panels.items(), strict=False):
        ax.plot([r["size"] for r in rs], [r["ours"] for r in rs], "o-", label="portside")
        anchored = [r for r in rs if r["anchor"] is not None]
        if anchored:
            ax.plot([r["size"] for r in anchored], [r["anchor"] for r in anchored], "s--",
                    label=anchored[0]["anchor_name"])
        ax.set_xscale("log")
        ax.set_yscale("log")
        for axis in (ax.xaxis, ax.yaxis):  # plain numbers at 1, 2, 3, 5, 7 x 10^n: a label even on a short range
            axis.set_major_locator(LogLocator(subs=(1.0, 2.0, 3.0, 5.0, 7.0)))
            axis.set_major_formatter(ScalarFormatter())
            axis.set_minor_formatter(NullFormatter())
        ax.margins(y=0.15)
        ax.set_title(w, fontsize=9)
        ax.set_xlabel("size")
        ax.set_ylabel(rs[0]["unit"])
        ax.legend(fontsize=7)
        ax.grid(True, which="both", alpha=0.3)
    for ax in list(axes.flat)[len(panels):]:
        ax.axis("off")
    if title:
        fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    paths = [stem.with_suffix(".svg"), stem.with_suffix(".png")]
    for path in paths:
        fig.savefig(path, dpi=100)
    plt.close(fig)
    return paths


def write(path: Path, header: list[str], rows: list[dict[str, Any]], missing: list[str], picture: str) -> None:
    slow = [r for r in rows if slower(r)]
    lines = [*header, "", "## Results", "",
             "One row per workload and size, side by side with the anchor in the same run. ours / anchor < 1 is "
             "better for costs (ms, s, MiB); > 1 is better for rates (/s).", "", *table(rows), "",
             "## How each figure grows", "",
             "Log-log slope of the figure against size (least squares): 0 flat, 1 linear, 2 quadratic.", "",
             *growth(rows), ""]
    if picture:
        lines += [f"![cost vs size]({picture})", ""]
    lines += ["## Rows where ours is slower than the anchor", ""]
    lines += [f"- {r['workload']} (size {fmt_size(r['size'])}): {fmt(r['ours'])} vs {fmt(r['anchor'])} "
              f"{r['unit']} ({r['anchor_name']})" for r in slow] or ["- none"]
    lines += ["", "## Not covered in this run", ""]
    lines += [f"- {m}" for m in missing] or ["- nothing"]
    path.write_text("\n".join(lines) + "\n")
