"""Socket activation both ways, and sd_notify.

``systemd-socket-activate`` (or an emulation of its LISTEN_FDS protocol) hands
``aiosock inetd`` its listeners; the daemon tells READY=1, RELOADING=1 and
STOPPING=1 to NOTIFY_SOCKET. (LISTEN_FDS for wait children is in test_inetd_spawn.)
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from aiosock.inetd._activation import notify, take_listen_fds
from tests.inetd_helpers import (
    LOOPS,
    Daemon,
    tcp_exchange,
    udp_exchange,
    unbound_port,
)
from tests.inetd_programs import child_user

USER = child_user()


@pytest.fixture
def short_dir() -> Iterator[Path]:
    """A short directory for socket files."""
    with tempfile.TemporaryDirectory(prefix="as-", dir="/tmp") as name:
        yield Path(name)


@pytest.mark.parametrize("loop", LOOPS)
def test_systemd_socket_activate(loop: str, short_dir: Path) -> None:
    """systemd-socket-activate hands the daemon a listener it serves at once."""
    tool = shutil.which("systemd-socket-activate")
    if tool is None:
        pytest.skip(
            "systemd-socket-activate is not installed (apt-get install systemd)"
        )
    port = unbound_port()
    config = short_dir / "inetd.conf"
    config.write_text(
        f"127.0.0.1:{port} stream tcp nowait {USER} internal echo\n"
        f"127.0.0.1:0 stream tcp nowait {USER} internal daytime\n"
    )
    prefix = (
        tool,
        "-l",
        f"127.0.0.1:{port}",
        "-E",
        "PYTHONPATH",
        "-E",
        "PYTHONUNBUFFERED",
    )
    daemon = Daemon(config, loop=loop, argv_prefix=prefix, wait_ready=False)
    try:
        daemon.out.wait_for(rf"Listening on 127\.0\.0\.1:{port} as 3\.")
        # The first connection starts the daemon, which serves it on the passed fd.
        assert tcp_exchange(("127.0.0.1", port), b"activated") == b"activated"
        daemon.ready()
        daemon.out.wait_for(
            rf"listening on tcp://127\.0\.0\.1:{port} for echo/tcp "
            r"\(internal echo, passed in LISTEN_FDS\)"
        )
        assert tcp_exchange(daemon.address("daytime/tcp", "tcp://")).endswith(b"\r\n")
        assert daemon.stop() == 0
    finally:
        daemon.kill()


_PASS = (
    'exec 3<&"$1" 4<&"$2" 5<&"$3"; eval "exec $1<&- $2<&- $3<&-"; shift 3; '
    "export LISTEN_PID=$$ LISTEN_FDS=3 LISTEN_FDNAMES=echo:udpecho:spare; "
    'exec "$@"'
)


@pytest.mark.parametrize("loop", LOOPS)
def test_listen_fds_emulated(loop: str, short_dir: Path) -> None:
    """LISTEN_FDS as systemd sets it: a TCP and a UDP socket taken, one left over."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    datagram = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    datagram.bind(("127.0.0.1", 0))
    spare = socket.socket()
    spare.bind(("127.0.0.1", 0))
    spare.listen()
    tcp_port, udp_port = listener.getsockname()[1], datagram.getsockname()[1]
    config = short_dir / "inetd.conf"
    config.write_text(
        f"127.0.0.1:{tcp_port} stream tcp nowait {USER} internal echo\n"
        f"127.0.0.1:{udp_port} dgram udp wait {USER} internal echo\n"
    )
    fds = tuple(s.fileno() for s in (listener, datagram, spare))
    prefix = ("/bin/bash", "-c", _PASS, "pass", *map(str, fds))
    daemon = Daemon(config, loop=loop, argv_prefix=prefix, pass_fds=fds)
    try:
        for sock in (listener, datagram, spare):
            sock.close()
        text = daemon.out.text()
        assert f"tcp://127.0.0.1:{tcp_port} for echo/tcp" in text
        assert f"udp://127.0.0.1:{udp_port} for echo/udp" in text
        assert text.count("passed in LISTEN_FDS") == 2
        assert "matches no service; kept" in text
        assert "(spare)" in text
        assert tcp_exchange(("127.0.0.1", tcp_port), b"passed") == b"passed"
        assert udp_exchange(("127.0.0.1", udp_port), b"dgram") == b"dgram"
        assert daemon.stop() == 0
    finally:
        daemon.kill()


@pytest.mark.parametrize("loop", LOOPS)
def test_sd_notify(loop: str, short_dir: Path) -> None:
    """READY=1 at start, RELOADING=1 then READY=1 at SIGHUP, STOPPING=1 at the end."""
    path = str(short_dir / "notify")
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as manager:
        manager.bind(path)
        manager.settimeout(20)
        config = short_dir / "inetd.conf"
        config.write_text(f"127.0.0.1:0 stream tcp nowait {USER} internal echo\n")
        daemon = Daemon(
            config, loop=loop, env={"NOTIFY_SOCKET": path}, wait_ready=False
        )
        try:
            ready = manager.recv(4096).decode()
            assert ready.splitlines()[0] == "READY=1"
            assert "STATUS=1 services listening" in ready
            daemon.ready()
            daemon.proc.send_signal(signal.SIGHUP)
            reloading = manager.recv(4096).decode().splitlines()
            assert reloading[0] == "RELOADING=1"
            assert reloading[1].startswith("MONOTONIC_USEC=")
            assert manager.recv(4096).decode().startswith("READY=1")
            daemon.proc.send_signal(signal.SIGTERM)
            assert manager.recv(4096) == b"STOPPING=1"
            assert daemon.proc.wait(20) == 0
        finally:
            daemon.kill()


def test_notify_abstract_socket() -> None:
    """NOTIFY_SOCKET may name an abstract socket (@name); without it nothing is sent."""
    name = f"aiosock-test-{os.getpid()}"
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as manager:
        manager.bind("\0" + name)
        manager.settimeout(5)
        assert notify("READY=1", {"NOTIFY_SOCKET": "@" + name})
        assert manager.recv(100) == b"READY=1"
    assert not notify("READY=1", {})
    assert not notify("READY=1", {"NOTIFY_SOCKET": "relative"})


def test_listen_fds_for_another_process_are_ignored() -> None:
    """LISTEN_FDS meant for another pid are not taken, and are removed."""
    environ = {"LISTEN_PID": "1", "LISTEN_FDS": "1", "LISTEN_FDNAMES": "x"}
    assert take_listen_fds(environ) == []
    assert environ == {}
    assert take_listen_fds({}) == []
