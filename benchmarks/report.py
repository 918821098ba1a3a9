"""Turn a results file into figures: medians, ratios, tables, the docs page.

``python -m benchmarks.report RESULTS.json`` prints the markdown report;
``--publish`` also copies the run into the docs: ``docs/benchmarks.rst`` (written
from scratch), and ``docs/benchmarks/`` (``results.json``, ``report.md`` and the
PNG charts). Publishing a run is that one step.

Every ratio is taken within one round (the server against the base measured in
the same round, moments apart), then the median over rounds is shown with the
smallest and largest round in brackets.
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
from pathlib import Path
from typing import Any

from benchmarks.machine import python_text

HERE = Path(__file__).resolve().parent
DOCS = HERE.parent / "docs"
C_SERVER = "c/epoll"


def _ok(row: dict[str, Any] | None) -> bool:
    return bool(row) and "error" not in row  # type: ignore[operator]


def _spread(values: list[float]) -> dict[str, float] | None:
    if not values:
        return None
    return {"median": statistics.median(values), "min": min(values), "max": max(values)}


def summarize(workload: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Per server: medians and spreads of the value and of the in-round ratios."""
    key = workload["metric"]
    base = workload["base"]
    out: dict[str, dict[str, Any]] = {}
    for server in workload["servers"]:
        sid = server["id"]
        rows = [r.get(sid) for r in workload["rounds"]]
        good = [row for row in rows if _ok(row)]
        errors = [row["error"] for row in rows if row and "error" in row]
        summary: dict[str, Any] = {
            "n": len(good),
            "value": _spread([row[key] for row in good]),
            "error": errors[0] if errors and not good else None,
        }
        for name, ref, field in (
            ("ratio", base, key),
            ("to_c", C_SERVER, key),
            ("cpu_ratio", base, "per_cpu"),
        ):
            ratios = [
                r[sid][field] / r[ref][field]
                for r in workload["rounds"]
                if _ok(r.get(sid))
                and _ok(r.get(ref))
                and field in r[sid]
                and r[ref].get(field)
            ]
            summary[name] = _spread([x for x in ratios if x == x])  # drop NaN
        for field in ("p50_us", "p99_us", "per_cpu", "user_us", "sys_us", "busy"):
            values = [row[field] for row in good if field in row]
            summary[field] = statistics.median(values) if values else None
        summary["faults"] = _spread([row["faults"] for row in good if "faults" in row])
        for field in ("lost", "failed"):
            summary[field] = int(sum(row.get(field, 0) for row in good))
        out[sid] = summary
    return out


def headroom(workload: dict[str, Any]) -> dict[str, Any] | None:
    """The C server against the fastest Python server, round by round.

    Two views: the rate (did the generator drive the C server faster?) and the
    cost (did the C server use less CPU per message than the Python server
    that used the least?). ``python_busy`` is the median share of its core
    that the Python servers used: near 1.0, they, not the generator, set
    their rates.
    """
    if workload["metric"] != "rate":
        return None
    ratios, cost, fastest, util, busy = [], [], {}, [], []
    for r in workload["rounds"]:
        if not _ok(r.get(C_SERVER)):
            continue
        if "gen_util" in r[C_SERVER]:
            util.append(r[C_SERVER]["gen_util"])
        python = {sid: row for sid, row in r.items() if sid != C_SERVER and _ok(row)}
        if not python:
            continue
        best = max(python, key=lambda sid: python[sid]["rate"])
        fastest[best] = fastest.get(best, 0) + 1
        ratios.append(r[C_SERVER]["rate"] / python[best]["rate"])
        per_cpu = [row["per_cpu"] for row in python.values() if row["per_cpu"] > 0]
        if per_cpu and r[C_SERVER]["per_cpu"] > 0:
            cost.append(r[C_SERVER]["per_cpu"] / max(per_cpu))
        busy += [row["busy"] for row in python.values() if "busy" in row]
    if not ratios:
        return None
    # Medians over the rounds: the round-by-round figure compares one C
    # figure with the best of a dozen noisy Python figures, which favours
    # the Python side whenever the machine is noisy.
    # (summarize() has them: the workload's metric is the rate here.)
    medians = {
        sid: summary["value"]["median"]
        for sid, summary in workload["summary"].items()
        if summary["value"]
    }
    best_python = max(
        (sid for sid in medians if sid != C_SERVER), key=medians.__getitem__
    )
    return {
        "ratio": _spread(ratios),
        "fastest_python": max(fastest, key=fastest.__getitem__),
        "c_always_faster": min(ratios) > 1.0,
        "rounds_faster": sum(x > 1.0 for x in ratios),
        "rounds": len(ratios),
        "median_ratio": medians[C_SERVER] / medians[best_python],
        "best_median_python": best_python,
        "generator_util": statistics.median(util) if util else None,
        "cost_ratio": _spread(cost),
        "c_always_cheaper": bool(cost) and min(cost) > 1.0,
        "python_busy": statistics.median(busy) if busy else None,
    }


def steal(results: dict[str, Any]) -> dict[str, float] | None:
    """The hypervisor's share of the machine's CPU time during the drives."""
    shares = [
        row["steal"]
        for w in results["workloads"]
        for r in w["rounds"]
        for row in r.values()
        if _ok(row) and "steal" in row
    ]
    return _spread(shares)


def ensure_summaries(results: dict[str, Any]) -> dict[str, Any]:
    for workload in results["workloads"]:
        workload["summary"] = summarize(workload)
        workload["headroom"] = headroom(workload)  # reads the summary
    return results


# Formatting --------------------------------------------------------------------


def fmt_ratio(spread: dict[str, float] | None) -> str:
    if not spread:
        return "-"
    if abs(spread["max"] - spread["min"]) < 0.005:
        return f"{spread['median']:.2f}"
    return f"{spread['median']:.2f} ({spread['min']:.2f}-{spread['max']:.2f})"


def fmt_value(value: float | None, unit: str) -> str:
    if value is None:
        return "-"
    if unit == "KiB/conn":
        return f"{value / 1024:.1f} KiB"
    return f"{value:,.0f}"


def fmt_faults(spread: dict[str, float] | None) -> str:
    if not spread:
        return "-"
    if spread["max"] - spread["min"] < 0.05:
        return f"{spread['median']:.1f}"
    return f"{spread['median']:.1f} ({spread['min']:.1f}-{spread['max']:.1f})"


def _has_split(workload: dict[str, Any]) -> bool:
    """Whether the run recorded user time and faults (runs before did not)."""
    return any(
        "user_us" in row for r in workload["rounds"] for row in r.values() if row
    )


def _median_ratio(summary: dict[str, Any]) -> float:
    ratio = summary["ratio"]
    return float(ratio["median"]) if ratio else 0.0


def _value(summary: dict[str, Any]) -> float | None:
    return summary["value"]["median"] if summary["value"] else None


def _has_c(workload: dict[str, Any]) -> bool:
    return workload["metric"] == "rate" and any(
        s["id"] == C_SERVER for s in workload["servers"]
    )


def columns(workload: dict[str, Any]) -> list[str]:
    """The table's headings for a workload."""
    unit = workload["unit"]
    base_label = next(
        (s["label"] for s in workload["servers"] if s["id"] == workload["base"]),
        workload["base"],
    )
    better = "lower" if workload["metric"] == "rss_per_conn" else "higher"
    heads = ["server", unit, f"x {base_label} (median, min-max; {better} is better)"]
    if _has_c(workload):
        heads += ["x C server"]
    if workload["metric"] == "rate":
        heads += ["per server CPU-s, x base"]
        if _has_split(workload):
            heads += ["server user µs/msg", "server faults/msg"]
    if workload.get("latency"):
        heads += ["p50 µs", "p99 µs"]
    return heads


def rows(workload: dict[str, Any]) -> list[list[str]]:
    """The table's rows for a workload: one per server, with skips explained."""
    out = []
    for server in workload["servers"]:
        sid = server["id"]
        s = workload["summary"][sid]
        label = server["label"]
        if not s["n"]:
            why = workload["skipped"].get(sid) or s["error"] or "no result"
            out.append([label, "skipped: " + why] + [""] * (len(columns(workload)) - 2))
            continue
        row = [label, fmt_value(_value(s), workload["unit"]), fmt_ratio(s["ratio"])]
        if _has_c(workload):
            row += [fmt_ratio(s["to_c"])]
        if workload["metric"] == "rate":
            row += [fmt_ratio(s["cpu_ratio"])]
            if _has_split(workload):
                row += [
                    "-" if s["user_us"] is None else f"{s['user_us']:.1f}",
                    fmt_faults(s["faults"]),
                ]
        if workload.get("latency"):
            row += [f"{s['p50_us']:,.0f}", f"{s['p99_us']:,.0f}"]
        extra = [f"{s[k]} {k}" for k in ("lost", "failed") if s[k]]
        if extra:
            row[1] += f" ({', '.join(extra)})"
        out.append(row)
    return out


def glance(results: dict[str, Any]) -> tuple[list[str], list[list[str]]]:
    """Per workload: the best aiosock design, the best peer, the C server."""
    heads = ["workload", "best aiosock design", "best peer", "C server"]
    body = []
    for w in results["workloads"]:
        lower = w["metric"] == "rss_per_conn"

        def best(group: str, w: dict[str, Any] = w, lower: bool = lower) -> str:
            cands = [
                (s["label"], w["summary"][s["id"]])
                for s in w["servers"]
                if s["group"] == group and w["summary"][s["id"]]["n"]
            ]
            if not cands:
                return "-"
            if lower:
                label, su = min(cands, key=lambda c: _value(c[1]) or 0.0)
                return f"{label}: {fmt_value(_value(su), w['unit'])}"
            # The best by the figure shown: the median ratio to the base, taken
            # in each round (the rates' medians can rank two designs otherwise).
            label, su = max(cands, key=lambda c: _median_ratio(c[1]))
            return f"{label}: {fmt_ratio(su['ratio'])}"

        body.append([w["name"], best("aiosock"), best("peer"), best("reference")])
    return heads, body


def _md_table(heads: list[str], body: list[list[str]]) -> list[str]:
    def esc(cell: str) -> str:
        return cell.replace("|", "\\|")

    aligns = ["---"] + ["---:"] * (len(heads) - 1)
    lines = [
        "| " + " | ".join(map(esc, heads)) + " |",
        "| " + " | ".join(aligns) + " |",
    ]
    lines += ["| " + " | ".join(map(esc, r)) + " |" for r in body]
    return lines


def workload_markdown(workload: dict[str, Any], settings: dict[str, Any]) -> str:
    """One workload's section: heading, table, notes."""
    lines = [
        f"## {workload['name']}: {workload['title']}",
        "",
        shape(workload, settings),
        "",
        *_md_table(columns(workload), rows(workload)),
    ]
    room = workload.get("headroom")
    if room:
        lines += ["", headroom_sentence(workload, room)]
    heap = workload.get("extra", {}).get("aiosock_heap")
    if heap:
        lines += ["", heap_markdown(heap)]
    return "\n".join(lines) + "\n"


def shape(workload: dict[str, Any], settings: dict[str, Any]) -> str:
    """One sentence on how a workload was run."""
    rounds = len(workload["rounds"])
    if workload["metric"] == "rss_per_conn":
        text = (
            f"{rounds} round(s), {settings['idle']:,} connections held per server, "
            "interleaved."
        )
    else:
        text = (
            f"{rounds} round(s) x {settings['seconds']:g} s after "
            f"{settings['warmup']:g} s of warm-up, interleaved."
        )
    return f"{text} {workload.get('notes', '')}".strip()


def headroom_sentence(workload: dict[str, Any], room: dict[str, Any]) -> str:
    label = {s["id"]: s["label"] for s in workload["servers"]}
    if "median_ratio" in room:
        faster = room["median_ratio"] > 1.0
        verdict = (
            f"{'' if faster else 'NOT '}faster than every Python server "
            f"(median rate {room['median_ratio']:.2f}x that of the fastest, "
            f"{label.get(room['best_median_python'], '?')}"
            + (
                "): the load generator is not what limits them"
                if faster
                else "): this workload's figures may be bounded by the load "
                "generator or the machine"
            )
            + f"; it beat the fastest Python server of the same round in "
            f"{room['rounds_faster']} of {room['rounds']} rounds"
        )
    else:
        verdict = (
            "faster than every Python server in every round: the load generator "
            "is not the bottleneck"
            if room["c_always_faster"]
            else "NOT faster than every Python server in every round: this "
            "workload's figures may be bounded by the load generator or the "
            "machine"
        )
    util = room.get("generator_util")
    used = (
        f" Driving the C server, the load generator used {util:.0%} of its core."
        if util is not None
        else ""
    )
    cost = room.get("cost_ratio")
    cheaper = (
        f" Per message, the C server used {fmt_ratio(cost)}x less CPU than the "
        "Python server that used the least"
        + (" (in every round)." if room.get("c_always_cheaper") else ".")
        if cost
        else ""
    )
    busy = room.get("python_busy")
    saturated = (
        f" The Python servers kept their core {busy:.0%} busy (median)."
        if busy is not None
        else ""
    )
    return (
        f"Load generator headroom: the C server ran {fmt_ratio(room['ratio'])}x the "
        f"fastest Python server ({label.get(room['fastest_python'], '?')}), "
        f"{verdict}.{used}{cheaper}{saturated}"
    )


def machine_lines(
    results: dict[str, Any], with_note: bool = True
) -> list[tuple[str, str]]:
    """The facts of a run: date, settings, machine, versions, source, load."""
    m, v, load = results["machine"], results["versions"], results["load"]
    versions = ", ".join(
        val if val.startswith(k) else f"{k} {val}" for k, val in v.items() if val
    )
    git = results.get("git", {})
    return [
        (
            "Date",
            f"{results['started']} (UTC); the run took {results['duration_s']:.0f} s",
        ),
        ("Mode", f"{results['mode']}: {results['settings_text']}"),
        ("Machine", f"{m['cpu']}, {m['cores']} cores, {m['memory_gib']:.0f} GiB"),
        ("System", f"{m['os']}, Linux {m['kernel']}"),
        ("Python", python_text(m)),
        ("Versions", versions),
        (
            "Source",
            f"aiosock {git.get('commit', '?')}"
            + (" with local changes" if git.get("dirty") else ""),
        ),
        (
            "Load",
            "load average {} before, {} after{}{}".format(
                " ".join(f"{x:.2f}" for x in load["before"]),
                " ".join(f"{x:.2f}" for x in load["after"]),
                _steal_text(results),
                f"; {load['note']}" if load.get("note") and with_note else "",
            ),
        ),
    ]


def _steal_text(results: dict[str, Any]) -> str:
    share = steal(results)
    if not share:
        return ""
    return (
        f"; CPU time taken by the hypervisor during the drives (steal): median "
        f"{share['median']:.1%}, largest {share['max']:.1%}"
    )


def markdown(results: dict[str, Any]) -> str:
    """The whole report."""
    out = [
        f"# aiosock benchmarks, {results['started'][:10]} ({results['mode']} run)",
        "",
        *[f"- **{k}**: {v}" for k, v in machine_lines(results)],
        "",
        METHOD,
        "",
        "## At a glance",
        "",
        "Ratios to the base of each workload (the bare uvloop protocol; "
        "openbsd-inetd for inetd); memory in KiB per connection.",
        "",
        *_md_table(*glance(results)),
        "",
    ]
    out += [workload_markdown(w, results["settings"]) for w in results["workloads"]]
    return "\n".join(out)


def heap_markdown(rows_: list[dict[str, Any]]) -> str:
    body = [
        [
            f"aiosock serve + Stream ({r['loop']})",
            f"{r['held']:,}",
            f"{r['heap'] / 1024:.1f} KiB",
            f"{r['rss'] / 1024:.1f} KiB",
        ]
        for r in rows_
    ]
    heads = [
        "server",
        "connections held",
        "Python heap per connection (tracemalloc)",
        "RSS per connection (in-process)",
    ]
    return "\n".join(_md_table(heads, body)) + "\n"


METHOD = (
    "Each server is a process of its own pinned to core 0; a C load generator "
    "pinned to core 1 drives it over loopback. Servers are measured interleaved "
    "(A B C … A B C …) and every figure is a ratio to the base server measured in "
    "the same round (the bare uvloop `Protocol`, or `DatagramProtocol` for "
    "datagrams, or openbsd-inetd for inetd), then the median of the rounds with "
    "the smallest and largest in brackets. *per server CPU-s* is messages per "
    "CPU-second the server used, against the base's: steadier than rates when "
    "other work shares the machine. *server user µs/msg* is the server's user-mode "
    "CPU time per message (its own code: interpreter, loop, framework; the "
    "kernel's share is left out), and *server faults/msg* its minor page faults "
    "per message (the default loop's plain-`Protocol` read path takes two when "
    "glibc serves each 256 KiB read buffer from a fresh mmap). The C epoll server "
    "is the physical reference; when it outruns every Python server the load "
    "generator is not what limits them."
)


# Publishing --------------------------------------------------------------------


def publish(results_path: Path, docs: Path = DOCS) -> None:
    """Copy a run into the docs and regenerate docs/benchmarks.rst and the charts."""
    from benchmarks import charts, rst

    results = ensure_summaries(json.loads(results_path.read_text()))
    assets = docs / "benchmarks"
    assets.mkdir(exist_ok=True)
    for old in assets.glob("*.png"):
        old.unlink()
    shutil.copyfile(results_path, assets / "results.json")
    (assets / "report.md").write_text(markdown(results))
    images = charts.draw_all(results, assets)
    (docs / "benchmarks.rst").write_text(
        rst.page(
            results, images, published_instructions(assets), published_goals(assets)
        )
    )
    print(f"published {results_path} to {docs / 'benchmarks.rst'} and {assets}/")


def published_goals(assets: Path) -> dict[str, Any] | None:
    """The focused run published for the goals (``benchmarks.goals --publish``)."""
    path = assets / "goals.json"
    return json.loads(path.read_text()) if path.exists() else None


def published_instructions(assets: Path) -> dict[str, Any] | None:
    """The instructions run published beside the results (benchmarks.instructions)."""
    path = assets / "instructions.json"
    return json.loads(path.read_text()) if path.exists() else None


def write_page(docs: Path = DOCS) -> Path:
    """Regenerate docs/benchmarks.rst from what docs/benchmarks/ already holds.

    No run is copied and no chart is drawn: the page is written from the
    published ``results.json``, the charts found beside it and, when there is
    one, the published ``instructions.json`` and ``goals.json``.
    """
    from benchmarks import rst

    assets = docs / "benchmarks"
    results = ensure_summaries(json.loads((assets / "results.json").read_text()))
    names = ["overview"] + [w["name"] for w in results["workloads"]]
    images = {n: f"{n}.png" for n in names if (assets / f"{n}.png").exists()}
    page = docs / "benchmarks.rst"
    page.write_text(
        rst.page(
            results, images, published_instructions(assets), published_goals(assets)
        )
    )
    return page


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.report")
    parser.add_argument("results", type=Path, help="a results JSON file")
    parser.add_argument(
        "--publish",
        action="store_true",
        help="write docs/benchmarks.rst and docs/benchmarks/ from it",
    )
    args = parser.parse_args()
    if args.publish:
        publish(args.results)
    else:
        print(markdown(ensure_summaries(json.loads(args.results.read_text()))))


if __name__ == "__main__":
    main()
