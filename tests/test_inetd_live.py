"""``aiosock inetd`` as a process: the internal services over TCP, TCP6, UDP, UDP6
and Unix sockets, talked to with socat, nc and Python, and compared byte for byte
with openbsd-inetd's where it runs here.
"""

from __future__ import annotations

import os
import re
import shutil
import socket
import struct
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from aiosock.inetd._internal import chargen_lines
from tests.inetd_helpers import (
    LOOPS,
    Daemon,
    OpenbsdInetd,
    openbsd_inetd_available,
    tcp_exchange,
    udp_exchange,
    unix_exchange,
)

CTIME = re.compile(rb"^[A-Z][a-z]{2} [A-Z][a-z]{2} [ \d]\d \d\d:\d\d:\d\d \d{4}\r\n$")
BUILTINS = ("echo", "discard", "daytime", "chargen", "time")
PAYLOAD = os.urandom(200_000)
LINES = [line for _, line in zip(range(400), chargen_lines(), strict=False)]


@pytest.fixture(scope="module")
def tmpdir_short() -> Iterator[Path]:
    """A short directory for the module's socket files."""
    with tempfile.TemporaryDirectory(prefix="as-", dir="/tmp") as name:
        yield Path(name)


@pytest.fixture(scope="module", params=LOOPS)
def live(request: pytest.FixtureRequest, tmpdir_short: Path) -> Iterator[Daemon]:
    """One daemon per loop with every builtin on TCP, UDP and Unix sockets."""
    directory = tmpdir_short / request.param
    directory.mkdir()
    lines = ["127.0.0.1,[::1]:"]
    for name in BUILTINS:
        lines.append(f"0 stream tcp nowait nobody internal {name}")
        lines.append(f"0 dgram udp wait nobody internal {name}")
    lines.append(f"{directory}/echo.sock stream unix nowait nobody internal echo")
    lines.append(f"{directory}/echo.dgram dgram unix wait nobody internal echo")
    lines.append(f"{directory}/chargen.sock stream unix nowait root internal chargen")
    config = directory / "inetd.conf"
    config.write_text("\n".join(lines) + "\n")
    process = Daemon(config, loop=request.param, verbose=True)
    yield process
    assert process.stop() == 0
    assert "Traceback" not in process.out.text()


@pytest.fixture(scope="module")
def openbsd(tmpdir_short: Path) -> Iterator[OpenbsdInetd]:
    """openbsd-inetd's internal services on loopback, to compare with."""
    why = openbsd_inetd_available()
    if why:
        pytest.skip(why)
    try:
        process = OpenbsdInetd(tmpdir_short)
    except RuntimeError as exc:
        pytest.skip(str(exc))
    yield process
    process.stop()


def _v4(live: Daemon, name: str, transport: str = "tcp") -> tuple[str, int]:
    return live.address(f"{name}/{transport}", f"{transport}://127.")


def _v6(live: Daemon, name: str, transport: str = "tcp") -> tuple[str, int]:
    return live.address(f"{name}/{transport}", f"{transport}://[")


def _ctime_seconds(text: bytes) -> float:
    return time.mktime(time.strptime(text[:24].decode(), "%a %b %d %H:%M:%S %Y"))


# -- every builtin, every transport ------------------------------------------------


def test_every_service_listens_on_both_families(live: Daemon) -> None:
    """Each line listens on 127.0.0.1 and ::1 on one port; Unix lines on their path."""
    for name in BUILTINS:
        for transport in ("tcp", "udp"):
            endpoints = live.endpoints[f"{name}/{transport}"]
            assert len(endpoints) == 2
            assert _v4(live, name, transport)[1] == _v6(live, name, transport)[1]
    assert any(name.endswith("echo.sock/unix") for name in live.endpoints)


@pytest.mark.parametrize("family", ["v4", "v6"])
def test_tcp_echo(live: Daemon, family: str) -> None:
    """TCP echo returns every byte, then closes at the client's end of stream."""
    address = (_v4 if family == "v4" else _v6)(live, "echo")
    assert tcp_exchange(address, PAYLOAD) == PAYLOAD


def test_tcp_echo_with_socat(live: Daemon) -> None:
    """socat, a real client, gets its input back."""
    socat = shutil.which("socat")
    if socat is None:
        pytest.skip("socat is not installed")
    host, port = _v4(live, "echo")
    result = subprocess.run(
        [socat, "-t5", "-", f"TCP:{host}:{port}"],
        input=b"hello from socat\n",
        capture_output=True,
        timeout=20,
        check=True,
    )
    assert result.stdout == b"hello from socat\n"


def test_tcp6_daytime_with_nc(live: Daemon) -> None:
    """nc over IPv6 reads the daytime answer."""
    nc = shutil.which("nc")
    if nc is None:
        pytest.skip("netcat is not installed")
    host, port = _v6(live, "daytime")
    result = subprocess.run(
        [nc, "-6", "-w", "5", host, str(port)],
        stdin=subprocess.DEVNULL,
        capture_output=True,
        timeout=20,
        check=True,
    )
    assert CTIME.match(result.stdout)


@pytest.mark.parametrize("family", ["v4", "v6"])
def test_tcp_chargen(live: Daemon, family: str) -> None:
    """TCP chargen sends the rotating lines."""
    address = (_v4 if family == "v4" else _v6)(live, "chargen")
    size = 74 * 400
    assert tcp_exchange(address, limit=size) == b"".join(LINES)


@pytest.mark.parametrize("family", ["v4", "v6"])
def test_tcp_discard_daytime_time(live: Daemon, family: str) -> None:
    """discard answers nothing; daytime and time answer and close."""
    pick = _v4 if family == "v4" else _v6
    assert tcp_exchange(pick(live, "discard"), b"x" * 100_000) == b""
    assert CTIME.match(tcp_exchange(pick(live, "daytime")))
    answer = tcp_exchange(pick(live, "time"))
    assert abs(struct.unpack("!I", answer)[0] - 2208988800 - time.time()) < 5


@pytest.mark.parametrize("family", ["v4", "v6"])
def test_udp_services(live: Daemon, family: str) -> None:
    """UDP echo (first 4096 bytes), chargen, daytime and time answer; discard not."""
    pick = _v4 if family == "v4" else _v6
    echo = pick(live, "echo", "udp")
    assert udp_exchange(echo, b"ping") == b"ping"
    assert udp_exchange(echo, b"y" * 5000) == b"y" * 4096
    line = udp_exchange(pick(live, "chargen", "udp"), b"")
    assert line in LINES[:95]
    assert CTIME.match(udp_exchange(pick(live, "daytime", "udp"), b"") or b"")
    assert len(udp_exchange(pick(live, "time", "udp"), b"") or b"") == 4


def test_udp_chargen_rotates(live: Daemon) -> None:
    """Each UDP chargen datagram gets the line after the previous one's."""
    address = _v6(live, "chargen", "udp")
    first = udp_exchange(address, b"")
    assert first is not None
    start = LINES.index(first)
    for offset in range(1, 4):
        assert udp_exchange(address, b"") == LINES[start + offset]


def test_unix_stream_echo_and_chargen(live: Daemon) -> None:
    """Internal services serve Unix stream sockets too (nc -U and Python)."""
    echo_name = next(n for n in live.endpoints if n.endswith("echo.sock/unix"))
    path = live.path(echo_name)
    assert unix_exchange(path, PAYLOAD) == PAYLOAD
    nc = shutil.which("nc")
    if nc is not None:
        result = subprocess.run(
            [nc, "-N", "-U", path],
            input=b"over nc -U\n",
            capture_output=True,
            timeout=20,
            check=True,
        )
        assert result.stdout == b"over nc -U\n"
    chargen_name = next(n for n in live.endpoints if n.endswith("chargen.sock/unix"))
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.settimeout(10)
        sock.connect(live.path(chargen_name))
        data = b""
        while len(data) < 740:
            data += sock.recv(740 - len(data))
    assert data == b"".join(LINES[:10])


def test_unix_datagram_echo(live: Daemon, tmpdir_short: Path) -> None:
    """Unix datagram echo answers a client bound to a path."""
    name = next(n for n in live.endpoints if n.endswith("echo.dgram/unix"))
    client_path = str(tmpdir_short / f"client-{os.getpid()}-{time.monotonic_ns()}")
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        sock.settimeout(10)
        sock.bind(client_path)
        sock.sendto(b"datagram", live.path(name))
        assert sock.recv(100) == b"datagram"
    os.unlink(client_path)


def test_unix_datagram_from_an_unnamed_socket_is_dropped(
    live: Daemon, tmpdir_short: Path
) -> None:
    """A datagram from an unbound Unix socket cannot be answered: dropped, no traceback.

    It is logged once, at debug level (the daemon runs with -vv here), and the
    service answers the next client.
    """
    name = next(n for n in live.endpoints if n.endswith("echo.dgram/unix"))
    start = live.out.count()
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as unnamed:
        for _ in range(3):
            unnamed.sendto(b"from nowhere", live.path(name))
    client_path = str(tmpdir_short / f"client-{os.getpid()}-{time.monotonic_ns()}")
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        sock.settimeout(10)
        sock.bind(client_path)
        sock.sendto(b"named", live.path(name))
        assert sock.recv(100) == b"named"
    os.unlink(client_path)
    live.out.wait_count(r"echo\.dgram/unix: no reply: the sender is an unnamed", 3)
    logged = "\n".join(live.out.lines[start:])
    assert "Traceback" not in logged
    assert "TypeError" not in logged


def test_udp_loop_between_internal_services_refused(live: Daemon) -> None:
    """A datagram 'from' chargen's port to echo gets no reply (no reflection loop)."""
    chargen_port = _v4(live, "chargen", "udp")[1]
    echo = _v4(live, "echo", "udp")
    start = live.out.count()
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", chargen_port))
        sock.sendto(b"start a loop", echo)
    live.out.wait_for(
        rf"echo/udp: no reply: source port {chargen_port} is an internal", start=start
    )


def test_udp_privileged_source_refused(live: Daemon) -> None:
    """A datagram from a privileged port gets no reply."""
    if os.geteuid() != 0:
        pytest.skip("binding a privileged source port needs root")
    start = live.out.count()
    with socket.socket(socket.AF_INET6, socket.SOCK_DGRAM) as sock:
        sock.bind(("::1", 1023))
        sock.sendto(b"x", _v6(live, "echo", "udp"))
    live.out.wait_for(
        r"echo/udp: no reply: source port 1023 is privileged", start=start
    )


def test_connection_log_lines(live: Daemon) -> None:
    """Each connection is logged as xinetd does: service, peer, duration."""
    start = live.out.count()
    tcp_exchange(_v4(live, "daytime"))
    live.out.wait_for(
        r"EXIT: daytime/tcp from=127\.0\.0\.1:\d+ duration=\d+\.\d+s", start=start
    )


# -- against openbsd-inetd -----------------------------------------------------------


def _openbsd(name: str, host: str = "127.0.0.1") -> tuple[str, int]:
    return host, socket.getservbyname(name, "tcp")


@pytest.mark.parametrize("host", ["127.0.0.1", "::1"])
def test_same_tcp_echo_and_chargen_as_openbsd(
    live: Daemon, openbsd: OpenbsdInetd, host: str
) -> None:
    """TCP echo and chargen send the same bytes as openbsd-inetd's."""
    pick = _v4 if host == "127.0.0.1" else _v6
    ours = tcp_exchange(pick(live, "echo"), PAYLOAD)
    theirs = tcp_exchange(_openbsd("echo", host), PAYLOAD)
    assert ours == theirs == PAYLOAD
    size = 100_000
    ours = tcp_exchange(pick(live, "chargen"), limit=size)
    theirs = tcp_exchange(_openbsd("chargen", host), limit=size)
    assert ours == theirs
    assert len(ours) == size


def test_same_tcp_discard_daytime_time_as_openbsd(
    live: Daemon, openbsd: OpenbsdInetd
) -> None:
    """discard, daytime and time answer in openbsd-inetd's format, at its time."""
    assert tcp_exchange(_v4(live, "discard"), b"x" * 1000) == b""
    assert tcp_exchange(_openbsd("discard"), b"x" * 1000) == b""
    ours = tcp_exchange(_v4(live, "daytime"))
    theirs = tcp_exchange(_openbsd("daytime"))
    assert CTIME.match(ours)
    assert CTIME.match(theirs)
    assert len(ours) == len(theirs) == 26
    assert abs(_ctime_seconds(ours) - _ctime_seconds(theirs)) <= 2
    ours = tcp_exchange(_v4(live, "time"))
    theirs = tcp_exchange(_openbsd("time"))
    assert len(ours) == len(theirs) == 4
    assert abs(struct.unpack("!I", ours)[0] - struct.unpack("!I", theirs)[0]) <= 2


def test_same_udp6_answers_as_openbsd(live: Daemon, openbsd: OpenbsdInetd) -> None:
    """UDP echo (4096-byte limit), chargen, daytime and time match openbsd-inetd's."""
    theirs_echo = ("::1", socket.getservbyname("echo", "udp"))
    for size in (0, 1, 100, 4096, 4097, 8000):
        payload = os.urandom(size)
        assert udp_exchange(_v6(live, "echo", "udp"), payload) == udp_exchange(
            theirs_echo, payload
        )
    ours = [udp_exchange(_v6(live, "chargen", "udp"), b"") for _ in range(3)]
    theirs = [udp_exchange(("::1", 19), b"") for _ in range(3)]
    for run in (ours, theirs):
        assert None not in run
        start = LINES.index(run[0])  # type: ignore[arg-type]
        assert run == LINES[start : start + 3]
    ours_day = udp_exchange(_v6(live, "daytime", "udp"), b"") or b""
    theirs_day = udp_exchange(("::1", 13), b"") or b""
    assert CTIME.match(ours_day)
    assert CTIME.match(theirs_day)
    assert abs(_ctime_seconds(ours_day) - _ctime_seconds(theirs_day)) <= 2
    ours_time = udp_exchange(_v6(live, "time", "udp"), b"") or b""
    theirs_time = udp_exchange(("::1", 37), b"") or b""
    assert (
        abs(struct.unpack("!I", ours_time)[0] - struct.unpack("!I", theirs_time)[0])
        <= 2
    )
    assert udp_exchange(("::1", 9), b"x", timeout=0.3) is None


def test_privileged_source_differs_from_openbsd(
    live: Daemon, openbsd: OpenbsdInetd
) -> None:
    """Deliberate: Debian's openbsd-inetd answers port 1023; aiosock does not."""
    start = live.out.count()
    assert udp_exchange(("::1", 7), b"x", source=("::1", 1023)) == b"x"
    with socket.socket(socket.AF_INET6, socket.SOCK_DGRAM) as sock:
        sock.bind(("::1", 1023))
        sock.sendto(b"x", _v6(live, "echo", "udp"))
    live.out.wait_for(r"no reply: source port 1023 is privileged", start=start)
