"""The reliability suite's harness: its mode, its marker and its figures.

Every test here is marked ``reliability``. ``AIOSOCK_RELIABILITY=full`` runs the
large counts; by default a bounded mode keeps the whole suite fast. Each test
reports figures through the ``figure`` fixture: they are printed in the terminal
summary and, when ``AIOSOCK_RELIABILITY_FIGURES`` names a file, written there as
JSON (``docs/reliability.rst`` quotes them).
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from ._support import FULL, MODE

_FIGURES: dict[str, dict[str, Any]] = {}

Figure = Callable[[str, float, str], None]


def pytest_collection_modifyitems(
    config: pytest.Config, items: list[pytest.Item]
) -> None:
    """Mark every test of this directory ``reliability`` (and give full mode time)."""
    here = Path(__file__).parent
    for item in items:
        if here in item.path.parents:
            item.add_marker(pytest.mark.reliability)
            if FULL:
                item.add_marker(pytest.mark.timeout(900))


@pytest.fixture
def figure(request: pytest.FixtureRequest) -> Figure:
    """Record a measured figure of this test: ``figure(name, value, unit)``."""
    entry = _FIGURES.setdefault(request.node.nodeid, {"mode": MODE, "figures": {}})

    def record(name: str, value: float, unit: str) -> None:
        entry["figures"][name] = {"value": round(float(value), 4), "unit": unit}
        request.node.user_properties.append((name, f"{value:g} {unit}"))

    return record


def pytest_terminal_summary(terminalreporter: Any) -> None:
    """Print the figures, and write them where ``AIOSOCK_RELIABILITY_FIGURES`` says."""
    if not _FIGURES:
        return
    terminalreporter.section(f"reliability figures ({MODE} mode)")
    for nodeid, entry in sorted(_FIGURES.items()):
        for name, fig in entry["figures"].items():
            terminalreporter.write_line(
                f"{nodeid.split('::', 1)[-1]}: {name} = {fig['value']:g} {fig['unit']}"
            )
    path = os.environ.get("AIOSOCK_RELIABILITY_FIGURES")
    if path:
        Path(path).write_text(json.dumps(_FIGURES, indent=2, sort_keys=True) + "\n")
