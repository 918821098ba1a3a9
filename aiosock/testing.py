"""Conformance checks for stream implementations, for aiosock's tests and yours.

:func:`check_stream` runs every check below against pairs of connected streams
made by a factory you give, so each kind of stream (TCP, Unix file, abstract,
socketpair, TLS, ...) is held to the same contract:

- bytes arrive in order and intact, in small and large pieces;
- large transfers both ways at once complete (flow control does not deadlock);
- half-close works each way: after ``send_eof`` the peer reads ``b""`` and can
  still send;
- an abort mid-transfer ends the peer's receive (``b""`` or
  :class:`~aiosock.BrokenResourceError`), never a hang;
- closing while another task waits in ``receive`` wakes it with
  :class:`~aiosock.ClosedResourceError`;
- a cancelled ``receive`` loses no data; two concurrent receivers are refused.

Each check is bounded in time (``timeout`` seconds).
"""

from __future__ import annotations

import asyncio
import hashlib
import os
from typing import TYPE_CHECKING, Protocol

from ._foundation._errors import (
    BrokenResourceError,
)
from ._packetchecks import (
    PacketStreamLike,
    cancellation,
    check_packet_stream,
    close_while_waiting,
    failure,
)

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

__all__ = ["PacketStreamLike", "StreamLike", "check_packet_stream", "check_stream"]


class StreamLike(Protocol):
    """What :func:`check_stream` needs of a stream."""

    def send(self, data: bytes | memoryview) -> Awaitable[None]:
        """Send all of ``data``."""

    def receive(self, max_bytes: int = ...) -> Awaitable[bytes]:
        """Receive some bytes; ``b""`` at end of stream."""

    def send_eof(self) -> Awaitable[None]:
        """Half-close."""

    async def aclose(self) -> None:
        """Close."""

    def abort(self) -> None:
        """Close at once."""


PairFactory = "Callable[[], Awaitable[tuple[StreamLike, StreamLike]]]"


async def _receive_all(stream: StreamLike) -> bytes:
    parts = []
    while data := await stream.receive():
        parts.append(data)
    return b"".join(parts)


async def _receive_n(stream: StreamLike, n: int) -> bytes:
    parts = bytearray()
    while len(parts) < n:
        data = await stream.receive()
        if not data:
            break
        parts += data
    return bytes(parts)


async def _ordered_bytes(a: StreamLike, b: StreamLike) -> None:
    expected = b"".join(i.to_bytes(4, "big") for i in range(5000))

    async def sender() -> None:
        for start in range(0, len(expected), 97):
            await a.send(expected[start : start + 97])

    _, got = await asyncio.gather(sender(), _receive_n(b, len(expected)))
    assert got == expected, "bytes arrived out of order or changed"


async def _both_ways(a: StreamLike, b: StreamLike, size: int) -> None:
    blob_a, blob_b = os.urandom(size), os.urandom(size)

    async def pump(src: StreamLike, blob: bytes) -> None:
        view = memoryview(blob)
        for start in range(0, len(blob), 65536):
            await src.send(view[start : start + 65536])

    results = await asyncio.gather(
        pump(a, blob_a), pump(b, blob_b), _receive_n(b, size), _receive_n(a, size)
    )
    got_b, got_a = results[2], results[3]
    assert hashlib.sha256(got_b).digest() == hashlib.sha256(blob_a).digest(), (
        f"a -> b: {len(got_b)} bytes arrived of {size}"
    )
    assert hashlib.sha256(got_a).digest() == hashlib.sha256(blob_b).digest(), (
        f"b -> a: {len(got_a)} bytes arrived of {size}"
    )


async def _half_close(a: StreamLike, b: StreamLike) -> None:
    await a.send(b"request")
    await a.send_eof()
    assert await _receive_all(b) == b"request"
    assert await b.receive() == b"", "receive after end of stream must give b''"
    await b.send(b"response")
    await b.send_eof()
    assert await _receive_all(a) == b"response"


async def _abort_mid_transfer(a: StreamLike, b: StreamLike) -> None:
    await a.send(b"x" * 1000)
    assert await b.receive(1) == b"x"
    a.abort()
    try:
        while await b.receive():
            pass
    except BrokenResourceError:
        pass
    try:
        for _ in range(100):
            await b.send(b"y" * 65536)
    except BrokenResourceError:
        return
    raise AssertionError("sending to an aborted peer never failed")


CHECKS: dict[str, Callable[[StreamLike, StreamLike], Awaitable[None]]] = {
    "ordered bytes": _ordered_bytes,
    "small both ways": lambda a, b: _both_ways(a, b, 100_000),
    "large both ways": lambda a, b: _both_ways(a, b, 4 * 1024 * 1024),
    "half-close a->b": _half_close,
    "half-close b->a": lambda a, b: _half_close(b, a),
    "abort mid-transfer": _abort_mid_transfer,
    "close while waiting": close_while_waiting,
    "cancellation": cancellation,
}


async def check_stream(
    make_pair: Callable[[], Awaitable[tuple[StreamLike, StreamLike]]],
    *,
    timeout: float = 30.0,
    skip: frozenset[str] = frozenset(),
) -> None:
    """Hold a kind of stream to aiosock's stream contract.

    Args:
        make_pair: An async callable returning two connected streams; called once
            per check.
        timeout: Seconds each check may take.
        skip: Names of checks (keys of ``CHECKS``) to leave out, for a stream kind
            that cannot have them; say why where you call this.

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
                f"stream check {name!r} failed: {failure(exc, deadline, timeout)}"
            ) from exc
        finally:
            a.abort()
            b.abort()
