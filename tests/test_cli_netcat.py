"""``aiosock connect`` and ``aiosock listen``: netcat over stream endpoints."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from .conftest import HAVE_IPV6

LOOPS = ["asyncio", "uvloop"]
TIMEOUT = 30


def _aiosock(*args: str) -> list[str]:
    return [sys.executable, "-m", "aiosock", *args]


def _listen(
    loop: str, endpoint: str, stdin: Path
) -> tuple[subprocess.Popen[bytes], str]:
    with stdin.open("rb") as source:
        proc = subprocess.Popen(
            _aiosock("--loop", loop, "listen", endpoint, "--timeout", str(TIMEOUT)),
            stdin=source,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
    assert proc.stderr is not None
    line = proc.stderr.readline().decode()
    assert line.startswith("listening on "), line
    return proc, line.removeprefix("listening on ").strip()


ENDPOINTS = ["tcp://127.0.0.1:0", "unix:{tmp}/nc.sock", "unix:@aiosock-nc-{pid}"]
if HAVE_IPV6:
    ENDPOINTS.append("tcp://[::1]:0")


@pytest.mark.parametrize("loop", LOOPS)
@pytest.mark.parametrize("template", ENDPOINTS)
def test_connect_and_listen_both_ways(
    loop: str, template: str, short_tmp: Path
) -> None:
    """Bytes flow both ways; each side's end of input half-closes, and both exit 0."""
    endpoint = template.format(tmp=short_tmp, pid=os.getpid())
    to_server = os.urandom(200_000)
    to_client = b"response\n" * 1000
    (short_tmp / "input").write_bytes(to_client)
    listener, bound = _listen(loop, endpoint, short_tmp / "input")
    client = subprocess.run(
        _aiosock("--loop", loop, "connect", bound, "--timeout", str(TIMEOUT)),
        input=to_server,
        capture_output=True,
        timeout=TIMEOUT,
        check=False,
    )
    server_out, server_err = listener.communicate(timeout=TIMEOUT)
    assert client.returncode == 0, client.stderr
    assert listener.returncode == 0, server_err
    assert server_out == to_server
    assert client.stdout == to_client


@pytest.mark.parametrize("loop", LOOPS)
def test_connect_refused_is_reported(loop: str) -> None:
    """A refused connection prints the endpoint and the error, exit status 1."""
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    result = subprocess.run(
        _aiosock("--loop", loop, "connect", f"tcp://127.0.0.1:{port}"),
        input=b"",
        capture_output=True,
        timeout=TIMEOUT,
        check=False,
    )
    assert result.returncode == 1
    assert f"127.0.0.1:{port}" in result.stderr.decode()
    assert "refused" in result.stderr.decode().lower()


def test_connect_bad_endpoint_is_reported() -> None:
    """A malformed endpoint names the text and what was expected."""
    result = subprocess.run(
        _aiosock("connect", "tcp://127.0.0.1"),
        input=b"",
        capture_output=True,
        timeout=TIMEOUT,
        check=False,
    )
    assert result.returncode == 1
    assert "expected ':' and a port" in result.stderr.decode()
