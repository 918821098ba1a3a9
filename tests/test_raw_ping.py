"""examples/ping.py: an ICMP echo client over raw sockets, on both loops."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from .conftest import HAVE_IPV6
from .test_raw import HAVE_RAW, NO_RAW

ROOT = Path(__file__).resolve().parent.parent
LOOPS = ["asyncio", "uvloop"]


def _ping(
    loop: str, *args: str, wrap: tuple[str, ...] = ()
) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, AIOSOCK_LOOP=loop)
    env["PYTHONPATH"] = os.pathsep.join(
        filter(None, [str(ROOT), env.get("PYTHONPATH")])
    )
    return subprocess.run(
        [
            *wrap,
            sys.executable,
            "-W",
            "error",
            str(ROOT / "examples" / "ping.py"),
            *args,
        ],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def _check_output(result: subprocess.CompletedProcess[str], host: str) -> None:
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""
    lines = result.stdout.splitlines()
    assert lines[0] == f"PING {host} ({host}) 56 data bytes"
    replies = [line for line in lines if line.startswith("64 bytes from")]
    assert [re.search(r"icmp_seq=(\d+)", r).group(1) for r in replies] == [
        "1",
        "2",
        "3",
    ]  # type: ignore[union-attr]
    assert all(re.search(r"time=\d+\.\d{3} ms$", line) for line in replies)
    assert "3 packets transmitted, 3 received, 0% packet loss" in result.stdout
    assert re.search(
        r"rtt min/avg/max/mdev = [\d.]+/[\d.]+/[\d.]+/[\d.]+ ms", result.stdout
    )


@pytest.mark.parametrize("loop", LOOPS)
def test_ping_ipv4(loop: str) -> None:
    """ping.py 127.0.0.1 -c 3 prints three replies with ttl and times, then stats."""
    result = _ping(loop, "127.0.0.1", "-c", "3", "-i", "0.05")
    if not HAVE_RAW:
        assert result.returncode == 2
        assert "CAP_NET_RAW" in result.stderr
        return
    _check_output(result, "127.0.0.1")
    assert result.stdout.count("ttl=64") == 3


@pytest.mark.skipif(not HAVE_IPV6, reason="IPv6 loopback (::1) cannot be bound")
@pytest.mark.parametrize("loop", LOOPS)
def test_ping_ipv6(loop: str) -> None:
    """ping.py ::1 -c 3 prints three ICMPv6 echo replies, then stats."""
    result = _ping(loop, "::1", "-c", "3", "-i", "0.05")
    if not HAVE_RAW:
        assert result.returncode == 2
        assert "CAP_NET_RAW" in result.stderr
        return
    _check_output(result, "::1")


@pytest.mark.skipif(
    os.geteuid() != 0 or shutil.which("setpriv") is None,
    reason="needs root and setpriv(1) to run without CAP_NET_RAW",
)
@pytest.mark.parametrize("loop", LOOPS)
def test_ping_without_privilege_explains(loop: str) -> None:
    """Without CAP_NET_RAW, ping.py exits 2 saying that capability is needed."""
    result = _ping(loop, "127.0.0.1", "-c", "1", wrap=NO_RAW)
    assert result.returncode == 2, result.stderr
    assert "cannot open ip4:icmp: raw sockets need the CAP_NET_RAW" in result.stderr
    assert result.stdout == ""
