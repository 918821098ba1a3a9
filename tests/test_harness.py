"""The harness itself: both loops, and loop errors fail tests."""

from __future__ import annotations

import asyncio

from aiosock._foundation._loop import current_loop_name

seen_loops: set[str] = set()


async def test_runs_on_a_named_loop() -> None:
    """Each async test runs once per loop; both kinds are seen over the two runs."""
    name = current_loop_name()
    assert name in {"asyncio", "uvloop"}
    seen_loops.add(name)


def test_both_loops_were_used() -> None:
    """The previous test ran on the default loop and on uvloop."""
    assert seen_loops == {"asyncio", "uvloop"}


async def test_loop_has_recording_handler() -> None:
    """The loop under test records unhandled errors (so teardown can fail on them)."""
    loop = asyncio.get_running_loop()
    handler = loop.get_exception_handler()
    assert handler is not None
    assert handler.__name__ == "_record"
