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


async def test_send_urgent_after_send_eof_is_closed(endpoint: str) -> None:
    """After send_eof, send_urgent is refused as send is, and nothing is sent."""
    async with served_pairs(endpoint) as (_server, make_pair):
        client, served = await make_pair()
        urgent = served.receive_urgent()
        await client.send(b"data")
        await client.send_eof()
        with pytest.raises(aiosock.ClosedResourceError, match="send_eof"):
            await client.send_urgent(b"!")
        async with asyncio.timeout(5):
            assert b"".join([chunk async for chunk in served]) == b"data"
            assert await urgent == b""  # the end, not an urgent byte after it
        await client.aclose()


async def test_send_urgent_refused_while_waiting_for_the_buffer() -> None:
    """send_eof called while send_urgent waits for the write buffer: refused."""
    async with served_pairs("tcp://127.0.0.1:0") as (_server, make_pair):
        client, served = await make_pair()
        big = b"n" * (16 * 1024 * 1024)  # more than the kernel takes at once
        sender = asyncio.ensure_future(client.send(big))
        urgent_sent = asyncio.ensure_future(client.send_urgent(b"!"))
        await asyncio.sleep(0)
        assert client.transport.get_write_buffer_size() > 0
        assert not urgent_sent.done()
        await client.send_eof()
        async with asyncio.timeout(5):
            assert await served.receive_exactly(len(big)) == big
            with pytest.raises(aiosock.ClosedResourceError, match="send_eof"):
                await urgent_sent
            await sender
            assert await served.receive() == b""
        await client.aclose()


async def test_concurrent_send_urgent_restores_the_buffer_limits() -> None:
    """Two send_urgent calls waiting for the buffer leave its limits as they were."""
    async with served_pairs("tcp://127.0.0.1:0") as (_server, make_pair):
        client, served = await make_pair()
        limits = client.transport.get_write_buffer_limits()
        big = b"n" * (16 * 1024 * 1024)
        received = asyncio.ensure_future(served.receive_exactly(len(big)))
        urgent = served.receive_urgent()
        sender = asyncio.ensure_future(client.send(big))
        first = asyncio.ensure_future(client.send_urgent(b"1"))
        second = asyncio.ensure_future(client.send_urgent(b"2"))
        async with asyncio.timeout(5):
            await asyncio.gather(sender, first, second)
            assert await received == big
            # The first may have become normal data (TCP keeps one at a time),
            # but the last one sent is the urgent one.
            assert await urgent in (b"1", b"2")
        assert client.transport.get_write_buffer_limits() == limits
        await client.aclose()


async def test_receive_urgent_ends_when_the_peer_ends(endpoint: str) -> None:
    """A waiting receive_urgent, and every later one, gets b"" once the peer ends."""
    async with served_pairs(endpoint) as (_server, make_pair):
        client, served = await make_pair()
        waiting = asyncio.ensure_future(served.receive_urgent())
        await asyncio.sleep(0)
        await client.aclose()
        async with asyncio.timeout(5):
            assert await waiting == b""
            assert await served.receive_urgent() == b""
            assert await served.receive() == b""
            assert await served.receive_urgent() == b""


async def test_receive_urgent_ends_at_a_half_close_while_data_is_unread(
    endpoint: str,
) -> None:
    """The peer's send_eof ends receive_urgent, queued bytes first; sending goes on."""
    async with served_pairs(endpoint) as (_server, make_pair):
        client, served = await make_pair()
        first = served.receive_urgent()
        await client.send(b"before")
        await client.send_urgent(b"!")
        await client.send(b"after")
        await client.send_eof()
        async with asyncio.timeout(5):
            assert await first == b"!"
            assert await served.receive_urgent() == b""
            assert await served.receive_exactly(11) == b"beforeafter"
            assert await served.receive() == b""
            await served.send(b"answer")  # this side's direction is still open
            assert await client.receive_exactly(6) == b"answer"
        await client.aclose()


async def test_receive_urgent_first_called_after_the_end() -> None:
    """receive_urgent called for the first time after the end of stream: b""."""
    a, b = await aiosock.stream_pair()
    await a.send_eof()
    async with asyncio.timeout(5):
        assert await b.receive() == b""
        assert await b.receive_urgent() == b""
    await a.aclose()
    await b.aclose()


async def test_receive_urgent_after_a_reset_is_broken() -> None:
    """A peer's reset: a waiting and a later receive_urgent get BrokenResourceError."""
    async with served_pairs("tcp://127.0.0.1:0") as (_server, make_pair):
        client, served = await make_pair()
        waiting = asyncio.ensure_future(served.receive_urgent())
        await asyncio.sleep(0)
        client.abort()  # RST
        async with asyncio.timeout(5):
            with pytest.raises(aiosock.BrokenResourceError) as raised:
                await waiting
        assert isinstance(raised.value.__cause__, ConnectionResetError)
        with pytest.raises(aiosock.BrokenResourceError):
            await served.receive_urgent()
        with pytest.raises(aiosock.BrokenResourceError):
            await served.receive()


async def test_urgent_byte_reaches_a_receiver_blocked_behind_normal_data(
    endpoint: str,
) -> None:
    """The urgent byte comes at once while the normal data before it is unread.

    The stream stops reading once more than its high-water mark waits unread;
    then more normal data waits in the kernel, before the urgent byte.
    """
    from aiosock._highlevel._stream import READ_HIGH_WATER

    async with served_pairs(endpoint) as (_server, make_pair):
        client, served = await make_pair()
        urgent = served.receive_urgent()
        blocking = b"a" * (READ_HIGH_WATER + 1)
        before, after = b"b" * 10000, b"c" * 10000
        await client.send(blocking)
        await client.send(before)
        await client.send_urgent(b"!")
        await client.send(after)
        async with asyncio.timeout(5):
            assert await urgent == b"!"  # nothing read yet
            expected = blocking + before + after
            assert await served.receive_exactly(len(expected)) == expected
        await client.aclose()


async def test_at_urgent_mark_after_the_byte_was_taken(endpoint: str) -> None:
    """At the mark once the data before it is read (the byte taken apart), then not."""
    async with served_pairs(endpoint) as (_server, make_pair):
        client, served = await make_pair()
        urgent = served.receive_urgent()
        await client.send(b"ab")
        await client.send_urgent(b"!")
        async with asyncio.timeout(5):
            assert await urgent == b"!"
            assert await served.receive_exactly(2) == b"ab"
            assert served.at_urgent_mark() is True
            await client.send(b"cd")
            assert await served.receive_exactly(2) == b"cd"
            assert served.at_urgent_mark() is False
        await client.aclose()


async def test_a_cancelled_urgent_wait_gives_its_byte_back() -> None:
    """A byte handed to a wait whose task is cancelled before it runs is kept.

    The byte is delivered by hand and the task cancelled in the same step, so
    the window between the two is hit every time.
    """
    a, b = await aiosock.stream_pair()
    async with a, b, asyncio.timeout(10):
        waiting = asyncio.ensure_future(b.receive_urgent())
        for _ in range(20):  # let it start waiting (bounded turns)
            await asyncio.sleep(0)
        assert not waiting.done()
        b._urgent._deliver(b"!")
        waiting.cancel()
        with pytest.raises(asyncio.CancelledError):
            await waiting
        assert await b.receive_urgent() == b"!"


async def test_a_second_urgent_waiter_is_refused() -> None:
    """Two tasks waiting for urgent data at once: the second is BusyResourceError."""
    a, b = await aiosock.stream_pair()
    async with a, b, asyncio.timeout(10):
        first = asyncio.ensure_future(b.receive_urgent())
        for _ in range(20):  # let it start waiting (bounded turns)
            await asyncio.sleep(0)
        with pytest.raises(aiosock.BusyResourceError):
            await b.receive_urgent()
        await a.send_urgent(b"1")
        await a.send(b"n")
        assert await b.receive_exactly(1) == b"n"
        assert await first == b"1"


async def test_an_urgent_wait_cancelled_before_it_ran_leaves_it_free() -> None:
    """A wait cancelled before it ran: the next wait gets the byte."""
    a, b = await aiosock.stream_pair()
    async with a, b, asyncio.timeout(10):
        never = asyncio.ensure_future(b.receive_urgent())
        never.cancel()
        with pytest.raises(asyncio.CancelledError):
            await never
        await a.send_urgent(b"2")
        await a.send(b"n")
        assert await b.receive_exactly(1) == b"n"
        assert await b.receive_urgent() == b"2"
