"""A connection's names outlive it: addresses after a reset, and in the server's log."""

from __future__ import annotations

import asyncio
import logging
import socket
import struct
from pathlib import Path

import pytest

import aiosock

from .streams_helpers import served_pairs


def _reset(sock: socket.socket) -> None:
    """Close ``sock`` with an RST (SO_LINGER 0)."""
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    sock.close()


async def _receive_to_the_end(stream: aiosock.Stream) -> None:
    while await stream.receive():
        pass


async def test_tcp_addresses_after_the_peer_reset() -> None:
    """local_address and peer_address still answer once the connection is lost."""
    async with served_pairs("tcp://127.0.0.1:0") as (_server, make_pair):
        client, served = await make_pair()
        client_local = client.local_address
        client.abort()  # an RST
        async with asyncio.timeout(5):
            with pytest.raises(aiosock.BrokenResourceError):
                await _receive_to_the_end(served)
        assert served.peer_address == client_local
        assert served.local_address == client.peer_address
        assert served.family == socket.AF_INET
        assert str(client_local) in repr(served)


async def test_unix_addresses_after_the_peer_closed(short_tmp: Path) -> None:
    """The same over a Unix socket file (the client end is unnamed)."""
    path = short_tmp / "s.sock"
    async with served_pairs(f"unix:{path}") as (_server, make_pair):
        client, served = await make_pair()
        await client.aclose()
        async with asyncio.timeout(5):
            assert await served.receive() == b""
        await served.aclose()
        assert served.local_address == aiosock.LocalAddress(str(path))
        assert served.peer_address == aiosock.LocalAddress("")
        assert served.family == socket.AF_UNIX


async def test_client_that_resets_at_once_is_logged_with_its_address(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A peer gone before its handler ran is still named in the log (from accept)."""
    done = asyncio.Event()

    async def handler(stream: aiosock.Stream) -> None:
        try:
            async for _chunk in stream:
                pass
        finally:
            done.set()

    caplog.set_level(logging.INFO, logger="aiosock.server")
    async with await aiosock.serve(handler, "tcp://127.0.0.1:0") as server:
        address = server.endpoints[0].address
        assert isinstance(address, aiosock.InetAddress)
        raw = socket.create_connection((address.host, address.port), timeout=5)
        where = raw.getsockname()
        _reset(raw)
        async with asyncio.timeout(5):
            await done.wait()
    messages = [r.getMessage() for r in caplog.records if r.name == "aiosock.server"]
    assert any(f"{where[0]}:{where[1]}" in m for m in messages), messages
    assert not any("(unknown)" in m for m in messages), messages
