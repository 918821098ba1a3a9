"""Standard input and output for the netcat-like commands, off the event loop.

Strategy: reading a terminal, a pipe or a file may block, so each descriptor is
served by its own *daemon* thread that hands chunks to (or takes them from) the
loop; nothing joins these threads. The loop's default executor would do the
blocking calls as well, but ``asyncio.run`` (and :func:`aiosock.run`) wait for
its threads when they shut down, so a command whose peer is gone, or that got
SIGINT, could not end until standard input next yielded data (or standard output
took it). The descriptors are left in blocking mode: standard input and output
are usually inherited, and their file description (with ``O_NONBLOCK``) is shared
with the shell.

Both directions keep back-pressure: :class:`InputReader` reads one chunk ahead of
what the loop has taken, and :meth:`OutputWriter.write` returns when its chunk is
written.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import queue
import select
import sys
import threading
from typing import TYPE_CHECKING, Any, TypeVar

from .._foundation._errors import AiosockError, BrokenResourceError
from ._netcat_report import no_peer

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

    from .._core._server import Server

__all__ = ["CHUNK", "InputReader", "OutputWriter", "copy_both_ways", "serve_one"]

#: A connection's stream: a Stream or a PacketStream.
S = TypeVar("S")

#: The most bytes read from standard input at once.
CHUNK = 65536


def _settle(future: asyncio.Future[None], error: BaseException | None) -> None:
    """Complete ``future`` (in the loop's thread) unless it was cancelled."""
    if future.done():
        return
    if error is None:
        future.set_result(None)
    else:
        future.set_exception(error)


class InputReader:
    """Read a descriptor in a daemon thread, one chunk ahead of the loop.

    Create it in the running loop, :meth:`read` chunks until ``b""`` (the end of
    input), and :meth:`close` it when done (at once, even while the thread waits
    for input: the thread waits in ``poll`` on the descriptor and a wake-up pipe,
    so a closed reader does not read, and lose, input it no longer wants).
    """

    def __init__(self, fd: int, chunk: int = CHUNK) -> None:
        self._fd = fd
        self._chunk = chunk
        self._loop = asyncio.get_running_loop()
        self._chunks: asyncio.Queue[bytes | OSError] = asyncio.Queue()
        # One credit: the thread reads a chunk only once the loop has taken the
        # previous one, so input is never read far ahead of the socket.
        self._credit = threading.Semaphore(1)
        self._closed = False
        self._wake_read, self._wake_write = os.pipe()
        thread = threading.Thread(
            target=self._run, name=f"aiosock-read-fd{fd}", daemon=True
        )
        try:
            thread.start()
        except BaseException:
            os.close(self._wake_read)
            os.close(self._wake_write)
            raise

    async def read(self) -> bytes:
        """Return the next chunk of input, or ``b""`` at its end.

        Raises:
            OSError: Reading the descriptor failed.
        """
        item = await self._chunks.get()
        if isinstance(item, OSError):
            self._chunks.put_nowait(item)  # every later read fails the same way
            raise item
        if item:
            self._credit.release()
        else:
            self._chunks.put_nowait(item)  # and the end stays the end
        return item

    def close(self) -> None:
        """Stop the thread without waiting for it (idempotent)."""
        if self._closed:
            return
        self._closed = True
        self._credit.release()
        # The thread's poll sees the write end's closing (POLLHUP) and returns;
        # the thread closes the read end on its way out.
        os.close(self._wake_write)

    def _deliver(self, item: bytes | OSError) -> bool:
        try:
            self._loop.call_soon_threadsafe(self._chunks.put_nowait, item)
        except RuntimeError:  # the loop is closed: nobody wants it any more
            return False
        return True

    def _run(self) -> None:
        try:
            poller = select.poll()
            poller.register(self._fd, select.POLLIN)
            poller.register(self._wake_read, select.POLLIN)
            while True:
                self._credit.acquire()
                if self._closed:
                    return
                ready = {fd for fd, _events in poller.poll()}
                if self._closed or self._wake_read in ready:
                    return
                try:
                    data = os.read(self._fd, self._chunk)
                except OSError as exc:
                    self._deliver(exc)
                    return
                if not self._deliver(data) or not data:
                    return
        finally:
            os.close(self._wake_read)


class OutputWriter:
    """Write to a descriptor from a daemon thread.

    Create it in the running loop, await :meth:`write` for each chunk, and
    :meth:`close` it when done. Closing does not wait: a write blocked on a full
    pipe is abandoned with its thread, which ends with the process.
    """

    def __init__(self, fd: int) -> None:
        self._fd = fd
        self._loop = asyncio.get_running_loop()
        self._jobs: queue.SimpleQueue[tuple[bytes, asyncio.Future[None]] | None] = (
            queue.SimpleQueue()
        )
        self._closed = False
        threading.Thread(
            target=self._run, name=f"aiosock-write-fd{fd}", daemon=True
        ).start()

    async def write(self, data: bytes) -> None:
        """Write all of ``data``; return once it is written.

        Raises:
            OSError: Writing failed (``BrokenPipeError`` once the reader is gone).
        """
        if self._closed:
            raise ValueError("write to a closed OutputWriter")
        done: asyncio.Future[None] = self._loop.create_future()
        self._jobs.put((data, done))
        await done

    def close(self) -> None:
        """Let the thread end once it has finished its current write (idempotent)."""
        if not self._closed:
            self._closed = True
            self._jobs.put(None)

    def _run(self) -> None:
        while (job := self._jobs.get()) is not None:
            data, done = job
            error: OSError | None = None
            view = memoryview(data)
            try:
                while view:
                    view = view[os.write(self._fd, view) :]
            except OSError as exc:
                error = exc
            with contextlib.suppress(RuntimeError):  # the loop is closed
                self._loop.call_soon_threadsafe(_settle, done, error)


async def copy_both_ways(
    upstream: Callable[[InputReader], Awaitable[None]],
    downstream: Callable[[OutputWriter], Awaitable[None]],
    stdin_fd: int = 0,
    stdout_fd: int = 1,
) -> None:
    """Run ``upstream`` (input to the peer) beside ``downstream`` (the peer to output).

    Ends when both have ended. ``downstream`` ends with the peer's data; then
    ``upstream`` is let finish (the peer may still read: half-close) unless the
    connection is gone altogether (``BrokenResourceError``). If ``downstream``
    fails, ``upstream`` is cancelled.
    """
    reader = InputReader(stdin_fd)
    writer = OutputWriter(stdout_fd)
    try:
        sending = asyncio.ensure_future(upstream(reader))
        try:
            await downstream(writer)
        except BaseException:
            sending.cancel()
            raise
        with contextlib.suppress(BrokenResourceError):
            await sending
    finally:
        reader.close()
        writer.close()


async def serve_one(
    start: Callable[[Callable[[S], Awaitable[None]]], Awaitable[Server]],
    pump: Callable[[S], Awaitable[Any]],
    timeout: float | None,
) -> None:
    """``listen``: serve one connection, as ``netcat -l``, pumping it until done.

    ``start(handler)`` starts the server (``serve`` or ``serve_packets`` on the
    endpoint); the endpoints it listens on are printed to standard error.
    ``timeout`` bounds the wait for the peer, not the session. An error of the
    session (``AiosockError``, ``OSError``) is raised here, for the command's
    exit status.
    """
    loop = asyncio.get_running_loop()
    accepted: asyncio.Future[None] = loop.create_future()
    done: asyncio.Future[None] = loop.create_future()

    async def handler(stream: S) -> None:
        server.close()  # one connection, as netcat -l
        if accepted.done():
            return  # a second connection accepted before the close, or too late
        accepted.set_result(None)
        try:
            await pump(stream)
        except (AiosockError, OSError) as exc:
            # Reported by the command (exit status 1), as connect does.
            if not done.done():
                done.set_exception(exc)
        finally:
            if not done.done():
                done.set_result(None)

    server = await start(handler)
    for endpoint in server.endpoints:
        print(f"listening on {endpoint}", file=sys.stderr, flush=True)
    try:
        try:
            async with asyncio.timeout(timeout):
                await accepted
        except TimeoutError:
            raise no_peer(timeout) from None
        await done
    finally:
        # Once the session is over, let the handler close its stream
        # (flushing what it sent); on SIGINT or a timeout, do not wait
        # (``done`` is cancelled then, with the wait for it).
        over = done.done() and not done.cancelled()
        await server.aclose(grace=30 if over else 0)
