"""The benchmark report's summary table ranks designs by the figure it shows."""

from __future__ import annotations

from typing import Any

from benchmarks import report


def _summary(rate: float, ratio: float) -> dict[str, Any]:
    return {
        "n": 7,
        "value": {"median": rate, "min": rate, "max": rate},
        "ratio": {"median": ratio, "min": ratio, "max": ratio},
    }


def test_glance_picks_the_best_ratio_not_the_best_rate() -> None:
    """Medians of rates and of in-round ratios can rank two designs apart."""
    workload = {
        "name": "udp-100-x20",
        "metric": "rate",
        "unit": "msg/s",
        "servers": [
            {"id": "a", "label": "design A", "group": "aiosock"},
            {"id": "b", "label": "design B", "group": "aiosock"},
            {"id": "p", "label": "peer", "group": "peer"},
        ],
        "summary": {
            "a": _summary(rate=110_000, ratio=1.09),
            "b": _summary(rate=100_000, ratio=1.13),
            "p": _summary(rate=50_000, ratio=0.5),
        },
    }
    _heads, body = report.glance({"workloads": [workload]})
    assert body == [["udp-100-x20", "design B: 1.13", "peer: 0.50", "-"]]


def test_glance_picks_the_least_memory() -> None:
    """For memory per connection, lower is better, and the value is shown."""
    workload = {
        "name": "idle-10k",
        "metric": "rss_per_conn",
        "unit": "KiB/conn",
        "servers": [
            {"id": "a", "label": "design A", "group": "aiosock"},
            {"id": "b", "label": "design B", "group": "aiosock"},
        ],
        "summary": {
            "a": _summary(rate=6 * 1024, ratio=1.2),
            "b": _summary(rate=5 * 1024, ratio=1.3),
        },
    }
    _heads, body = report.glance({"workloads": [workload]})
    assert body[0][1] == "design B: 5.0 KiB"


def _goal_run(stream: float, streams: float, bare: float) -> dict[str, Any]:
    """A run of one workload whose three rounds all have these rates."""
    round_ = {
        "uvloop/stream": {"rate": stream},
        "uvloop/asyncio_streams": {"rate": streams},
        "uvloop/protocol": {"rate": bare},
    }
    return {"workloads": [{"name": "tcp-1k-x50", "rounds": [round_] * 3}]}


def _streams_goal_verdict(run: dict[str, Any]) -> str:
    from benchmarks import goals

    found = [
        goals.verdict(goal, figures)
        for goal, _name, figures in goals.rows(run)
        if goal.reference == "uvloop/asyncio_streams"
    ]
    assert len(found) == 1
    return found[0]


def test_goal_verdict_says_what_it_asks_of_the_substrate() -> None:
    """1.4x streams that run at 0.7x the bare Protocol asks 0.98x of it."""
    assert _streams_goal_verdict(_goal_run(130, 100, 142.857)) == (
        "short (asks 0.98x uvloop/protocol)"
    )
    assert _streams_goal_verdict(_goal_run(150, 100, 200)) == (
        "met (asks 0.70x uvloop/protocol)"
    )


def test_goal_the_substrate_misses_is_out_of_reach() -> None:
    """Where the bare Protocol itself is under 1.4x streams, no Stream can be."""
    assert _streams_goal_verdict(_goal_run(120, 100, 130)) == (
        "out of reach (asks 1.08x uvloop/protocol)"
    )


def test_goal_without_its_substrate_in_the_run_is_met_or_short() -> None:
    from benchmarks import goals

    run = _goal_run(150, 100, 200)
    del run["workloads"][0]["rounds"][0]["uvloop/protocol"]
    run["workloads"][0]["rounds"] = run["workloads"][0]["rounds"][:1]
    verdicts = [goals.verdict(g, f) for g, _n, f in goals.rows(run)]
    assert verdicts == ["met"]


def _default_loop_run(*rounds: tuple[float, float]) -> dict[str, Any]:
    """Rounds of (aiosock's rate, asyncio Protocol's page faults per message)."""
    made = [
        {
            "asyncio/serve_protocol": {"rate": rate, "faults": 0.0},
            "asyncio/protocol": {"rate": 100, "faults": faults},
        }
        for rate, faults in rounds
    ]
    return {"workloads": [{"name": "unix-1k-x50", "rounds": made}]}


def _as_started(run: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    from benchmarks import goals

    found = [
        (goals.verdict(goal, figures), figures)
        for goal, _name, figures in goals.rows(run)
        if goal.reference == "asyncio/protocol" and goal.kind == "stream"
    ]
    assert len(found) == 1
    return found[0]


def test_default_loop_goal_counts_rounds_whose_reference_maps_each_read() -> None:
    """2x asyncio's Protocol was set against its mmap-per-read state only.

    A round where that server read from the heap (no page faults) measures
    something else, and is left out; with none left the goal does not apply.
    """
    verdict, figures = _as_started(
        _default_loop_run((300, 2.01), (310, 2.0), (120, 0.0), (320, 2.02))
    )
    assert verdict == ("met (1 rounds left out: asyncio/protocol read from the heap)")
    assert (figures["median"], figures["rounds"]) == (3.1, 3)
    verdict, _ = _as_started(_default_loop_run((150, 2.01), (120, 0.0)))
    assert verdict.startswith("short (1 rounds left out")
    verdict, figures = _as_started(_default_loop_run((120, 0.0), (110, 0.0)))
    assert verdict == (
        "does not apply: asyncio/protocol read from the heap in every round"
    )
    assert figures["rounds"] == 0
