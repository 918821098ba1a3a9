"""examples/seqpacket.py: records keep their boundaries, on both loops."""

from __future__ import annotations

import os
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
        [sys.executable, "-W", "error", str(ROOT / "examples" / "seqpacket.py"), *args],
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


def _check(out: str) -> None:
    for size in (1, 10, 1000, 100000):
        assert f"sent {size} bytes, server got {size} bytes, sha256 " in out
    assert "(WRONG)" not in out
    assert out.count("(ok)") == 4
    assert (
        "receive(10): expected a record of at most 10 bytes (max_bytes), got 33" in out
    )
    assert out.rstrip().endswith("end of stream")


@pytest.mark.parametrize("loop", LOOPS)
def test_abstract_name(loop: str) -> None:
    """With no argument the example serves an abstract name and checks each record."""
    out = _run(loop)
    assert out.startswith("listening on unixpacket:@aiosock-example-")
    _check(out)


@pytest.mark.parametrize("loop", LOOPS)
def test_socket_file(loop: str, short_tmp: Path) -> None:
    """Given a unixpacket: path the example serves there and removes the file after."""
    out = _run(loop, f"unixpacket:{short_tmp}/records.sock")
    assert out.startswith(f"listening on unixpacket:{short_tmp}/records.sock")
    _check(out)
    assert not (short_tmp / "records.sock").exists()
