"""``Stream``: a byte stream over a connected socket, as a coroutine API.

Strategy (see PERFORMANCE.md in the design notes): the ``Stream`` object *is* the
asyncio protocol of its transport, so the per-message path is one object and no
extra calls. Its methods are plain functions returning awaitables: ``send`` writes
at once and returns a done future shared by the connection unless the transport
asked us to pause writing; ``receive`` returns a generator that takes buffered
data, or parks one future that ``data_received`` completes with the data itself.
No lock is taken and received data is not copied (sent data only when it is not
``bytes``: a caller may reuse its buffer at once). Both loops use the plain
``Protocol`` path; on the default loop each transport's reads are cut to 64 KiB,
which keeps the loop's 256 KiB allocation per read off the mmap path
(``_SizedReadStream``; measured against reading into a shared buffer and copying
out: 6% fewer instructions per 1 KiB message; at 64 KiB the difference is within
the machine's noise).
:func:`stream_class` gives each loop its flavour.

Call order from the transport: ``connection_made -> data_received* ->
eof_received? -> connection_lost``, with
``pause_writing``/``resume_writing`` pairs in between.
"""

from __future__ import annotations

import asyncio
import contextlib
import operator
import socket
import struct
import types
from collections import deque
from typing import TYPE_CHECKING, Any, Final

from .._foundation._addresses import ConcreteAddress, from_sockaddr
from .._foundation._errors import (
    BrokenResourceError,
    BusyResourceError,
    ClosedResourceError,
    IncompleteReadError,
)
from .._foundation._loop import current_loop_name, future_factory
from .._foundation._optionsview import OptionsView
from ._drain import Drain
from ._drive import PARKED, SEND, THROW, UNDRIVEN
from ._eager import CURRENT_TASKS

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable, Generator, Iterable

    from .._foundation._credentials import Credentials
    from ._drive import Driver
    from ._local import LocalMessage

__all__ = ["DEFAULT_MAX_BYTES", "Stream", "stream_class", "watched_stream_class"]

#: The default ``max_bytes`` of :meth:`Stream.receive`.
DEFAULT_MAX_BYTES: Final = 65536
#: Reading pauses when this much received data waits unread, and resumes below half.
READ_HIGH_WATER: Final = 256 * 1024
#: The most one read takes on the default loop (see ``_SizedReadStream``).
READ_SIZE: Final = 65536

_LINGER_RESET: Final = struct.pack("ii", 1, 0)

# asyncio's current task of each loop, for the inline steps of a driven handler
# (empty where there is none to use: handlers are then not driven).
_CURRENT_TASKS: Final[dict[Any, Any]] = {} if CURRENT_TASKS is None else CURRENT_TASKS

# Waiter modes: what a parked receive future gets at end of stream.
_RECEIVE, _ITERATE = 0, 1


def _silence(fut: asyncio.Future[Any]) -> None:
    """Mark a future's exception as retrieved (its waiter may have gone)."""
    if fut.done() and not fut.cancelled():
        fut.exception()


class Stream(asyncio.Protocol):
    """A connected byte stream: TCP, or a Unix-domain stream socket.

    Get one from :func:`aiosock.connect`, from the handler argument of
    :func:`aiosock.serve`, or from :func:`aiosock.stream_pair`. The asyncio
    protocol callbacks (``connection_made`` and so on) are the transport's to call.

    All ``send``/``receive`` methods are awaitable. One task at a time may receive;
    a second concurrent receiver gets :class:`~aiosock.BusyResourceError`. Using
    the stream after :meth:`aclose` raises :class:`~aiosock.ClosedResourceError`;
    after the peer reset the connection, :class:`~aiosock.BrokenResourceError`.
    """

    __slots__ = (
        "__weakref__",
        "_chunks",
        "_closing",
        "_create_future",
        "_done",
        "_drain",
        "_driver",
        "_eof",
        "_eof_sent",
        "_error",
        "_half_close",
        "_local",
        "_loop",
        "_lost",
        "_lost_waiter",
        "_max_bytes",
        "_mode",
        "_names",
        "_no_send",
        "_options_view",
        "_peer",
        "_reading_paused",
        "_size",
        "_sock",
        "_transport",
        "_urgent",
        "_waiter",
        "_write_paused",
    )

    def __init__(
        self, loop: asyncio.AbstractEventLoop | None = None, *, half_close: bool = True
    ) -> None:
        self._loop = loop if loop is not None else asyncio.get_running_loop()
        # Called only from code running on the loop (receive, iteration).
        self._create_future = future_factory(self._loop)
        self._transport: asyncio.Transport | None = None
        self._chunks: deque[bytes] | None = None
        self._size = 0
        self._eof = False
        self._eof_sent = False
        self._closing = False
        self._lost = False
        #: Whether send() must refuse: not connected yet, or closed, half-closed
        #: or lost (one test on the per-message path instead of four).
        self._no_send = True
        self._error: BaseException | None = None
        self._waiter: asyncio.Future[Any] | None = None
        #: The driver of a served handler (``_drive.py``), or ``UNDRIVEN``.
        self._driver: Driver = UNDRIVEN
        self._mode = _RECEIVE
        self._max_bytes = DEFAULT_MAX_BYTES
        self._write_paused = False
        self._reading_paused = False
        #: Senders waiting for the write buffer to drain (made when one does).
        self._drain: Drain | None = None
        self._done: asyncio.Future[None] | None = None
        self._lost_waiter: asyncio.Future[None] | None = None
        self._half_close = half_close
        self._peer: ConcreteAddress | None = None
        self._local: ConcreteAddress | None = None
        self._sock: socket.socket | None = None
        #: ``(family, sockname, peername)`` kept at connection_made where the
        #: transport forgets them once the connection is lost (uvloop's).
        self._names: tuple[int, Any, Any] | None = None
        self._urgent: Any = None
        self._options_view: Any = None

    # -- protocol callbacks (called by the transport) -------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        """Take the transport (called once by the loop)."""
        self._transport = transport  # type: ignore[assignment]
        self._no_send = self._closing or self._eof_sent or self._lost
        done = self._loop.create_future()
        done.set_result(None)
        self._done = done
        if type(transport).__module__ in _FORGETFUL:
            self._names = _names_of(transport)

    def data_received(self, data: bytes) -> None:
        """Deliver ``data`` to a parked receiver, or buffer it."""
        waiter = self._waiter
        if waiter is PARKED:
            # A served stream's iteration waits in a generator (_drive.py),
            # to be resumed with the data itself. Its waiter is PARKED only
            # while its driver waits for it (the driver's ``pending`` is
            # PARKED too): a task being cancelled has none (_cancelling).
            self._waiter = None
            driver = self._driver
            if len(data) > DEFAULT_MAX_BYTES:
                self._push(data[DEFAULT_MAX_BYTES:])
                data = data[:DEFAULT_MAX_BYTES]
        elif waiter is None:
            self._push(data)
            return
        else:
            self._waiter = None
            driver = self._driver
            if driver.pending is not waiter:
                # A receive not driven: complete its future, unless it was
                # cancelled (then the data stays buffered).
                if not waiter.done():
                    if len(data) > self._max_bytes:
                        self._push(data[self._max_bytes :])
                        data = data[: self._max_bytes]
                    waiter.set_result(data)
                    return
                self._push(data)
                return
            # A driven receive(): its generator (_wait) sits at ``yield
            # waiter`` and is resumed with the data itself, as iteration is
            # (the future is left as it is: nobody else waits on it).
            if len(data) > self._max_bytes:
                self._push(data[self._max_bytes :])
                data = data[: self._max_bytes]
        # The handler is parked in a direct-driven task (_drive.py): resume it
        # here, in its task and context. Written out here, not a call to the
        # driver: a call costs more than all of this (the rare cases are calls).
        task, loop = driver.task, self._loop
        # enter_task() and leave_task() as the store and the delete they are
        # (_eager.CURRENT_TASKS): half the cost of the calls.
        if _CURRENT_TASKS.setdefault(loop, task) is not task:
            # Another task is current: the task resumes the handler.
            driver.deliver((SEND, data))
            return
        try:
            yielded = driver.context.run(driver.send, data)
        except BaseException as exc:
            driver.ended(exc)
            return
        finally:
            del _CURRENT_TASKS[loop]
        # One store on the stay-parked path (clearing ``pending`` first costs a
        # second one per message).
        if yielded is not None and yielded is self._waiter:
            driver.pending = yielded  # waiting on the stream again
        else:
            driver.hand_over(yielded)

    def _push(self, data: bytes) -> None:
        chunks = self._chunks
        if chunks is None:
            chunks = self._chunks = deque()
        chunks.append(data)
        self._size += len(data)
        if self._size > READ_HIGH_WATER and not self._reading_paused:
            transport = self._transport
            if transport is not None and not transport.is_closing():
                self._reading_paused = True
                transport.pause_reading()

    def eof_received(self) -> bool:
        """Note the end of the peer's data; keep our write side open (half-close)."""
        self._eof = True
        self._wake_at_end()
        return self._half_close

    def connection_lost(self, exc: Exception | None) -> None:
        """Wake every waiter: with the error, or as end of stream."""
        self._lost = self._no_send = True
        if exc is not None and not self._closing:
            self._error = exc
        self._eof = True
        self._wake_at_end()
        if self._drain is not None:
            self._drain.release(None if self._error is None else self._broken)
        lost = self._lost_waiter
        if lost is not None and not lost.done():
            lost.set_result(None)
        if self._urgent is not None:
            self._urgent.close()
        if self._sock is not None:
            self._sock.close()

    def pause_writing(self) -> None:
        """Note that the transport's write buffer is over its high-water mark."""
        self._write_paused = True

    def resume_writing(self) -> None:
        """Release senders waiting for the write buffer to drain."""
        self._write_paused = False
        if self._drain is not None:
            self._drain.release()

    # -- receiving -------------------------------------------------------------

    def _wake_at_end(self) -> None:
        waiter = self._waiter
        if waiter is None:
            return
        self._waiter = None
        if waiter.done():
            return
        # (A driver whose task is being cancelled is not the stream's:
        # Driver._cancelling.)
        driver = self._driver
        if waiter is PARKED:
            # A driven handler waits in _served_anext: the task resumes it
            # with the end of an iteration.
            if driver.pending is PARKED:
                driver.deliver(self._end_message(iterating=True))
            return
        if driver.pending is waiter:
            # Let the parked task resume the handler (never inline from here:
            # this may run inside aclose() or abort()).
            self._complete_at_end(waiter)
            driver.wake()
            return
        self._complete_at_end(waiter)

    def _complete_at_end(self, waiter: asyncio.Future[Any]) -> None:
        kind, payload = self._end_message(iterating=self._mode == _ITERATE)
        if kind == THROW:
            waiter.set_exception(payload)
            _silence(waiter)
        else:
            waiter.set_result(payload)

    def _end_message(self, *, iterating: bool) -> tuple[int, Any]:
        """What a waiting receive gets at the end, as a :meth:`Driver.deliver` message.

        ``(THROW, error)`` (broken, closed, or the end of an iteration: the
        waiter is ``__anext__``'s) or ``(SEND, b"")``.
        """
        if self._error is not None:
            return (THROW, self._broken())
        if self._closing:
            return (THROW, ClosedResourceError("the stream was closed"))
        if iterating:
            return (THROW, StopAsyncIteration())
        return (SEND, b"")

    def _broken(self) -> BrokenResourceError:
        error = self._error
        exc = BrokenResourceError(f"the connection was broken: {error!r}")
        exc.__cause__ = error
        return exc

    def _pop(self, max_bytes: int) -> bytes:
        chunks = self._chunks
        assert chunks is not None
        data = chunks.popleft()
        if len(data) > max_bytes:
            chunks.appendleft(data[max_bytes:])
            data = data[:max_bytes]
        self._size -= len(data)
        if self._reading_paused and self._size <= READ_HIGH_WATER // 2:
            self._reading_paused = False
            transport = self._transport
            if transport is not None and not transport.is_closing():
                transport.resume_reading()
        return data

    def _ready(self, value: Any) -> asyncio.Future[Any]:
        fut = self._loop.create_future()
        fut.set_result(value)
        return fut

    def _check_receive(self) -> None:
        if self._closing:
            raise ClosedResourceError("the stream was closed")
        waiter = self._waiter
        if waiter is not None:
            if not waiter.done():
                raise BusyResourceError(
                    "another task is already receiving on this stream"
                )
            self._waiter = None  # a receive that was cancelled

    def receive(self, max_bytes: int = DEFAULT_MAX_BYTES) -> Awaitable[bytes]:
        """Receive at most ``max_bytes`` bytes, waiting until some arrive.

        Returns:
            The bytes (``b""`` at end of stream, and on every call after it).

        Raises:
            ClosedResourceError: The stream was closed by this side.
            BrokenResourceError: The connection was reset or aborted.
            BusyResourceError: Another task is receiving.
        """
        if type(max_bytes) is not int:
            max_bytes = _as_size("max_bytes", max_bytes)
        if max_bytes < 1:
            raise ValueError(f"'max_bytes' must be at least 1 (got {max_bytes})")
        # A generator, in a driven handler too (whose driver parks on the
        # future it yields): wherever it is awaited (``gather``, another task),
        # a cancellation reaches it and it puts back data it was handed.
        return self._wait(_RECEIVE, max_bytes)

    def _receive_future(self, max_bytes: int) -> asyncio.Future[bytes]:
        """:meth:`receive` as the future itself, never guarded.

        For callers that give back what it got if they do not take it
        (``_local.stream_receive_message``), and never yield it to a driver.
        """
        self._check_receive()
        if self._chunks:
            return self._ready(self._pop(max_bytes))
        if self._eof:
            if self._error is not None:
                raise self._broken()
            return self._ready(b"")
        waiter: asyncio.Future[bytes] = self._create_future()
        self._waiter = waiter
        self._mode = _RECEIVE
        self._max_bytes = max_bytes
        return waiter

    @types.coroutine
    def _wait(self, mode: int, max_bytes: int) -> Generator[Any, Any, bytes]:
        """Receive, waiting for data; if the wait is given up, lose nothing.

        A generator, and it registers the receive at its first step, not at
        the call: a task cancelled before it ever ran (``ensure_future(
        stream.receive())`` cancelled at once) leaves no receive behind. A
        task cancelled (a timeout, say) between the moment ``data_received``
        hands the receive its bytes and the moment the task runs again never
        sees them (asyncio throws the cancellation in instead): they go back to
        the front of the buffer, for the next receive. (A driven handler
        awaits it too: its driver parks on the future yielded here, resumes
        this with the data itself, and at most cancels the future
        (``_drive.Driver._cancelled_while_parked``): the data comes back here.)
        """
        # (Checked at the first step, which may be later than the call;
        # _check_receive() written out: a call more per message.)
        if self._closing:
            raise ClosedResourceError("the stream was closed")
        current = self._waiter
        if current is not None:
            if not current.done():
                raise BusyResourceError(
                    "another task is already receiving on this stream"
                )
            self._waiter = None  # a receive that was cancelled
        if self._chunks:
            return self._pop(max_bytes)
        if self._eof:
            if self._error is not None:
                raise self._broken()
            if mode == _ITERATE:
                raise StopAsyncIteration
            return b""
        create = self._create_future  # (a slot's method: read, then called)
        waiter: asyncio.Future[bytes] = create()
        self._waiter = waiter
        self._mode = mode
        self._max_bytes = max_bytes
        # Yielded as ``await`` yields a future (a task waits for it); a driver
        # resumes this with the data itself instead (data_received).
        waiter._asyncio_future_blocking = True
        try:
            data: bytes | None = yield waiter
        except BaseException:
            if waiter.done() and not waiter.cancelled() and not waiter.exception():
                data = waiter.result()
                if data:
                    self._unread(data)
            raise
        if data is None:  # a task woke: the future holds the outcome
            return waiter.result()
        return data

    def __aiter__(self) -> Stream:
        return self

    def __anext__(self) -> Awaitable[bytes]:
        """Return the next chunk; stop at end of stream."""
        return self._wait(_ITERATE, DEFAULT_MAX_BYTES)

    async def receive_exactly(self, n: int) -> bytes:
        """Receive exactly ``n`` bytes.

        Cancelled (a timeout, say), or failing because the stream was closed or
        broken, it puts what it had read back: the next receive gets it.

        Raises:
            IncompleteReadError: The stream ended first; ``.partial`` holds what came.
        """
        n = _as_size("n", n)
        if n < 0:
            raise ValueError(f"'n' must be at least 0 (got {n})")
        parts = bytearray()
        try:
            while len(parts) < n:
                data = await self.receive(n - len(parts))
                if not data:
                    break
                parts += data
        except BaseException:
            if parts:
                self._unread(bytes(parts))
            raise
        if len(parts) < n:
            raise IncompleteReadError(bytes(parts), n)
        return bytes(parts)

    async def receive_until(
        self, delimiter: bytes = b"\n", *, max_bytes: int = DEFAULT_MAX_BYTES
    ) -> bytes:
        """Receive up to and including ``delimiter``; the rest stays buffered.

        Args:
            delimiter: The non-empty byte string that ends the record.
            max_bytes: The most to read without finding it (delimiter included).

        Returns:
            The bytes read, ending with ``delimiter``.

        Cancelled (a timeout, say), or failing because the stream was closed or
        broken, it puts what it had read back: the next receive gets it.

        Raises:
            IncompleteReadError: The stream ended first; ``.partial`` holds what came.
            ValueError: ``max_bytes`` were read without finding the delimiter (they
                stay buffered for the next receive).
        """
        if not delimiter:
            raise ValueError("'delimiter' must not be empty")
        max_bytes = _as_size("max_bytes", max_bytes)
        if max_bytes < 1:
            raise ValueError(f"'max_bytes' must be at least 1 (got {max_bytes})")
        parts = bytearray()
        start = 0
        while True:
            index = parts.find(delimiter, start)
            if index >= 0:
                end = index + len(delimiter)
                if end > max_bytes:
                    self._unread(bytes(parts))
                    raise ValueError(
                        f"no delimiter {delimiter!r} within max_bytes={max_bytes}"
                    )
                if end < len(parts):
                    self._unread(bytes(parts[end:]))
                return bytes(parts[:end])
            if len(parts) >= max_bytes:
                self._unread(bytes(parts))
                raise ValueError(
                    f"no delimiter {delimiter!r} within max_bytes={max_bytes}"
                )
            start = max(0, len(parts) - len(delimiter) + 1)
            try:
                data = await self.receive()
            except BaseException:
                if parts:
                    self._unread(bytes(parts))
                raise
            if not data:
                raise IncompleteReadError(bytes(parts), None)
            parts += data

    def _unread(self, data: bytes) -> None:
        if not data:
            return  # (an empty chunk would read as the end of the stream)
        if self._chunks is None:
            self._chunks = deque()
        self._chunks.appendleft(data)
        self._size += len(data)

    # -- sending ---------------------------------------------------------------

    def send(self, data: bytes | bytearray | memoryview) -> Awaitable[None]:
        """Send all of ``data``; the awaitable waits while the peer is slow.

        The bytes are handed to the transport at once (a ``bytearray`` or
        ``memoryview`` is copied: the caller may reuse it as soon as ``send``
        returns); the awaitable completes at once unless the write buffer is
        over its high-water mark, in which case it completes when the buffer
        drains below the low-water mark (so memory stays bounded by the buffer
        limits).

        Raises:
            TypeError: ``data`` is not a bytes-like object.
            ClosedResourceError: The stream, or its write side, was closed here.
            BrokenResourceError: The connection was reset or aborted.
        """
        transport = self._transport
        if self._no_send or transport.is_closing():  # type: ignore[union-attr]
            raise self._send_refused()
        if data.__class__ is not bytes:  # (fewer instructions than type())
            # What the caller has now is what is sent: uvloop's transports (and
            # the default loop's from Python 3.12) keep a reference to a
            # buffer they cannot write at once, so a bytearray refilled after
            # send() would change what goes out. (memoryview() refuses what
            # is not bytes-like, on both loops: uvloop ignores None or "".)
            data = bytes(memoryview(data))
        transport.write(data)  # type: ignore[union-attr]
        # uvloop may call pause_writing() from inside write(): check afterwards.
        if self._write_paused:
            return self._drain_waiter()
        return self._done  # type: ignore[return-value]

    def _send_refused(self) -> Exception:
        if self._closing or self._eof_sent:
            return ClosedResourceError(
                "the stream was closed" if self._closing else "send_eof() was called"
            )
        if self._error:
            return self._broken()
        return BrokenResourceError("the connection is closed")

    def _drain_waiter(self) -> asyncio.Future[None]:
        """A future of the caller's own, done when the write buffer drains."""
        drain = self._drain
        if drain is None:
            drain = self._drain = Drain()
        return drain.wait(self._loop.create_future())

    def send_eof(self) -> Awaitable[None]:
        """Half-close: tell the peer no more data will come (the manual's ``shutdown``).

        Receiving still works. Calling it twice is harmless.

        Raises:
            ClosedResourceError: The stream was closed here.
            BrokenResourceError: The connection was reset or lost first.
            NotImplementedError: The transport cannot half-close (TLS).
        """
        if self._closing:
            raise ClosedResourceError("the stream was closed")
        if self._lost and not self._eof_sent:
            raise self._send_refused()  # (reset: BrokenResourceError)
        transport = self._transport
        if not self._eof_sent and transport is not None:
            if not transport.can_write_eof():
                raise NotImplementedError(
                    "this transport (TLS) cannot half-close: close the stream instead"
                )
            self._eof_sent = self._no_send = True
            transport.write_eof()
        done = self._done
        return done if done is not None else self._ready(None)

    # -- out-of-band data -------------------------------------------------------

    async def send_urgent(self, byte: bytes | int) -> None:
        """Send one byte of out-of-band ("urgent") data (TCP's ``MSG_OOB``).

        It goes after all the data sent before it: this first waits until the
        transport's write buffer is empty. Data that another task sends during
        that wait goes ahead of the urgent byte; ``send_urgent`` calls take
        turns. The peer gets the byte from :meth:`receive_urgent`, apart from
        the normal data.

        Raises:
            ValueError: ``byte`` is not exactly one byte.
            ClosedResourceError: The stream, or its write side
                (:meth:`send_eof`), was closed here.
            BrokenResourceError: The connection was reset or is gone.
            NotImplementedError: The stream is a TLS stream.
        """
        if self._no_send or self._transport is None or self._transport.is_closing():
            raise self._send_refused()
        self._refuse_urgent_on_tls()
        from ._urgent import send_urgent

        await send_urgent(self, byte)

    def receive_urgent(self) -> Awaitable[bytes]:
        """Wait for the next byte of out-of-band ("urgent") data from the peer.

        The first call starts watching for urgent data: from then on each urgent
        byte is taken out as soon as it reaches this side's kernel, even while
        normal data before it is unread, and queued (up to 64 unread; beyond
        that the oldest are dropped). It travels in sequence, under flow
        control: while the buffers between the two ends are full, it waits
        behind the normal data on the sender's side. Call it before the peer
        sends any, because the kernel drops an urgent byte once the normal data
        is read past it. TCP keeps one urgent byte at a time: if the peer sends
        another before the first was taken, the first becomes normal data.

        Returns:
            The byte; queued bytes come first. ``b""`` once the peer has ended
            its stream (no urgent byte can come after that), and on every call
            after it, as :meth:`receive` does.

        Raises:
            ClosedResourceError: The stream was closed here (also raised in a
                task waiting for urgent data).
            BrokenResourceError: The connection was reset or aborted (the
                ``OSError`` is its ``__cause__``).
            BusyResourceError: Another task is waiting for urgent data.
            NotImplementedError: The stream is a TLS stream.

        Watching starts at the call; the byte is taken when the awaitable
        first runs, and a cancelled wait gives back a byte it was handed.
        """
        if self._closing:
            raise ClosedResourceError("the stream was closed")
        if self._urgent is None:
            self._refuse_urgent_on_tls()
            if self._eof or self._lost:
                # The peer's end was read (or the connection is gone): no
                # urgent byte can come now.
                if self._error is not None:
                    raise self._broken()
                return self._ready(b"")
            from ._urgent import UrgentTap

            tap = UrgentTap(self, self.socket)
            self._urgent = tap
            self.transport.set_protocol(tap)
        waiting: Awaitable[bytes] = self._urgent.receive()
        return waiting

    def _refuse_urgent_on_tls(self) -> None:
        if self.get_extra_info("sslcontext") is not None:
            raise NotImplementedError(
                "TLS streams have no out-of-band data (the byte would bypass TLS)"
            )

    def at_urgent_mark(self) -> bool:
        """Whether the socket's next normal read starts at the urgent mark.

        This is the manual's ``SIOCATMARK`` test. The urgent byte itself is not
        in the normal data (:meth:`receive_urgent` takes it out of band); the
        mark is where it was sent, and this stays true from when the normal data
        before the mark has been read until a read goes past it. The transport
        reads ahead of the application, so it says where the socket is, not
        where :meth:`receive` is.
        """
        from ._urgent import at_mark

        return at_mark(self.socket)

    # -- closing ---------------------------------------------------------------

    async def aclose(self) -> None:
        """Close the stream, after the data already sent has left. Idempotent.

        The transport first hands everything still in its write buffer to the
        kernel, then closes the socket (the kernel still delivers what it holds);
        this waits for that. A task waiting in ``receive`` gets
        :class:`~aiosock.ClosedResourceError` at once. If the peer never reads,
        the flush never ends: cancelling ``aclose`` (or a timeout around it) then
        aborts the connection, discarding what was left.
        """
        transport = self._transport
        if not self._closing:
            self._closing = self._no_send = True
            self._wake_at_end()
            if self._urgent is not None:
                self._urgent.close()
            if transport is not None and not transport.is_closing():
                transport.close()
        if transport is None or self._lost:
            await asyncio.sleep(0)
            return
        if self._lost_waiter is None:
            self._lost_waiter = self._loop.create_future()
        try:
            await asyncio.shield(self._lost_waiter)
        except asyncio.CancelledError:
            self.abort()
            raise

    def _expire(self, exc: BaseException) -> None:
        """Abort the connection because of ``exc`` (a timeout): not a local close.

        Waiters, and every later ``receive`` or ``send``, get
        :class:`~aiosock.BrokenResourceError` caused by ``exc``.
        """
        if self._closing or self._lost:
            return
        self._error = exc
        self._reset()

    def abort(self) -> None:
        """Close at once, discarding unsent data (a TCP peer sees a reset)."""
        self._closing = self._no_send = True
        self._wake_at_end()
        self._reset()

    def _reset(self) -> None:
        transport = self._transport
        if transport is not None and not self._lost:
            raw = transport.get_extra_info("socket")
            if raw is not None and raw.family != socket.AF_UNIX and raw.fileno() >= 0:
                # SO_LINGER with a zero timeout: close() sends RST, not FIN.
                with contextlib.suppress(OSError):
                    raw.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, _LINGER_RESET)
            transport.abort()

    async def __aenter__(self) -> Stream:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    # -- introspection ---------------------------------------------------------

    @property
    def transport(self) -> asyncio.Transport:
        """The asyncio transport underneath (an escape hatch)."""
        if self._transport is None:
            raise ClosedResourceError("the stream is not connected")
        return self._transport

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        """Return the transport's extra info, as asyncio streams do."""
        if self._transport is None:
            return default
        return self._transport.get_extra_info(name, default)

    @property
    def socket(self) -> socket.socket:
        """A ``socket.socket`` for the connection (for options and ioctls).

        It is a duplicate of the connection's descriptor (the loops' own socket
        objects refuse I/O), closed with the connection; use it for options and
        ioctls, not to read or write.
        """
        if self._lost:
            raise self._no_socket()
        if self._sock is None:
            raw = self.get_extra_info("socket")
            if raw is None or raw.fileno() < 0:
                raise self._no_socket()
            self._sock = socket.fromfd(raw.fileno(), raw.family, raw.type, raw.proto)
        return self._sock

    def _no_socket(self) -> Exception:
        """What :attr:`socket` raises once the socket is gone."""
        if self._closing:
            return ClosedResourceError("the stream was closed: it has no socket")
        if self._error is not None:
            return self._broken()
        return BrokenResourceError("the connection is closed: it has no socket")

    @property
    def options(self) -> OptionsView:
        """The socket's options as a live mapping (``stream.options["no_delay"]``).

        Reading and writing it calls :func:`aiosock.options.get` and
        :func:`~aiosock.options.set` on the connection's socket.
        """
        if self._options_view is None:
            self._options_view = OptionsView(self.socket)
        view: OptionsView = self._options_view
        return view

    @property
    def family(self) -> int:
        """The socket's address family (``AF_INET``, ``AF_INET6``, ``AF_UNIX``)."""
        if self._names is not None:
            return self._names[0]
        raw = self.get_extra_info("socket")
        return int(raw.family) if raw is not None else 0

    @property
    def local_address(self) -> ConcreteAddress:
        """The typed address of this end (kept after the connection ends)."""
        if self._local is None:
            names = self._names
            local = self.get_extra_info("sockname") if names is None else names[1]
            self._local = from_sockaddr(self.family, local)
        return self._local

    @property
    def peer_address(self) -> ConcreteAddress:
        """The typed address of the other end (kept after the connection ends)."""
        if self._peer is None:
            names = self._names
            peer = self.get_extra_info("peername") if names is None else names[2]
            self._peer = from_sockaddr(self.family, "" if peer is None else peer)
        return self._peer

    @property
    def is_closing(self) -> bool:
        """Whether the stream is closed or closing (by either side)."""
        return self._closing or self._lost

    def __repr__(self) -> str:
        state = "closed" if self.is_closing else "open"
        try:
            where = f" {self.local_address} <-> {self.peer_address}"
        except Exception:
            where = ""
        # (One name for every flavour: each loop's is a private subclass.)
        return f"<Stream{where} {state}>"

    # -- local namespace extras (implemented in _local.py) ----------------------

    @property
    def peer_credentials(self) -> Credentials:
        """The process id, user id and group id of the peer (``SO_PEERCRED``).

        Raises:
            OptionError: The stream is not in the local namespace.
        """
        from ._local import peer_credentials

        return peer_credentials(self.socket)

    async def send_fds(
        self, data: bytes | bytearray | memoryview, fds: Iterable[int]
    ) -> None:
        """Send ``data`` with open descriptors ``fds`` (``SCM_RIGHTS``).

        The bytes take their place in the stream after everything sent before;
        the peer gets the descriptors from :meth:`receive_fds` with these bytes.
        ``fds`` stay open here: the peer gets new descriptors for the same files.

        Raises:
            ValueError: ``data`` is empty, or the stream is not a plain local one.
        """
        from ._local import stream_send_fds

        await stream_send_fds(self, data, fds)

    async def receive_fds(
        self, max_bytes: int = DEFAULT_MAX_BYTES, max_fds: int = 253
    ) -> tuple[bytes, list[int]]:
        """Receive bytes and the descriptors that came with them (``SCM_RIGHTS``).

        Bytes the stream had already read come first, without descriptors. The
        stream reads ahead, and the kernel drops descriptors that arrive with
        bytes read that way: have this call waiting (or call it with no ``await``
        since the previous receive) before the peer sends descriptors, as in a
        request and its answer. See the "Local namespace extras" page.

        Returns:
            The bytes (``b""`` at end of stream) and the descriptors, which are
            the caller's to close; any beyond ``max_fds`` were closed.
        """
        from ._local import stream_receive_message

        message = await stream_receive_message(self, max_bytes, max_fds)
        return message.data, message.fds

    async def receive_message(
        self, max_bytes: int = DEFAULT_MAX_BYTES, *, max_fds: int = 253
    ) -> LocalMessage:
        """Like :meth:`receive_fds`, also giving the sender's ``SCM_CREDENTIALS``.

        ``credentials`` is set when this socket has the ``pass_credentials``
        option on (turn it on before the peer sends).
        """
        from ._local import stream_receive_message

        return await stream_receive_message(self, max_bytes, max_fds)


class _SizedReadStream(Stream):
    """The default loop's flavour: reads of at most :data:`READ_SIZE` bytes.

    The default loop's socket transport receives into a fresh ``bytes`` of its
    ``max_size`` (256 KiB) per read and shrinks it to what arrived; glibc may
    serve that size from a fresh ``mmap`` each time (the trap PERFORMANCE.md
    describes). At 64 KiB the block comes from the heap: no system call, no
    page fault, and the bytes handed to the stream are the ones the kernel
    wrote, with no copy out of a shared buffer. ``max_size`` is an attribute
    of CPython's selector transport (3.11 to 3.14), set per transport; a
    transport without it (TLS) reads as it does.
    """

    __slots__ = ()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        """Take the transport, and make its reads :data:`READ_SIZE` bytes at most."""
        super().connection_made(transport)
        if isinstance(getattr(transport, "max_size", None), int):
            transport.max_size = READ_SIZE  # type: ignore[attr-defined]


@types.coroutine
def _served_anext(self: Stream) -> Generator[Any, Any, bytes]:
    """``__anext__`` of a served stream: no future while its handler is driven.

    When the handler's task is current and runs the driver (``_drive.py``),
    the common case (nothing buffered, nothing wrong) parks here: ``_waiter``
    becomes :data:`~aiosock._highlevel._drive.PARKED`, which is yielded to the
    driver, and the generator is resumed with the data itself. A receive
    future and its completion cost about 1,000 instructions more per message
    (callgrind). Anywhere else (another task, ``gather``), and in every other
    case, it is :meth:`Stream.__anext__`.
    """
    if not (self._closing or self._eof or self._waiter):
        if self._chunks:
            return self._pop(DEFAULT_MAX_BYTES)
        if _CURRENT_TASKS.get(self._loop) is self._driver.task:
            # (PARKED says iteration and DEFAULT_MAX_BYTES: no _mode and
            # _max_bytes to store.)
            self._waiter = PARKED
            try:
                return (yield PARKED)  # type: ignore[no-any-return]
            except BaseException:
                # Cancelled, closed, or the end of the stream thrown in.
                if self._waiter is PARKED:
                    self._waiter = None
                raise
    return (yield from _steps(Stream.__anext__(self)))


#: Modules of transports that forget the socket's names when the connection is
#: lost (uvloop's: its socket object then has no descriptor). The default loop's
#: transports read both names when they are made, and keep them.
_FORGETFUL: Final = frozenset({"uvloop.loop"})


def _as_size(name: str, value: Any) -> int:
    """``value`` as an ``int`` (``operator.index``), or a TypeError naming ``name``."""
    if type(value) is int:
        return value
    try:
        return operator.index(value)
    except TypeError:
        raise TypeError(f"{name!r} must be an integer (got {value!r})") from None


def _names_of(transport: asyncio.BaseTransport) -> tuple[int, Any, Any] | None:
    """``(family, sockname, peername)`` of a transport's socket, while it has one."""
    sock = transport.get_extra_info("socket")
    if sock is None:
        return None
    try:
        return (int(sock.family), sock.getsockname(), sock.getpeername())
    except OSError:
        return None  # reset already: as the transport would say


def _steps(awaitable: Any) -> Generator[Any, Any, bytes]:
    """The iterator an ``await`` of a receive runs: a future's, or its generator."""
    steps: Generator[Any, Any, bytes] = (
        awaitable
        if isinstance(awaitable, types.GeneratorType)
        else awaitable.__await__()
    )
    return steps


def _served(base: type[Stream]) -> type[Stream]:
    """Return the flavour of ``base`` that ``serve`` makes for driven handlers."""

    class Served(base):  # type: ignore[valid-type,misc]
        __slots__ = ()
        __anext__ = _served_anext

    Served.__name__ = Served.__qualname__ = f"Served{base.__name__.lstrip('_')}"
    return Served


_SERVED: dict[type[Stream], type[Stream]] = {}


def _flavour(
    made: dict[type[Stream], type[Stream]],
    base: type[Stream],
    make: Callable[[type[Stream]], type[Stream]],
) -> type[Stream]:
    """Return ``make(base)``, made once per ``base`` and kept in ``made``."""
    cls = made.get(base)
    if cls is None:
        cls = made[base] = make(base)
    return cls


def stream_class(
    loop: asyncio.AbstractEventLoop, *, served: bool = False
) -> type[Stream]:
    """Return the fastest ``Stream`` flavour for ``loop``.

    ``served``: for a handler that ``serve`` drives (``_drive.py``).
    """
    base = Stream if current_loop_name(loop) == "uvloop" else _SizedReadStream
    return _flavour(_SERVED, base, _served) if served else base


#: Quiet checks in a row that make a connection idle: it is closed between
#: ``idle_timeout`` and ``idle_timeout * (1 + 1 / _IDLE_CHECKS)`` after its last
#: traffic.
_IDLE_CHECKS: Final = 4


def _watched(base: type[Stream]) -> type[Stream]:
    """Return a subclass of ``base`` that notes traffic, for ``idle_timeout``.

    Only servers given ``idle_timeout`` use it: every other stream keeps the plain
    per-message path. Traffic is any data received, any ``send`` call, and the
    write buffer draining (a peer that reads what it was sent).
    """

    class Watched(base):  # type: ignore[valid-type,misc]
        __slots__ = ("_active", "_idle_handle", "_idle_period", "_quiet")

        def data_received(self, data: bytes) -> None:
            self._active = True
            super().data_received(data)

        def send(self, data: bytes | bytearray | memoryview) -> Awaitable[None]:
            self._active = True
            return super().send(data)  # type: ignore[no-any-return]

        def resume_writing(self) -> None:
            self._active = True
            super().resume_writing()

        def connection_lost(self, exc: Exception | None) -> None:
            handle = getattr(self, "_idle_handle", None)
            if handle is not None:
                handle.cancel()
            super().connection_lost(exc)

        def watch_idle(self, timeout: float) -> None:
            self._active = False
            self._quiet = 0
            self._idle_period = timeout / _IDLE_CHECKS
            self._idle_handle = self._loop.call_later(
                self._idle_period, self._check_idle
            )

        def _check_idle(self) -> None:
            self._idle_handle = None
            if self._lost:
                return
            if self._active:
                self._active = False
                self._quiet = 0
            else:
                self._quiet += 1
                if self._quiet >= _IDLE_CHECKS:
                    if self._closing:
                        # aclose() waits for a flush that makes no progress.
                        self._reset()
                        return
                    seconds = self._idle_period * _IDLE_CHECKS
                    self._expire(
                        TimeoutError(f"no traffic for {seconds:g}s (idle_timeout)")
                    )
                    return
            self._idle_handle = self._loop.call_later(
                self._idle_period, self._check_idle
            )

    Watched.__name__ = Watched.__qualname__ = f"Watched{base.__name__}"
    return Watched


_WATCHED: dict[type[Stream], type[Stream]] = {}


def watched_stream_class(
    loop: asyncio.AbstractEventLoop, *, served: bool = False
) -> type[Stream]:
    """Return :func:`stream_class`'s flavour, noting traffic for ``idle_timeout``.

    Its instances have ``watch_idle(seconds)``: after that many seconds with no
    traffic the connection is reset, and the handler's ``receive``/``send`` raise
    :class:`~aiosock.BrokenResourceError` caused by a ``TimeoutError``.
    """
    return _flavour(_WATCHED, stream_class(loop, served=served), _watched)
