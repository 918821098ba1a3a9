"""Waiting for a socket to become readable or writable, on either loop.

Strategy: sockets without a transport (sequenced packets, raw sockets, descriptor
passing) are driven by the task that uses them: it tries the system call on the
non-blocking socket and, on ``EAGAIN``, waits here. The wait is ``add_reader`` /
``add_writer`` (both loops have them; uvloop lacks ``sock_recvfrom`` and
``sock_sendto``), registered only while somebody waits and removed as soon as the
descriptor is ready, so an idle socket costs the loop nothing.

Because the data is taken by the waiting task itself after it wakes, never by the
callback, a wait can be cancelled at any point without losing anything: what was
not read stays in the kernel for the next call.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from .._foundation._errors import ClosedResourceError

__all__ = ["FdWatcher"]


class FdWatcher:
    """Readiness waits on one descriptor, for any number of tasks.

    Every task waiting for the same direction is woken by one readiness event;
    each then retries its system call. :meth:`close` wakes every waiter with an
    exception and removes the descriptor from the loop (call it before closing
    the descriptor).

    Args:
        loop: The loop to wait on.
        fd: The descriptor (it is not owned: closing it is the caller's job).
    """

    __slots__ = ("_closed", "_exc", "_fd", "_loop", "_readers", "_writers")

    def __init__(self, loop: asyncio.AbstractEventLoop, fd: int) -> None:
        self._loop = loop
        self._fd = fd
        self._readers: list[asyncio.Future[None]] = []
        self._writers: list[asyncio.Future[None]] = []
        self._closed = False
        self._exc: Callable[[], BaseException] = lambda: ClosedResourceError(
            "the socket was closed"
        )

    @property
    def fd(self) -> int:
        """The descriptor watched."""
        return self._fd

    async def readable(self) -> None:
        """Wait until the descriptor is readable (or has an error or hang-up).

        Raises:
            ClosedResourceError: :meth:`close` was called (or is, while waiting).
        """
        await self._wait(self._readers, reading=True)

    async def writable(self) -> None:
        """Wait until the descriptor is writable (or has an error or hang-up).

        Raises:
            ClosedResourceError: :meth:`close` was called (or is, while waiting).
        """
        await self._wait(self._writers, reading=False)

    async def _wait(
        self, waiters: list[asyncio.Future[None]], *, reading: bool
    ) -> None:
        if self._closed:
            raise self._exc()
        fut = self._loop.create_future()
        if not waiters:
            if reading:
                self._loop.add_reader(self._fd, self._wake, self._readers, True)
            else:
                self._loop.add_writer(self._fd, self._wake, self._writers, False)
        waiters.append(fut)
        try:
            await fut
        finally:
            if fut in waiters:
                waiters.remove(fut)
                if not waiters and not self._closed:
                    self._remove(reading=reading)

    def _remove(self, *, reading: bool) -> None:
        if reading:
            self._loop.remove_reader(self._fd)
        else:
            self._loop.remove_writer(self._fd)

    def _wake(self, waiters: list[asyncio.Future[None]], reading: bool) -> None:
        self._remove(reading=reading)
        ready = list(waiters)
        waiters.clear()
        for fut in ready:
            if not fut.done():
                fut.set_result(None)

    def close(self, exc: Callable[[], BaseException] | None = None) -> None:
        """Stop watching; every waiter gets ``exc()`` (``ClosedResourceError``).

        Idempotent. Call it before the descriptor is closed.
        """
        if self._closed:
            return
        self._closed = True
        if exc is not None:
            self._exc = exc
        for waiters, reading in ((self._readers, True), (self._writers, False)):
            if waiters:
                self._remove(reading=reading)
            pending = list(waiters)
            waiters.clear()
            for fut in pending:
                if not fut.done():
                    fut.set_exception(self._exc())
                    fut.exception()  # the waiter may have gone: mark it retrieved
