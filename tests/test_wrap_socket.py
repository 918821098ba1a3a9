"""wrap_socket: a connected stream socket becomes a Stream; anything else is refused."""

from __future__ import annotations

import asyncio
import errno
import socket

import pytest

import aiosock


async def test_a_connected_socket_becomes_a_stream() -> None:
    """Both ends of a socketpair, wrapped, talk to each other."""
    left, right = socket.socketpair()
    a = await aiosock.wrap_socket(left)
    b = await aiosock.wrap_socket(right)
    async with a, b, asyncio.timeout(5):
        await a.send(b"ping")
        assert await b.receive_exactly(4) == b"ping"


async def test_a_listening_socket_is_refused_and_stays_open() -> None:
    """A listening socket would make a stream whose receive never ends."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        with pytest.raises(ValueError, match="got a listening one"):
            await aiosock.wrap_socket(listener)
        assert listener.fileno() >= 0
        assert listener.getblocking()


@pytest.mark.parametrize("family", [socket.AF_INET, socket.AF_UNIX])
async def test_an_unconnected_socket_is_refused(family: int) -> None:
    """An unconnected stream socket is ENOTCONN at once, not a broken stream later."""
    with socket.socket(family, socket.SOCK_STREAM) as sock:
        with pytest.raises(OSError, match="is not connected") as info:
            await aiosock.wrap_socket(sock)
        assert info.value.errno == errno.ENOTCONN
        assert sock.fileno() >= 0


@pytest.mark.parametrize("kind", [socket.SOCK_DGRAM, socket.SOCK_SEQPACKET])
async def test_a_socket_of_another_kind_is_refused(kind: int) -> None:
    """Datagram and sequenced-packet sockets are not byte streams."""
    left, right = socket.socketpair(socket.AF_UNIX, kind)
    with left, right:
        with pytest.raises(ValueError, match="expected a stream socket"):
            await aiosock.wrap_socket(left)
        assert left.fileno() >= 0
