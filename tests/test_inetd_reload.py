"""SIGHUP: ``aiosock inetd`` re-reads its file and applies the difference.

New services start, removed ones stop listening, changed ones take their new line
on the same socket, unchanged ones are left alone; connections in flight (to
in-process handlers and to children) survive all of it.
"""

from __future__ import annotations

import asyncio
import socket
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from aiosock.inetd import Inetd, InetdConfig
from tests.inetd_helpers import LOOPS, Daemon, tcp_exchange, unbound_port
from tests.inetd_programs import child_user, python_for_children, write_programs

USER = child_user()


def _connect(address: tuple[str, int]) -> socket.socket:
    sock = socket.create_connection(address, timeout=10)
    return sock


def _echoes(sock: socket.socket, data: bytes) -> bool:
    sock.sendall(data)
    got = b""
    while len(got) < len(data):
        chunk = sock.recv(len(data) - len(got))
        if not chunk:
            return False
        got += chunk
    return got == data


@pytest.fixture(params=LOOPS)
def workdir(request: pytest.FixtureRequest) -> Iterator[tuple[Path, str]]:
    """A short directory with the test programs, and the loop to run on."""
    with tempfile.TemporaryDirectory(prefix="as-", dir="/tmp") as name:
        yield Path(name), request.param


def test_sighup_applies_the_difference(workdir: tuple[Path, str]) -> None:
    """Add, remove, modify and keep services, with connections in flight."""
    directory, loop = workdir
    programs = write_programs(directory)
    py = python_for_children()
    port = unbound_port()
    # The removed service is not on port 0 either: the port-0 echo that the
    # reload adds could be handed its port, and would answer in its place.
    gone = unbound_port(exclude=(port,))
    keep = f"0 stream tcp nowait {USER} python:tests.inetd_handlers:hold keep"
    lines_v1 = [
        "127.0.0.1:",
        keep,
        f"{gone} stream tcp nowait {USER} /bin/cat",
        f"{port} stream tcp nowait {USER} {py} hold {programs['hold']}",
    ]
    config = directory / "inetd.conf"
    config.write_text("\n".join(lines_v1) + "\n")
    daemon = Daemon(config, loop=loop)
    try:
        kept = daemon.address("keep/tcp", "tcp://")
        removed = daemon.address(f"{gone}/tcp", "tcp://")
        changed = ("127.0.0.1", port)
        # Connections in flight: an in-process handler, and two children.
        to_kept = _connect(kept)
        assert to_kept.recv(100) == b"held\n"
        to_removed = _connect(removed)
        to_changed = _connect(changed)
        assert to_changed.recv(100).startswith(b"held:")

        lines_v2 = [
            "127.0.0.1:",
            keep,
            f"{port} stream tcp nowait {USER} /bin/cat cat",
            f"0 stream tcp nowait {USER} internal echo",
        ]
        config.write_text("\n".join(lines_v2) + "\n")
        start = daemon.out.count()
        daemon.reload()
        after = daemon.out.lines[start:]

        # Unchanged: the same socket, not bound again; its connection goes on.
        assert not any("for keep/tcp" in line for line in after)
        assert _echoes(to_kept, b"still here")
        assert tcp_exchange(kept, b"") == b"held\n"
        # Removed: no longer listening, but its child keeps serving.
        assert any(f"stopped listening for {gone}/tcp" in line for line in after)
        with pytest.raises(ConnectionRefusedError):
            tcp_exchange(removed, b"x")
        assert _echoes(to_removed, b"child of a removed service")
        # Changed: same port, new program; the old child goes on.
        assert any(f"changed {port}/tcp: now /bin/cat nowait" in line for line in after)
        assert tcp_exchange(changed, b"plain cat") == b"plain cat"
        assert _echoes(to_changed, b"old child")
        # Added.
        daemon.ready(start)
        assert tcp_exchange(daemon.address("echo/tcp", "tcp://"), b"new") == b"new"
        for sock in (to_kept, to_removed, to_changed):
            sock.close()
        assert daemon.stop() == 0
    finally:
        daemon.kill()


def test_connection_keeps_the_name_it_started_under(workdir: tuple[Path, str]) -> None:
    """A connection open across a reload is logged under its own line's name."""
    directory, loop = workdir
    port = unbound_port()
    config = directory / "inetd.conf"
    config.write_text(f"127.0.0.1:{port} stream tcp nowait {USER} internal echo\n")
    daemon = Daemon(config, loop=loop)
    try:
        with _connect(("127.0.0.1", port)) as sock:
            client_port = sock.getsockname()[1]
            assert _echoes(sock, b"before")
            config.write_text(
                f"127.0.0.1:{port} stream tcp nowait {USER} internal chargen\n"
            )
            daemon.reload()
            assert _echoes(sock, b"after")  # still the echo it connected to
        found = daemon.out.wait_for(rf"EXIT: \S+ from=127\.0\.0\.1:{client_port} ")
        assert found.group(0).startswith("EXIT: echo/tcp ")
        assert daemon.stop() == 0
    finally:
        daemon.kill()


def test_sighup_with_bad_lines_and_missing_file(workdir: tuple[Path, str]) -> None:
    """A bad line is skipped at reload; an unreadable file changes nothing."""
    directory, loop = workdir
    config = directory / "inetd.conf"
    config.write_text(f"127.0.0.1:0 stream tcp nowait {USER} internal echo\n")
    daemon = Daemon(config, loop=loop)
    try:
        echo = daemon.address("echo/tcp", "tcp://")
        config.write_text(
            f"127.0.0.1:0 stream tcp nowait {USER} internal echo\n"
            "this line is wrong\n"
            f"127.0.0.1:0 stream tcp nowait {USER} internal daytime\n"
        )
        start = daemon.out.count()
        daemon.reload()
        daemon.out.wait_for(rf"{config}:2: expected 6 fields", start=start)
        daemon.ready(start)
        assert daemon.address("echo/tcp", "tcp://") == echo
        assert tcp_exchange(daemon.address("daytime/tcp", "tcp://")).endswith(b"\r\n")
        config.unlink()
        start = daemon.out.count()
        daemon.reload()
        daemon.out.wait_for(r"reload failed, configuration unchanged", start=start)
        assert tcp_exchange(echo, b"unchanged") == b"unchanged"
        assert daemon.stop() == 0
    finally:
        daemon.kill()


class _FakeService:
    """What ``Inetd._closed_everywhere`` sees of a service: its starts in flight."""

    def __init__(self, name: str, log: list[str]) -> None:
        self.name = name
        self.starting: set[asyncio.Future[object]] = set()
        self.closed = False
        self.log = log
        self.on_close: Callable[[], None] = lambda: None
        self.looked_at = asyncio.Event()

    @property
    def busy(self) -> bool:
        return bool(self.starting)

    @property
    def spawning(self) -> frozenset[asyncio.Future[object]]:
        self.looked_at.set()  # the reload looks, then waits in the same step
        return frozenset(f for f in self.starting if not f.done())

    def close_sockets(self) -> None:
        if not self.spawning and not self.closed:
            self.closed = True
            self.log.append(f"{self.name} closed")
            self.on_close()


async def test_reload_waits_for_starts_that_forked_while_a_removed_port_was_open() -> (
    None
):
    """Regression (the SIGHUP storm): a removed service busy starting a program
    closes its sockets only after that start; another service's start that
    forked meanwhile holds a copy of them until it execs. The reload must wait
    for that start too, or the port cannot be bound again when it comes back.
    """
    loop = asyncio.get_running_loop()
    log: list[str] = []
    inetd = Inetd(InetdConfig())
    removed = _FakeService("removed", log)
    other = _FakeService("other", log)
    own_start: asyncio.Future[object] = loop.create_future()
    removed.starting.add(own_start)
    inetd._retired = {removed}  # type: ignore[assignment]
    inetd._services = {("other",): other}  # type: ignore[dict-item]
    forked_meanwhile: asyncio.Future[object] = loop.create_future()

    def close_then_exec() -> None:
        # The other start execs (drops its copies) only after the close.
        loop.call_soon(forked_meanwhile.set_result, None)
        log.append("other start still holds the copy")

    removed.on_close = close_then_exec

    async def reload_part() -> None:
        await inetd._closed_everywhere()
        log.append(f"returned with the other start done: {forked_meanwhile.done()}")

    task = asyncio.create_task(reload_part())
    await asyncio.wait_for(removed.looked_at.wait(), 5)  # it waits for own_start
    other.starting.add(forked_meanwhile)  # a start forked while the port was open
    own_start.set_result(None)
    await asyncio.wait_for(task, 5)
    assert log == [
        "removed closed",
        "other start still holds the copy",
        "returned with the other start done: True",
    ]
