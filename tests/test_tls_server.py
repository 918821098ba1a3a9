"""TLS servers and peers that misbehave: stalled handshakes, plaintext, no close_notify.

A handshake holds a connection slot (``max_connections``) until it ends, so it is
bounded: by ``ssl_handshake_timeout`` and by ``idle_timeout``. A failed start is
the peer's doing, logged at INFO with its address, for ``serve`` and
``serve_protocol`` alike.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import ssl
from collections.abc import Callable
from typing import Any

import pytest

import aiosock

#: The start of a TLS ClientHello, after which a stalled client sends nothing.
HELLO_START = b"\x16\x03\x01\x02\x00\x01"


async def echo(stream: aiosock.Stream) -> None:
    async for chunk in stream:
        await stream.send(chunk)


class Echo(asyncio.Protocol):
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport: Any = transport

    def data_received(self, data: bytes) -> None:
        self.transport.write(data)


async def _stalled_client(server: aiosock.Server) -> socket.socket:
    """Connect with a raw socket that starts a handshake and stalls."""
    loop = asyncio.get_running_loop()
    address = server.endpoints[0].address
    assert isinstance(address, aiosock.InetAddress)
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setblocking(False)
    await loop.sock_connect(sock, ("127.0.0.1", address.port))
    await loop.sock_sendall(sock, HELLO_START)
    return sock


async def _ended_by_server(sock: socket.socket) -> None:
    """Wait (at most 5 s) until the server ends the connection."""
    loop = asyncio.get_running_loop()
    async with asyncio.timeout(5):
        with contextlib.suppress(ConnectionResetError):
            assert await loop.sock_recv(sock, 1024) == b""


async def _connections_ended(server: aiosock.Server) -> None:
    """Wait (at most 5 s) until the server's connection tasks have ended."""
    async with asyncio.timeout(5):
        if server._tasks:
            await asyncio.wait(set(server._tasks))
    assert server.active_connections == 0


async def _served_echo(server: aiosock.Server, client_ctx: ssl.SSLContext) -> None:
    async with await aiosock.connect(
        server.endpoints[0], ssl=client_ctx, timeout=5
    ) as stream:
        await stream.send(b"ping")
        async with asyncio.timeout(5):
            assert await stream.receive() == b"ping"


@pytest.mark.parametrize(
    "bound", [{"idle_timeout": 0.3}, {"ssl_handshake_timeout": 0.3}]
)
async def test_a_stalled_handshake_gives_its_slot_back(
    tls_contexts: tuple[ssl.SSLContext, ssl.SSLContext],
    caplog: pytest.LogCaptureFixture,
    bound: dict[str, float],
) -> None:
    """With max_connections=1 a stalled handshake is dropped in time, then others come.

    The loops' own handshake timeout is 60 s: without a bound the stalled client
    would hold the only slot for that long.
    """
    server_ctx, client_ctx = tls_contexts
    caplog.set_level(logging.INFO, logger="aiosock.server")
    async with await aiosock.serve(
        echo, "tcp://127.0.0.1:0", ssl=server_ctx, max_connections=1, **bound
    ) as server:
        stalled = await _stalled_client(server)
        with stalled:
            await _ended_by_server(stalled)
        await _served_echo(server, client_ctx)
    starts = [r for r in caplog.records if "failed to start" in r.getMessage()]
    assert len(starts) == 1
    assert starts[0].levelno == logging.INFO
    assert "127.0.0.1:" in starts[0].getMessage()


async def test_serve_protocol_bounds_the_handshake(
    tls_contexts: tuple[ssl.SSLContext, ssl.SSLContext],
) -> None:
    """serve_protocol(ssl_handshake_timeout=...) drops a stalled handshake too."""
    server_ctx, _client_ctx = tls_contexts
    async with await aiosock.serve_protocol(
        Echo, "tcp://127.0.0.1:0", ssl=server_ctx, ssl_handshake_timeout=0.3
    ) as server:
        stalled = await _stalled_client(server)
        with stalled:
            await _ended_by_server(stalled)
        await _connections_ended(server)


@pytest.mark.parametrize("serving", ["serve", "serve_protocol"])
async def test_a_plaintext_client_is_logged_as_the_peers_doing(
    tls_contexts: tuple[ssl.SSLContext, ssl.SSLContext],
    caplog: pytest.LogCaptureFixture,
    serving: str,
) -> None:
    """A plaintext client of a TLS server: one INFO record naming it, no error."""
    server_ctx, client_ctx = tls_contexts
    caplog.set_level(logging.INFO, logger="aiosock.server")
    if serving == "serve":
        server = await aiosock.serve(echo, "tcp://127.0.0.1:0", ssl=server_ctx)
    else:
        server = await aiosock.serve_protocol(Echo, "tcp://127.0.0.1:0", ssl=server_ctx)
    async with server:
        async with await aiosock.connect(server.endpoints[0], timeout=5) as plain:
            local = plain.local_address
            await plain.send(b"GET / HTTP/1.0\r\n\r\n")
            async with asyncio.timeout(5):
                while await plain.receive():  # the server's alert, then the end
                    pass
        await _connections_ended(server)
        if serving == "serve":
            await _served_echo(server, client_ctx)  # and it goes on serving
    records = [r for r in caplog.records if r.name == "aiosock.server"]
    errors = [r.getMessage() for r in records if r.levelno >= logging.WARNING]
    assert not errors
    starts = [r.getMessage() for r in records if "failed to start" in r.getMessage()]
    assert len(starts) == 1
    assert f"connection from {local} failed to start" in starts[0]


async def test_a_peer_that_never_answers_close_notify_is_bounded(
    tls_contexts: tuple[ssl.SSLContext, ssl.SSLContext],
) -> None:
    """ssl_shutdown_timeout ends a connection whose peer never reads the close."""
    server_ctx, client_ctx = tls_contexts

    async def bye(stream: aiosock.Stream) -> None:
        await stream.receive()
        await stream.send(b"bye")

    async with await aiosock.serve(
        bye, "tcp://127.0.0.1:0", ssl=server_ctx, ssl_shutdown_timeout=0.3
    ) as server:
        client = await aiosock.connect(server.endpoints[0], ssl=client_ctx, timeout=5)
        # (A send first: uvloop's client sends its last handshake message with
        # the next record it writes or reads, and it will read none.)
        await client.send(b"hello")
        client.transport.pause_reading()  # never sees, never answers the close
        try:
            # (Accepted before the handshake the client has finished.)
            tasks = set(server._tasks)
            assert len(tasks) == 1
            async with asyncio.timeout(5):  # the loops' own default is 30 s
                await asyncio.wait(tasks)
            assert server.active_connections == 0
        finally:
            client.abort()


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (
            lambda ctx: {"ssl": ctx, "ssl_handshake_timeout": 0},
            "'ssl_handshake_timeout' must be a positive number of seconds",
        ),
        (
            lambda ctx: {"ssl": ctx, "ssl_shutdown_timeout": True},
            "'ssl_shutdown_timeout' must be a positive number of seconds",
        ),
        (
            lambda ctx: {"ssl_handshake_timeout": 5},
            "'ssl_handshake_timeout' needs 'ssl'",
        ),
        (
            lambda ctx: {"ssl_shutdown_timeout": 5},
            "'ssl_shutdown_timeout' needs 'ssl'",
        ),
    ],
)
@pytest.mark.parametrize("serving", ["serve", "serve_protocol"])
async def test_bad_tls_timeouts_are_refused_before_binding(
    tls_contexts: tuple[ssl.SSLContext, ssl.SSLContext],
    make: Callable[[ssl.SSLContext], dict[str, Any]],
    message: str,
    serving: str,
) -> None:
    """A bad TLS timeout is a ValueError naming it."""
    server_ctx, _client_ctx = tls_contexts
    start: Any = (
        aiosock.serve(echo, "tcp://127.0.0.1:0", **make(server_ctx))
        if serving == "serve"
        else aiosock.serve_protocol(Echo, "tcp://127.0.0.1:0", **make(server_ctx))
    )
    with pytest.raises(ValueError, match=message):
        await start
