"""Out-of-band data: send_urgent / receive_urgent on TCP and Unix streams."""

from __future__ import annotations

import asyncio
import socket

import pytest

import aiosock

from .streams_helpers import served_pairs


@pytest.fixture(params=["tcp://127.0.0.1:0", "tcp://[::1]:0", "unix:@aiosock-oob"])
def endpoint(request: pytest.FixtureRequest) -> str:
    """Each stream namespace that has urgent data on Linux."""
    if "::1" in request.param:
        request.getfixturevalue("ipv6")
    return str(request.param)


async def test_urgent_byte_arrives_apart_from_normal_data(endpoint: str) -> None:
    """An urgent byte is received by receive_urgent, not in the normal data."""
    async with served_pairs(endpoint) as (_server, make_pair):
        client, served = await make_pair()
        urgent = served.receive_urgent()
        await client.send(b"before")
        await client.send_urgent(b"!")
        await client.send(b"after")
        async with asyncio.timeout(10):
            assert await urgent == b"!"
            assert await served.receive_exactly(11) == b"beforeafter"
        await client.aclose()


async def test_urgent_bytes_are_queued() -> None:
    """Urgent bytes read apart from each other are all delivered, in order."""
    a, b = await aiosock.stream_pair()
    first = b.receive_urgent()
    for i, byte in enumerate((b"1", b"2", b"3")):
        await a.send_urgent(byte)
        await a.send(b"n")
        assert await b.receive_exactly(1) == b"n", i
    async with asyncio.timeout(10):
        assert await first == b"1"
        assert await b.receive_urgent() == b"2"
        assert await b.receive_urgent() == b"3"
    await a.aclose()
    await b.aclose()


async def test_urgent_byte_at_the_head_of_the_queue() -> None:
    """An urgent byte followed at once by normal data is still taken out."""
    a, b = await aiosock.stream_pair()
    urgent = b.receive_urgent()
    await a.send_urgent(0x2A)
    await a.send(b"x")
    async with asyncio.timeout(10):
        assert await b.receive(1) == b"x"
        assert await urgent == b"*"
    await a.aclose()
    await b.aclose()


async def test_urgent_after_buffered_data_keeps_order() -> None:
    """send_urgent waits for buffered normal data, so the mark follows it."""
    async with served_pairs("tcp://127.0.0.1:0") as (_server, make_pair):
        client, served = await make_pair()
        big = b"n" * (4 * 1024 * 1024)
        urgent_received = served.receive_urgent()
        sender = asyncio.ensure_future(client.send(big))
        urgent = asyncio.ensure_future(client.send_urgent(b"U"))
        async with asyncio.timeout(20):
            got = await served.receive_exactly(len(big))
            assert got == big
            assert await urgent_received == b"U"
            await sender
            await urgent
        await client.aclose()


async def test_receive_urgent_waiter_woken_by_close() -> None:
    """Closing a stream wakes a task waiting for urgent data."""
    a, b = await aiosock.stream_pair()
    waiter = asyncio.ensure_future(b.receive_urgent())
    await asyncio.sleep(0)
    await b.aclose()
    with pytest.raises(aiosock.ClosedResourceError):
        async with asyncio.timeout(10):
            await waiter
    await a.aclose()


async def test_send_urgent_rejects_bad_values() -> None:
    """send_urgent takes exactly one byte."""
    a, b = await aiosock.stream_pair()
    for bad in (b"", b"ab", 256, -1):
        with pytest.raises(ValueError, match="byte"):
            await a.send_urgent(bad)  # type: ignore[arg-type]
    await a.aclose()
    with pytest.raises(aiosock.ClosedResourceError):
        await a.send_urgent(b"!")
    await b.aclose()


def test_at_mark_is_siocatmark() -> None:
    """at_mark is false before the mark and true once the data before it is read."""
    from aiosock._highlevel._urgent import at_mark

    a, b = socket.socketpair()
    with a, b:
        a.send(b"ab")
        a.send(b"!", socket.MSG_OOB)
        assert at_mark(b) is False
        assert b.recv(10) == b"ab"
        assert at_mark(b) is True
        assert b.recv(1, socket.MSG_OOB) == b"!"


async def test_stream_at_urgent_mark() -> None:
    """Stream.at_urgent_mark asks the stream's own socket (nothing pending: false)."""
    a, b = await aiosock.stream_pair()
    assert b.at_urgent_mark() is False
    await a.aclose()
    await b.aclose()
