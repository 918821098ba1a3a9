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
