"""``aiosock inetd`` limits and failures: .max, instances, per_source, only_from and
no_access; missing programs, failing exec, unknown users, crash loops, ports in
use. One service failing never stops the others or the daemon.
"""

from __future__ import annotations

import socket
import tempfile
from collections.abc import Iterator
from pathlib import Path

import attrs
import pytest

from tests.inetd_helpers import LOOPS, Daemon, tcp_exchange, udp_exchange
from tests.inetd_programs import child_user, python_for_children, write_programs

USER = child_user()


@attrs.define
class Limited:
    """The daemon, and the socket that keeps one service's port busy."""

    daemon: Daemon
    busy: socket.socket
    busy_port: int


def _free_to_bind(host: str) -> bool:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family) as probe:
        try:
            probe.bind((host, 0))
        except OSError:
            return False
    return True


@pytest.fixture(scope="module", params=LOOPS)
def limited(request: pytest.FixtureRequest) -> Iterator[Limited]:
    """A daemon per loop whose services have limits, or are broken on purpose."""
    with tempfile.TemporaryDirectory(prefix="as-", dir="/tmp") as name:
        directory = Path(name)
        programs = write_programs(directory)
        noexec = directory / "noexec.sh"
        noexec.write_text("#!/bin/sh\necho never\n")
        noexec.chmod(0o644)
        writable = directory / "writable.sh"
        writable.write_text("#!/bin/sh\necho replaced\n")
        writable.chmod(0o777)
        busy = socket.socket()
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        busy_port = busy.getsockname()[1]
        hold = "python:tests.inetd_handlers:hold"
        acl = "#aiosock: only_from=127.0.0.0/8 no_access=127.0.0.2"
        lines = [
            "127.0.0.1:",
            "#aiosock: instances=2",
            f"0 stream tcp nowait {USER} {hold} instances",
            "#aiosock: per_source=1",
            f"0 stream tcp nowait {USER} {hold} persource",
            acl,
            f"127.0.0.1,[::1]:0 stream tcp nowait {USER} internal echo",
            acl,
            f"0 dgram udp wait {USER} internal echo",
            f"0 stream tcp nowait.3 {USER} /bin/cat ratecat",
            f"0 dgram udp nowait.2 {USER} python:tests.inetd_handlers:reverse raterev",
            f"0 stream tcp nowait {USER} /nonexistent/program missing",
            f"0 stream tcp nowait {USER} {noexec} noexec",
            f"0 stream tcp nowait {USER} {writable} writable",
            "0 stream tcp nowait nosuchuser /bin/cat baduser",
            f"0 stream tcp nowait {USER}:nosuchgroup /bin/cat badgroup",
            f"0 stream tcp nowait.4 {USER} {python_for_children()} crasher "
            f"{programs['crash']}",
            f"{busy_port} stream tcp nowait {USER} internal daytime",
            f"0 stream tcp nowait {USER} /bin/cat cat",
        ]
        config = directory / "inetd.conf"
        config.write_text("\n".join(lines) + "\n")
        process = Daemon(config, "--retry-time", "1", loop=request.param)
        try:
            yield Limited(process, busy, busy_port)
            assert process.stop() == 0
        finally:
            busy.close()
            process.kill()


def _hold(address: tuple[str, int], source: str | None = None) -> socket.socket:
    sock = socket.socket(socket.AF_INET6 if ":" in address[0] else socket.AF_INET)
    sock.settimeout(10)
    if source is not None:
        sock.bind((source, 0))
    sock.connect(address)
    return sock


def _turned_away(address: tuple[str, int], data: bytes = b"x") -> bool:
    """Whether the server closes the connection without an answer."""
    try:
        return tcp_exchange(address, data) == b""
    except OSError:  # reset (our bytes unread), or not connected any more
        return True


def _closed_at_once(sock: socket.socket) -> bool:
    try:
        return sock.recv(100) == b""
    except ConnectionResetError:
        return True


def test_instances_limit_waits_in_the_backlog(limited: Limited) -> None:
    """At 'instances' servers, the next client waits until one ends."""
    daemon = limited.daemon
    address = daemon.address("instances/tcp", "tcp://")
    first, second = _hold(address), _hold(address)
    assert first.recv(100) == b"held\n"
    assert second.recv(100) == b"held\n"
    third = _hold(address)
    third.settimeout(0.5)
    with pytest.raises(TimeoutError):
        third.recv(100)
    first.close()
    third.settimeout(10)
    assert third.recv(100) == b"held\n"
    for sock in (second, third):
        sock.close()


def test_per_source_limit(limited: Limited) -> None:
    """Past 'per_source' a client's connection is closed; other clients go on."""
    if not _free_to_bind("127.0.0.2"):
        pytest.skip("127.0.0.2 is not a local address here")
    daemon = limited.daemon
    address = daemon.address("persource/tcp", "tcp://")
    start = daemon.out.count()
    first = _hold(address)
    assert first.recv(100) == b"held\n"
    second = _hold(address)
    assert _closed_at_once(second)
    daemon.out.wait_for(r"FAIL: persource/tcp from=127\.0\.0\.1:\d+ reason=per_source")
    other = _hold(address, source="127.0.0.2")
    assert other.recv(100) == b"held\n"
    for sock in (first, second, other):
        sock.close()
    assert start < daemon.out.count()


def test_only_from_and_no_access(limited: Limited) -> None:
    """only_from lets 127/8 in, no_access keeps 127.0.0.2 (more specific) out."""
    if not _free_to_bind("127.0.0.2") or not _free_to_bind("::1"):
        pytest.skip("127.0.0.2 or ::1 is not a local address here")
    daemon = limited.daemon
    v4 = daemon.address("echo/tcp", "tcp://127.")
    v6 = daemon.address("echo/tcp", "tcp://[")
    assert tcp_exchange(v4, b"in") == b"in"
    refused = _hold(v4, source="127.0.0.2")
    assert _closed_at_once(refused)
    refused.close()
    daemon.out.wait_for(r"FAIL: echo/tcp from=127\.0\.0\.2:\d+ reason=address refused")
    outside = _hold(v6)
    assert _closed_at_once(outside)
    outside.close()
    daemon.out.wait_for(r"FAIL: echo/tcp from=\[::1\]:\d+ reason=address refused")
    allowed = _hold(v4, source="127.0.0.3")
    allowed.sendall(b"three")
    allowed.shutdown(socket.SHUT_WR)
    assert allowed.recv(100) == b"three"
    allowed.close()


def test_address_lists_on_datagrams(limited: Limited) -> None:
    """A refused client's datagram is dropped (and logged); others are answered."""
    if not _free_to_bind("127.0.0.2"):
        pytest.skip("127.0.0.2 is not a local address here")
    daemon = limited.daemon
    address = daemon.address("echo/udp", "udp://")
    start = daemon.out.count()
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(("127.0.0.2", 0))
        sock.sendto(b"no", address)
    daemon.out.wait_for(r"FAIL: echo/udp from=127\.0\.0\.2:\d+", start=start)
    assert udp_exchange(address, b"yes") == b"yes"


def test_rate_limit_disables_then_enables(limited: Limited) -> None:
    """Past .max a minute the service is disabled (connections closed), then back."""
    daemon = limited.daemon
    address = daemon.address("ratecat/tcp", "tcp://")
    start = daemon.out.count()
    for _ in range(3):
        assert tcp_exchange(address, b"ok") == b"ok"
    assert _turned_away(address)
    daemon.out.wait_for(
        r"ratecat/tcp: more than 3 servers a minute: server failing \(looping\), "
        r"service disabled for 1 s",
        start=start,
    )
    # Turned away while disabled, and logged as such.
    assert _turned_away(address)
    daemon.out.wait_for(
        r"FAIL: ratecat/tcp from=127\.0\.0\.1:\d+ "
        r"reason=service disabled \(\.max servers a minute\)",
        start=start,
    )
    daemon.out.wait_for(r"ratecat/tcp: service enabled again", start=start)
    assert tcp_exchange(address, b"again") == b"again"


def test_datagrams_dropped_while_disabled_are_logged(limited: Limited) -> None:
    """Past .max a datagram service drops what comes, and says so per datagram."""
    daemon = limited.daemon
    address = daemon.address("raterev/udp", "udp://")
    start = daemon.out.count()
    for _ in range(2):
        assert udp_exchange(address, b"ab") == b"ba"
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(("127.0.0.1", 0))
        sock.sendto(b"third", address)  # one too many: it disables the service
        daemon.out.wait_for(
            r"raterev/udp: more than 2 servers a minute: server failing",
            start=start,
        )
        sock.sendto(b"fourth", address)
        port = sock.getsockname()[1]
        daemon.out.wait_for(
            rf"FAIL: raterev/udp from=127\.0\.0\.1:{port} "
            r"reason=service disabled \(\.max servers a minute\)",
            start=start,
        )


@pytest.mark.parametrize(
    ("name", "words"),
    [
        ("missing", r"cannot start /nonexistent/program: No such file or directory"),
        ("noexec", r"cannot start \S+noexec\.sh: Permission denied"),
        (
            "writable",
            r"cannot start \S+writable\.sh: refused to run: it is writable by every",
        ),
        ("baduser", r"cannot start /bin/cat: unknown user 'nosuchuser'"),
        ("badgroup", r"cannot start /bin/cat: unknown group 'nosuchgroup'"),
    ],
)
def test_failures_to_start_are_logged(limited: Limited, name: str, words: str) -> None:
    """A program that cannot start is logged with its service; the client is closed."""
    daemon = limited.daemon
    start = daemon.out.count()
    assert _turned_away(daemon.address(f"{name}/tcp", "tcp://"))
    daemon.out.wait_for(
        rf"{name}/tcp: {words}.* \(for 127\.0\.0\.1:\d+\)$", start=start
    )
    assert tcp_exchange(daemon.address("cat/tcp", "tcp://"), b"alive") == b"alive"


def test_crash_loop_is_stopped(limited: Limited) -> None:
    """A child that keeps failing is logged each time and the service disabled."""
    daemon = limited.daemon
    address = daemon.address("crasher/tcp", "tcp://")
    start = daemon.out.count()
    for _ in range(5):
        tcp_exchange(address)
    daemon.out.wait_for(r"EXIT: crasher/tcp from=\S+ pid=\d+ status=3", start=start)
    daemon.out.wait_for(r"crasher/tcp: more than 4 servers a minute", start=start)
    assert tcp_exchange(daemon.address("cat/tcp", "tcp://"), b"alive") == b"alive"


def test_port_in_use_then_freed(limited: Limited) -> None:
    """A port in use is logged, the rest serve, and the service binds once freed."""
    daemon = limited.daemon
    text = daemon.out.text()
    assert "daytime/tcp: cannot listen: Address already in use" in text
    assert "1 failed" in text
    start = daemon.out.count()
    limited.busy.close()
    daemon.out.wait_for(
        rf"listening on tcp://127\.0\.0\.1:{limited.busy_port} for daytime/tcp",
        start=start,
    )
    assert tcp_exchange(("127.0.0.1", limited.busy_port)).endswith(b"\r\n")
