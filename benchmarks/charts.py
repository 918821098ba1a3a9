"""PNG charts of a run (matplotlib, from the bench environment).

``overview.png`` is a grid of every server against every echo workload (ratio to
the bare uvloop protocol, same round); each workload also gets a bar chart of
its own with the spread of the rounds as error bars.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

COLOURS = {
    "aiosock": "#1f77b4",
    "baseline": "#222222",
    "reference": "#999999",
    "asyncio": "#9ecae1",
    "peer": "#ff7f0e",
    "inetd": "#2ca02c",
}


LEGEND = {
    "aiosock": "aiosock",
    "baseline": "bare uvloop protocol",
    "reference": "C",
    "asyncio": "asyncio",
    "peer": "peers",
}
GROUPS = ("reference", "baseline", "aiosock", "asyncio", "peer")


def _pyplot() -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def draw_all(results: dict[str, Any], outdir: Path) -> dict[str, str]:
    """Draw every chart into outdir; return {name: file name}."""
    images = {}
    if draw_overview(results, outdir / "overview.png"):
        images["overview"] = "overview.png"
    for workload in results["workloads"]:
        name = f"{workload['name']}.png"
        if draw_workload(workload, outdir / name):
            images[workload["name"]] = name
    return images


def _overview_data(
    results: dict[str, Any],
) -> tuple[list[str], list[str], list[list[float]]]:
    workloads = [
        w
        for w in results["workloads"]
        if w["metric"] == "rate" and w["style"] in {"stream", "datagram"}
    ]
    found: dict[str, tuple[int, int, str]] = {}
    for w in workloads:
        for s in w["servers"]:
            if w["summary"][s["id"]]["ratio"] and s["id"] not in found:
                rank = GROUPS.index(s["group"]) if s["group"] in GROUPS else 9
                found[s["id"]] = (rank, len(found), s["label"])
    order = {sid: v[2] for sid, v in sorted(found.items(), key=lambda kv: kv[1])}
    grid = [
        [
            (w["summary"].get(sid, {}).get("ratio") or {}).get("median", math.nan)
            for w in workloads
        ]
        for sid in order
    ]
    return list(order.values()), [w["name"] for w in workloads], grid


def draw_overview(results: dict[str, Any], path: Path) -> bool:
    labels, names, grid = _overview_data(results)
    if not labels or not names:
        return False
    plt = _pyplot()
    from matplotlib.colors import TwoSlopeNorm

    top = max([v for row in grid for v in row if not math.isnan(v)] + [1.5])
    fig, ax = plt.subplots(figsize=(1.3 * len(names) + 4, 0.38 * len(labels) + 1.8))
    masked = [[v if not math.isnan(v) else math.nan for v in row] for row in grid]
    cmap = plt.get_cmap("RdYlGn").copy()
    cmap.set_bad("#eeeeee")
    ax.imshow(masked, aspect="auto", cmap=cmap, norm=TwoSlopeNorm(1.0, 0.0, top))
    ax.set_xticks(range(len(names)), names, rotation=30, ha="right")
    ax.set_yticks(range(len(labels)), labels)
    for tick in ax.get_yticklabels():
        if tick.get_text().startswith("aiosock"):
            tick.set_fontweight("bold")
    for i, row in enumerate(grid):
        for j, v in enumerate(row):
            if not math.isnan(v):
                ax.text(j, i, f"{v:.2f}", ha="center", va="center", fontsize=8)
    ax.set_title(
        "Throughput, x bare uvloop Protocol in the same round (median of rounds)",
        fontsize=10,
    )
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return True


def draw_workload(workload: dict[str, Any], path: Path) -> bool:
    summary = workload["summary"]
    idle = workload["metric"] == "rss_per_conn"
    bars = []
    for s in workload["servers"]:
        su = summary[s["id"]]
        spread = su["value"] if idle else su["ratio"]
        if not spread:
            continue
        scale = 1024 if idle else 1
        bars.append(
            (
                s["label"],
                s["group"],
                spread["median"] / scale,
                spread["min"] / scale,
                spread["max"] / scale,
            )
        )
    if not bars:
        return False
    bars.sort(key=lambda b: b[2], reverse=not idle)
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(8, 0.34 * len(bars) + 1.4))
    ys = range(len(bars))
    ax.barh(
        ys,
        [b[2] for b in bars],
        xerr=[[b[2] - b[3] for b in bars], [b[4] - b[2] for b in bars]],
        color=[COLOURS.get(b[1], "#777777") for b in bars],
        capsize=2,
    )
    ax.set_yticks(list(ys), [b[0] for b in bars], fontsize=8)
    ax.invert_yaxis()
    for y, b in zip(ys, bars, strict=True):
        ax.text(b[4], y, f" {b[2]:.2f}", va="center", fontsize=7)
    if idle:
        ax.set_xlabel("KiB of server RSS per idle connection (lower is better)")
    else:
        base = next(
            (s["label"] for s in workload["servers"] if s["id"] == workload["base"]),
            workload["base"],
        )
        ax.axvline(1.0, color="#444444", linewidth=0.8, linestyle="--")
        ax.set_xlabel(f"x {base}, same round (median; bars: min-max)")
    ax.set_title(workload["title"], fontsize=10)
    ax.margins(x=0.12)
    from matplotlib.patches import Patch

    present = dict.fromkeys(b[1] for b in bars)
    ax.legend(
        handles=[
            Patch(color=COLOURS.get(g, "#777777"), label=LEGEND.get(g, g))
            for g in present
        ],
        fontsize=7,
        loc="lower right",
    )
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return True
