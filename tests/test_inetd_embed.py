"""``aiosock.inetd.Inetd`` embedded in an asyncio application: start, reload, stop;
handlers by name; failures reported per service; fork failures survived.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import ipaddress
import logging
import os
import pwd
import socket
import subprocess
import threading
from pathlib import Path
from typing import Any

import attrs
import pytest

import aiosock
from aiosock.inetd import Inetd, InetdConfig, Limits, parse_inetd_conf
from aiosock.inetd._load import netdb_lookup
from tests.inetd_helpers import unbound_port


def config(text: str) -> InetdConfig:
    parsed = parse_inetd_conf(text, lookup=netdb_lookup)
    assert not parsed.problems, [str(p) for p in parsed.problems]
    return parsed


def endpoint_of(inetd: Inetd, name: str) -> str:
    for status in inetd.services:
        if status.entry.name == name and status.endpoints:
            return status.endpoints[0]
    raise AssertionError(f"no {name} in {inetd.services}")


async def exchange(endpoint: str, data: bytes) -> bytes:
    stream = await aiosock.connect(endpoint, timeout=10)
    async with stream:
        if data:
            await stream.send(data)
        await stream.send_eof()
        received = b""
        async for chunk in stream:
            received += chunk
    return received


async def greet(stream: aiosock.Stream) -> None:
    name = await stream.receive_until(b"\n", max_bytes=100)
    await stream.send(b"hello " + name)


async def test_start_serve_and_close() -> None:
    """An application starts an Inetd, talks to its services, and closes it."""
    text = (
        "127.0.0.1:0 stream tcp nowait nobody internal echo\n"
        "127.0.0.1:0 stream tcp nowait nobody python:greet\n"
    )
    async with Inetd(config(text), handlers={"greet": greet}) as inetd:
        echo = endpoint_of(inetd, "echo/tcp")
        assert echo.startswith("tcp://127.0.0.1:")
        assert await exchange(echo, b"embedded") == b"embedded"
        assert (
            await exchange(endpoint_of(inetd, "greet/tcp"), b"you\n") == b"hello you\n"
        )
        assert inetd.endpoints() == tuple(
            e for status in inetd.services for e in status.endpoints
        )
    with pytest.raises(ConnectionRefusedError):
        await exchange(echo, b"closed")


async def test_reload_with_a_new_config() -> None:
    """reload(config) adds and removes services and keeps unchanged ones."""
    # echo's port comes from outside the ephemeral range: the port-0 bind of
    # the service that replaces it could otherwise be handed that very port
    # (it happened once: the time service answered, then reset, instead of a
    # refusal).
    first = f"127.0.0.1:{unbound_port()} stream tcp nowait nobody internal echo\n"
    second = first + "127.0.0.1:0 stream tcp nowait nobody internal daytime\n"
    async with Inetd(config(first)) as inetd:
        echo = endpoint_of(inetd, "echo/tcp")
        await inetd.reload(config(second))
        assert endpoint_of(inetd, "echo/tcp") == echo
        daytime = await exchange(endpoint_of(inetd, "daytime/tcp"), b"")
        assert daytime.endswith(b"\r\n")
        await inetd.reload(
            config("127.0.0.1:0 stream tcp nowait nobody internal time\n")
        )
        assert [s.entry.name for s in inetd.services] == ["time/tcp"]
        with pytest.raises(ConnectionRefusedError):
            await exchange(echo, b"gone")


async def test_reload_keeps_connections() -> None:
    """A connection to a service removed by reload goes on until it ends."""
    text = "127.0.0.1:0 stream tcp nowait nobody internal echo\n"
    async with Inetd(config(text)) as inetd:
        stream = await aiosock.connect(endpoint_of(inetd, "echo/tcp"), timeout=10)
        await inetd.reload(
            config("127.0.0.1:0 stream tcp nowait nobody internal time\n")
        )
        await stream.send(b"still")
        assert await stream.receive_exactly(5) == b"still"
        await stream.aclose()


async def test_failures_are_per_service(caplog: pytest.LogCaptureFixture) -> None:
    """A port in use or a missing handler fails its service only, with a reason."""
    caplog.set_level(logging.INFO, logger="aiosock.inetd")
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        text = (
            f"127.0.0.1:{port} stream tcp nowait nobody internal daytime\n"
            "127.0.0.1:0 stream tcp nowait nobody python:nosuch.module:handler\n"
            "127.0.0.1:0 stream tcp nowait nobody python:tests.inetd_handlers:nope\n"
            "127.0.0.1:0 stream tcp nowait nobody "
            "python:tests.inetd_handlers:NOT_CALLABLE\n"
            "127.0.0.1:0 stream tcp nowait nobody internal echo\n"
        )
        async with Inetd(config(text)) as inetd:
            statuses = {s.entry.name: s for s in inetd.services}
            error = statuses["daytime/tcp"].error or ""
            assert error.startswith("Address already in use")
            assert "cannot import 'nosuch.module'" in (
                statuses["nosuch.module:handler/tcp"].error or ""
            )
            assert "has no 'nope'" in (
                statuses["tests.inetd_handlers:nope/tcp"].error or ""
            )
            assert "expected a callable" in (
                statuses["tests.inetd_handlers:NOT_CALLABLE/tcp"].error or ""
            )
            assert await exchange(endpoint_of(inetd, "echo/tcp"), b"ok") == b"ok"
    assert "daytime/tcp: cannot listen: Address already in use" in caplog.text
    assert "nosuch.module:handler/tcp: cannot start: cannot import" in caplog.text


async def test_handler_of_the_wrong_shape_leaves_its_service_out(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A handler that cannot take what its service passes is not started.

    Before, the service ran and every client met a TypeError in the log.
    """
    caplog.set_level(logging.INFO, logger="aiosock.inetd")

    def takes_nothing() -> None:
        """Not a handler at all."""

    text = (
        "127.0.0.1:0 dgram udp nowait nobody python:tests.inetd_handlers:upper\n"
        "127.0.0.1:0 stream tcp nowait nobody python:nothing\n"
        "127.0.0.1:0 stream tcp nowait nobody python:number\n"
        "127.0.0.1:0 stream tcp nowait nobody internal echo\n"
    )
    handlers: dict[str, Any] = {"nothing": takes_nothing, "number": 42}
    async with Inetd(config(text), handlers=handlers) as inetd:
        statuses = {s.entry.name: s for s in inetd.services}
        assert (statuses["tests.inetd_handlers:upper/udp"].error or "").startswith(
            "expected a handler taking (data, address, sock), got "
            "tests.inetd_handlers:upper(stream)"
        )
        assert (statuses["nothing/tcp"].error or "").startswith(
            "expected a handler taking the stream, got nothing()"
        )
        assert statuses["number/tcp"].error == (
            "expected a callable at 'number', got <class 'int'>"
        )
        assert await exchange(endpoint_of(inetd, "echo/tcp"), b"ok") == b"ok"
    assert "nothing/tcp: cannot start: expected a handler" in caplog.text


class _Lines(logging.Handler):
    """The messages of ``aiosock.inetd`` and an event per awaited pattern."""

    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.messages: list[str] = []
        self._waiting: list[tuple[str, asyncio.Event]] = []

    def emit(self, record: logging.LogRecord) -> None:
        message = record.getMessage()
        self.messages.append(message)
        for text, event in self._waiting:
            if text in message:
                event.set()

    async def wait_for(self, text: str) -> None:
        event = asyncio.Event()
        self._waiting.append((text, event))
        if not any(text in message for message in self.messages):
            async with asyncio.timeout(10):
                await event.wait()


async def test_disabled_datagram_service_turns_the_rest_away_and_counts_them(
    short_tmp: Path,
) -> None:
    """Past .max, the datagrams of the same burst are turned away, not served.

    A burst waits in the socket before the daemon reads it: of 8 datagrams to a
    nowait.2 service, 2 are served, the third disables it, and the 5 after it
    are turned away: the first logged (from an unnamed sender: "unix"), all
    counted in the line that enables the service again.
    """
    path = short_tmp / "rate.sock"
    served: list[bytes] = []
    both_served = asyncio.Event()

    async def handler(data: bytes, address: Any, sock: Any) -> None:
        served.append(data)
        if len(served) == 2:
            both_served.set()

    lines = _Lines()
    logger = logging.getLogger("aiosock.inetd")
    logger.addHandler(lines)
    old_level = logger.level
    logger.setLevel(logging.INFO)
    try:
        text = f"{path} dgram unix nowait.2 nobody python:h\n"
        async with Inetd(config(text), handlers={"h": handler}, retry_time=0.5):
            with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sender:
                for i in range(8):  # queued before the daemon's loop reads any
                    sender.sendto(b"%d" % i, str(path))
                await lines.wait_for("reason=service disabled")
                await lines.wait_for("service enabled again")
                async with asyncio.timeout(10):
                    await both_served.wait()
    finally:
        logger.removeHandler(lines)
        logger.setLevel(old_level)
    assert served == [b"0", b"1"]
    fails = [m for m in lines.messages if m.startswith("FAIL:")]
    assert fails == [
        f"FAIL: {path}/unix from=unix reason=service disabled (.max servers a minute)"
    ]
    assert (
        f"{path}/unix: service enabled again (5 clients turned away while it was "
        "disabled)"
    ) in lines.messages


async def test_host_name_idna_cannot_encode_fails_its_service_only() -> None:
    """A host such as "a..b" fails its line with a reason; it crashed the daemon."""
    text = (
        "a..b:0 stream tcp nowait nobody internal echo\n"
        "127.0.0.1:0 stream tcp nowait nobody internal daytime\n"
    )
    async with Inetd(config(text)) as inetd:
        statuses = {s.entry.name: s for s in inetd.services}
        assert statuses["echo/tcp"].error == (
            "expected an address of tcp for a..b, got none"
        )
        assert await exchange(endpoint_of(inetd, "daytime/tcp"), b"")


async def test_hand_made_wait_entry_with_address_limits_is_not_started(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """An entry built in code with only_from on a wait program is not run unlimited.

    The parser refuses such a line; an entry made with attrs.evolve gets the same
    answer when the daemon starts it.
    """
    base = config(
        "127.0.0.1:0 stream tcp wait nobody /bin/cat cat\n"
        "127.0.0.1:0 stream tcp nowait nobody internal echo\n"
    )
    limits = Limits(only_from=(ipaddress.ip_network("127.0.0.2"),))
    waiter = attrs.evolve(base.entries[0], limits=limits)
    hand_made = InetdConfig(entries=(waiter, base.entries[1]))
    caplog.set_level(logging.INFO, "aiosock.inetd")
    async with Inetd(hand_made) as inetd:
        statuses = [(s.entry.name, s.endpoints, s.error) for s in inetd.services]
        assert statuses[0][:2] == ("cat/tcp", ())
        assert "only_from cannot apply to a wait program" in (statuses[0][2] or "")
        assert await exchange(endpoint_of(inetd, "echo/tcp"), b"ok") == b"ok"
    assert "cat/tcp: cannot start: refused: only_from" in caplog.text


async def test_fork_failure_is_survived(
    caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    """When fork fails (EAGAIN) the client is closed, logged, and the rest go on."""
    caplog.set_level(logging.INFO, logger="aiosock.inetd")

    def no_fork(*args: Any, **kwargs: Any) -> None:
        raise BlockingIOError(errno.EAGAIN, "Resource temporarily unavailable")

    monkeypatch.setattr(subprocess, "Popen", no_fork)
    text = (
        "127.0.0.1:0 stream tcp nowait root /bin/cat cat\n"
        "127.0.0.1:0 stream tcp nowait nobody internal echo\n"
    )
    async with Inetd(config(text)) as inetd:
        try:
            reply = await exchange(endpoint_of(inetd, "cat/tcp"), b"")
        except aiosock.BrokenResourceError:
            reply = b""
        assert reply == b""
        assert "cat/tcp: cannot start /bin/cat: Resource temporarily unavailable" in (
            caplog.text
        )
        assert await exchange(endpoint_of(inetd, "echo/tcp"), b"alive") == b"alive"


async def test_programs_are_reaped_on_the_loop() -> None:
    """A spawned program serves the client and is reaped (its exit logged)."""
    text = "127.0.0.1:0 stream tcp nowait root /bin/cat cat\n"
    async with Inetd(config(text)) as inetd:
        for _ in range(3):
            assert await exchange(endpoint_of(inetd, "cat/tcp"), b"cat") == b"cat"


async def test_aclose_with_grace_cancels_slow_handlers() -> None:
    """aclose(grace) lets handlers finish for grace seconds, then cancels them."""
    started = asyncio.Event()
    cancelled = asyncio.Event()

    async def slow(stream: aiosock.Stream) -> None:
        started.set()
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            cancelled.set()
            raise

    text = "127.0.0.1:0 stream tcp nowait nobody python:slow\n"
    inetd = Inetd(config(text), handlers={"slow": slow})
    await inetd.start()
    stream = await aiosock.connect(endpoint_of(inetd, "slow/tcp"), timeout=10)
    await started.wait()
    await inetd.aclose(grace=0.05)
    assert cancelled.is_set()
    # The cancelled handler's connection is aborted (reset).
    with pytest.raises(aiosock.BrokenResourceError):
        await stream.receive()
    await stream.aclose()


async def test_serve_forever_until_closed() -> None:
    """serve_forever returns once another task closes the Inetd."""
    inetd = Inetd(config("127.0.0.1:0 stream tcp nowait nobody internal echo\n"))
    await inetd.start()
    waiter = asyncio.get_running_loop().create_task(inetd.serve_forever())
    await inetd.aclose()
    await asyncio.wait_for(waiter, 10)


def test_rate_must_be_positive() -> None:
    """Inetd(rate=0) is refused with the value named."""
    with pytest.raises(ValueError, match=r"'rate' must be at least 1 \(got 0\)"):
        Inetd(rate=0)


async def test_address_the_host_lacks_is_skipped(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A line's address the host does not have is skipped; its others listen."""
    caplog.set_level(logging.INFO, logger="aiosock.inetd")
    text = "127.0.0.1,[2001:db8::dead]:0 stream tcp nowait nobody internal echo\n"
    async with Inetd(config(text)) as inetd:
        (status,) = inetd.services
        assert len(status.endpoints) == 1
        assert await exchange(status.endpoints[0], b"v4") == b"v4"
    assert "echo/tcp: not on tcp://[2001:db8::dead]" in caplog.text


async def test_seqpacket_unix_program(short_tmp: Path) -> None:
    """A seqpacket Unix service gives each connection to a program (records kept)."""
    user = pwd.getpwuid(os.geteuid()).pw_name
    path = short_tmp / "cat.seq"
    text = f"{path} seqpacket unix nowait {user} /bin/cat cat\n"
    async with Inetd(config(text)) as inetd:
        assert inetd.endpoints() == (f"unixpacket:{path}",)
        loop = asyncio.get_running_loop()
        with socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET) as sock:
            sock.setblocking(False)
            await loop.sock_connect(sock, str(path))
            await loop.sock_sendall(sock, b"one record")
            assert (
                await asyncio.wait_for(loop.sock_recv(sock, 100), 10) == b"one record"
            )


async def test_removed_then_added_again_while_a_program_starts(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A port removed while its program starts is bound again by the next reload."""
    from aiosock.inetd import _service

    entered, gate = threading.Event(), threading.Event()
    real = _service.start_program

    def held_start(*args: Any) -> subprocess.Popen[bytes]:
        entered.set()
        gate.wait(10)
        return real(*args)

    monkeypatch.setattr(_service, "start_program", held_start)
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    user = pwd.getpwuid(os.geteuid()).pw_name
    with_port = config(
        f"127.0.0.1:{port} stream tcp nowait {user} /bin/cat cat\n"
        "127.0.0.1:0 stream tcp nowait nobody internal echo\n"
    )
    without = config("127.0.0.1:0 stream tcp nowait nobody internal echo\n")
    async with Inetd(with_port) as inetd:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        assert await asyncio.to_thread(entered.wait, 10)
        removing = asyncio.create_task(inetd.reload(without))
        adding = asyncio.create_task(inetd.reload(with_port))
        # While the start is held, the old socket is still open: before the fix
        # both reloads ended here, the second failing to bind. Now the first
        # waits for the start to finish.
        await asyncio.wait({removing, adding}, timeout=0.2)
        gate.set()
        await removing
        await adding
        assert [s.error for s in inetd.services] == [None, None]
        writer.write(b"in flight")
        writer.write_eof()
        assert await reader.read() == b"in flight"
        writer.close()
        assert await exchange(f"tcp://127.0.0.1:{port}", b"again") == b"again"


async def test_rate_counts_across_a_changed_line(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A reload that changes a line keeps the starts counted against its .max."""
    caplog.set_level(logging.INFO, logger="aiosock.inetd")
    user = pwd.getpwuid(os.geteuid()).pw_name
    line = f"127.0.0.1:0 stream tcp nowait.3 {user} /bin/cat cat\n"
    async with Inetd(config("#aiosock: instances=10\n" + line), retry_time=60) as inetd:
        cat = endpoint_of(inetd, "cat/tcp")
        for _ in range(3):
            assert await exchange(cat, b"ok") == b"ok"
        await inetd.reload(config("#aiosock: instances=20\n" + line))
        try:
            reply = await exchange(cat, b"fourth")
        except OSError:  # reset, or not connected any more
            reply = b""
        assert reply == b""
        assert "cat/tcp: more than 3 servers a minute" in caplog.text


async def test_port_freed_while_any_program_starts(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A port removed while another service forks is bound again by the next reload."""
    from aiosock.inetd import _service

    entered, gate = threading.Event(), threading.Event()
    real = _service.start_program

    def forking_start(*args: Any) -> subprocess.Popen[bytes]:
        # A fork copies every descriptor, until the child closes them and execs.
        copies = []
        for name in os.listdir("/proc/self/fd"):
            with contextlib.suppress(OSError):
                copies.append(os.dup(int(name)))
        entered.set()
        gate.wait(10)
        for fd in copies:
            os.close(fd)
        return real(*args)

    monkeypatch.setattr(_service, "start_program", forking_start)
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    user = pwd.getpwuid(os.geteuid()).pw_name
    cat = f"127.0.0.1:0 stream tcp nowait {user} /bin/cat cat\n"
    with_echo = config(
        cat + f"127.0.0.1:{port} stream tcp nowait nobody internal echo\n"
    )
    without = config(cat)
    async with Inetd(with_echo) as inetd:
        host, _, cat_port = endpoint_of(inetd, "cat/tcp")[6:].rpartition(":")
        reader, writer = await asyncio.open_connection(host, int(cat_port))
        assert await asyncio.to_thread(entered.wait, 10)
        removing = asyncio.create_task(inetd.reload(without))
        adding = asyncio.create_task(inetd.reload(with_echo))
        # Before the fix both reloads ended here, the second failing to bind.
        await asyncio.wait({removing, adding}, timeout=0.2)
        gate.set()
        await removing
        await adding
        assert [s.error for s in inetd.services] == [None, None]
        assert await exchange(f"tcp://127.0.0.1:{port}", b"echo") == b"echo"
        writer.write(b"in flight")
        writer.write_eof()
        assert await reader.read() == b"in flight"
        writer.close()
