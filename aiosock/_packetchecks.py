"""Conformance checks for record streams (sequenced packets), re-exported by testing.

:func:`check_packet_stream` is :func:`aiosock.testing.check_stream` for streams of
records (:class:`~aiosock.PacketStream` and anything shaped like it). It runs every
check below against pairs of connected streams made by a factory you give:

- records arrive in order, each whole and alone, small and large, both ways;
- a record longer than ``max_bytes`` is an error, not a truncation, and the
  stream goes on;
- a sender waits while the peer does not read (bounded memory), and a send
  cancelled while waiting sends nothing;
- half-close works each way; an abort ends the peer's receive and sends;
- closing while another task waits in ``receive`` wakes it with
  :class:`~aiosock.ClosedResourceError`;
- a cancelled ``receive`` loses no record; two concurrent receivers are refused.

Each check is bounded in time (``timeout`` seconds).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
from typing import TYPE_CHECKING, Protocol

from ._foundation._errors import (
    BrokenResourceError,
    BusyResourceError,
    ClosedResourceError,
    MessageTooLargeError,
)

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

__all__ = ["PacketStreamLike", "check_packet_stream", "failure"]

#: Records this large fit the default Unix-domain send buffer (208 KiB).
LARGE_RECORD = 150_000


class PacketStreamLike(Protocol):
    """What :func:`check_packet_stream` needs of a record stream."""

    async def send(self, record: bytes) -> None:
        """Send one record."""

    async def receive(self, max_bytes: int = ...) -> bytes:
        """Receive one record; ``b""`` at end of stream."""

    async def send_eof(self) -> None:
        """Half-close."""

    async def aclose(self) -> None:
        """Close."""

    def abort(self) -> None:
        """Close at once."""


def _record(i: int) -> bytes:
    """Record ``i``: its number, then a length that varies from 1 to 4 KiB."""
    return i.to_bytes(4, "big") + bytes([i % 251]) * ((i * 37) % 4096)


async def _receive_all(stream: PacketStreamLike) -> list[bytes]:
    records = []
    while record := await stream.receive():
        records.append(record)
    return records


async def _ordered_records(a: PacketStreamLike, b: PacketStreamLike) -> None:
    expected = [_record(i) for i in range(2000)]

    async def sender() -> None:
        for record in expected:
            await a.send(record)

    async def receiver() -> list[bytes]:
        return [await b.receive() for _ in expected]

    _, got = await asyncio.gather(sender(), receiver())
    for i, (want, have) in enumerate(zip(expected, got, strict=True)):
        assert have == want, f"record {i}: {len(have)} bytes, expected {len(want)}"


async def _large_both_ways(a: PacketStreamLike, b: PacketStreamLike) -> None:
    blobs_a = [os.urandom(LARGE_RECORD) for _ in range(8)]
    blobs_b = [os.urandom(LARGE_RECORD) for _ in range(8)]

    async def pump(src: PacketStreamLike, blobs: list[bytes]) -> None:
        for blob in blobs:
            await src.send(blob)

    async def drain(dst: PacketStreamLike, n: int) -> list[bytes]:
        return [await dst.receive() for _ in range(n)]

    results = await asyncio.gather(
        pump(a, blobs_a), pump(b, blobs_b), drain(b, 8), drain(a, 8)
    )
    assert results[2] == blobs_a, "a -> b: large records changed or were reordered"
    assert results[3] == blobs_b, "b -> a: large records changed or were reordered"


async def _too_large(a: PacketStreamLike, b: PacketStreamLike) -> None:
    await a.send(b"x" * 1000)
    await a.send(b"next")
    try:
        await b.receive(999)
    except MessageTooLargeError:
        pass
    else:
        raise AssertionError("a record longer than max_bytes must raise")
    assert await b.receive(999) == b"next", "the stream must go on after the error"


async def _backpressure(a: PacketStreamLike, b: PacketStreamLike) -> None:
    records = [_record(i) + bytes(1000) for i in range(3000)]

    async def sender() -> None:
        for record in records:
            await a.send(record)

    task = asyncio.ensure_future(sender())
    for _ in range(200):
        await asyncio.sleep(0)
    try:
        assert not task.done(), "3 MB of records were sent to a peer that never read"
        got = [await b.receive() for _ in records]
        await task
    finally:
        task.cancel()
    assert got == records, "records changed or were reordered under backpressure"


async def _cancelled_send(a: PacketStreamLike, b: PacketStreamLike) -> None:
    sent = 0
    while True:  # fill the peer's queue until a send has to wait
        waiting = asyncio.ensure_future(a.send(_record(sent)))
        for _ in range(3):
            await asyncio.sleep(0)
        if not waiting.done():
            break
        await waiting
        sent += 1
        assert sent < 100_000, "the peer's queue never filled"
    waiting.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await waiting
    after = asyncio.ensure_future(a.send(b"after"))
    try:
        got = [await b.receive() for _ in range(sent + 1)]
        await after
    finally:
        after.cancel()
    assert got[:sent] == [_record(i) for i in range(sent)]
    assert got[sent] == b"after", "a cancelled send must send nothing"


async def _half_close(a: PacketStreamLike, b: PacketStreamLike) -> None:
    await a.send(b"request")
    await a.send(b"more")
    await a.send_eof()
    assert await _receive_all(b) == [b"request", b"more"]
    assert await b.receive() == b"", "receive after end of stream must give b''"
    await b.send(b"response")
    await b.send_eof()
    assert await _receive_all(a) == [b"response"]


async def _abort(a: PacketStreamLike, b: PacketStreamLike) -> None:
    for i in range(10):
        await a.send(_record(i))
    assert await b.receive() == _record(0)
    a.abort()
    try:
        while await b.receive():
            pass
    except BrokenResourceError:
        pass
    try:
        await b.send(b"to nobody")
    except BrokenResourceError:
        return
    raise AssertionError("sending to an aborted peer must raise BrokenResourceError")


class _Channel(Protocol):
    """What the checks shared by streams and record streams need."""

    def send(self, data: bytes, /) -> Awaitable[None]:
        """Send bytes or a record."""

    def receive(self) -> Awaitable[bytes]:
        """Receive some bytes or one record."""

    def aclose(self) -> Awaitable[None]:
        """Close."""


async def close_while_waiting(a: _Channel, b: _Channel) -> None:
    """A receive waiting during ``aclose()`` raises, and so does a later send."""
    waiter = asyncio.ensure_future(b.receive())
    await asyncio.sleep(0)
    assert not waiter.done()
    await b.aclose()
    try:
        await waiter
    except ClosedResourceError:
        pass
    else:
        raise AssertionError("a receive waiting during aclose() must raise")
    try:
        await b.send(b"late")
    except ClosedResourceError:
        pass
    else:
        raise AssertionError("send after aclose() must raise ClosedResourceError")


async def cancellation(a: _Channel, b: _Channel) -> None:
    """A cancelled receive loses nothing; two receivers at once are refused."""
    waiter = asyncio.ensure_future(b.receive())
    await asyncio.sleep(0)
    waiter.cancel()
    await a.send(b"kept")
    try:
        await waiter
    except asyncio.CancelledError:
        pass
    else:
        raise AssertionError("the cancelled receive completed")
    assert await b.receive() == b"kept", "what came after a cancelled receive was lost"
    first = asyncio.ensure_future(b.receive())
    await asyncio.sleep(0)
    try:
        await b.receive()
    except BusyResourceError:
        pass
    else:
        raise AssertionError("a second concurrent receive must raise")
    await a.send(b"!")
    assert await first == b"!"


def failure(exc: Exception, deadline: asyncio.Timeout, timeout: float) -> str:
    """Say what made a check fail: its own timeout, or the exception raised."""
    if isinstance(exc, TimeoutError) and deadline.expired():
        return f"it did not finish within {timeout} s"
    if isinstance(exc, AssertionError):
        return repr(exc)
    text = str(exc)
    return f"it raised {type(exc).__qualname__}" + (f": {text}" if text else "")


CHECKS: dict[str, Callable[[PacketStreamLike, PacketStreamLike], Awaitable[None]]] = {
    "ordered records": _ordered_records,
    "large records both ways": _large_both_ways,
    "record too large": _too_large,
    "backpressure": _backpressure,
    "cancelled send": _cancelled_send,
    "half-close a->b": _half_close,
    "half-close b->a": lambda a, b: _half_close(b, a),
    "abort": _abort,
    "close while waiting": close_while_waiting,
    "cancellation": cancellation,
}


async def check_packet_stream(
    make_pair: Callable[[], Awaitable[tuple[PacketStreamLike, PacketStreamLike]]],
    *,
    timeout: float = 30.0,
    skip: frozenset[str] = frozenset(),
) -> None:
    """Hold a kind of record stream to aiosock's sequenced-packet contract.

    Args:
        make_pair: An async callable returning two connected record streams;
            called once per check.
        timeout: Seconds each check may take.
        skip: Names of checks (keys of ``CHECKS``) to leave out; say why where
            you call this.

    Raises:
        AssertionError: A check failed; the message names it and what went
            wrong. Any exception a check or the streams raise (not only a failed
            assertion or the timeout) counts as the check failing and is chained
            as the cause; a cancellation is not a failure and passes through.
    """
    for name, check in CHECKS.items():
        if name in skip:
            continue
        a, b = await make_pair()
        try:
            async with asyncio.timeout(timeout) as deadline:
                await check(a, b)
        except Exception as exc:
            raise AssertionError(
                f"packet check {name!r} failed: {failure(exc, deadline, timeout)}"
            ) from exc
        finally:
            a.abort()
            b.abort()
