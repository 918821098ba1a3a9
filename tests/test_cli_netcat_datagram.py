"""``aiosock connect`` and ``aiosock listen`` over datagram endpoints."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from .conftest import HAVE_IPV6

LOOPS = ["asyncio", "uvloop"]
TIMEOUT = 30

ENDPOINTS = ["udp://127.0.0.1:0", "unixgram:{tmp}/nc.sock", "unixgram:@as-ncd-{pid}"]
if HAVE_IPV6:
    ENDPOINTS.append("udp6://[::1]:0")


def _aiosock(*args: str) -> list[str]:
    return [sys.executable, "-m", "aiosock", *args]


@pytest.mark.parametrize("loop", LOOPS)
@pytest.mark.parametrize("template", ENDPOINTS)
def test_lines_become_datagrams_both_ways(
    loop: str, template: str, short_tmp: Path
) -> None:
    """Each input line is one datagram; the listener replies to the last sender."""
    endpoint = template.format(tmp=short_tmp, pid=os.getpid())
    (short_tmp / "replies").write_bytes(b"reply one\nreply two\n")
    with (short_tmp / "replies").open("rb") as replies:
        listener = subprocess.Popen(
            _aiosock("--loop", loop, "listen", endpoint, "--timeout", str(TIMEOUT)),
            stdin=replies,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
    assert listener.stderr is not None
    line = listener.stderr.readline().decode()
    assert line.startswith("listening on "), line
    bound = line.removeprefix("listening on ").strip()
    client = subprocess.run(
        _aiosock("--loop", loop, "connect", bound, "--timeout", str(TIMEOUT)),
        input=b"hello\nworld",
        capture_output=True,
        timeout=TIMEOUT,
        check=False,
    )
    out, err = listener.communicate(timeout=TIMEOUT)
    assert client.returncode == 0, client.stderr
    assert listener.returncode == 0, err
    assert out == b"hello\nworld\n"
    assert client.stdout == b"reply one\nreply two\n"


@pytest.mark.parametrize("loop", LOOPS)
def test_missing_unixgram_peer_is_reported(loop: str, short_tmp: Path) -> None:
    """Connecting to a unixgram path with no socket names it and exits 1."""
    result = subprocess.run(
        _aiosock("--loop", loop, "connect", f"unixgram:{short_tmp}/none.sock"),
        input=b"x\n",
        capture_output=True,
        timeout=TIMEOUT,
        check=False,
    )
    assert result.returncode == 1
    assert "none.sock" in result.stderr.decode()
