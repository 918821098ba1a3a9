"""Out-of-band ("urgent") data on stream sockets (the manual's "Out-of-Band Data").

Strategy: neither loop exposes ``MSG_OOB``, so aiosock works on the socket as the
manual does, without racing the transport's reads:

- sending waits until the transport's write buffer is empty (so the urgent byte
  does not overtake data already sent), then calls ``send(byte, MSG_OOB)``;
- receiving turns on ``SO_OOBINLINE`` and puts a tap in front of the stream (the
  transport's protocol becomes an :class:`UrgentTap`, a ``BufferedProtocol``).
  With the urgent byte inline, the kernel ends every read just before the urgent
  mark, so the byte is always the first of a read; before each read the tap asks
  ``SIOCATMARK`` whether the read starts at the mark and, if so, takes that first
  byte out as urgent data. Reading the byte out of band instead (``recv`` with
  ``MSG_OOB`` on ``EPOLLPRI``) would race the transport: once the normal reader
  passes the mark the kernel drops the byte.

Watching starts with the first :meth:`Stream.receive_urgent` call: an urgent byte
that arrived and was read past before then was already dropped by the kernel (TCP
keeps one urgent byte at a time, and a second one sent before the first was read
turns the first into normal data). :func:`at_mark` is the manual's ``SIOCATMARK``.
"""

from __future__ import annotations

import asyncio
import collections
import errno
import fcntl
import socket
import struct
from typing import TYPE_CHECKING, Final

from .._core._buffers import shared_buffer, shared_mapping
from .._foundation._errors import BrokenResourceError, ClosedResourceError

if TYPE_CHECKING:
    from ._stream import Stream

__all__ = ["UrgentTap", "at_mark", "send_urgent"]

#: The ``SIOCATMARK`` ioctl number on Linux.
SIOCATMARK: Final = 0x8905


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


async def send_urgent(stream: Stream, byte: bytes | int) -> None:
    """Send one byte of urgent data on ``stream`` after the data already sent."""
    data = _as_byte(byte)
    transport = stream.transport
    if transport.get_write_buffer_size():
        low, high = transport.get_write_buffer_limits()
        transport.set_write_buffer_limits(high=0, low=0)
        try:
            await stream._drain_waiter()
        finally:
            if not transport.is_closing():
                transport.set_write_buffer_limits(high=high, low=low)
    sock = stream.socket
    loop = asyncio.get_running_loop()
    for _ in range(1000):
        try:
            sock.send(data, socket.MSG_OOB)
        except (BlockingIOError, InterruptedError):
            ready = loop.create_future()
            loop.add_writer(sock.fileno(), ready.set_result, None)
            try:
                await ready
            finally:
                loop.remove_writer(sock.fileno())
        except OSError as exc:
            if exc.errno in (errno.EPIPE, errno.ECONNRESET):
                raise BrokenResourceError(f"cannot send urgent data: {exc}") from exc
            raise
        else:
            return
    raise BrokenResourceError("the socket never became writable for urgent data")


class UrgentTap(asyncio.BufferedProtocol):
    """Sits between the transport and a :class:`Stream`, taking out urgent bytes."""

    def __init__(self, stream: Stream, sock: socket.socket) -> None:
        self._stream = stream
        self._sock = sock
        self._loop = stream._loop
        self._view = shared_buffer(self._loop)
        self._mapping = shared_mapping(self._loop)
        self._urgent_next = False
        self._received: collections.deque[bytes] = collections.deque(maxlen=64)
        self._waiter: asyncio.Future[bytes] | None = None
        self._closed = False
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_OOBINLINE, 1)

    def get_buffer(self, sizehint: int) -> memoryview:
        """Note whether the coming read starts at the urgent mark."""
        try:
            self._urgent_next = at_mark(self._sock)
        except OSError:
            self._urgent_next = False
        return self._view

    def buffer_updated(self, nbytes: int) -> None:
        """Take out the urgent byte, if the read started with it; pass the rest on."""
        data = self._mapping[:nbytes]
        if self._urgent_next and data:
            self._urgent_next = False
            self._deliver(data[:1])
            data = data[1:]
            if not data:
                return
        self._stream.data_received(data)

    def eof_received(self) -> bool:
        """Pass end of stream on."""
        return self._stream.eof_received()

    def connection_lost(self, exc: Exception | None) -> None:
        """Pass the loss on."""
        self._stream.connection_lost(exc)

    def pause_writing(self) -> None:
        """Pass flow control on."""
        self._stream.pause_writing()

    def resume_writing(self) -> None:
        """Pass flow control on."""
        self._stream.resume_writing()

    def _deliver(self, byte: bytes) -> None:
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            self._waiter = None
            waiter.set_result(byte)
        else:
            self._received.append(byte)

    def receive(self) -> asyncio.Future[bytes]:
        """Return a future for the next urgent byte."""
        if self._received:
            fut = self._loop.create_future()
            fut.set_result(self._received.popleft())
            return fut
        if self._closed:
            raise ClosedResourceError("the stream was closed")
        if self._waiter is not None and not self._waiter.done():
            return self._waiter
        self._waiter = self._loop.create_future()
        return self._waiter

    def close(self) -> None:
        """Stop; a task waiting for urgent data gets ``ClosedResourceError``."""
        if self._closed:
            return
        self._closed = True
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_exception(ClosedResourceError("the stream was closed"))
            waiter.exception()
