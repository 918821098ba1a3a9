"""Senders waiting for a transport's write buffer to drain: a future each.

A send that finds the buffer over its high-water mark returns a future that
completes when the transport calls ``resume_writing``. Every waiting sender has
its own: with one shared future, cancelling one sender (its task cancelled, a
timeout around its ``send``) would cancel the future the others wait on, and a
sender arriving after that would find it cancelled too.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Callable

    from ._stream import Stream

__all__ = ["Drain", "flush"]


class Drain:
    """The senders of one transport waiting for its write buffer to drain."""

    __slots__ = ("_waiters",)

    def __init__(self) -> None:
        self._waiters: list[asyncio.Future[None]] = []

    def wait(self, future: asyncio.Future[None]) -> asyncio.Future[None]:
        """Add ``future`` (new, of the caller's own) to the waiters; return it.

        Waiters given up on (cancelled) are dropped here, so a sender that
        keeps timing out while the peer reads nothing holds no memory.
        """
        waiters = self._waiters
        if waiters:
            waiters[:] = [waiter for waiter in waiters if not waiter.done()]
        waiters.append(future)
        return future

    def release(self, error: Callable[[], BaseException] | None = None) -> None:
        """Complete every waiter: with ``None``, or raising what ``error()`` makes.

        An exception each: one instance raised in several tasks would collect
        all their tracebacks.
        """
        waiters, self._waiters = self._waiters, []
        for waiter in waiters:
            if waiter.done():
                continue
            if error is None:
                waiter.set_result(None)
            else:
                waiter.set_exception(error())
                waiter.exception()  # retrieved: its sender may have gone


async def flush(stream: Stream) -> None:
    """Wait until ``stream``'s transport has handed its whole write buffer over.

    For what must go after every byte already sent (descriptors, an urgent
    byte). Returns early if the transport is closing.
    """
    transport = stream.transport
    while transport.get_write_buffer_size() and not transport.is_closing():
        low, high = transport.get_write_buffer_limits()
        # Limits of 0 make the transport call resume_writing() once it is empty.
        transport.set_write_buffer_limits(high=0, low=0)
        try:
            await stream._drain_waiter()
        finally:
            if not transport.is_closing():
                transport.set_write_buffer_limits(high=high, low=low)
