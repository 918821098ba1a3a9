"""TCP connections send small segments at once (``TCP_NODELAY``) on both loops.

asyncio's and uvloop's own TCP transports turn Nagle's algorithm off, but the
default loop does so only for sockets made with the protocol number
``IPPROTO_TCP``, and uvloop does so over whatever the socket had: aiosock sets
it itself, on by default and off when ``options={"no_delay": False}`` says so.
"""

from __future__ import annotations

import asyncio
import socket
import ssl
from typing import Any

import pytest

import aiosock

from .conftest import HAVE_IPV6

ENDPOINTS = ["tcp://127.0.0.1:0"]
if HAVE_IPV6:
    ENDPOINTS.append("tcp6://[::1]:0")

TIMEOUT = 10


def _no_delay(sock: Any) -> bool:
    return bool(sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY))


async def _stream_ends(
    endpoint: str,
    *,
    server_options: dict[str, Any] | None = None,
    client_options: dict[str, Any] | None = None,
    tls: tuple[ssl.SSLContext, ssl.SSLContext] | None = None,
) -> tuple[bool, bool]:
    """``TCP_NODELAY`` of a served stream and of the stream that connected to it."""
    served: asyncio.Future[bool] = asyncio.get_running_loop().create_future()

    async def handler(stream: aiosock.Stream) -> None:
        served.set_result(_no_delay(stream.socket))
        await stream.receive()

    async with asyncio.timeout(TIMEOUT):
        server = await aiosock.serve(
            handler,
            endpoint,
            options=server_options,
            ssl=None if tls is None else tls[0],
        )
        async with server:
            client = await aiosock.connect(
                str(server.endpoints[0]),
                options=client_options,
                ssl=None if tls is None else tls[1],
            )
            async with client:
                return await served, _no_delay(client.socket)


@pytest.mark.parametrize("endpoint", ENDPOINTS)
async def test_streams_have_no_delay_by_default(endpoint: str) -> None:
    """Both ends of a TCP stream have ``TCP_NODELAY`` on."""
    assert await _stream_ends(endpoint) == (True, True)


@pytest.mark.parametrize("endpoint", ENDPOINTS)
async def test_no_delay_false_keeps_nagle(endpoint: str) -> None:
    """``options={"no_delay": False}`` is kept on the end it was given to."""
    ends = await _stream_ends(endpoint, server_options={"no_delay": False})
    assert ends == (False, True)
    ends = await _stream_ends(endpoint, client_options={"no_delay": False})
    assert ends == (True, False)


async def test_tls_streams_follow_the_option_too(
    tls_contexts: tuple[ssl.SSLContext, ssl.SSLContext],
) -> None:
    """Over TLS the option is set on the socket under it, by default and when off."""
    endpoint = "tcp://127.0.0.1:0"
    assert await _stream_ends(endpoint, tls=tls_contexts) == (True, True)
    ends = await _stream_ends(
        endpoint,
        server_options={"no_delay": False},
        client_options={"no_delay": False},
        tls=tls_contexts,
    )
    assert ends == (False, False)


class _Recorder(asyncio.Protocol):
    """Records its transport's socket's ``TCP_NODELAY``."""

    def __init__(self, seen: asyncio.Queue[bool]) -> None:
        self.seen = seen

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.seen.put_nowait(_no_delay(transport.get_extra_info("socket")))


@pytest.mark.parametrize("no_delay", [None, False])
async def test_protocol_connections_follow_the_option(no_delay: bool | None) -> None:
    """``serve_protocol`` and ``connect_protocol`` set it the same way."""
    options = None if no_delay is None else {"no_delay": no_delay}
    want = no_delay is None
    seen: asyncio.Queue[bool] = asyncio.Queue()

    def recorder() -> _Recorder:
        return _Recorder(seen)

    async with asyncio.timeout(TIMEOUT):
        server = await aiosock.serve_protocol(
            recorder, "tcp://127.0.0.1:0", options=options
        )
        async with server:
            transport, _ = await aiosock.connect_protocol(
                recorder, str(server.endpoints[0]), options=options
            )
            try:
                assert [await seen.get(), await seen.get()] == [want, want]
            finally:
                transport.close()


async def test_a_wrapped_socket_gets_no_delay() -> None:
    """``wrap_socket`` over a TCP socket made without it turns it on."""
    with socket.create_server(("127.0.0.1", 0)) as listener:
        client = socket.create_connection(listener.getsockname()[:2])
        peer, _ = listener.accept()
    with peer:
        assert not _no_delay(client)
        async with asyncio.timeout(TIMEOUT):
            stream = await aiosock.wrap_socket(client)
            async with stream:
                assert _no_delay(stream.socket)


class _Slotted(asyncio.Protocol):
    """A protocol whose methods cannot be replaced on the instance."""

    __slots__ = ()


async def test_a_slotted_protocol_gets_the_option_too() -> None:
    """For a protocol with ``__slots__`` the option holds once the call returns."""
    async with asyncio.timeout(TIMEOUT):
        server = await aiosock.serve_protocol(_Slotted, "tcp://127.0.0.1:0")
        async with server:
            transport, _ = await aiosock.connect_protocol(
                _Slotted, str(server.endpoints[0]), options={"no_delay": False}
            )
            try:
                assert not _no_delay(transport.get_extra_info("socket"))
            finally:
                transport.close()
