"""``aiosock connect``/``listen``: how they end, and what they say when they fail.

The command must end promptly when the peer is gone or on SIGINT, whatever
standard input (an open pipe nobody writes to, a terminal) and standard output
(a full pipe) are doing; ``--timeout`` bounds only the wait for the peer, and
says so when it runs out. Every command runs as a subprocess on both loops; every
wait is bounded.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import select
import signal
import socket
import struct
import subprocess
import sys
import termios
import time
from collections.abc import Iterator

import pytest

LOOPS = ["asyncio", "uvloop"]
#: Bound on waits that should take milliseconds (a generous one for slow CI).
TIMEOUT = 30
#: How soon the command must end once the peer is gone or on SIGINT.
PROMPT = 5
#: The --timeout of the tests showing it does not bound the session, and how
#: long past it the session is kept going.
SESSION_TIMEOUT = 0.75
PAST_TIMEOUT = 1.25


def _aiosock(*args: str) -> list[str]:
    return [sys.executable, "-m", "aiosock", *args]


def _start(
    loop: str, *args: str, stdin: int, stdout: int = subprocess.PIPE
) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        _aiosock("--loop", loop, *args),
        stdin=stdin,
        stdout=stdout,
        stderr=subprocess.PIPE,
        bufsize=0,
    )


@contextlib.contextmanager
def _running(proc: subprocess.Popen[bytes]) -> Iterator[subprocess.Popen[bytes]]:
    """Kill ``proc`` on the way out if it is still running (a failed test)."""
    try:
        yield proc
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait(timeout=TIMEOUT)
        for pipe in (proc.stdin, proc.stdout, proc.stderr):
            if pipe is not None:
                pipe.close()


def _read_until(fd: int, needle: bytes, timeout: float = TIMEOUT) -> bytes:
    """Read ``fd`` until ``needle`` has come; fail after ``timeout`` seconds."""
    got = b""
    deadline = _now() + timeout
    while needle not in got:
        remaining = deadline - _now()
        if remaining <= 0:
            raise AssertionError(f"{needle!r} not seen within {timeout} s: {got!r}")
        ready, _, _ = select.select([fd], [], [], remaining)
        if ready:
            data = os.read(fd, 65536)
            if not data:
                raise AssertionError(f"output ended before {needle!r}: {got!r}")
            got += data
    return got


def _read_rest(fd: int, timeout: float = TIMEOUT) -> bytes:
    """Read ``fd`` to its end (the process has exited); bounded by ``timeout``."""
    got = b""
    deadline = _now() + timeout
    while True:
        remaining = deadline - _now()
        assert remaining > 0, f"output did not end within {timeout} s: {got!r}"
        ready, _, _ = select.select([fd], [], [], remaining)
        if ready:
            data = os.read(fd, 65536)
            if not data:
                return got
            got += data


def _now() -> float:
    return time.monotonic()


def _stderr_of(proc: subprocess.Popen[bytes]) -> str:
    assert proc.stderr is not None
    return _read_rest(proc.stderr.fileno()).decode()


def _wait_listening(proc: subprocess.Popen[bytes]) -> str:
    """Return the endpoint ``aiosock listen`` printed on standard error."""
    assert proc.stderr is not None
    line = _read_until(proc.stderr.fileno(), b"\n").decode()
    assert line.startswith("listening on "), line
    return line.removeprefix("listening on ").strip()


def _reset(sock: socket.socket) -> None:
    """Close ``sock`` with a reset (SO_LINGER 0) rather than a FIN."""
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    sock.close()


@contextlib.contextmanager
def _tcp_listener() -> Iterator[tuple[socket.socket, int]]:
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        listener.settimeout(TIMEOUT)
        yield listener, listener.getsockname()[1]


@contextlib.contextmanager
def _idle_stdin(kind: str) -> Iterator[int]:
    """An open standard input nobody writes to; checks it stays blocking."""
    with _stdin(kind) as (_ours, theirs):
        yield theirs


@contextlib.contextmanager
def _stdin(kind: str) -> Iterator[tuple[int, int]]:
    """A pipe or terminal: (our end, the child's standard input).

    On the way out, checks that the child's end was left in blocking mode.
    """
    if kind == "pipe":
        theirs, ours = os.pipe()
    else:
        ours, theirs = os.openpty()
    try:
        yield ours, theirs
        # The child shared this file description: it must not have made it
        # non-blocking (a shell would then see EAGAIN on its terminal).
        assert not fcntl.fcntl(theirs, fcntl.F_GETFL) & os.O_NONBLOCK
    finally:
        os.close(ours)
        os.close(theirs)


# --- 1. the command ends promptly, whatever standard input is doing -----------


@pytest.mark.parametrize("loop", LOOPS)
@pytest.mark.parametrize("stdin_kind", ["pipe", "tty"])
def test_connect_ends_when_peer_resets_while_stdin_idle(
    loop: str, stdin_kind: str
) -> None:
    """A reset ends ``connect`` at once (exit 1, the reset named); stdin stays open."""
    with (
        contextlib.ExitStack() as stack,
        _idle_stdin(stdin_kind) as stdin,
        _tcp_listener() as (listener, port),
        _running(
            _start(loop, "connect", f"tcp://127.0.0.1:{port}", stdin=stdin)
        ) as proc,
    ):
        peer = stack.enter_context(listener.accept()[0])
        peer.sendall(b"server-says-bye\n")
        assert proc.stdout is not None
        assert _read_until(proc.stdout.fileno(), b"\n") == b"server-says-bye\n"
        _reset(peer)
        assert proc.wait(timeout=PROMPT) == 1
        err = _stderr_of(proc)
    assert f"aiosock: connect tcp://127.0.0.1:{port}: " in err
    assert "ConnectionResetError" in err


@pytest.mark.parametrize("loop", LOOPS)
@pytest.mark.parametrize("endpoint", ["tcp://127.0.0.1:0", "unixpacket:@as-nc-x{pid}"])
def test_listen_ends_when_peer_resets_while_stdin_idle(
    loop: str, endpoint: str
) -> None:
    """A reset ends ``listen`` at once and is reported (exit 1), as for connect."""
    endpoint = endpoint.format(pid=os.getpid())
    with (
        contextlib.ExitStack() as stack,
        _stdin("pipe") as (ours, stdin),
        _running(_start(loop, "listen", endpoint, stdin=stdin)) as proc,
    ):
        peer = stack.enter_context(_connect_to(_wait_listening(proc)))
        # Data left unread when the peer closes makes the close a reset, for
        # TCP and local sockets alike; standard input then stays open and idle.
        os.write(ours, b"unread\n")
        ready, _, _ = select.select([peer], [], [], TIMEOUT)
        assert ready, "no data from the command"
        peer.sendall(b"hello" if endpoint.startswith("unixpacket:") else b"hello\n")
        assert proc.stdout is not None
        assert _read_until(proc.stdout.fileno(), b"\n") == b"hello\n"
        _reset(peer)
        assert proc.wait(timeout=PROMPT) == 1
        err = _stderr_of(proc)
    assert err.startswith(f"aiosock: listen {endpoint}: "), err
    assert "the connection was broken" in err


@pytest.mark.parametrize("loop", LOOPS)
def test_listen_reports_a_reset_after_its_input_ended(loop: str) -> None:
    """With standard input already at its end, a reset still means exit status 1."""
    with (
        contextlib.ExitStack() as stack,
        _running(
            _start(loop, "listen", "tcp://127.0.0.1:0", stdin=subprocess.DEVNULL)
        ) as proc,
    ):
        peer = stack.enter_context(_connect_to(_wait_listening(proc)))
        assert peer.recv(1) == b""  # its input ended: it half-closed
        peer.sendall(b"hello\n")
        assert proc.stdout is not None
        _read_until(proc.stdout.fileno(), b"hello\n")
        _reset(peer)
        assert proc.wait(timeout=PROMPT) == 1
        err = _stderr_of(proc)
    assert "aiosock: listen tcp://127.0.0.1:0: the connection was broken" in err


def _connect_to(bound: str) -> socket.socket:
    if bound.startswith("tcp://"):
        host, _, port = bound.removeprefix("tcp://").rpartition(":")
        return socket.create_connection((host, int(port)), timeout=TIMEOUT)
    assert bound.startswith("unixpacket:@"), bound
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    sock.settimeout(TIMEOUT)
    sock.connect("\0" + bound.removeprefix("unixpacket:@"))
    return sock


@pytest.mark.parametrize("loop", LOOPS)
@pytest.mark.parametrize("stdin_kind", ["pipe", "tty"])
def test_connect_ends_on_sigint_while_stdin_idle(loop: str, stdin_kind: str) -> None:
    """SIGINT ends a quiet session at once (exit 130) while stdin is idle."""
    with (
        _idle_stdin(stdin_kind) as stdin,
        _tcp_listener() as (listener, port),
        _running(
            _start(loop, "connect", f"tcp://127.0.0.1:{port}", stdin=stdin)
        ) as proc,
    ):
        peer, _ = listener.accept()
        with peer:
            peer.sendall(b"ready\n")
            assert proc.stdout is not None
            _read_until(proc.stdout.fileno(), b"ready\n")  # the session is on
            proc.send_signal(signal.SIGINT)
            assert proc.wait(timeout=PROMPT) == 130


@pytest.mark.parametrize("loop", LOOPS)
def test_listen_ends_on_sigint_while_stdin_idle(loop: str) -> None:
    """SIGINT ends ``listen``'s quiet session at once (exit 130)."""
    with (
        _idle_stdin("pipe") as stdin,
        _running(_start(loop, "listen", "tcp://127.0.0.1:0", stdin=stdin)) as proc,
        _connect_to(_wait_listening(proc)) as peer,
    ):
        peer.sendall(b"ready\n")
        assert proc.stdout is not None
        _read_until(proc.stdout.fileno(), b"ready\n")
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=PROMPT) == 130


@pytest.mark.parametrize("loop", LOOPS)
def test_datagram_listen_ends_on_sigint_while_stdin_idle(loop: str) -> None:
    """SIGINT ends a datagram ``listen`` at once (exit 130) while stdin is idle."""
    with (
        _idle_stdin("pipe") as stdin,
        _running(_start(loop, "listen", "udp://127.0.0.1:0", stdin=stdin)) as proc,
    ):
        bound = _wait_listening(proc)
        host, _, port = bound.removeprefix("udp://").rpartition(":")
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as peer:
            peer.sendto(b"ready", (host, int(port)))
            assert proc.stdout is not None
            _read_until(proc.stdout.fileno(), b"ready\n")
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=PROMPT) == 130


@pytest.mark.parametrize("loop", LOOPS)
def test_connect_ends_on_sigint_while_stdout_is_full(loop: str) -> None:
    """SIGINT ends the command at once while a write to a full stdout pipe blocks."""
    out_read, out_write = os.pipe()
    try:
        fcntl.fcntl(out_write, fcntl.F_SETPIPE_SZ, 4096)
        capacity = fcntl.fcntl(out_write, fcntl.F_GETPIPE_SZ)
        with (
            _idle_stdin("pipe") as stdin,
            _tcp_listener() as (listener, port),
            _running(
                _start(
                    loop,
                    "connect",
                    f"tcp://127.0.0.1:{port}",
                    stdin=stdin,
                    stdout=out_write,
                )
            ) as proc,
        ):
            peer, _ = listener.accept()
            with peer:
                peer.setblocking(False)
                sent = peer.send(b"x" * (1 << 20))  # far more than the pipe holds
                assert sent > 4 * capacity
                _wait_pipe_full(out_read, capacity)
                proc.send_signal(signal.SIGINT)
                assert proc.wait(timeout=PROMPT) == 130
    finally:
        os.close(out_read)
        os.close(out_write)


def _wait_pipe_full(fd: int, capacity: int) -> None:
    """Wait (bounded) until the pipe read by ``fd`` holds ``capacity`` bytes.

    A full pipe raises no event to wait on, so this polls its fill level.
    """
    deadline = _now() + TIMEOUT
    buffered = 0
    while buffered < capacity:
        assert _now() < deadline, f"the pipe holds {buffered} of {capacity} bytes"
        time.sleep(0.01)
        raw = fcntl.ioctl(fd, termios.FIONREAD, b"\0\0\0\0")
        buffered = struct.unpack("i", raw)[0]


# --- 2. a timeout says what timed out -----------------------------------------


@pytest.mark.parametrize("loop", LOOPS)
@pytest.mark.parametrize(
    ("endpoint", "what"),
    [
        ("tcp://127.0.0.1:0", "peer"),
        ("unixpacket:@as-nc-t{pid}", "peer"),
        ("udp://127.0.0.1:0", "datagram"),
    ],
)
def test_listen_timeout_says_no_peer_came(loop: str, endpoint: str, what: str) -> None:
    """``listen --timeout`` with nobody coming: a message and exit status 1."""
    endpoint = endpoint.format(pid=os.getpid())
    with (
        _idle_stdin("pipe") as stdin,
        _running(
            _start(loop, "listen", endpoint, "--timeout", "0.5", stdin=stdin)
        ) as proc,
    ):
        assert proc.wait(timeout=TIMEOUT) == 1
        err = _stderr_of(proc)
    assert f"aiosock: listen {endpoint}: no {what} within 0.5 s\n" in err


@pytest.mark.parametrize("loop", LOOPS)
def test_connect_timeout_says_it_timed_out(loop: str) -> None:
    """``connect --timeout 0`` reports the timeout in words, exit status 1."""
    with _tcp_listener() as (_listener, port):
        endpoint = f"tcp://127.0.0.1:{port}"
        result = subprocess.run(
            _aiosock("--loop", loop, "connect", endpoint, "--timeout", "0"),
            stdin=subprocess.DEVNULL,
            capture_output=True,
            timeout=TIMEOUT,
            check=False,
        )
    assert result.returncode == 1
    message = f"aiosock: connect {endpoint}: timed out after 0 s connecting\n"
    assert result.stderr.decode() == message


# --- 3. --timeout bounds the wait for the peer, not the session ---------------


@pytest.mark.parametrize("loop", LOOPS)
@pytest.mark.parametrize("endpoint", ["tcp://127.0.0.1:0", "unixpacket:@as-nc-s{pid}"])
def test_listen_timeout_does_not_end_the_session(loop: str, endpoint: str) -> None:
    """A session that outlasts ``--timeout`` goes on and ends with status 0."""
    endpoint = endpoint.format(pid=os.getpid())
    stdin_read, stdin_write = os.pipe()
    try:
        with _running(
            _start(
                loop,
                "listen",
                endpoint,
                "--timeout",
                str(SESSION_TIMEOUT),
                stdin=stdin_read,
            )
        ) as proc:
            os.close(stdin_read)
            assert proc.stdout is not None
            with _connect_to(_wait_listening(proc)) as peer:
                peer.sendall(b"one\n")
                _read_until(proc.stdout.fileno(), b"one\n")
                # The session outlives --timeout: the command keeps running.
                with pytest.raises(subprocess.TimeoutExpired):
                    proc.wait(timeout=PAST_TIMEOUT)
                peer.sendall(b"two\n")
                _read_until(proc.stdout.fileno(), b"two\n")
                os.write(stdin_write, b"back\n")
                assert _read_until_peer(peer, b"back") == b"back"
                os.close(stdin_write)
                stdin_write = -1
                peer.shutdown(socket.SHUT_WR)
                assert proc.wait(timeout=TIMEOUT) == 0, _stderr_of(proc)
    finally:
        with contextlib.suppress(OSError):
            os.close(stdin_read)
        if stdin_write >= 0:
            os.close(stdin_write)


def _read_until_peer(peer: socket.socket, needle: bytes) -> bytes:
    got = b""
    while needle not in got:
        data = peer.recv(65536)  # bounded by the socket's timeout
        assert data, f"end of stream before {needle!r}: {got!r}"
        got += data
    return got.strip()


@pytest.mark.parametrize("loop", LOOPS)
@pytest.mark.parametrize("command", ["listen", "connect"])
def test_datagram_timeout_does_not_end_the_session(loop: str, command: str) -> None:
    """Datagram ``--timeout`` bounds the set-up (connect) or the first datagram."""
    stdin_read, stdin_write = os.pipe()
    peer = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    peer.settimeout(TIMEOUT)
    peer.bind(("127.0.0.1", 0))
    try:
        if command == "listen":
            args = ["listen", "udp://127.0.0.1:0"]
        else:
            args = ["connect", f"udp://127.0.0.1:{peer.getsockname()[1]}"]
        timeout = ["--timeout", str(SESSION_TIMEOUT), "--idle", "0.2"]
        with _running(_start(loop, *args, *timeout, stdin=stdin_read)) as proc:
            os.close(stdin_read)
            assert proc.stdout is not None
            if command == "listen":
                host, _, port = _wait_listening(proc).rpartition(":")
                cli = (host.removeprefix("udp://"), int(port))
                peer.sendto(b"one", cli)
            else:
                os.write(stdin_write, b"hello\n")
                data, cli = peer.recvfrom(65536)
                assert data == b"hello"
                peer.sendto(b"one", cli)
            _read_until(proc.stdout.fileno(), b"one\n")
            with pytest.raises(subprocess.TimeoutExpired):
                proc.wait(timeout=PAST_TIMEOUT)
            peer.sendto(b"two", cli)
            _read_until(proc.stdout.fileno(), b"two\n")
            os.close(stdin_write)
            stdin_write = -1
            assert proc.wait(timeout=TIMEOUT) == 0, _stderr_of(proc)
    finally:
        peer.close()
        with contextlib.suppress(OSError):
            os.close(stdin_read)
        if stdin_write >= 0:
            os.close(stdin_write)


# --- 5. and other error reports ---------------------------------------------


@pytest.mark.parametrize("loop", LOOPS)
def test_resolution_error_names_the_endpoint_as_typed(loop: str) -> None:
    """An unknown service: the message names ``tcp://``, not a rewritten scheme."""
    result = subprocess.run(
        _aiosock("--loop", loop, "connect", "tcp://127.0.0.1:aiosock-no-such-service"),
        stdin=subprocess.DEVNULL,
        capture_output=True,
        timeout=TIMEOUT,
        check=False,
    )
    err = result.stderr.decode()
    assert result.returncode == 1
    assert err.startswith("aiosock: connect tcp://127.0.0.1:aiosock-no-such-service:")
    assert "tcp4" not in err


@pytest.mark.parametrize("loop", LOOPS)
def test_refused_datagram_is_reported_without_a_traceback(loop: str) -> None:
    """A refused datagram (ICMP port unreachable) is one line, exit status 1."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as gone:
        gone.bind(("127.0.0.1", 0))
        port = gone.getsockname()[1]
    endpoint = f"udp://127.0.0.1:{port}"
    result = subprocess.run(
        _aiosock("--loop", loop, "connect", endpoint),
        input=b"anyone?\n",
        capture_output=True,
        timeout=TIMEOUT,
        check=False,
    )
    err = result.stderr.decode()
    assert result.returncode == 1, err
    assert "Traceback" not in err
    assert err.startswith(f"aiosock: connect {endpoint}: "), err
    assert "refused" in err.lower()


@pytest.mark.parametrize(
    ("command", "option"),
    [("listen", "--timeout"), ("connect", "--timeout"), ("listen", "--idle")],
)
def test_negative_seconds_are_refused(command: str, option: str) -> None:
    """A negative --timeout or --idle is a usage error naming the option."""
    result = subprocess.run(
        _aiosock(command, option, "-1", "tcp://127.0.0.1:9"),
        stdin=subprocess.DEVNULL,
        capture_output=True,
        timeout=TIMEOUT,
        check=False,
    )
    err = result.stderr.decode()
    assert result.returncode == 2, err
    assert f"argument {option}: expected seconds >= 0, got -1" in err
    assert "Traceback" not in err
