"""examples/pass_fd.py: a descriptor passed to a child process, on both loops."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
LOOPS = ["asyncio", "uvloop"]


def _run(loop: str, *args: str) -> str:
    env = dict(os.environ, AIOSOCK_LOOP=loop)
    env["PYTHONPATH"] = os.pathsep.join(
        filter(None, [str(ROOT), env.get("PYTHONPATH")])
    )
    result = subprocess.run(
        [sys.executable, "-W", "error", str(ROOT / "examples" / "pass_fd.py"), *args],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""
    return result.stdout


@pytest.mark.parametrize("loop", LOOPS)
def test_child_reads_deleted_file_through_descriptor(loop: str) -> None:
    """The child reads a file that has no name left, through the passed descriptor."""
    out = _run(loop)
    parent_pid = re.search(r"^parent (\d+): opened .*, then deleted it$", out, re.M)
    assert parent_pid is not None, out
    assert f"connected to pid {parent_pid.group(1)}" in out
    assert "the child asks 'the file, please'" in out
    assert re.search(r"^child \d+: got descriptor \d+ with 'here it is'$", out, re.M)
    assert "the file says: Hello from the parent, through a descriptor." in out
    assert out.rstrip().endswith("the child exited with status 0")


@pytest.mark.parametrize("loop", LOOPS)
def test_pass_named_file(loop: str, tmp_path: Path) -> None:
    """Given a file name, the child prints that file's lines."""
    path = tmp_path / "note.txt"
    path.write_text("first line\nsecond line\n")
    out = _run(loop, str(path))
    assert "the file says: first line" in out
    assert "the file says: second line" in out
