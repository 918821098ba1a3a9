"""Cancelling a receive or a send: nothing read is lost, no other sender is touched."""

from __future__ import annotations

import asyncio
import socket

import pytest

import aiosock

from .streams_helpers import served_pairs


async def _until_it_waits(fut: asyncio.Future[bytes] | asyncio.Task[bytes]) -> None:
    """Let ``fut`` run until it waits for data (a bounded number of loop turns)."""
    for _ in range(20):
        await asyncio.sleep(0)
    assert not fut.done()


async def test_receive_until_cancelled_keeps_what_it_read(
    pair: tuple[aiosock.Stream, aiosock.Stream],
) -> None:
    """A timeout in receive_until puts the partial record back for the next call."""
    a, b = pair
    await b.send(b"par")
    waiting = asyncio.ensure_future(a.receive_until(b"\n"))
    await _until_it_waits(waiting)
    waiting.cancel()
    with pytest.raises(asyncio.CancelledError):
        await waiting
    await b.send(b"tial\nnext\n")
    async with asyncio.timeout(5):
        assert await a.receive_until(b"\n") == b"partial\n"
        assert await a.receive_until(b"\n") == b"next\n"


async def test_receive_until_timeout_keeps_what_it_read(
    pair: tuple[aiosock.Stream, aiosock.Stream],
) -> None:
    """The same through asyncio.timeout, over several chunks."""
    a, b = pair
    await b.send(b"ab")
    reached = asyncio.Event()

    async def partial() -> bytes:
        async with asyncio.timeout(5):
            await reached.wait()
        async with asyncio.timeout(0):
            return await a.receive_until(b"\n")

    got = asyncio.ensure_future(partial())
    # The first chunk is read at once; the second arrives before the timeout
    # task runs: both come back.
    reached.set()
    with pytest.raises(TimeoutError):
        await got
    await b.send(b"c\n")
    async with asyncio.timeout(5):
        assert await a.receive_until(b"\n") == b"abc\n"


async def _first_chunk(stream: aiosock.Stream) -> bytes:
    async for chunk in stream:
        return chunk
    return b""


@pytest.mark.parametrize("receive", ["receive", "iterate"])
async def test_receive_cancelled_after_its_data_came_keeps_it(
    pair: tuple[aiosock.Stream, aiosock.Stream], receive: str
) -> None:
    """Data handed to a receive whose task is then cancelled before it runs stays.

    The window between ``data_received`` completing the receive and the task
    running again, opened here on purpose: the data is delivered by hand and
    the task cancelled in the same step. For ``receive()`` and for iteration.
    """
    a, _b = pair
    task = asyncio.ensure_future(
        a.receive() if receive == "receive" else _first_chunk(a)
    )
    await _until_it_waits(task)
    a.data_received(b"in flight")
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    async with asyncio.timeout(5):
        assert await a.receive() == b"in flight"


async def test_receive_exactly_cancelled_keeps_what_it_read(
    pair: tuple[aiosock.Stream, aiosock.Stream],
) -> None:
    """A cancelled receive_exactly puts the bytes it had back; nothing hangs later."""
    a, b = pair
    await b.send(b"ab")
    waiting = asyncio.ensure_future(a.receive_exactly(4))
    await _until_it_waits(waiting)
    waiting.cancel()
    with pytest.raises(asyncio.CancelledError):
        await waiting
    await b.send(b"cdef")
    async with asyncio.timeout(5):
        assert await a.receive_exactly(4) == b"abcd"
        assert await a.receive_exactly(2) == b"ef"


async def test_receive_exactly_closed_meanwhile_keeps_the_data(
    pair: tuple[aiosock.Stream, aiosock.Stream],
) -> None:
    """Broken mid-read: the partial bytes are still received before the error."""
    a, b = pair
    await b.send(b"xy")
    waiting = asyncio.ensure_future(a.receive_exactly(4))
    await _until_it_waits(waiting)
    b.abort()
    async with asyncio.timeout(5):
        with pytest.raises(aiosock.IncompleteReadError) as info:
            await waiting
    assert info.value.partial == b"xy"


async def test_driven_handler_timeout_in_receive_until_loses_nothing() -> None:
    """In a served (driven) handler, a timed-out receive_until keeps its bytes."""
    results: asyncio.Queue[bytes | str] = asyncio.Queue()

    async def handler(stream: aiosock.Stream) -> None:
        try:
            async with asyncio.timeout(0.05):
                await stream.receive_until(b"\n")
            await results.put("no timeout")
        except TimeoutError:
            await results.put("timeout")
        await results.put(await stream.receive_until(b"\n"))

    async with await aiosock.serve(handler, "tcp://127.0.0.1:0") as server:
        client = await aiosock.connect(server.endpoints[0], timeout=5)
        async with client, asyncio.timeout(5):
            await client.send(b"half")
            assert await results.get() == "timeout"
            await client.send(b" and half\n")
            assert await results.get() == b"half and half\n"


# -- senders waiting for the peer ----------------------------------------------------


async def _fill(stream: aiosock.Stream) -> None:
    """Send until a send has to wait for the peer (bounded: 256 MiB at most)."""
    chunk = b"z" * 65536
    for _ in range(4096):
        fut = stream.send(chunk)
        if not fut.done():
            return
    raise AssertionError("send() never waited for the peer")


async def test_cancelling_one_waiting_sender_leaves_the_others() -> None:
    """Two tasks wait in send(); cancelling one must not cancel the other."""
    async with served_pairs("tcp://127.0.0.1:0") as (_server, make_pair):
        client, served = await make_pair()
        try:
            await _fill(client)
            first = asyncio.ensure_future(client.send(b"1" * 1000))
            second = asyncio.ensure_future(client.send(b"2" * 1000))
            await asyncio.sleep(0)
            assert not first.done()
            assert not second.done()
            first.cancel()
            with pytest.raises(asyncio.CancelledError):
                await first
            assert not second.done()
            # A sender arriving now waits too (not a cancelled future).
            third = client.send(b"3")
            assert not third.done()

            async def drain() -> None:
                while await served.receive():
                    pass

            reading = asyncio.ensure_future(drain())
            async with asyncio.timeout(20):
                await second
                await third
            assert not second.cancelled()
            assert not third.cancelled()
            reading.cancel()
        finally:
            client.abort()


async def test_a_timed_out_send_leaves_the_other_senders() -> None:
    """asyncio.wait_for around one send times out that send only."""
    left, right = socket.socketpair()  # ``right`` is read only at the end
    client = await aiosock.wrap_socket(left)
    try:
        await _fill(client)
        other = asyncio.ensure_future(client.send(b"o"))
        for _ in range(100):  # bounded: a sender that keeps timing out
            with pytest.raises(TimeoutError):
                await asyncio.wait_for(client.send(b"t"), 0)
        assert not other.done()
        # Those given up on are not kept (the pending one from _fill, ``other``
        # and the last one at most).
        drain = client._drain
        assert drain is not None
        assert len(drain._waiters) <= 3

        right.setblocking(False)
        loop = asyncio.get_running_loop()

        async def reader() -> None:
            while await loop.sock_recv(right, 1 << 20):
                pass

        reading = asyncio.ensure_future(reader())
        async with asyncio.timeout(20):
            await other
        reading.cancel()
    finally:
        client.abort()
        right.close()


async def test_waiting_senders_fail_together_on_reset() -> None:
    """Every waiting sender gets BrokenResourceError when the peer resets."""
    async with served_pairs("tcp://127.0.0.1:0") as (_server, make_pair):
        client, served = await make_pair()
        await _fill(client)
        senders = [asyncio.ensure_future(client.send(b"s")) for _ in range(3)]
        await asyncio.sleep(0)
        served.abort()
        async with asyncio.timeout(5):
            for sender in senders:
                with pytest.raises(aiosock.BrokenResourceError):
                    await sender
        client.abort()
