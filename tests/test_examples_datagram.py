"""The datagram examples run on both loops and print what their docstrings say.

As in test_examples.py: each example in a subprocess with ``AIOSOCK_LOOP`` set
and warnings made errors (standard error must stay empty), the server on port 0
or a fresh Unix name, its "listening on" line read to point the client at it.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples"
LOOPS = ["asyncio", "uvloop"]
TIMEOUT = 30


def _env(loop: str) -> dict[str, str]:
    env = dict(os.environ, AIOSOCK_LOOP=loop)
    env["PYTHONPATH"] = os.pathsep.join(
        filter(None, [str(ROOT), env.get("PYTHONPATH")])
    )
    return env


def _command(script: str, *args: str) -> list[str]:
    return [sys.executable, "-W", "error", str(EXAMPLES / script), *args]


def _start(loop: str, script: str, *args: str) -> tuple[subprocess.Popen[bytes], str]:
    server = subprocess.Popen(
        _command(script, *args),
        env=_env(loop),
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    assert server.stdout is not None
    line = server.stdout.readline().decode()
    assert line.startswith("listening on "), line or server.stderr.read()  # type: ignore[union-attr]
    return server, line.removeprefix("listening on ").strip()


def _run(loop: str, script: str, *args: str) -> str:
    result = subprocess.run(
        _command(script, *args),
        env=_env(loop),
        cwd=ROOT,
        capture_output=True,
        timeout=TIMEOUT,
        check=False,
    )
    assert result.returncode == 0, result.stderr.decode()
    assert result.stderr == b"", result.stderr.decode()
    return result.stdout.decode()


def _finish(server: subprocess.Popen[bytes]) -> str:
    out, err = server.communicate(timeout=TIMEOUT)
    assert server.returncode == 0, err.decode()
    assert err == b"", err.decode()
    return out.decode()


@pytest.mark.parametrize("loop", LOOPS)
def test_local_datagram_server_and_client(loop: str, short_tmp: Path) -> None:
    """The local-namespace pair: autobound and file-named clients get their echo."""
    path = short_tmp / "serversocket"
    server, bound = _start(
        loop, "local_datagram_server.py", f"unixgram:{path}", "--max-messages", "2"
    )
    assert bound == f"unixgram:{path}"
    first = _run(loop, "local_datagram_client.py", bound)
    assert first == "Client: got reply: 'Yow!!! Are we having fun yet?!?'\n"
    mine = short_tmp / "mysocket"
    second = _run(
        loop, "local_datagram_client.py", bound, "Hi", "--local", f"unixgram:{mine}"
    )
    assert second == "Client: got reply: 'Hi'\n"
    assert not mine.exists()
    out = _finish(server)
    assert "Server: got message from @" in out
    assert f"Server: got message from {mine}: 'Hi'" in out
    assert not path.exists()


@pytest.mark.parametrize("loop", LOOPS)
def test_udp_echo_server_and_client(loop: str) -> None:
    """The UDP pair: every message comes back, numbered, with a round-trip time."""
    server, bound = _start(
        loop, "udp_echo_server.py", "udp://127.0.0.1:0", "--max-messages", "3"
    )
    assert bound.startswith("udp://127.0.0.1:")
    out = _run(loop, "udp_echo_client.py", bound, "hello", "big", "world")
    lines = out.splitlines()
    assert [line.split(" time=")[0] for line in lines] == [
        "Client: '0 hello'",
        "Client: '1 big'",
        "Client: '2 world'",
    ]
    assert all(line.endswith(" ms") for line in lines)
    # Measured finer than whole milliseconds, on both loops (a clock that
    # counts whole milliseconds gives 0.000 or 1.000 every time).
    times = [float(line.split(" time=")[1].removesuffix(" ms")) for line in lines]
    assert any(round(t * 1000) % 1000 for t in times), times
    assert _finish(server).count("Server: ") == 3


@pytest.mark.parametrize("loop", LOOPS)
def test_udp_echo_client_reports_a_refused_port(loop: str) -> None:
    """With nothing listening, the client says so and exits 1."""
    import socket

    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    result = subprocess.run(
        _command("udp_echo_client.py", f"udp://127.0.0.1:{port}"),
        env=_env(loop),
        cwd=ROOT,
        capture_output=True,
        timeout=TIMEOUT,
        check=False,
    )
    assert result.returncode == 1
    assert "refused" in result.stderr.decode().lower()


@pytest.mark.parametrize("loop", LOOPS)
def test_fd_passing_datagram_broker(loop: str) -> None:
    """Each child gets the pipe's write end from the broker and writes through it."""
    out = _run(loop, "fd_passing_datagram.py", "--children", "3")
    broker = re.search(r"^broker (\d+): listening on unixgram:@", out, re.M)
    assert broker is not None, out
    children = set(
        re.findall(r"^child (\d+): got descriptor \d+ with 'the log'$", out, re.M)
    )
    assert len(children) == 3, out
    requests = re.findall(
        rf"^broker {broker.group(1)}: 'the log, please' from pid (\d+) "
        rf"\(uid {os.geteuid()}\) at @\w+$",
        out,
        re.M,
    )
    assert set(requests) == children, out
    logged = re.findall(
        r"^broker \d+: the log says: hello from child (\d+)$", out, re.M
    )
    assert set(logged) == children, out
