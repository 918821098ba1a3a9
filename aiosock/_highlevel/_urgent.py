"""Out-of-band ("urgent") data on stream sockets (the manual's "Out-of-Band Data").

Strategy: neither loop exposes ``MSG_OOB`` or ``EPOLLPRI``, so aiosock works on
the socket as the manual does, next to the transport:

- sending waits until the transport's write buffer is empty (so the urgent byte
  does not overtake data already sent), then calls ``send(byte, MSG_OOB)``.
  ``send_urgent`` calls on one stream take turns (a lock per stream), so urgent
  bytes leave in the order of the calls; a plain ``send`` from another task
  during the wait is not held back and goes ahead of the urgent byte.
- receiving leaves ``SO_OOBINLINE`` off, so the kernel keeps the urgent byte
  apart: ``recv(MSG_OOB)`` returns it as soon as it has arrived, however much
  normal data before it is still unread, and normal reads skip it. The kernel
  says it has arrived with ``EPOLLPRI``: one ``select.epoll`` object per loop
  (a :class:`_Watcher`), with every watched socket registered for ``EPOLLPRI``
  and ``EPOLLRDHUP``, and the epoll object's own descriptor registered with
  ``loop.add_reader`` (it is readable when any of its sockets has an event). So
  a receiver whose stream stopped reading (its buffer of unread data is full)
  still hears of the urgent byte at once. ``EPOLLRDHUP`` alone (the peer ended
  its stream, this side still open) says no urgent byte can come any more.
  "At once" is once the byte is in this side's kernel: it travels in sequence,
  under flow control, so when the socket buffers are full too (a closed TCP
  window), it waits behind the normal data on the sender's side. (TCP can
  announce urgent data before the byte itself arrives, but Linux tells of that
  with ``SIGURG`` only, not ``EPOLLPRI``, and has no byte to give yet;
  aiosock does not watch for ``SIGURG``.)
- the race: in the kernel's normal read (``tcp_recvmsg``, and its Unix
  counterpart), a read that has data stops just before the mark, but a read
  that *starts* at the mark skips the urgent byte and, once past it, forgets it
  (``recv(MSG_OOB)`` then gives ``EINVAL``). The transport may read before the
  watcher runs, so the stream's transport reads through a tap
  (:class:`UrgentTap`, a ``BufferedProtocol`` put between the transport and the
  stream): before each read it asks ``SIOCATMARK`` and, at the mark, takes the
  urgent byte out with ``MSG_OOB`` first. What is left is an instant: an urgent
  byte that lands between that check and the read, right when all the normal
  data before it was read, can still be skipped.

``EPOLLPRI`` (and ``EPOLLHUP``/``EPOLLERR``, which epoll always reports) is
level-triggered: the watcher reads the urgent byte at once, and stops watching a
socket on hang-up or error (the transport reports those itself), or when it
reports ``EPOLLPRI`` but has no byte to give (``SO_OOBINLINE`` turned on), so
the loop never spins. A loop's epoll object goes away with its last watched
socket.

Watching starts with the first :meth:`Stream.receive_urgent` call: an urgent byte
that arrived and was read past before then was already dropped by the kernel (TCP
keeps one urgent byte at a time, and a second one sent before the first was read
turns the first into normal data). At most :data:`MAX_QUEUED` unread urgent bytes
are kept; beyond that the oldest are dropped. :func:`at_mark` is the manual's
``SIOCATMARK``.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import errno
import fcntl
import select
import socket
import struct
import types
import weakref
from typing import TYPE_CHECKING, Any, Final

from .._core._buffers import shared_buffer, shared_mapping
from .._foundation._errors import (
    BrokenResourceError,
    BusyResourceError,
    ClosedResourceError,
)
from ._drain import flush

if TYPE_CHECKING:
    from collections.abc import Awaitable, Generator

    from ._stream import Stream

__all__ = ["MAX_QUEUED", "UrgentTap", "at_mark", "send_urgent"]

#: The ``SIOCATMARK`` ioctl number on Linux.
SIOCATMARK: Final = 0x8905
#: The most unread urgent bytes kept per stream (the oldest go first).
MAX_QUEUED: Final = 64

#: What the watcher asks the kernel for about each socket.
_EVENTS: Final = select.EPOLLPRI | select.EPOLLRDHUP
#: Flags of the out-of-band read.
_OOB_READ: Final = socket.MSG_OOB | socket.MSG_DONTWAIT


def at_mark(sock: socket.socket) -> bool:
    """Return whether the next normal read starts at the urgent mark (SIOCATMARK)."""
    result = fcntl.ioctl(sock.fileno(), SIOCATMARK, struct.pack("i", 0))
    return bool(struct.unpack("i", result)[0])


def _as_byte(byte: bytes | int) -> bytes:
    if isinstance(byte, int):
        if not 0 <= byte <= 255:
            raise ValueError(f"an urgent byte must be in 0..255 (got {byte})")
        return bytes((byte,))
    if not isinstance(byte, bytes | bytearray) or len(byte) != 1:
        raise ValueError(f"expected exactly one urgent byte, got {byte!r}")
    return bytes(byte)


#: One lock per stream: ``send_urgent`` calls take turns.
_SEND_LOCKS: Final[weakref.WeakKeyDictionary[Stream, asyncio.Lock]] = (
    weakref.WeakKeyDictionary()
)


def _check_send(stream: Stream) -> None:
    """Raise what ``send`` raises if the stream may not send any more."""
    transport = stream._transport
    if stream._no_send or transport is None or transport.is_closing():
        raise stream._send_refused()


async def send_urgent(stream: Stream, byte: bytes | int) -> None:
    """Send one byte of urgent data on ``stream`` after the data already sent."""
    data = _as_byte(byte)
    _check_send(stream)
    lock = _SEND_LOCKS.get(stream)
    if lock is None:
        lock = _SEND_LOCKS[stream] = asyncio.Lock()
    async with lock:
        _check_send(stream)
        if stream.transport.get_write_buffer_size():
            await flush(stream)
            # send_eof() or a close may have come while this waited.
            _check_send(stream)
        await _send_oob(stream, data)


async def _send_oob(stream: Stream, data: bytes) -> None:
    """``send(data, MSG_OOB)``, waiting while the socket's send buffer is full."""
    sock = stream.socket
    loop = stream._loop
    while True:
        try:
            sock.send(data, socket.MSG_OOB | socket.MSG_DONTWAIT)
        except (BlockingIOError, InterruptedError):
            pass
        except OSError as exc:
            if exc.errno in (errno.EPIPE, errno.ECONNRESET, errno.ENOTCONN):
                error = BrokenResourceError(f"cannot send urgent data: {exc}")
                raise error from exc
            raise
        else:
            return
        # The peer reads too slowly: wait until the socket is writable, or the
        # connection is lost (closed here, or reset).
        if stream._lost_waiter is None:
            stream._lost_waiter = loop.create_future()
        lost = stream._lost_waiter
        ready = loop.create_future()
        fd = sock.fileno()
        loop.add_writer(fd, _set_done, ready)
        try:
            await asyncio.wait((ready, lost), return_when=asyncio.FIRST_COMPLETED)
        finally:
            # (By number: the socket may have been closed with the connection.)
            with contextlib.suppress(OSError, ValueError):
                loop.remove_writer(fd)
            ready.cancel()
        _check_send(stream)


def _set_done(future: asyncio.Future[None]) -> None:
    if not future.done():
        future.set_result(None)


class _Watcher:
    """One loop's ``epoll`` object, watching its taps' sockets for urgent data."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self._epoll = select.epoll()
        self._taps: dict[int, UrgentTap] = {}
        loop.add_reader(self._epoll.fileno(), self._ready)

    def add(self, fd: int, tap: UrgentTap) -> None:
        """Watch ``fd`` for ``tap``."""
        self._epoll.register(fd, _EVENTS)
        self._taps[fd] = tap

    def remove(self, fd: int, tap: UrgentTap) -> None:
        """Stop watching ``fd`` (while it is still open); the last one closes this."""
        if self._taps.get(fd) is not tap:
            return
        del self._taps[fd]
        with contextlib.suppress(OSError, ValueError):
            self._epoll.unregister(fd)
        if not self._taps:
            self.close()

    def close(self) -> None:
        """Leave the loop and close the epoll object."""
        if _WATCHERS.get(self._loop) is self:
            del _WATCHERS[self._loop]
        if not self._epoll.closed:
            if not self._loop.is_closed():
                self._loop.remove_reader(self._epoll.fileno())
            self._epoll.close()

    def _ready(self) -> None:
        try:
            events = self._epoll.poll(0)
        except OSError:
            return
        for fd, mask in events:
            tap = self._taps.get(fd)
            if tap is not None:
                tap._on_events(mask)
            else:
                with contextlib.suppress(OSError, ValueError):
                    self._epoll.unregister(fd)


#: Each loop's watcher, while it watches a socket.
_WATCHERS: Final[dict[asyncio.AbstractEventLoop, _Watcher]] = {}


def _watcher(loop: asyncio.AbstractEventLoop) -> _Watcher:
    watcher = _WATCHERS.get(loop)
    if watcher is None:
        for old in [w for k, w in _WATCHERS.items() if k.is_closed()]:
            old.close()
        watcher = _WATCHERS[loop] = _Watcher(loop)
    return watcher


class UrgentTap(asyncio.BufferedProtocol):
    """Sits between the transport and a :class:`Stream`, taking out urgent bytes.

    The transport's reads come through it (see the module's docstring); a
    :class:`_Watcher` tells it when the kernel has an urgent byte (or the peer
    ended its stream) however far the normal reads are behind.
    """

    def __init__(self, stream: Stream, sock: socket.socket) -> None:
        self._stream = stream
        self._sock = sock
        self._fd = sock.fileno()
        self._loop = stream._loop
        self._view = shared_buffer(self._loop)
        self._mapping = shared_mapping(self._loop)
        self._received: collections.deque[bytes] = collections.deque(maxlen=MAX_QUEUED)
        self._waiter: asyncio.Future[bytes] | None = None
        #: The peer ended its stream: no urgent byte can come any more.
        self._ended = False
        self._closed = False
        self._watcher: _Watcher | None = _watcher(self._loop)
        self._watcher.add(self._fd, self)

    # -- the transport's side --------------------------------------------------

    def get_buffer(self, sizehint: int) -> memoryview:
        """Before a read: at the mark, take the urgent byte out first."""
        if not self._closed:
            try:
                if at_mark(self._sock):
                    self._take()
            except OSError:
                pass
        return self._view

    def buffer_updated(self, nbytes: int) -> None:
        """Pass the data read on (the kernel left the urgent byte out)."""
        self._stream.data_received(self._mapping[:nbytes])

    def eof_received(self) -> bool:
        """Pass end of stream on; no urgent byte can come after it."""
        result = self._stream.eof_received()
        self._end()
        return result

    def connection_lost(self, exc: Exception | None) -> None:
        """Pass the loss on (the stream then calls :meth:`close`)."""
        self._stream.connection_lost(exc)

    def pause_writing(self) -> None:
        """Pass flow control on."""
        self._stream.pause_writing()

    def resume_writing(self) -> None:
        """Pass flow control on."""
        self._stream.resume_writing()

    # -- the watcher's side ----------------------------------------------------

    def _on_events(self, mask: int) -> None:
        """The kernel has news about the socket (``epoll`` events in ``mask``)."""
        took = bool(mask & select.EPOLLPRI) and self._take()
        if mask & (select.EPOLLHUP | select.EPOLLERR):
            # Hung up (both directions ended) or reset: the transport reports
            # which, and any end comes to the waiter through it.
            self._unwatch()
        elif mask & select.EPOLLRDHUP:
            self._end()  # the peer's FIN, this side still open: a clean end
        elif not took:
            # EPOLLPRI with no byte to give (SO_OOBINLINE was turned on): stop,
            # or it would be reported again and again.
            self._unwatch()

    def _take(self) -> bool:
        """Take the urgent byte the kernel holds, if any; return whether one came."""
        try:
            byte = self._sock.recv(1, _OOB_READ)
        except OSError:
            # EINVAL: none (or it was read, or passed); EAGAIN: not arrived yet;
            # ENOTCONN: reset.
            return False
        if not byte:
            return False
        self._deliver(byte)
        return True

    def _deliver(self, byte: bytes) -> None:
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            self._waiter = None
            waiter.set_result(byte)
        else:
            self._received.append(byte)

    def _unwatch(self) -> None:
        watcher = self._watcher
        if watcher is not None:
            self._watcher = None
            watcher.remove(self._fd, self)

    def _end(self) -> None:
        """The peer ended its stream: stop watching, and end a waiting receive."""
        self._ended = True
        self._unwatch()
        self._wake()

    def _wake(self) -> None:
        """Complete a waiting receive with the end (``b""``, or its error)."""
        waiter = self._waiter
        if waiter is None or waiter.done() or self._received:
            return
        outcome = self._outcome()
        if outcome is None:
            return
        self._waiter = None
        if isinstance(outcome, BaseException):
            waiter.set_exception(outcome)
            waiter.exception()  # the waiting task may have gone
        else:
            waiter.set_result(outcome)

    def _outcome(self) -> bytes | BaseException | None:
        """What a receive gets with nothing queued: ``None`` if it must wait."""
        stream = self._stream
        if stream._closing:
            return ClosedResourceError("the stream was closed")
        if stream._error is not None:
            return stream._broken()
        if self._ended or self._closed or stream._eof:
            return b""
        return None

    # -- the stream's side -----------------------------------------------------

    def receive(self) -> Awaitable[bytes]:
        """Return an awaitable of the next urgent byte (``b""`` at the end).

        It takes its byte when it first runs, as a coroutine would, and gives
        it back (to the front of the queue) if its task is cancelled after
        the byte came but before it ran again. A second task waiting at the
        same time gets :class:`~aiosock.BusyResourceError`.
        """
        if self._stream._closing:
            raise ClosedResourceError("the stream was closed")
        return self._wait()

    @types.coroutine
    def _wait(self) -> Generator[Any, Any, bytes]:
        if self._stream._closing:
            raise ClosedResourceError("the stream was closed")
        if self._received:
            return self._received.popleft()
        outcome = self._outcome()
        if isinstance(outcome, BaseException):
            raise outcome
        if outcome is not None:
            return outcome
        current = self._waiter
        if current is not None and not current.done():
            raise BusyResourceError("another task is already waiting for urgent data")
        waiter: asyncio.Future[bytes] = self._loop.create_future()
        self._waiter = waiter
        try:
            return (yield from waiter)
        except BaseException:
            if waiter.done() and not waiter.cancelled() and not waiter.exception():
                byte = waiter.result()
                if byte:
                    self._received.appendleft(byte)
            elif self._waiter is waiter:
                self._waiter = None
            raise

    def close(self) -> None:
        """Stop watching: the stream was closed here, or its connection lost.

        A task waiting for urgent data gets the end: ``ClosedResourceError`` if
        the stream was closed here, ``BrokenResourceError`` after a reset,
        ``b""`` otherwise.
        """
        if self._closed:
            return
        self._closed = True
        self._unwatch()
        self._wake()
