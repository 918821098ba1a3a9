"""Streams: every kind of stream passes the conformance suite, on both loops."""

from __future__ import annotations

import asyncio
import logging
import socket
import ssl
from pathlib import Path

import pytest

import aiosock
from aiosock._packetchecks import CHECKS as PACKET_CHECKS
from aiosock.testing import CHECKS, check_packet_stream, check_stream

from .streams_helpers import served_pairs


async def test_socketpair_conforms() -> None:
    """stream_pair() (the manual's socketpair) passes every stream check."""
    await check_stream(aiosock.stream_pair)


async def test_tcp4_conforms() -> None:
    """TCP over IPv4 loopback passes every stream check."""
    async with served_pairs("tcp://127.0.0.1:0") as (_server, make_pair):
        await check_stream(make_pair)


async def test_tcp6_conforms(ipv6: None) -> None:
    """TCP over IPv6 loopback passes every stream check."""
    async with served_pairs("tcp://[::1]:0") as (_server, make_pair):
        await check_stream(make_pair)


async def test_unix_file_conforms(short_tmp: Path) -> None:
    """A Unix-domain stream socket file passes every stream check."""
    async with served_pairs(f"unix:{short_tmp}/s.sock") as (_server, make_pair):
        await check_stream(make_pair)


async def test_unix_abstract_conforms() -> None:
    """A Unix-domain abstract stream socket passes every stream check."""
    name = f"aiosock-test-{id(object())}"
    async with served_pairs(f"unix:@{name}") as (_server, make_pair):
        await check_stream(make_pair)


async def test_tls_conforms(
    tls_contexts: tuple[ssl.SSLContext, ssl.SSLContext],
) -> None:
    """TLS over TCP passes the stream checks but half-close (asyncio's TLS has none)."""
    server_ctx, client_ctx = tls_contexts
    async with served_pairs(
        "tcp://127.0.0.1:0", ssl_server=server_ctx, ssl_client=client_ctx
    ) as (_server, make_pair):
        await check_stream(
            make_pair,
            skip=frozenset({"half-close a->b", "half-close b->a"}),
        )


async def test_tls_send_eof_is_refused(
    tls_contexts: tuple[ssl.SSLContext, ssl.SSLContext],
) -> None:
    """send_eof() on a TLS stream raises instead of silently doing nothing."""
    server_ctx, client_ctx = tls_contexts
    async with served_pairs(
        "tcp://127.0.0.1:0", ssl_server=server_ctx, ssl_client=client_ctx
    ) as (_server, make_pair):
        client, served = await make_pair()
        with pytest.raises(NotImplementedError, match="half-close"):
            await client.send_eof()
        await client.send(b"still open")
        assert await served.receive_exactly(10) == b"still open"
        await client.aclose()


async def test_stream_options_view() -> None:
    """stream.options reads and writes the connection's socket options."""
    async with served_pairs("tcp://127.0.0.1:0") as (_server, make_pair):
        client, _served = await make_pair()
        client.options["no_delay"] = False
        assert client.options["no_delay"] is False
        client.options["no_delay"] = True
        assert client.options["no_delay"] is True
        raw = client.socket.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY)
        assert raw != 0
        with pytest.raises(KeyError):
            client.options["no_such_option"]
        await client.aclose()


async def test_connect_and_serve_apply_options() -> None:
    """options= reaches the listening and the connecting sockets; typos fail early."""
    async with served_pairs("tcp://127.0.0.1:0", options={"keepalive": True}) as (
        server,
        make_pair,
    ):
        listener = server.sockets[0]
        assert listener.getsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE) == 1
        client, served = await make_pair()
        assert served.options["keepalive"] is True
        await client.aclose()
        other = await aiosock.connect(
            server.endpoints[0], options={"receive_buffer": 65536}, timeout=10
        )
        assert other.options["receive_buffer"] >= 65536
        await other.aclose()
        with pytest.raises(aiosock.OptionError, match="no_dealy"):
            await aiosock.connect(server.endpoints[0], options={"no_dealy": True})


async def test_tls_refuses_urgent_data(
    tls_contexts: tuple[ssl.SSLContext, ssl.SSLContext],
) -> None:
    """Out-of-band data on TLS raises instead of bypassing or breaking TLS."""
    server_ctx, client_ctx = tls_contexts
    async with served_pairs(
        "tcp://127.0.0.1:0", ssl_server=server_ctx, ssl_client=client_ctx
    ) as (_server, make_pair):
        client, served = await make_pair()
        with pytest.raises(NotImplementedError, match="TLS"):
            await client.send_urgent(b"!")
        with pytest.raises(NotImplementedError, match="TLS"):
            await served.receive_urgent()
        await client.send(b"ok")
        assert await served.receive_exactly(2) == b"ok"
        await client.aclose()


async def test_tls_client_closing_first_closes_cleanly(
    tls_contexts: tuple[ssl.SSLContext, ssl.SSLContext],
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A TLS handler's stream closes without error after the client closed first."""
    server_ctx, client_ctx = tls_contexts
    finished = asyncio.Event()

    async def echo(stream: aiosock.Stream) -> None:
        try:
            async for chunk in stream:
                await stream.send(chunk)
        finally:
            finished.set()

    caplog.set_level(logging.INFO, logger="aiosock.server")
    server = await aiosock.serve(echo, "tcp://127.0.0.1:0", ssl=server_ctx)
    client = await aiosock.connect(server.endpoints[0], ssl=client_ctx, timeout=10)
    await client.send(b"ping")
    assert await client.receive_exactly(4) == b"ping"
    await client.aclose()
    async with asyncio.timeout(10):
        await finished.wait()
        await server.aclose(grace=10)
    assert server.active_connections == 0
    errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert not errors, [r.getMessage() for r in errors]


async def test_aclose_flushes_buffered_data() -> None:
    """aclose() returns only after the write buffer reached the kernel: nothing lost."""
    a, b = await aiosock.stream_pair()
    a.socket.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4096)
    payload = bytes(range(256)) * 4096  # 1 MiB, far more than the socket buffers
    a.transport.write(payload)  # buffered in the transport, no waiting
    assert a.transport.get_write_buffer_size() > 0
    closing = asyncio.ensure_future(a.aclose())
    async with asyncio.timeout(20):
        received = await b.receive_exactly(len(payload))
        await closing
    assert received == payload
    assert await b.receive() == b""
    await b.aclose()


async def test_cancelled_aclose_aborts() -> None:
    """Cancelling an aclose() stuck on a peer that never reads aborts the stream."""
    a, b = await aiosock.stream_pair()
    a.transport.write(b"x" * (8 * 1024 * 1024))
    closing = asyncio.ensure_future(a.aclose())
    await asyncio.sleep(0)
    assert not closing.done()
    closing.cancel()
    with pytest.raises(asyncio.CancelledError):
        await closing
    assert a.is_closing
    with pytest.raises(aiosock.ClosedResourceError):
        await a.send(b"more")
    await b.aclose()


async def test_failed_tls_handshake_is_not_a_server_error(
    tls_contexts: tuple[ssl.SSLContext, ssl.SSLContext],
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A client refusing the server's certificate is logged at INFO, not ERROR."""
    server_ctx, _client_ctx = tls_contexts
    caplog.set_level(logging.INFO, logger="aiosock.server")
    untrusting = ssl.create_default_context()  # does not know the test CA
    server = await aiosock.serve(
        lambda stream: stream.aclose(), "tcp://127.0.0.1:0", ssl=server_ctx
    )
    with pytest.raises(ssl.SSLCertVerificationError):
        await aiosock.connect(server.endpoints[0], ssl=untrusting, timeout=10)
    async with asyncio.timeout(10):
        await server.aclose(grace=10)
    errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert not errors, [r.getMessage() for r in errors]
    assert any("failed to start" in r.getMessage() for r in caplog.records)


# --- the conformance kit's own contract ------------------------------------

_ALL_BUT_HALF_CLOSE = frozenset(CHECKS) - {"half-close a->b"}


class _EofCloses:
    """A faulty stream: its send_eof closes it instead of half-closing."""

    def __init__(self, inner: aiosock.Stream | aiosock.PacketStream) -> None:
        self.inner = inner

    async def send(self, data: bytes) -> None:
        await self.inner.send(data)

    async def receive(self, max_bytes: int = 65536) -> bytes:
        return await self.inner.receive(max_bytes)

    async def send_eof(self) -> None:
        await self.inner.aclose()

    async def aclose(self) -> None:
        await self.inner.aclose()

    def abort(self) -> None:
        self.inner.abort()


class _Stuck(_EofCloses):
    """A faulty stream whose receive never returns; says when it is waiting."""

    def __init__(self, inner: aiosock.Stream, waiting: asyncio.Event) -> None:
        super().__init__(inner)
        self.waiting = waiting

    async def receive(self, max_bytes: int = 65536) -> bytes:
        self.waiting.set()
        await asyncio.Event().wait()
        raise AssertionError("unreachable")


async def test_check_stream_names_the_check_when_the_stream_raises(
    tls_contexts: tuple[ssl.SSLContext, ssl.SSLContext],
) -> None:
    """An exception from the stream under test (here TLS's send_eof without
    skip=) is an AssertionError that names the check, chained to it."""
    server_ctx, client_ctx = tls_contexts
    async with served_pairs(
        "tcp://127.0.0.1:0", ssl_server=server_ctx, ssl_client=client_ctx
    ) as (_server, make_pair):
        with pytest.raises(AssertionError) as info:
            await check_stream(make_pair, timeout=10, skip=_ALL_BUT_HALF_CLOSE)
    message = str(info.value)
    assert "stream check 'half-close a->b' failed" in message
    assert "NotImplementedError" in message
    assert "cannot half-close" in message
    assert isinstance(info.value.__cause__, NotImplementedError)


async def test_check_stream_names_the_check_on_a_resource_error() -> None:
    """A ClosedResourceError or BrokenResourceError from a faulty stream (its
    send_eof closes it) fails the half-close check by name."""

    async def make_pair() -> tuple[_EofCloses, _EofCloses]:
        a, b = await aiosock.stream_pair()
        return _EofCloses(a), _EofCloses(b)

    with pytest.raises(AssertionError, match="'half-close a->b' failed") as info:
        await check_stream(make_pair, timeout=10, skip=_ALL_BUT_HALF_CLOSE)
    cause = info.value.__cause__
    assert isinstance(
        cause, aiosock.ClosedResourceError | aiosock.BrokenResourceError
    ), repr(cause)
    assert type(cause).__name__ in str(info.value)


async def test_check_packet_stream_names_the_check_when_the_stream_raises() -> None:
    """check_packet_stream turns any exception from a check into an
    AssertionError naming it, chained to the exception."""

    async def make_pair() -> tuple[_EofCloses, _EofCloses]:
        a, b = await aiosock.packet_pair()
        return _EofCloses(a), _EofCloses(b)

    skip = frozenset(PACKET_CHECKS) - {"half-close a->b"}
    with pytest.raises(AssertionError, match="packet check 'half-close a->b'") as info:
        await check_packet_stream(make_pair, timeout=10, skip=skip)
    cause = info.value.__cause__
    assert isinstance(
        cause, aiosock.ClosedResourceError | aiosock.BrokenResourceError
    ), repr(cause)
    assert type(cause).__name__ in str(info.value)


async def test_check_stream_timeout_says_so() -> None:
    """A check that hangs fails by name, saying it ran out of time."""

    async def make_pair() -> tuple[_Stuck, _Stuck]:
        a, b = await aiosock.stream_pair()
        return _Stuck(a, asyncio.Event()), _Stuck(b, asyncio.Event())

    with pytest.raises(AssertionError) as info:
        await check_stream(make_pair, timeout=0.2)
    assert str(info.value) == (
        "stream check 'ordered bytes' failed: it did not finish within 0.2 s"
    )
    assert isinstance(info.value.__cause__, TimeoutError)


async def test_check_stream_lets_cancellation_through() -> None:
    """Cancelling the task running the checks cancels it; it is no failure."""
    waiting = asyncio.Event()

    async def make_pair() -> tuple[_Stuck, _Stuck]:
        a, b = await aiosock.stream_pair()
        return _Stuck(a, waiting), _Stuck(b, waiting)

    task = asyncio.create_task(check_stream(make_pair, timeout=30))
    async with asyncio.timeout(10):
        await waiting.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        async with asyncio.timeout(10):
            await task
    assert task.cancelled()
