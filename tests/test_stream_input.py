"""What a stream takes and gives back: buffers the caller reuses, sizes that are
not integers, use after the connection was lost.

Each fixes a way bad or surprising input corrupted data or the stream's state,
on one loop or both.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

import aiosock
from aiosock import Namespace

NAMESPACES = [Namespace.LOCAL, Namespace.INET]

#: More than a loopback socket takes at once: the transport keeps the rest.
BIG = 4 * 1024 * 1024


@pytest.mark.parametrize("namespace", NAMESPACES)
@pytest.mark.parametrize("kind", ["bytearray", "memoryview"])
async def test_a_buffer_changed_after_send_does_not_change_what_is_sent(
    namespace: Namespace, kind: str
) -> None:
    """send() hands over the bytes the caller had when it called it."""
    a, b = await aiosock.stream_pair(namespace)
    async with a, b:
        buf = bytearray(b"A" * BIG)
        sending = a.send(buf if kind == "bytearray" else memoryview(buf))
        buf[:] = b"B" * BIG  # at once, before anything was awaited
        buf.extend(b"more")  # and it may be resized (no export left behind)
        async with asyncio.timeout(10):
            received, _ = await asyncio.gather(b.receive_exactly(BIG), sending)
    assert received.count(b"A") == BIG


@pytest.mark.parametrize("namespace", NAMESPACES)
async def test_one_buffer_refilled_between_sends(namespace: Namespace) -> None:
    """The usual pattern: refill one buffer, send it, again (1,000 times)."""
    a, b = await aiosock.stream_pair(namespace)
    size, count = 1024, 1000
    async with a, b:

        async def sender() -> None:
            buf = bytearray(size)
            for i in range(count):
                buf[:] = bytes([i % 251]) * size
                await a.send(buf)

        async with asyncio.timeout(10):
            _, data = await asyncio.gather(sender(), b.receive_exactly(size * count))
    for i in range(count):
        assert data[i * size : (i + 1) * size] == bytes([i % 251]) * size, i


@pytest.mark.parametrize("value", [None, "", "text", 0, 3, [], {}])
async def test_send_refuses_what_is_not_bytes_like(value: Any) -> None:
    """A TypeError on both loops (uvloop's transport took None, "" and 0 silently)."""
    a, b = await aiosock.stream_pair()
    async with a, b, asyncio.timeout(5):
        with pytest.raises(TypeError):
            await a.send(value)
        await a.send(b"still open")
        assert await b.receive_exactly(10) == b"still open"


@pytest.mark.parametrize("value", [1.5, "4", None])
async def test_receive_sizes_must_be_integers(value: Any) -> None:
    """receive(1.5) and the others: a TypeError naming it, the data left in place.

    With data buffered it was lost; with none, the transport's callback
    failed, the connection died and the receive never returned.
    """
    a, b = await aiosock.stream_pair()
    async with a, b, asyncio.timeout(5):
        with pytest.raises(TypeError, match="'max_bytes' must be an integer"):
            await b.receive(value)
        await a.send(b"hello\n")
        assert await b.receive(1) == b"h"  # (now buffered)
        with pytest.raises(TypeError, match="'max_bytes' must be an integer"):
            await b.receive(value)
        with pytest.raises(TypeError, match="'n' must be an integer"):
            await b.receive_exactly(value)
        with pytest.raises(TypeError, match="'max_bytes' must be an integer"):
            await b.receive_until(b"\n", max_bytes=value)
        assert await b.receive_until(b"\n") == b"ello\n"
        assert not b.is_closing


@pytest.mark.parametrize("max_bytes", [0, -1])
async def test_receive_until_with_no_room_leaves_the_stream_as_it_was(
    max_bytes: int,
) -> None:
    """receive_until(max_bytes=0) is a ValueError; no false end of stream follows."""
    a, b = await aiosock.stream_pair()
    async with a, b, asyncio.timeout(5):
        await a.send(b"hello")
        with pytest.raises(ValueError, match="'max_bytes' must be at least 1"):
            await b.receive_until(b"\n", max_bytes=max_bytes)
        assert await b.receive() == b"hello"


async def test_after_a_reset_everything_says_broken() -> None:
    """send_eof, socket and options after a reset: BrokenResourceError, not silence."""
    a, b = await aiosock.stream_pair(Namespace.INET)
    async with b, asyncio.timeout(5):
        a.abort()  # the peer resets
        with pytest.raises(aiosock.BrokenResourceError):
            await b.receive()
        with pytest.raises(aiosock.BrokenResourceError):
            await b.send(b"x")
        with pytest.raises(aiosock.BrokenResourceError):
            await b.send_eof()
        with pytest.raises(aiosock.BrokenResourceError):
            _ = b.socket
        with pytest.raises(aiosock.BrokenResourceError):
            _ = b.options
    # After this side closed, it is ClosedResourceError.
    with pytest.raises(aiosock.ClosedResourceError):
        _ = b.socket
    with pytest.raises(aiosock.ClosedResourceError):
        await b.send_eof()


@pytest.mark.parametrize("namespace", NAMESPACES)
async def test_repr_is_the_same_on_both_loops(namespace: Namespace) -> None:
    """<Stream local <-> peer state>, whatever flavour the loop gets."""
    a, b = await aiosock.stream_pair(namespace)
    async with a, b:
        assert repr(a) == f"<Stream {a.local_address} <-> {a.peer_address} open>"
    assert repr(a).endswith(" closed>")
    assert repr(a).startswith("<Stream ")
