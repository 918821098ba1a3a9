"""Datagram transports: the loop's own where it is fast, else one that drains.

Strategy (PERFORMANCE.md): uvloop's ``create_datagram_endpoint(sock=...)`` is C
all the way and is used for UDP there. The default loop's datagram transport
reads *one* datagram per readable event, so aiosock brings its own
:class:`DrainingTransport`: an ``add_reader`` callback that receives every queued
datagram (up to a bounded batch) per wake-up, as Twisted does (``recvfrom``
for datagrams up to 64 KiB, ``recvfrom_into`` the loop's shared buffer for
larger limits). It is also used on uvloop for Unix-domain
datagrams, which can be larger than uvloop's fixed 250 kB receive buffer (uvloop
would cut them short without a word).

Its subclass ``_dgram_messages.MessageTransport`` reads with ``recvmsg`` and
keeps descriptors and credentials (Unix-domain sockets that may be asked for
them). Both send ancillary data: ``sendmsg`` sends a datagram with it at once,
or queues it in order with the others and returns a future that is done once
the kernel took it.

Both report a datagram longer than ``max_size`` (``MSG_TRUNC`` tells the real
length) through ``error_received`` as :class:`~aiosock.MessageTooLargeError`,
never as cut-short data. ``DrainingTransport.sendto`` raises the kernel's error
at once (as ``socket.sendto`` does); only datagrams queued because the socket
was full report theirs later, through ``error_received``.

Datagrams to a Unix-domain receiver whose queue is full are parked for that
address (``_park``). A transport with a ``parked_limit`` (a server's) also
watches its socket's own send buffer once a send was refused: Linux charges a
datagram to its sender until it is read, with no queue limit for a receiver
connected to the sender, so such a receiver that does not read can fill the
buffer, and then every send is refused. After STALL_LIMIT of that, parked and
new datagrams are dropped (counted in ``dropped_sends``) until it drains, and
``error_received`` gets one ``ENOBUFS`` error that says so.

Call order to the protocol: ``connection_made -> (datagram_received |
message_received | error_received)* -> connection_lost``, with
``pause_writing``/``resume_writing`` pairs in between.

A protocol may read for itself: if it has ``read_datagrams(transport)``, the
transport calls that instead of reading when the socket is readable (limits up
to 64 KiB). It must read as :meth:`DrainingTransport._read_small` does: at most
:data:`READ_BATCH` datagrams with ``recvfrom(max_size, MSG_TRUNC)``, asking
``transport.more(0)`` after the first and stopping at ``EAGAIN`` or as soon as
``transport.reading`` is false. A datagram server does (one call per wake-up
instead of one per datagram, about 750 instructions per datagram fewer).
"""

from __future__ import annotations

import asyncio
import collections
import collections.abc
import contextlib
import errno
import fcntl
import select
import socket
import struct
import termios
from typing import TYPE_CHECKING, Any, Final

from .._foundation._errors import MessageTooLargeError
from .._foundation._loop import current_loop_name
from ._buffers import SHARED_BUFFER_SIZE, shared_buffer

if TYPE_CHECKING:
    from collections.abc import Callable

__all__ = [
    "MAX_UDP_PAYLOAD",
    "DrainingTransport",
    "make_datagram_transport",
    "too_large",
]

#: The largest UDP payload (65,535 less the 8-byte UDP header; IPv4 takes 20 more).
MAX_UDP_PAYLOAD: Final = 65527
#: The largest ``max_size`` read with ``recvfrom`` (larger: ``recvfrom_into``).
SMALL_DATAGRAMS: Final = 65536
#: Datagrams received per readable event at most (then other callbacks get a turn).
READ_BATCH: Final = 128
#: Bytes of queued outgoing datagrams above which the protocol is paused.
WRITE_HIGH_WATER: Final = 64 * 1024
#: Seconds between tries to send to a full Unix-domain receiver: first, most.
RETRY_FIRST: Final = 0.001
RETRY_MOST: Final = 0.05
#: Seconds a closing transport keeps trying to send to full Unix-domain
#: receivers; what they have not taken by then is dropped.
CLOSE_LINGER: Final = 2.0
#: Bytes a transport with a ``parked_limit`` parks for all addresses at most.
PARKED_TOTAL: Final = 4 * 1024 * 1024
#: What a parked datagram costs beside its bytes (its object, tuple and slot),
#: counted against ``parked_limit`` and PARKED_TOTAL.
PARKED_OVERHEAD: Final = 64
#: Seconds a transport with a ``parked_limit`` keeps datagrams while its
#: socket's own send buffer stays full; then they are dropped (see
#: :meth:`DrainingTransport._stalled`).
STALL_LIMIT: Final = 1.0

_SIOCOUTQ: Final = int(getattr(termios, "TIOCOUTQ", 0x5411))
_INT: Final = struct.Struct("i")

_MSG_TRUNC: Final = int(getattr(socket, "MSG_TRUNC", 0))


def too_large(size: int | None, limit: int) -> MessageTooLargeError:
    """Return the error for a received datagram longer than ``limit``.

    ``size`` is ``None`` where the read did not tell the datagram's length.
    """
    if size is None:
        what = f"received a datagram longer than {limit} bytes (max_size)"
    else:
        what = (
            f"received a datagram of {size} bytes, expected at most {limit} (max_size)"
        )
    return MessageTooLargeError(f"{what}; it was dropped", size=size, limit=limit)


def _poller(fd: int) -> Callable[[int], list[tuple[int, int]]]:
    """Return a ``poll(timeout)`` that says whether ``fd`` is readable now.

    A reader asks it once, after the first datagram of a wake-up: one datagram
    per wake-up is the common case (request and answer), and a ``recvfrom``
    that fails with ``EAGAIN`` costs about 8,700 instructions (the exception)
    where ``poll(0)`` costs about 1,100. When it says more are queued, the
    reader drains them until ``EAGAIN``.
    """
    poller = select.poll()
    poller.register(fd, select.POLLIN)
    return poller.poll


class DrainingTransport(asyncio.DatagramTransport):
    """A datagram transport that reads every queued datagram per wake-up.

    It owns ``sock`` and closes it in :meth:`close`.
    """

    def __init__(
        self,
        loop: asyncio.AbstractEventLoop,
        sock: socket.socket,
        protocol: asyncio.DatagramProtocol,
        *,
        max_size: int,
    ) -> None:
        super().__init__()
        self._loop = loop
        self._sock = sock
        self._fd = sock.fileno()
        self._protocol = protocol
        # A protocol may read for itself (``read_datagrams``), as a datagram
        # server does.
        self._reader = getattr(protocol, "read_datagrams", None)
        self._max_size = max_size
        self._view = (
            None
            if max_size <= SMALL_DATAGRAMS
            else shared_buffer(loop)
            if max_size <= SHARED_BUFFER_SIZE
            else memoryview(bytearray(max_size))
        )
        #: ``more(0)``: whether the socket is readable now (see :func:`_poller`).
        self.more = _poller(self._fd)
        #: Whether the transport reads: :meth:`is_reading` as an attribute, for
        #: a protocol that reads for itself.
        self.reading = False
        self._closing = False
        self._closed = False
        # (datagram, address, None) or, from sendmsg(), (datagram, address,
        # (ancillary data, future done once the kernel took it)).
        self._queue: collections.deque[tuple[bytes, Any, Any]] = collections.deque()
        self._queued_bytes = 0
        self._protocol_paused = False
        self._unix = sock.family == socket.AF_UNIX
        self._retry: asyncio.TimerHandle | None = None
        self._retry_delay = RETRY_FIRST
        # Unix-domain datagrams to an address whose receiver's queue is full,
        # by address: they wait there, in order, while datagrams to everyone
        # else go on (one queue for all would let one receiver that does not
        # read stop every answer). See :meth:`_park`.
        self._parked: dict[Any, collections.deque[tuple[bytes, Any, Any]]] = {}
        #: Bytes parked per address at most, or ``None`` (no limit: they count
        #: towards pausing the protocol instead). A server sets it; past it
        #: (or past PARKED_TOTAL for all addresses), datagrams to that address
        #: are dropped and counted.
        self.parked_limit: int | None = None
        self._parked_size: dict[Any, int] = {}
        self._parked_bytes = 0
        #: Datagrams dropped: over ``parked_limit``, refused by a receiver
        #: that went away while they waited, left at the end of a close's
        #: linger, or waiting when the transport was aborted.
        self.dropped_sends = 0
        # Since when the socket's own send buffer has been seen full (loop
        # time), and whether that was reported (see :meth:`_stalled`).
        self._full_since: float | None = None
        self._stall_reported = False
        self._linger: asyncio.TimerHandle | None = None
        self._extra: dict[str, Any] = {"socket": sock}
        with contextlib.suppress(OSError):
            self._extra["sockname"] = sock.getsockname()
        try:
            self._extra["peername"] = sock.getpeername()
        except OSError:
            self._extra["peername"] = None
        loop.call_soon(protocol.connection_made, self)
        loop.call_soon(self._start_reading)

    # -- reading ---------------------------------------------------------------

    def _start_reading(self) -> None:
        if not self._closing and not self.reading:
            self.reading = True
            self._loop.add_reader(self._fd, self._read_ready)

    def pause_reading(self) -> None:
        """Stop reading: datagrams wait in the kernel's queue (and drop when full)."""
        if self.reading:
            self.reading = False
            self._loop.remove_reader(self._fd)

    def resume_reading(self) -> None:
        """Start reading again."""
        self._start_reading()

    def is_reading(self) -> bool:
        """Whether the transport is reading."""
        return self.reading

    def _read_ready(self) -> None:
        if self._max_size > SMALL_DATAGRAMS:
            self._read_large()
            return
        # Up to 64 KiB, recvfrom() into a fresh bytes object is cheaper than
        # recvfrom_into() a reused buffer and a copy (the allocation comes from
        # the heap and is shrunk in place). MSG_TRUNC makes the kernel return
        # the datagram's real length, so one longer than the limit is seen.
        reader = self._reader
        if reader is not None:
            reader(self)
        else:
            self._read_small(self._protocol)

    def _read_small(self, protocol: asyncio.DatagramProtocol) -> None:
        recv = self._sock.recvfrom
        limit = self._max_size
        received = protocol.datagram_received
        more = self.more
        for count in range(READ_BATCH):
            try:
                data, addr = recv(limit, _MSG_TRUNC)
            except (BlockingIOError, InterruptedError):
                return
            except OSError as exc:
                # An ICMP error reported by the kernel (connected UDP), once.
                protocol.error_received(exc)
            else:
                if len(data) <= limit:
                    received(data, addr)
                else:
                    protocol.error_received(too_large(len(data), limit))
            if not self.reading or (count == 0 and not more(0)):
                return

    def read_now(self) -> bool:
        """Read what the kernel has queued now, not at the loop's next turn.

        A receiving task that finds nothing queued asks this before it waits:
        a task woken by a reader callback runs only at the loop's next turn
        (on the default loop, a second ``select`` and a pass of Python code),
        so a datagram that is already in the kernel's queue is cheaper to take
        at once. Returns whether the socket was readable.
        """
        if self.reading and self.more(0):
            self._read_ready()
            return True
        return False

    def _read_large(self) -> None:
        # Larger limits read into one reused buffer: a fresh allocation that
        # large would be an mmap/munmap pair per datagram.
        recv = self._sock.recvfrom_into
        view = self._view
        assert view is not None
        limit = self._max_size
        protocol = self._protocol
        received = protocol.datagram_received
        more = self.more
        for count in range(READ_BATCH):
            try:
                n, addr = recv(view, 0, _MSG_TRUNC)
            except (BlockingIOError, InterruptedError):
                return
            except OSError as exc:
                protocol.error_received(exc)
            else:
                if n <= limit:
                    received(bytes(view[:n]), addr)
                else:
                    protocol.error_received(too_large(n, limit))
            if not self.reading or (count == 0 and not more(0)):
                return

    # -- writing ---------------------------------------------------------------

    def sendto(self, data: Any, addr: Any = None) -> None:
        """Send one datagram now, or queue it while the socket is full.

        Raises:
            OSError: The kernel refused the datagram (raised at once).
        """
        if self._closing:
            raise ConnectionResetError("the transport is closing")
        if addr is not None and self._unix:
            if self._parked and addr in self._parked:
                self._park(data, addr, None)
                return
            try:
                self._sock.sendto(data, addr)
            except (BlockingIOError, InterruptedError):
                self._park(data, addr, None)
            return
        if not self._queue:
            try:
                if addr is None:
                    self._sock.send(data)
                else:
                    self._sock.sendto(data, addr)
            except (BlockingIOError, InterruptedError):
                self._loop.add_writer(self._fd, self._write_ready)
            else:
                return
        self._enqueue(data, addr, None)

    def sendmsg(
        self, data: Any, ancillary: list[tuple[int, int, bytes]], addr: Any = None
    ) -> asyncio.Future[None] | None:
        """Send one datagram with ancillary data (``sendmsg``), in order with the rest.

        Returns:
            ``None`` when the kernel took it at once; else the datagram is queued
            behind the others and the future is done once the kernel took it (or
            has the kernel's error). Cancel the future to take the datagram back
            while it waits. Descriptors in ``ancillary`` must stay open until then.

        Raises:
            OSError: The kernel refused the datagram (raised at once).
        """
        if self._closing:
            raise ConnectionResetError("the transport is closing")
        parked = addr is not None and self._unix
        # Behind what already waits for that receiver (or in the queue).
        waiting = addr in self._parked if parked else self._queue
        if not waiting:
            try:
                self._sendmsg(data, ancillary, addr)
            except (BlockingIOError, InterruptedError):
                if not parked:
                    self._loop.add_writer(self._fd, self._write_ready)
            else:
                return None
        sent: asyncio.Future[None] = self._loop.create_future()
        if parked:
            self._park(data, addr, (ancillary, sent))
        else:
            self._enqueue(data, addr, (ancillary, sent))
        return sent

    def _sendmsg(
        self, data: Any, ancillary: list[tuple[int, int, bytes]], addr: Any
    ) -> None:
        if addr is None:
            self._sock.sendmsg([data], ancillary)
        else:
            self._sock.sendmsg([data], ancillary, 0, addr)

    def _enqueue(self, data: Any, addr: Any, extra: Any) -> None:
        self._queue.append((bytes(data), addr, extra))
        self._count_queued(len(data))

    def _park(self, data: Any, addr: Any, extra: Any) -> None:
        """Keep a datagram for a Unix-domain receiver whose queue is full.

        Linux refuses it with ``EAGAIN`` while ``poll()`` says the socket is
        writable (it wakes only connected senders when a receiver reads), so
        waiting for writability would spin at full CPU: a timer tries again
        after 1 ms, backing off to 50 ms, for as long as some receiver does
        not read. Past ``parked_limit`` the datagram is dropped and counted.
        """
        size = len(data)
        cost = size + PARKED_OVERHEAD
        limit = self.parked_limit
        if limit is not None and (
            self._parked_size.get(addr, 0) + cost > limit
            or self._parked_bytes + cost > PARKED_TOTAL
            or (self._full_since is not None and self._stalled())
        ):
            self.dropped_sends += 1
            if extra is not None and not extra[1].done():
                extra[1].set_exception(
                    BlockingIOError(errno.EAGAIN, "the receiver's queue is full")
                )
            return
        queue = self._parked.get(addr)
        if queue is None:
            queue = self._parked[addr] = collections.deque()
        queue.append((bytes(data), addr, extra))
        self._parked_size[addr] = self._parked_size.get(addr, 0) + cost
        self._parked_bytes += cost
        if limit is None:
            self._count_queued(size)
        if self._retry is None:
            self._schedule_retry()

    def _schedule_retry(self) -> None:
        self._retry = self._loop.call_later(self._retry_delay, self._retry_parked)
        self._retry_delay = min(self._retry_delay * 2, RETRY_MOST)

    def _retry_parked(self) -> None:
        self._retry = None
        if self._closed:
            return
        progress = False
        checked = False
        for addr in list(self._parked):
            queue = self._parked.get(addr)
            while queue:
                data, _addr, extra = queue[0]
                try:
                    self._send_queued(data, addr, extra)
                except (BlockingIOError, InterruptedError):
                    if not checked and self.parked_limit is not None:
                        # Is it this receiver, or the socket's own buffer?
                        checked = True
                        if self._stalled():
                            self._drop_stalled()
                    break
                except OSError as exc:
                    # The receiver went away (or cannot be sent to): what waits
                    # for it is dropped, and reported once.
                    self._drop_parked(addr, exc, report=True)
                    progress = True
                    break
                queue.popleft()
                self._unpark_bytes(addr, len(data))
                progress = True
            if not queue:
                self._parked.pop(addr, None)
                self._parked_size.pop(addr, None)
        if progress:
            self._retry_delay = RETRY_FIRST
            self._full_since = None
        elif not checked and self._full_since is not None:
            self._stalled()  # nothing parked: watch the buffer until it drains
        if (self._parked or self._full_since is not None) and self._retry is None:
            self._schedule_retry()
        self._maybe_drained()

    def _own_buffer_full(self) -> bool:
        """Whether the socket's own send buffer is full (``SIOCOUTQ >= SO_SNDBUF``).

        Linux charges a Unix-domain datagram to its sender until the receiver
        reads it, and does not limit the queue of a receiver connected to the
        sender: such a receiver that does not read fills the sender's buffer,
        and then every send gets ``EAGAIN``, whoever it is for.
        """
        try:
            queued = _INT.unpack(fcntl.ioctl(self._fd, _SIOCOUTQ, b"\0" * 4))[0]
            size = self._sock.getsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF)
        except OSError:
            return False
        return bool(queued >= size)

    def _stalled(self) -> bool:
        """Whether the socket's own send buffer has been full for STALL_LIMIT.

        Asked only after a send got ``EAGAIN`` (and then on the retry timer
        until the buffer drains): a receiver whose queue is full has its
        datagrams parked for it alone, but while the socket's own buffer is
        full nothing can be sent to anyone, and waiting could last for ever.
        """
        if not self._own_buffer_full():
            self._full_since = None
            return False
        now = self._loop.time()
        if self._full_since is None:
            self._full_since = now
            if self._retry is None:
                self._schedule_retry()
        return now - self._full_since >= STALL_LIMIT

    def _drop_stalled(self) -> None:
        """Drop every parked datagram: the socket's own buffer stays full."""
        error = OSError(
            errno.ENOBUFS,
            f"the socket's send buffer (SO_SNDBUF) has been full for {STALL_LIMIT:g} s "
            "of datagrams that their receivers have not read: answers are dropped "
            "(counted) until it drains. Linux charges a Unix-domain datagram to the "
            "sending socket until it is read, without limit for a receiver connected "
            "to it: is a client connected to this socket not reading?",
        )
        for addr in list(self._parked):
            self._drop_parked(addr, error, report=False)
        if not self._stall_reported:
            self._stall_reported = True
            self._protocol.error_received(error)

    def _send_queued(self, data: bytes, addr: Any, extra: Any) -> None:
        """Send a datagram that waited (with its ancillary data, if any)."""
        if extra is not None:
            if not extra[1].done():  # else cancelled: not sent
                self._sendmsg(data, extra[0], addr)
                extra[1].set_result(None)
        elif addr is None:
            self._sock.send(data)
        else:
            self._sock.sendto(data, addr)

    def _drop_parked(self, addr: Any, exc: Exception, *, report: bool) -> None:
        """Drop what waits for ``addr``, failed with ``exc`` (reported once)."""
        queue = self._parked.pop(addr, None)
        if not queue:
            return
        self.dropped_sends += len(queue)
        for data, _addr, extra in queue:
            self._unpark_bytes(addr, len(data))
            if extra is not None and not extra[1].done():
                extra[1].set_exception(exc)
        self._parked_size.pop(addr, None)
        if report:
            self._protocol.error_received(exc)

    def _drop_all(self, why: str) -> None:
        """Drop every waiting datagram (a close's linger is over, or abort)."""
        for addr in list(self._parked):
            self._drop_parked(addr, ConnectionAbortedError(why), report=False)
        if self._queue:
            self._loop.remove_writer(self._fd)
            self.dropped_sends += len(self._queue)
            for _data, _addr, extra in self._queue:
                if extra is not None and not extra[1].done():
                    extra[1].set_exception(ConnectionAbortedError(why))
            self._queue.clear()
            self._queued_bytes = 0

    def _unpark_bytes(self, addr: Any, size: int) -> None:
        self._parked_size[addr] -= size + PARKED_OVERHEAD
        self._parked_bytes -= size + PARKED_OVERHEAD
        if self.parked_limit is None:
            self._queued_bytes -= size

    def _count_queued(self, size: int) -> None:
        self._queued_bytes += size
        if not self._protocol_paused and self._queued_bytes > WRITE_HIGH_WATER:
            self._protocol_paused = True
            self._protocol.pause_writing()

    def _maybe_drained(self) -> None:
        """Resume the protocol, or finish closing, once nothing waits."""
        if self._queue or (self._parked and self.parked_limit is None):
            return
        if self._protocol_paused:
            self._protocol_paused = False
            self._protocol.resume_writing()
        if self._closing and not self._parked:
            self._finish(None)

    def _write_ready(self) -> None:
        queue = self._queue
        while queue:
            data, addr, extra = queue[0]
            try:
                self._send_queued(data, addr, extra)
            except (BlockingIOError, InterruptedError):
                return
            except OSError as exc:
                if extra is not None:
                    extra[1].set_exception(exc)
                else:
                    self._protocol.error_received(exc)
            queue.popleft()
            self._queued_bytes -= len(data)
        self._loop.remove_writer(self._fd)
        self._maybe_drained()

    def get_write_buffer_size(self) -> int:
        """Bytes of datagrams queued because the socket (or a receiver) was full."""
        if self.parked_limit is None:
            return self._queued_bytes  # parked bytes are counted in it
        return self._queued_bytes + sum(
            len(item[0]) for queue in self._parked.values() for item in queue
        )

    @property
    def parked(self) -> collections.abc.Sized:
        """The addresses with datagrams waiting for their receiver: a live view.

        A protocol that sends with the socket itself while :attr:`write_queue`
        is empty must also find this empty (or not send to these addresses).
        """
        return self._parked

    @property
    def write_queue(self) -> collections.abc.Sized:
        """The datagrams waiting for room, a live view (read-only, for its length).

        While it is empty and the transport is open, a protocol may send with
        the socket itself: nothing would overtake a datagram waiting its turn.
        """
        return self._queue

    # -- closing ---------------------------------------------------------------

    def is_closing(self) -> bool:
        """Whether :meth:`close` or :meth:`abort` was called."""
        return self._closing

    def close(self) -> None:
        """Stop reading; close once queued datagrams are sent."""
        if self._closing:
            return
        self._closing = True
        self.pause_reading()
        if not self._queue and not self._parked:
            self._loop.call_soon(self._finish, None)
        else:
            self._linger = self._loop.call_later(CLOSE_LINGER, self._give_up)

    def _give_up(self) -> None:
        """The close's linger is over: drop what full receivers did not take."""
        self._linger = None
        if self._closed:
            return
        self._drop_all("the transport was closed")
        self._maybe_drained()

    def abort(self) -> None:
        """Close at once, dropping queued datagrams."""
        self._closing = True
        self.pause_reading()
        if self._retry is not None:
            self._retry.cancel()
            self._retry = None
        self._drop_all("the transport was aborted")
        self._loop.call_soon(self._finish, None)

    def _finish(self, exc: Exception | None) -> None:
        if self._closed:
            return
        self._closed = True
        if self._retry is not None:
            self._retry.cancel()
            self._retry = None
        if self._linger is not None:
            self._linger.cancel()
            self._linger = None
        try:
            self._protocol.connection_lost(exc)
        finally:
            self._sock.close()

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        """Return ``socket``, ``sockname`` or ``peername`` as asyncio does."""
        return self._extra.get(name, default)

    def get_protocol(self) -> asyncio.BaseProtocol:
        """Return the protocol."""
        return self._protocol

    def set_protocol(self, protocol: asyncio.BaseProtocol) -> None:
        """Replace the protocol."""
        self._protocol = protocol  # type: ignore[assignment]
        self._reader = getattr(protocol, "read_datagrams", None)


def uses_loop_transport(
    loop: asyncio.AbstractEventLoop, family: int, max_size: int
) -> bool:
    """Whether the loop's own datagram transport serves this socket well.

    uvloop's, for UDP whose datagrams fit in its receive buffer; the draining
    transport everywhere else.
    """
    return (
        family != socket.AF_UNIX
        and max_size >= MAX_UDP_PAYLOAD
        and current_loop_name(loop) == "uvloop"
    )


async def make_datagram_transport(
    sock: socket.socket,
    protocol_factory: Callable[[], asyncio.DatagramProtocol],
    *,
    max_size: int,
    draining: bool = False,
    ancillary: int = 0,
) -> tuple[asyncio.DatagramTransport, bool]:
    """Put the fastest datagram transport of the running loop on ``sock``.

    Args:
        sock: The bound (and maybe connected) non-blocking socket.
        protocol_factory: Returns the protocol.
        max_size: The longest datagram to take.
        draining: Use :class:`DrainingTransport` on every loop. Servers ask for
            it: a handler per datagram, run from the reader's loop over every
            queued datagram, measured faster than uvloop's one callback per
            datagram (0.82-0.91x against 0.77-0.78x of a bare uvloop protocol,
            UDP 100 B over 20 sockets), while a receiving task is as fast on
            either.
        ancillary: Read with ``recvmsg`` and a control buffer of this size
            (``MessageTransport``, which hands datagrams that came with
            ancillary data to the protocol's ``message_received``).

    Returns:
        The transport (which owns ``sock`` from now on) and whether it is the
        loop's own (uvloop's, which reports send errors through
        ``error_received`` rather than raising them).
    """
    loop = asyncio.get_running_loop()
    if (
        not draining
        and not ancillary
        and uses_loop_transport(loop, sock.family, max_size)
    ):
        own, _protocol = await loop.create_datagram_endpoint(
            protocol_factory, sock=sock
        )
        return own, True
    waiter = loop.create_future()
    protocol = protocol_factory()
    if ancillary:
        from ._dgram_messages import MessageTransport  # it subclasses ours

        transport: DrainingTransport = MessageTransport(
            loop, sock, protocol, max_size=max_size, ancillary=ancillary
        )
    else:
        transport = DrainingTransport(loop, sock, protocol, max_size=max_size)
    loop.call_soon(waiter.set_result, None)
    await waiter  # connection_made has run
    return transport, False
