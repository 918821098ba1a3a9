"""The harness itself: both loops, and loop errors fail tests."""

from __future__ import annotations

import asyncio
import shutil
import subprocess
import sys
from pathlib import Path

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


_INNER_TESTS = """
import asyncio


async def test_first() -> None:
    await asyncio.sleep(0)


async def test_drops_a_failed_future_in_a_cycle() -> None:
    class Holder:
        pass

    holder = Holder()
    holder.itself = holder
    holder.future = asyncio.get_running_loop().create_future()
    holder.future.set_exception(ValueError("never retrieved"))
    del holder


async def test_last() -> None:
    await asyncio.sleep(0)
"""


def test_garbage_cycles_with_loop_errors_fail_their_own_test(tmp_path: Path) -> None:
    """A future that failed unseen in a reference cycle fails the test that made it.

    The teardown collects each async test's garbage and then freezes what is
    left (so the next collection does not walk the whole session's heap again):
    a cycle made after an earlier test's freeze is still found, and blamed on
    the test that made it, on both loops.
    """
    shutil.copy(Path(__file__).with_name("conftest.py"), tmp_path / "conftest.py")
    (tmp_path / "test_inner.py").write_text(_INNER_TESTS)
    (tmp_path / "pytest.ini").write_text(
        "[pytest]\nasyncio_mode = auto\nasyncio_default_fixture_loop_scope = function\n"
    )
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q", "-rE"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    lines = result.stdout.splitlines()
    errors = sorted(
        line.split()[1] for line in lines if line.startswith("ERROR test_inner.py")
    )
    assert errors == [
        f"test_inner.py::test_drops_a_failed_future_in_a_cycle[{loop}]"
        for loop in ("asyncio", "uvloop")
    ], result.stdout
    assert "never retrieved" in result.stdout
    assert "6 passed, 2 errors" in lines[-1], result.stdout
