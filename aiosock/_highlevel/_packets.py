"""``PacketStream``: a connection of the sequenced-packet style (``unixpacket:``).

Strategy: neither loop has a ``SOCK_SEQPACKET`` transport, so the stream drives
the non-blocking socket itself, reading and writing only on demand from the task
that calls it (:class:`FdWatcher` waits for readiness with ``add_reader`` /
``add_writer``):

- ``receive`` tries ``recvmsg_into`` at once and waits for readability only on
  ``EAGAIN``. Nothing is read ahead, so the kernel's queue is the only buffer
  (bounded, and the peer's sends wait when it is full) and a cancelled receive
  loses nothing: the record stays in the kernel. Records are read into the loop's
  shared receive buffer with ``MSG_TRUNC``, which makes the kernel report a
  record's real length: a longer record than ``max_bytes`` is an error, never a
  silent truncation.
- ``send`` hands the whole record to the kernel (a ``SOCK_SEQPACKET`` send is all
  or nothing) or, when the socket's send buffer is full, queues the calling task
  in FIFO order until it is writable. Only the task at the head of the queue
  sends, so records keep the order of the calls; a send that is cancelled before
  its turn sends nothing.
- The kernel returns 0 bytes both at end of stream and for an empty record; the
  two are told apart by asking whether anything is still queued (``FIONREAD``)
  and whether the peer shut down its side (``POLLRDHUP``). Empty records cannot
  be sent (the peer could not tell them from end of stream) and are skipped on
  receipt.
"""

from __future__ import annotations

import asyncio
import errno
import fcntl
import select
import socket
import struct
import termios
from collections import deque
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any, Final

from .._core._buffers import SHARED_BUFFER_SIZE, shared_buffer
from .._foundation._addresses import ConcreteAddress, from_sockaddr
from .._foundation._checks import check_count
from .._foundation._errors import (
    BrokenResourceError,
    BusyResourceError,
    ClosedResourceError,
    MessageTooLargeError,
)
from .._foundation._optionsview import OptionsView
from ._fdwatch import FdWatcher
from ._local import (
    LocalMessage,
    broken,
    close_fds,
    fds_ancillary,
    peer_credentials,
    try_receive_message,
)

if TYPE_CHECKING:
    from .._foundation._credentials import Credentials

__all__ = ["DEFAULT_MAX_RECORD", "PacketStream"]

#: The default ``max_bytes`` of :meth:`PacketStream.receive`: larger than the
#: biggest record the default send buffer (208 KiB on Linux) lets a peer send.
DEFAULT_MAX_RECORD: Final = SHARED_BUFFER_SIZE
#: Empty records skipped per call before the loop gets a turn.
_SKIP_BATCH: Final = 64


class PacketStream:
    """A connected sequenced-packet socket: reliable, ordered, whole records.

    Get one from :func:`aiosock.connect_packets` (or :func:`aiosock.connect`
    with a ``unixpacket:`` endpoint), from the handler argument of
    :func:`aiosock.serve_packets`, or from :func:`aiosock.packet_pair`.

    It has the shape of :class:`~aiosock.Stream`, but every :meth:`send` is one
    record and every :meth:`receive` returns exactly one whole record, as sent.
    One task at a time may receive (a second gets
    :class:`~aiosock.BusyResourceError`); any number may send, and their records
    go out in the order of the calls. After :meth:`aclose`, use raises
    :class:`~aiosock.ClosedResourceError`; after the peer went away with records
    unread, :class:`~aiosock.BrokenResourceError`.

    Args:
        sock: A connected ``SOCK_SEQPACKET`` socket; the stream owns it.
    """

    __slots__ = (
        "__weakref__",
        "_closing",
        "_eof",
        "_eof_requested",
        "_eof_sent",
        "_error",
        "_loop",
        "_options_view",
        "_receiving",
        "_senders",
        "_sock",
        "_watch",
    )

    def __init__(self, sock: socket.socket) -> None:
        if sock.type != socket.SOCK_SEQPACKET:
            raise ValueError(f"expected a SOCK_SEQPACKET socket, got {sock!r}")
        self._loop = asyncio.get_running_loop()
        sock.setblocking(False)
        self._sock = sock
        self._watch = FdWatcher(self._loop, sock.fileno())
        self._receiving = False
        self._senders: deque[asyncio.Future[None]] = deque()
        self._closing = False
        self._eof = False
        self._eof_requested = False
        self._eof_sent = False
        self._error: BaseException | None = None
        self._options_view: OptionsView | None = None

    # -- receiving -------------------------------------------------------------

    def _check_receive(self) -> None:
        if self._closing:
            raise ClosedResourceError("the stream was closed")
        if self._receiving:
            raise BusyResourceError("another task is already receiving on this stream")
        if self._error is not None:
            raise self._broken()

    def _broken(self) -> BrokenResourceError:
        exc = BrokenResourceError(f"the connection was broken: {self._error}")
        exc.__cause__ = self._error
        return exc

    async def receive(self, max_bytes: int = DEFAULT_MAX_RECORD) -> bytes:
        """Receive one whole record, waiting until one arrives.

        Args:
            max_bytes: The longest record accepted.

        Returns:
            The record (``b""`` at end of stream, and on every call after it).

        Raises:
            MessageTooLargeError: The record was longer than ``max_bytes``; the
                kernel discarded it (the stream stays usable).
            ClosedResourceError: The stream was closed by this side.
            BrokenResourceError: The peer closed with records unread here.
            BusyResourceError: Another task is receiving.
        """
        self._check_receive()
        check_count("max_bytes", max_bytes, minimum=1)
        self._receiving = True
        try:
            while True:
                record = self._read(max_bytes)
                if record is not None:
                    return record
                await self._watch.readable()
        finally:
            self._receiving = False

    def _read(self, max_bytes: int) -> bytes | None:
        """Return one record, ``b""`` at end of stream, ``None`` if none is ready."""
        if self._eof:
            return b""
        if max_bytes <= SHARED_BUFFER_SIZE:
            view = shared_buffer(self._loop)[:max_bytes]
        else:
            view = memoryview(bytearray(max_bytes))
        for _ in range(_SKIP_BATCH):
            try:
                size, _anc, flags, _addr = self._sock.recvmsg_into(
                    [view], 0, socket.MSG_TRUNC
                )
            except (BlockingIOError, InterruptedError):
                return None
            except OSError as exc:
                raise self._fail(exc, "receive") from exc
            if size > max_bytes or flags & socket.MSG_TRUNC:
                raise _too_large(size, max_bytes)
            if size:
                return bytes(view[:size])
            if self._at_eof():
                self._eof = True
                return b""
        return None

    def _at_eof(self) -> bool:
        """After a 0-byte read: end of stream, rather than an empty record?"""
        fd = self._sock.fileno()
        queued = struct.unpack("i", fcntl.ioctl(fd, termios.FIONREAD, b"\0" * 4))[0]
        if queued:
            return False
        poller = select.poll()
        poller.register(fd, select.POLLRDHUP)
        return bool(poller.poll(0))

    def _fail(self, exc: OSError, doing: str) -> BaseException:
        error = broken(exc, doing)
        if isinstance(error, BrokenResourceError):
            self._error = exc
        return error

    def __aiter__(self) -> PacketStream:
        return self

    async def __anext__(self) -> bytes:
        """Return the next record; stop at end of stream."""
        record = await self.receive()
        if not record:
            raise StopAsyncIteration
        return record

    # -- sending ---------------------------------------------------------------

    def _check_send(self) -> None:
        if self._closing:
            raise ClosedResourceError("the stream was closed")
        if self._eof_sent:
            raise ClosedResourceError("send_eof() was called")
        if self._error is not None:
            raise self._broken()

    async def send(self, record: bytes | bytearray | memoryview) -> None:
        """Send ``record`` whole; wait while the peer's queue is full.

        Raises:
            ValueError: The record is empty (a peer could not tell an empty record
                from the end of the stream).
            MessageTooLargeError: The record is larger than the socket's send
                buffer allows (raise the ``send_buffer`` option to send it).
            ClosedResourceError: The stream, or its sending side, was closed here.
            BrokenResourceError: The peer is gone.
        """
        view = memoryview(record)
        if not view.nbytes:
            raise ValueError("expected a non-empty record, got b''")
        self._check_eof_requested()
        sock = self._sock
        await self._send_turn(lambda: sock.send(view), view.nbytes)

    def _check_eof_requested(self) -> None:
        if self._closing:
            raise ClosedResourceError("the stream was closed")
        if self._eof_requested:
            raise ClosedResourceError("send_eof() was called")

    async def send_eof(self) -> None:
        """Shut down the sending side; the peer reads the end of stream.

        Records sent before it are delivered first; receiving still works.
        Calling it twice is harmless.

        Raises:
            ClosedResourceError: The stream was closed here.
        """
        if self._closing:
            raise ClosedResourceError("the stream was closed")
        if self._eof_requested:
            return
        self._eof_requested = True
        await self._send_turn(self._shutdown, 0)

    def _shutdown(self) -> int:
        self._eof_sent = True
        try:
            self._sock.shutdown(socket.SHUT_WR)
        except OSError as exc:
            raise self._fail(exc, "shut down") from exc
        return 0

    def _try(self, op: Callable[[], int], size: int) -> bool:
        """Run ``op`` once: ``True`` when done, ``False`` when it would block."""
        self._check_send()
        try:
            op()
        except (BlockingIOError, InterruptedError):
            return False
        except OSError as exc:
            if exc.errno == errno.EMSGSIZE:
                limit = self._sock.getsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF)
                raise MessageTooLargeError(
                    f"expected a record that fits the send buffer ({limit} bytes, "
                    f"less overhead), got {size} bytes",
                    size=size,
                    limit=limit,
                ) from exc
            raise self._fail(exc, "send") from exc
        return True

    async def _send_turn(self, op: Callable[[], int], size: int) -> None:
        """Run ``op`` in FIFO order among the senders, waiting while it would block."""
        if not self._senders and self._try(op, size):
            return
        turn = self._loop.create_future()
        self._senders.append(turn)
        try:
            if self._senders[0] is not turn:
                await turn  # the sender ahead wakes us when it is done
            while not self._try(op, size):
                await self._watch.writable()
        finally:
            head = bool(self._senders) and self._senders[0] is turn
            if turn in self._senders:
                self._senders.remove(turn)
            if head and self._senders and not self._senders[0].done():
                self._senders[0].set_result(None)

    # -- descriptors and credentials (local namespace extras) -------------------

    async def send_fds(
        self, record: bytes | bytearray | memoryview, fds: Iterable[int]
    ) -> None:
        """Send ``record`` with open descriptors ``fds`` (``SCM_RIGHTS``).

        The peer gets them with this record from :meth:`receive_fds`; ``fds``
        stay open here.
        """
        ancillary = fds_ancillary(fds)
        view = memoryview(record)
        if not view.nbytes:
            raise ValueError("expected a non-empty record, got b''")
        self._check_eof_requested()
        sock = self._sock
        await self._send_turn(lambda: sock.sendmsg([view], ancillary), view.nbytes)

    async def receive_fds(
        self, max_bytes: int = DEFAULT_MAX_RECORD, max_fds: int = 253
    ) -> tuple[bytes, list[int]]:
        """Receive one record and the descriptors sent with it.

        Returns:
            The record (``b""`` at end of stream) and its descriptors, which are
            the caller's to close; any beyond ``max_fds`` were closed.
        """
        message = await self.receive_message(max_bytes, max_fds=max_fds)
        return message.data, message.fds

    async def receive_message(
        self, max_bytes: int = DEFAULT_MAX_RECORD, *, max_fds: int = 253
    ) -> LocalMessage:
        """Receive one record with its descriptors and ``SCM_CREDENTIALS``.

        ``credentials`` is set when this socket has the ``pass_credentials``
        option on (turn it on before the peer sends).

        Raises:
            MessageTooLargeError: The record was longer than ``max_bytes``; it
                and its descriptors were discarded.
            DescriptorsLostError: The kernel dropped descriptors sent with it.
        """
        self._check_receive()
        check_count("max_bytes", max_bytes, minimum=1)
        check_count("max_fds", max_fds, minimum=0)
        if not 0 <= max_fds <= 253 or max_bytes < 1:
            raise ValueError(
                f"expected max_bytes >= 1 and max_fds in 0..253, "
                f"got {max_bytes} and {max_fds}"
            )
        self._receiving = True
        try:
            while not self._eof:
                message = self._read_message(max_bytes, max_fds)
                if message is not None:
                    return message
                await self._watch.readable()
            return LocalMessage(b"")
        finally:
            self._receiving = False

    def _read_message(self, max_bytes: int, max_fds: int) -> LocalMessage | None:
        for _ in range(_SKIP_BATCH):
            try:
                got = try_receive_message(self._sock, max_bytes, max_fds)
            except OSError as exc:
                raise self._fail(exc, "receive") from exc
            if got is None:
                return None
            message, flags = got
            if flags & socket.MSG_TRUNC:
                close_fds(message.fds)
                raise _too_large(None, max_bytes)
            if message.data or message.fds:
                return message
            if self._at_eof():
                self._eof = True
                return LocalMessage(b"")
        return None

    @property
    def peer_credentials(self) -> Credentials:
        """The process id, user id and group id of the peer (``SO_PEERCRED``)."""
        return peer_credentials(self.socket)

    # -- closing ---------------------------------------------------------------

    def _close(self) -> None:
        self._closing = True
        self._watch.close()
        senders = list(self._senders)
        self._senders.clear()
        for turn in senders:
            if not turn.done():
                turn.set_exception(ClosedResourceError("the stream was closed"))
                turn.exception()
        self._sock.close()

    async def aclose(self) -> None:
        """Close the stream. Idempotent.

        Records already sent stay queued for the peer, which reads them and then
        the end of stream; tasks waiting here get
        :class:`~aiosock.ClosedResourceError`.
        """
        if not self._closing:
            self._close()
        await asyncio.sleep(0)

    def abort(self) -> None:
        """Close at once (a Unix-domain peer sees the same as with :meth:`aclose`)."""
        if not self._closing:
            self._close()

    async def __aenter__(self) -> PacketStream:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    # -- introspection ---------------------------------------------------------

    @property
    def socket(self) -> socket.socket:
        """The socket (an escape hatch for options and ioctls, not for I/O)."""
        if self._closing:
            raise ClosedResourceError("the stream was closed")
        return self._sock

    @property
    def options(self) -> OptionsView:
        """The socket's options as a live mapping (``stream.options[...]``)."""
        if self._options_view is None:
            self._options_view = OptionsView(self.socket)
        return self._options_view

    @property
    def local_address(self) -> ConcreteAddress:
        """The typed address of this end."""
        return from_sockaddr(socket.AF_UNIX, self.socket.getsockname())

    @property
    def peer_address(self) -> ConcreteAddress:
        """The typed address of the other end."""
        return from_sockaddr(socket.AF_UNIX, self.socket.getpeername())

    @property
    def is_closing(self) -> bool:
        """Whether the stream was closed here."""
        return self._closing

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        """Return ``socket``, ``sockname`` or ``peername``, as asyncio transports do."""
        if self._closing:
            return default
        getters: dict[str, Callable[[], Any]] = {
            "socket": lambda: self._sock,
            "sockname": self._sock.getsockname,
            "peername": self._sock.getpeername,
        }
        getter = getters.get(name)
        if getter is None:
            return default
        try:
            return getter()
        except OSError:
            return default

    def __repr__(self) -> str:
        state = "closed" if self._closing else "open"
        try:
            where = f" {self.local_address} <-> {self.peer_address}"
        except Exception:
            where = ""
        return f"<PacketStream{where} {state}>"


def _too_large(size: int | None, limit: int) -> MessageTooLargeError:
    got = "a longer one" if size is None else f"{size} bytes"
    return MessageTooLargeError(
        f"expected a record of at most {limit} bytes (max_bytes), got {got}; "
        "it was discarded",
        size=size,
        limit=limit,
    )
