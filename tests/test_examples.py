"""Every ``examples/*.py`` runs, on both loops, and prints what its docstring says.

Each example runs in a subprocess with ``AIOSOCK_LOOP`` set, with warnings made
errors (so an unclosed socket or a never-awaited coroutine shows on standard
error, which must stay empty) and with a bounded timeout. A server and its
client run together: the server listens on port 0 (or a fresh Unix name), the
test reads its "listening on" line and points the client at that endpoint.
"""

from __future__ import annotations

import os
import re
import select
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

import aiosock

from .conftest import HAVE_IPV6

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples"
LOOPS = ["asyncio", "uvloop"]
TIMEOUT = 30

#: The examples the tests below run (test_every_example_is_tested keeps it whole).
TESTED = {
    # The datagram examples run in tests/test_examples_datagram.py.
    "fd_passing_datagram.py",
    "local_datagram_client.py",
    "local_datagram_server.py",
    "udp_echo_client.py",
    "udp_echo_server.py",
    # These run in tests/test_seqpacket_example.py, tests/test_raw_ping.py and
    # tests/test_local_extras_example.py.
    "seqpacket.py",
    "ping.py",
    "pass_fd.py",
    "socketpair.py",
    "stream_client.py",
    "stream_server.py",
    "urgent.py",
}


def _env(loop: str) -> dict[str, str]:
    env = dict(os.environ, AIOSOCK_LOOP=loop)
    env["PYTHONPATH"] = os.pathsep.join(
        filter(None, [str(ROOT), env.get("PYTHONPATH")])
    )
    return env


def _command(script: str, *args: str) -> list[str]:
    return [sys.executable, "-W", "error", str(EXAMPLES / script), *args]


def _run(loop: str, script: str, *args: str) -> str:
    """Run an example to completion; return its output after checking it ended well."""
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


def _read_line(proc: subprocess.Popen[bytes]) -> str:
    """Read one line of a running process's output, within TIMEOUT seconds."""
    assert proc.stdout is not None
    fd = proc.stdout.fileno()
    deadline = time.monotonic() + TIMEOUT
    line = b""
    while not line.endswith(b"\n"):
        remaining = deadline - time.monotonic()
        assert remaining > 0, f"no complete line within {TIMEOUT}s: {line!r}"
        ready, _, _ = select.select([fd], [], [], remaining)
        if ready:
            byte = os.read(fd, 1)  # one at a time: leave the rest in the pipe
            assert byte, f"the process ended early: {line!r}"
            line += byte
    return line.decode()


class ServerProcess:
    """``examples/stream_server.py`` running in a subprocess."""

    def __init__(self, loop: str, *args: str) -> None:
        self.proc = subprocess.Popen(
            _command("stream_server.py", *args),
            env=_env(loop),
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        line = _read_line(self.proc)
        assert line.startswith("listening on "), line
        self.endpoint = line.removeprefix("listening on ").strip()

    def finish(self) -> str:
        """Wait for the server to exit on its own; return the rest of its output."""
        out, err = self.proc.communicate(timeout=TIMEOUT)
        assert self.proc.returncode == 0, err.decode()
        assert err == b"", err.decode()
        return out.decode()

    def kill(self) -> None:
        """Make sure the process is gone (after a failed test)."""
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.communicate(timeout=TIMEOUT)


def _raw_connect(endpoint: str) -> socket.socket:
    """Connect a plain blocking socket to an endpoint the server printed."""
    parsed = aiosock.parse_endpoint(endpoint)
    address = parsed.address
    assert parsed.namespace is not None
    assert address is not None
    assert not isinstance(address, aiosock.HostAddress)
    sock = socket.socket(parsed.namespace.family, socket.SOCK_STREAM)
    try:
        sock.settimeout(TIMEOUT)
        sock.connect(address.to_sockaddr())
    except BaseException:
        sock.close()
        raise
    return sock


def _receive_all(sock: socket.socket) -> bytes:
    parts = []
    while data := sock.recv(65536):
        parts.append(data)
    return b"".join(parts)


def test_every_example_is_tested() -> None:
    """Each examples/*.py file has a test here (a new example needs one)."""
    assert {path.name for path in EXAMPLES.glob("*.py")} == TESTED


def test_every_example_has_a_docstring() -> None:
    """Each example opens with a module docstring that says how to run it."""
    for path in EXAMPLES.glob("*.py"):
        text = path.read_text()
        assert text.startswith('"""'), path.name
        assert f"python examples/{path.name}" in text, path.name


def test_every_example_is_shown_in_the_docs() -> None:
    """docs/examples.rst includes each examples/*.py file (STYLE.md)."""
    page = (ROOT / "docs" / "examples.rst").read_text()
    for path in EXAMPLES.glob("*.py"):
        assert f".. literalinclude:: ../examples/{path.name}" in page, path.name


SERVER_ENDPOINTS = [
    "tcp://127.0.0.1:0",
    "unix:{tmp}/echo.sock",
    "unix:@aiosock-ex-{id}",
]
if HAVE_IPV6:
    SERVER_ENDPOINTS.append("tcp://[::1]:0")


@pytest.mark.parametrize("loop", LOOPS)
@pytest.mark.parametrize("template", SERVER_ENDPOINTS)
def test_stream_server_serves_clients_at_once(
    loop: str, template: str, short_tmp: Path
) -> None:
    """Clients are answered while another stays connected; --max-clients ends it."""
    endpoint = template.format(tmp=short_tmp, id=f"{os.getpid()}-{loop}")
    server = ServerProcess(loop, endpoint, "--max-clients", "3")
    try:
        with _raw_connect(server.endpoint) as held:
            held.sendall(b"first in, last out")
            default = _run(loop, "stream_client.py", server.endpoint)
            chosen = _run(loop, "stream_client.py", server.endpoint, "Hello, server")
            held.shutdown(socket.SHUT_WR)
            assert _receive_all(held) == b"first in, last out"
        output = server.finish()
    finally:
        server.kill()
    assert default == "Client: got reply: 'Yow!!! Are we having fun yet?!?'\n"
    assert chosen == "Client: got reply: 'Hello, server'\n"
    lines = output.splitlines()
    assert lines.count("Server: got message: 'Hello, server'") == 1, output
    assert "Server: got message: 'Yow!!! Are we having fun yet?!?'" in lines
    assert "Server: got message: 'first in, last out'" in lines
    assert sum(line.startswith("Server: connect from ") for line in lines) == 3


@pytest.mark.parametrize("loop", LOOPS)
@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_stream_server_stops_on_signal(loop: str, signum: signal.Signals) -> None:
    """Ctrl-C or SIGTERM stops the server quietly, with exit status 0."""
    server = ServerProcess(loop, "tcp://127.0.0.1:0")
    try:
        server.proc.send_signal(signum)
        assert server.finish() == ""
    finally:
        server.kill()


@pytest.mark.parametrize("loop", LOOPS)
def test_stream_server_lets_connections_finish_on_sigterm(loop: str) -> None:
    """After SIGTERM an open connection is still served, and new ones refused."""
    server = ServerProcess(loop, "tcp://127.0.0.1:0")
    try:
        with _raw_connect(server.endpoint) as open_one:
            open_one.sendall(b"before")
            assert open_one.recv(6) == b"before"
            server.proc.send_signal(signal.SIGTERM)
            deadline = time.monotonic() + TIMEOUT
            while True:  # the listening socket closes soon after the signal
                try:
                    _raw_connect(server.endpoint).close()
                except (ConnectionRefusedError, ConnectionResetError):
                    # Refused, or queued in the backlog as the listener closed
                    # and reset by the kernel: either way, not accepted.
                    break
                assert time.monotonic() < deadline, "still accepting after SIGTERM"
                time.sleep(0.02)
            open_one.sendall(b" and after")
            open_one.shutdown(socket.SHUT_WR)
            assert _receive_all(open_one) == b" and after"
        output = server.finish()
    finally:
        server.kill()
    assert "Server: got message: ' and after'" in output.splitlines()


@pytest.mark.parametrize("loop", LOOPS)
def test_urgent(loop: str) -> None:
    """The urgent byte arrives apart from the normal data, which arrives whole."""
    lines = sorted(_run(loop, "urgent.py").splitlines())
    assert lines == [
        "Client: sent b'normal data, and more normal data' with b'!' urgent in the "
        "middle",
        "Server: normal data: b'normal data, and more normal data'",
        "Server: urgent data: b'!'",
    ]


@pytest.mark.parametrize("loop", LOOPS)
def test_socketpair(loop: str) -> None:
    """Two tasks talk over a stream pair both ways and close it end to end."""
    assert _run(loop, "socketpair.py") == (
        "asked 'hello', got 'HELLO'\n"
        "asked 'socket', got 'SOCKET'\n"
        "asked 'pair', got 'PAIR'\n"
        "both ends closed\n"
    )


def _readme_blocks() -> list[str]:
    text = (ROOT / "README.md").read_text()
    return re.findall(r"```python\n(.*?)```", text, flags=re.DOTALL)


@pytest.mark.parametrize("loop", LOOPS)
def test_readme_server_and_client(loop: str, tmp_path: Path) -> None:
    """The README's ten-line server and client run against each other."""
    server_code, client_code = _readme_blocks()
    with socket.socket() as probe:  # a free port for the README's fixed 7007
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    for name, code in (("server.py", server_code), ("client.py", client_code)):
        assert "tcp://127.0.0.1:7007" in code, name
        (tmp_path / name).write_text(code.replace(":7007", f":{port}"))
    server = subprocess.Popen(
        [sys.executable, str(tmp_path / "server.py")],
        env=_env(loop),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        deadline = time.monotonic() + TIMEOUT
        while True:  # the server prints nothing: wait until it accepts
            try:
                socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT).close()
                break
            except ConnectionRefusedError:
                assert server.poll() is None, server.communicate()[1].decode()
                assert time.monotonic() < deadline, "the README server never listened"
                time.sleep(0.05)
        client = subprocess.run(
            [sys.executable, "-W", "error", str(tmp_path / "client.py")],
            env=_env(loop),
            capture_output=True,
            timeout=TIMEOUT,
            check=False,
        )
    finally:
        server.send_signal(signal.SIGINT)
        try:
            server.communicate(timeout=TIMEOUT)
        except subprocess.TimeoutExpired:
            server.kill()
            server.communicate()
    assert client.returncode == 0, client.stderr.decode()
    assert client.stderr == b"", client.stderr.decode()
    assert client.stdout == b"b'hello\\n'\n"
