"""serve_protocol / connect_protocol: ordinary asyncio protocols on both loops."""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import logging
import mmap
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

import aiosock
from aiosock._foundation._loop import current_loop_name

from .serve_helpers import closed_port, echo_once, warm_up

# uvloop's transports are not asyncio.Transport subclasses: no isinstance checks.


class EchoProtocol(asyncio.Protocol):
    """A plain echo protocol that records its callbacks."""

    instances: list[EchoProtocol]

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.given: asyncio.BaseProtocol | None = None
        self.lost_calls = 0
        self.eof = False
        self.made = asyncio.Event()
        self.lost = asyncio.Event()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        self.given = transport.get_protocol()
        self.made.set()

    def data_received(self, data: bytes) -> None:
        assert self.transport is not None
        self.transport.write(data)

    def eof_received(self) -> bool | None:
        self.eof = True
        return None  # close the transport

    def connection_lost(self, exc: Exception | None) -> None:
        self.lost_calls += 1
        self.lost.set()


class BufferedEcho(asyncio.BufferedProtocol):
    """An echo BufferedProtocol with a buffer of its own."""

    def __init__(self) -> None:
        self.buffer = bytearray(4096)
        self.transport: asyncio.Transport | None = None
        self.given: asyncio.BaseProtocol | None = None
        self.lost_calls = 0
        self.lost = asyncio.Event()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        self.given = transport.get_protocol()

    def get_buffer(self, sizehint: int) -> bytearray:
        return self.buffer

    def buffer_updated(self, nbytes: int) -> None:
        assert self.transport is not None
        self.transport.write(bytes(self.buffer[:nbytes]))

    def connection_lost(self, exc: Exception | None) -> None:
        self.lost_calls += 1
        self.lost.set()


class SlottedEcho(asyncio.Protocol):
    """A plain echo protocol with __slots__ (no instance __dict__)."""

    __slots__ = ("lost_calls", "transport")

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.lost_calls = 0

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        assert self.transport is not None
        self.transport.write(data)

    def connection_lost(self, exc: Exception | None) -> None:
        self.lost_calls += 1


class SlottedBufferedEcho(asyncio.BufferedProtocol):
    """An echo BufferedProtocol with __slots__ (no instance __dict__)."""

    __slots__ = ("buffer", "lost_calls", "transport")

    def __init__(self) -> None:
        self.buffer = bytearray(1024)
        self.transport: asyncio.Transport | None = None
        self.lost_calls = 0

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def get_buffer(self, sizehint: int) -> bytearray:
        return self.buffer

    def buffer_updated(self, nbytes: int) -> None:
        assert self.transport is not None
        self.transport.write(bytes(self.buffer[:nbytes]))

    def connection_lost(self, exc: Exception | None) -> None:
        self.lost_calls += 1


class Recorder:
    """A factory that keeps every protocol it made and signals each new one."""

    def __init__(self, cls: Callable[[], Any]) -> None:
        self.cls = cls
        self.made: list[Any] = []
        self.queue: asyncio.Queue[Any] = asyncio.Queue()

    def __call__(self) -> Any:
        protocol = self.cls()
        self.made.append(protocol)
        self.queue.put_nowait(protocol)
        return protocol

    async def next(self, timeout: float = 5) -> Any:
        """The next protocol made, waiting at most ``timeout`` seconds."""
        async with asyncio.timeout(timeout):
            return await self.queue.get()


def _on_uvloop() -> bool:
    return current_loop_name(asyncio.get_running_loop()) == "uvloop"


# -- echo and wrapping ----------------------------------------------------------


async def test_plain_protocol_echo_and_wrapping() -> None:
    """A plain Protocol echoes; default loop wraps it in BufferedAdapter, uvloop not."""
    factory = Recorder(EchoProtocol)
    async with await aiosock.serve_protocol(factory, "tcp://127.0.0.1:0") as server:
        async with await aiosock.connect(server.endpoints[0], timeout=5) as stream:
            await echo_once(stream, b"hello protocol")
            protocol = await factory.next()
            if _on_uvloop():
                assert protocol.given is protocol
            else:
                assert isinstance(protocol.given, aiosock.BufferedAdapter)
                assert protocol.given.protocol is protocol
        async with asyncio.timeout(5):
            await protocol.lost.wait()
        assert protocol.eof
        assert protocol.lost_calls == 1
    assert protocol.lost_calls == 1


async def test_buffered_protocol_is_used_as_is() -> None:
    """A BufferedProtocol is given to the transport itself, on both loops."""
    factory = Recorder(BufferedEcho)
    async with await aiosock.serve_protocol(factory, "tcp://127.0.0.1:0") as server:
        async with await aiosock.connect(server.endpoints[0], timeout=5) as stream:
            await echo_once(stream, b"x" * 10000)
            protocol = await factory.next()
            assert protocol.given is protocol
        async with asyncio.timeout(5):
            await protocol.lost.wait()
        assert protocol.lost_calls == 1


async def test_adapter_buffer_is_page_aligned() -> None:
    """The adapter reads into one page-aligned buffer, the same for every connection.

    Where the kernel copies received data to within a page decides what the copy
    costs on some processors (see ``aiosock._core._buffers``): a ``bytearray`` of
    this size starts 16 bytes into its page.
    """
    loop = asyncio.get_running_loop()
    first = aiosock.BufferedAdapter(EchoProtocol(), loop)
    second = aiosock.BufferedAdapter(EchoProtocol(), loop)
    view = first.get_buffer(-1)
    assert view is second.get_buffer(65536)
    assert len(view) == 256 * 1024
    assert not view.readonly
    address = ctypes.addressof(ctypes.c_char.from_buffer(view))
    assert address % mmap.PAGESIZE == 0


async def test_adapter_copies_out_exactly_what_was_read() -> None:
    """buffer_updated(n) hands on a bytes object of the first n bytes, a copy."""
    loop = asyncio.get_running_loop()
    got: list[Any] = []

    class Collect(asyncio.Protocol):
        def data_received(self, data: bytes) -> None:
            got.append(data)

    adapter = aiosock.BufferedAdapter(Collect(), loop)
    for size, fill in ((1, b"a"), (1024, b"b"), (256 * 1024, b"c")):
        view = adapter.get_buffer(-1)
        view[:size] = fill * size
        if size < len(view):
            view[size : size + 1] = b"!"  # beyond what was read: not handed on
        adapter.buffer_updated(size)
        view[:size] = b"z" * size  # the next read overwrites the buffer
    assert [type(data) for data in got] == [bytes, bytes, bytes]
    assert got == [b"a", b"b" * 1024, b"c" * (256 * 1024)]


@pytest.mark.parametrize("cls", [SlottedEcho, SlottedBufferedEcho])
async def test_slotted_protocols_work(cls: Callable[[], Any]) -> None:
    """Protocol classes with __slots__ serve, and connection_lost is called once."""
    factory = Recorder(cls)
    async with await aiosock.serve_protocol(
        factory, "tcp://127.0.0.1:0", max_connections=1
    ) as server:
        for i in range(3):
            async with await aiosock.connect(server.endpoints[0], timeout=5) as s:
                await echo_once(s, b"slotted %d" % i)
    assert len(factory.made) == 3
    assert [p.lost_calls for p in factory.made] == [1, 1, 1]


async def test_serve_protocol_on_unix_and_abstract(short_tmp: Path) -> None:
    """serve_protocol listens on socket files and abstract names as well."""
    name = f"aiosock-proto-{id(object())}"
    path = str(short_tmp / "proto.sock")
    async with await aiosock.serve_protocol(
        EchoProtocol, f"unix:{path}", f"unix:@{name}"
    ) as server:
        for endpoint in server.endpoints:
            async with await aiosock.connect(endpoint, timeout=5) as stream:
                await echo_once(stream)


async def test_connection_lost_once_when_server_closes() -> None:
    """aclose() closes protocol connections: the client sees it, lost is called once."""
    factory = Recorder(EchoProtocol)
    server = await aiosock.serve_protocol(factory, "tcp://127.0.0.1:0")
    stream = await aiosock.connect(server.endpoints[0], timeout=5)
    await echo_once(stream)
    protocol = await factory.next()
    async with asyncio.timeout(5):
        await server.aclose()
    assert server.active_connections == 0
    async with asyncio.timeout(5):
        with contextlib.suppress(aiosock.BrokenResourceError):
            assert await stream.receive() == b""
        await protocol.lost.wait()
    assert protocol.lost_calls == 1
    await stream.aclose()


async def test_aclose_grace_for_protocols() -> None:
    """aclose(grace): a connection ending in time ends; one that does not is aborted."""
    factory = Recorder(EchoProtocol)
    server = await aiosock.serve_protocol(factory, "tcp://127.0.0.1:0")
    quick = await aiosock.connect(server.endpoints[0], timeout=5)
    slow = await aiosock.connect(server.endpoints[0], timeout=5)
    await echo_once(quick)
    await echo_once(slow)
    first, second = await factory.next(), await factory.next()
    quick_protocol = (
        first
        if first.transport.get_extra_info("peername")
        == (quick.get_extra_info("sockname"))
        else second
    )
    slow_protocol = second if quick_protocol is first else first
    loop = asyncio.get_running_loop()
    await quick.send_eof()  # the echo protocol closes on EOF: ends within grace
    start = loop.time()
    async with asyncio.timeout(5):
        await server.aclose(grace=0.5)
    assert 0.4 <= loop.time() - start < 5
    assert quick_protocol.lost_calls == 1
    async with asyncio.timeout(5):
        assert await quick.receive() == b""
        await slow_protocol.lost.wait()
        with contextlib.suppress(aiosock.BrokenResourceError):
            assert await slow.receive() == b""
    assert slow_protocol.lost_calls == 1
    await quick.aclose()
    await slow.aclose()


async def test_max_connections_for_protocols() -> None:
    """max_connections=1 holds a second client back until the first disconnects."""
    factory = Recorder(EchoProtocol)
    async with await aiosock.serve_protocol(
        factory, "tcp://127.0.0.1:0", max_connections=1
    ) as server:
        first = await aiosock.connect(server.endpoints[0], timeout=5)
        await echo_once(first)
        second = await aiosock.connect(server.endpoints[0], timeout=5)
        await second.send(b"queued")
        await echo_once(first, b"loop turned")  # the loop polled: not accepted
        assert server.accepted_connections == 1
        assert server.active_connections == 1
        assert len(factory.made) == 1
        await first.aclose()
        async with asyncio.timeout(5):
            assert await second.receive_exactly(6) == b"queued"
        assert server.accepted_connections == 2
        assert server.active_connections == 1
        await second.aclose()


async def test_no_descriptor_leak_with_protocols(
    open_fds: Callable[[], int],
) -> None:
    """Connections and listeners of serve_protocol are all closed by aclose()."""
    await warm_up()
    before = open_fds()
    server = await aiosock.serve_protocol(EchoProtocol, "tcp://127.0.0.1:0")
    streams = [await aiosock.connect(server.endpoints[0], timeout=5) for _ in range(5)]
    for stream in streams:
        await echo_once(stream)
    await server.aclose()
    for stream in streams:
        await stream.aclose()
    assert open_fds() == before


# -- connect_protocol ------------------------------------------------------------------


class ClientProtocol(asyncio.Protocol):
    """Collects what it receives; signals end of stream."""

    def __init__(self) -> None:
        self.received = bytearray()
        self.transport: asyncio.Transport | None = None
        self.done = asyncio.Event()
        self.lost_calls = 0

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        self.received += data

    def eof_received(self) -> bool | None:
        self.done.set()
        return None

    def connection_lost(self, exc: Exception | None) -> None:
        self.lost_calls += 1
        self.done.set()


async def test_connect_protocol_plain() -> None:
    """connect_protocol runs a plain Protocol (wrapped on the default loop only)."""
    async with await aiosock.serve_protocol(EchoProtocol, "tcp://127.0.0.1:0") as srv:
        mine = ClientProtocol()
        transport, given = await aiosock.connect_protocol(
            lambda: mine, srv.endpoints[0], timeout=5
        )
        if _on_uvloop():
            assert given is mine
        else:
            assert isinstance(given, aiosock.BufferedAdapter)
            assert given.protocol is mine
        assert transport.get_protocol() is given
        transport.write(b"round trip")
        transport.write_eof()
        async with asyncio.timeout(5):
            await mine.done.wait()
        assert bytes(mine.received) == b"round trip"
        transport.close()


async def test_connect_protocol_buffered(short_tmp: Path) -> None:
    """connect_protocol gives a BufferedProtocol to the transport as it is (Unix)."""
    path = str(short_tmp / "cp.sock")
    async with await aiosock.serve_protocol(EchoProtocol, f"unix:{path}"):
        done = asyncio.Event()
        got = bytearray()

        class Client(asyncio.BufferedProtocol):
            def __init__(self) -> None:
                self.buffer = bytearray(64)

            def get_buffer(self, sizehint: int) -> bytearray:
                return self.buffer

            def buffer_updated(self, nbytes: int) -> None:
                got.extend(self.buffer[:nbytes])
                if len(got) >= 5:
                    done.set()

        mine = Client()
        transport, given = await aiosock.connect_protocol(
            lambda: mine, f"unix:{path}", timeout=5
        )
        assert given is mine
        transport.write(b"bytes")
        async with asyncio.timeout(5):
            await done.wait()
        assert bytes(got) == b"bytes"
        transport.close()


async def test_connect_protocol_errors_keep_their_class(short_tmp: Path) -> None:
    """connect_protocol errors keep their class, as connect's do."""
    with pytest.raises(ConnectionRefusedError):
        await aiosock.connect_protocol(
            ClientProtocol, f"tcp://127.0.0.1:{closed_port()}", timeout=5
        )
    with pytest.raises(FileNotFoundError):
        await aiosock.connect_protocol(
            ClientProtocol, f"unix:{short_tmp}/none.sock", timeout=5
        )
    with pytest.raises(aiosock.AddressError):
        await aiosock.connect_protocol(ClientProtocol, "udp://127.0.0.1:9", timeout=5)


async def test_factory_error_is_logged_and_server_goes_on(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A protocol factory that raises is logged; the next connection is served."""
    calls = 0

    def factory() -> asyncio.Protocol:
        nonlocal calls
        calls += 1
        if calls == 1:
            raise RuntimeError("factory failed on purpose")
        return EchoProtocol()

    caplog.set_level(logging.ERROR, logger="aiosock.server")
    async with await aiosock.serve_protocol(factory, "tcp://127.0.0.1:0") as server:
        first = await aiosock.connect(server.endpoints[0], timeout=5)
        async with asyncio.timeout(5):
            with contextlib.suppress(aiosock.BrokenResourceError):
                assert await first.receive() == b""
        await first.aclose()
        async with await aiosock.connect(server.endpoints[0], timeout=5) as second:
            await echo_once(second)
    assert any("factory failed" in repr(r.exc_info) for r in caplog.records)
