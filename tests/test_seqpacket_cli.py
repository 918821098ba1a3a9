"""``aiosock connect`` and ``aiosock listen`` over unixpacket: one record per line."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

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


@pytest.mark.parametrize("loop", LOOPS)
@pytest.mark.parametrize(
    "template", ["unixpacket:{tmp}/p.sock", "unixpacket:@nc-{pid}"]
)
def test_lines_become_records_both_ways(
    loop: str, template: str, short_tmp: Path
) -> None:
    """Each input line is one record; each record received is printed as a line."""
    endpoint = template.format(tmp=short_tmp, pid=os.getpid())
    to_client = b"".join(b"answer %d\n" % i for i in range(500))
    (short_tmp / "input").write_bytes(to_client)
    listener, bound = _listen(loop, endpoint, short_tmp / "input")
    assert bound == endpoint
    to_server = b"first\n\nsecond line\n" + b"x" * 100_000 + b"\nno newline at end"
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
    # The empty line is skipped (a record cannot be empty); the last line counts.
    assert (
        server_out
        == b"first\nsecond line\n" + b"x" * 100_000 + b"\nno newline at end\n"
    )
    assert client.stdout == to_client


@pytest.mark.parametrize("loop", LOOPS)
def test_lines_are_records_for_a_plain_peer(loop: str, short_tmp: Path) -> None:
    """A plain SOCK_SEQPACKET peer receives one record per line from connect."""
    path = short_tmp / "peer.sock"
    with socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET) as listener:
        listener.bind(str(path))
        listener.listen(1)
        client = subprocess.Popen(
            _aiosock("--loop", loop, "connect", f"unixpacket:{path}"),
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        listener.settimeout(TIMEOUT)
        conn, _ = listener.accept()
        with conn:
            conn.settimeout(TIMEOUT)
            conn.send(b"hello from the peer")
            assert client.stdin is not None
            client.stdin.write(b"one\ntwo\nthree\n")
            client.stdin.close()
            records = [conn.recv(100) for _ in range(4)]
        assert client.stdout is not None
        assert client.stderr is not None
        out, err = client.stdout.read(), client.stderr.read()
        client.wait(timeout=TIMEOUT)
        client.stdout.close()
        client.stderr.close()
    assert records == [b"one", b"two", b"three", b""]
    assert client.returncode == 0, err
    assert out == b"hello from the peer\n"


@pytest.mark.parametrize("loop", LOOPS)
def test_missing_socket_is_reported(loop: str, short_tmp: Path) -> None:
    """Connecting to a path with no socket prints the error and exits 1."""
    result = subprocess.run(
        _aiosock("--loop", loop, "connect", f"unixpacket:{short_tmp}/none"),
        input=b"",
        capture_output=True,
        timeout=TIMEOUT,
        check=False,
    )
    assert result.returncode == 1
    assert f"connect unixpacket:{short_tmp}/none" in result.stderr.decode()
    assert "No such file or directory" in result.stderr.decode()
