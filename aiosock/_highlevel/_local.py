"""Local-namespace extras: peer credentials and ancillary data (descriptors, creds).

Strategy: the socket-level helpers at the top (``try_send_message``,
``try_receive_message``) make one non-blocking ``sendmsg``/``recvmsg`` call and
return ``None``/``False`` on ``EAGAIN``; every socket kind that reads on demand
(sequenced packets, datagrams) calls them from its own receive and send loops.

A :class:`~aiosock.Stream` is different: its transport reads ahead with plain
``recv``, and the kernel discards (closes) descriptors that arrive with bytes read
that way. So descriptors and the bytes they came with must be read together by
``recvmsg``, never by the transport:

- :func:`stream_receive_message` pauses the transport's reading, returns whatever
  the stream already holds first (those bytes were read without ancillary data),
  then reads with ``recvmsg`` on the socket itself until something comes, and
  resumes the transport. While it waits, the stream's own receive waiter stays
  parked, so bytes the transport had already read in the same loop iteration are
  returned rather than lost, and a second receiver is refused as usual.
- :func:`stream_send_fds` waits until the transport's write buffer is empty (so
  the bytes keep their place in the stream), then calls ``sendmsg`` on the socket;
  a partial send hands the rest to the transport at once, before anything else.

The kernel ties descriptors to the first byte sent with them and never merges
them into a read that already holds other bytes, so ``recvmsg`` returns them with
exactly the bytes that carried them (or with a prefix of them, when ``max_bytes``
is smaller: the rest follows in the next read).
"""

from __future__ import annotations

import array
import asyncio
import contextlib
import errno
import os
import socket
import struct
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any, Final

import attrs

from .._foundation._addresses import ConcreteAddress, from_sockaddr
from .._foundation._credentials import Credentials
from .._foundation._errors import (
    AiosockError,
    BrokenResourceError,
    ClosedResourceError,
)
from .._foundation._options import get as get_option
from ._drain import flush

if TYPE_CHECKING:
    from ._stream import Stream

__all__ = [
    "ANCILLARY_SPACE",
    "MAX_FDS",
    "DescriptorsLostError",
    "LocalMessage",
    "close_fds",
    "fds_ancillary",
    "parse_ancillary",
    "peer_credentials",
    "stream_receive_message",
    "stream_send_fds",
    "try_receive_message",
    "try_send_message",
]

#: The most descriptors one message can carry (the kernel's ``SCM_MAX_FD``).
MAX_FDS: Final = 253
_INT_SIZE: Final = array.array("i").itemsize
_UCRED: Final = struct.Struct("=iII")
#: Control buffer with room for the most the kernel ever attaches to one message.
ANCILLARY_SPACE: Final = socket.CMSG_SPACE(MAX_FDS * _INT_SIZE) + socket.CMSG_SPACE(
    _UCRED.size
)
_BROKEN_ERRNOS: Final = {errno.EPIPE, errno.ECONNRESET, errno.ENOTCONN}


class DescriptorsLostError(AiosockError, OSError):
    """The kernel dropped descriptors sent with a message (``MSG_CTRUNC``).

    aiosock always offers room for the most descriptors a message can carry, so
    this means the kernel could not install them, usually because the process
    reached its descriptor limit (``RLIMIT_NOFILE``). Descriptors that did arrive
    with the message have been closed.

    Attributes:
        data: The bytes that came with the lost descriptors. On a stream they are
            part of the byte stream: use them.
        address: The sender's address (datagram sockets), else ``None``.
    """

    def __init__(
        self, reason: str, data: bytes, *, address: ConcreteAddress | None = None
    ) -> None:
        super().__init__(errno.EMFILE, reason)
        self.reason = reason
        self.data = data
        self.address = address

    def __str__(self) -> str:
        return self.reason


DescriptorsLostError.__module__ = "aiosock"


@attrs.frozen
class LocalMessage:
    """One receive with its ancillary data, as ``recvmsg`` gives it.

    Attributes:
        data: The bytes (a whole record or datagram on message sockets).
        fds: Descriptors that came with them (``SCM_RIGHTS``), owned by the
            caller: close them when done. They are close-on-exec.
        credentials: The sender's credentials (``SCM_CREDENTIALS``) when the
            receiving socket has the ``pass_credentials`` option on, else ``None``.
        address: The sender's address (datagram sockets), else ``None``.
    """

    data: bytes
    fds: list[int] = attrs.field(factory=list)
    credentials: Credentials | None = None
    address: ConcreteAddress | None = None


# -- socket level ----------------------------------------------------------------


def close_fds(fds: Iterable[int]) -> None:
    """Close each descriptor, ignoring those already closed."""
    for fd in fds:
        with contextlib.suppress(OSError):
            os.close(fd)


def fds_ancillary(fds: Iterable[int]) -> list[tuple[int, int, bytes]]:
    """Return the ``sendmsg`` ancillary data that passes ``fds`` (``SCM_RIGHTS``).

    Raises:
        ValueError: A descriptor is not an ``int`` >= 0, or there are more than
            :data:`MAX_FDS`.
        TypeError: ``fds`` is not an iterable of ``int``.
    """
    numbers: list[int] = []
    for fd in fds:
        if isinstance(fd, bool) or not isinstance(fd, int):
            raise TypeError(
                f"expected descriptors as int, got {type(fd).__name__} {fd!r}"
            )
        if fd < 0:
            raise ValueError(f"expected descriptors >= 0, got {fd}")
        numbers.append(fd)
    if len(numbers) > MAX_FDS:
        raise ValueError(
            f"expected at most {MAX_FDS} descriptors per message, got {len(numbers)}"
        )
    if not numbers:
        return []
    return [(socket.SOL_SOCKET, socket.SCM_RIGHTS, array.array("i", numbers).tobytes())]


def _check_max(max_bytes: int, max_fds: int) -> None:
    if max_bytes < 1:
        raise ValueError(f"'max_bytes' must be at least 1 (got {max_bytes})")
    if not 0 <= max_fds <= MAX_FDS:
        raise ValueError(f"'max_fds' must be in 0..{MAX_FDS} (got {max_fds})")


def parse_ancillary(
    ancdata: list[tuple[int, int, bytes]],
) -> tuple[list[int], Credentials | None]:
    """Return the descriptors and credentials in ``recvmsg`` ancillary data."""
    fds: list[int] = []
    credentials = None
    for level, kind, payload in ancdata:
        if level != socket.SOL_SOCKET:
            continue
        if kind == socket.SCM_RIGHTS:
            usable = len(payload) - len(payload) % _INT_SIZE
            fds.extend(array.array("i", payload[:usable]))
        elif kind == socket.SCM_CREDENTIALS and len(payload) >= _UCRED.size:
            credentials = Credentials(*_UCRED.unpack(payload[: _UCRED.size]))
    return fds, credentials


def try_receive_message(
    sock: socket.socket,
    max_bytes: int,
    max_fds: int,
    *,
    flags: int = 0,
) -> tuple[LocalMessage, int] | None:
    """Make one non-blocking ``recvmsg``; ``None`` when nothing is there (``EAGAIN``).

    Descriptors beyond ``max_fds`` are closed; the kept ones are close-on-exec.

    Args:
        sock: A non-blocking socket.
        max_bytes: The largest number of bytes to take.
        max_fds: The most descriptors to keep (0..253).
        flags: Extra ``MSG_*`` flags (``MSG_TRUNC`` makes the length returned the
            message's real length, for datagram sockets).

    Returns:
        The message and the ``msg_flags`` of the call (test ``MSG_TRUNC``; the
        caller must close ``message.fds`` if it discards the message).

    Raises:
        DescriptorsLostError: The kernel dropped descriptors (``MSG_CTRUNC``).
        OSError: The socket's error (``ECONNRESET``, ...), untranslated.
    """
    try:
        data, ancdata, msg_flags, address = sock.recvmsg(
            max_bytes, ANCILLARY_SPACE, flags | socket.MSG_CMSG_CLOEXEC
        )
    except (BlockingIOError, InterruptedError):
        return None
    fds, credentials = parse_ancillary(ancdata)
    if msg_flags & socket.MSG_CTRUNC:
        close_fds(fds)
        raise DescriptorsLostError(
            f"the kernel dropped descriptors sent with a message of {len(data)} "
            "bytes (MSG_CTRUNC): is the process out of descriptors (RLIMIT_NOFILE)?",
            data,
        )
    if len(fds) > max_fds:
        close_fds(fds[max_fds:])
        del fds[max_fds:]
    peer = None
    if sock.type in (socket.SOCK_DGRAM, socket.SOCK_RAW):
        # Connection-less: say who sent it (an unnamed local sender is "").
        with contextlib.suppress(AiosockError, ValueError):
            peer = from_sockaddr(sock.family, address)
    return LocalMessage(data, fds, credentials, peer), msg_flags


def try_send_message(
    sock: socket.socket,
    data: bytes | bytearray | memoryview,
    ancillary: list[tuple[int, int, bytes]],
    address: tuple[Any, ...] | str | bytes | None = None,
) -> int | None:
    """Make one non-blocking ``sendmsg``; ``None`` when it would block.

    Returns:
        The number of bytes sent (all of them, on message sockets).

    Raises:
        OSError: The socket's error, untranslated.
    """
    try:
        if address is None:
            return sock.sendmsg([data], ancillary)
        return sock.sendmsg([data], ancillary, 0, address)
    except (BlockingIOError, InterruptedError):
        return None


def peer_credentials(sock: socket.socket) -> Credentials:
    """Return the credentials of the process at the other end (``SO_PEERCRED``).

    Raises:
        OptionError: ``sock`` is not a local-namespace socket.
        ClosedResourceError: The socket has no peer.
    """
    credentials: Credentials | None = get_option(sock, "peer_credentials")
    if credentials is None:
        raise ClosedResourceError("the socket has no peer, so no peer credentials")
    return credentials


def check_local(sock: socket.socket, what: str) -> None:
    """Raise ``ValueError`` unless ``sock`` is in the local namespace."""
    if sock.family != socket.AF_UNIX:
        raise ValueError(
            f"expected a local-namespace (unix) socket for {what}, "
            f"got {socket.AddressFamily(sock.family).name}"
        )


def broken(exc: OSError, doing: str) -> BrokenResourceError | OSError:
    """Return the error to raise for ``exc``: broken connections become typed."""
    if exc.errno in _BROKEN_ERRNOS:
        error = BrokenResourceError(f"cannot {doing}: the connection was broken: {exc}")
        error.__cause__ = exc
        return error
    return exc


# -- streams -----------------------------------------------------------------------


def _stream_socket(stream: Stream, what: str) -> socket.socket:
    if stream.get_extra_info("sslcontext") is not None:
        raise ValueError(f"{what} needs a plain Unix-domain stream, not TLS")
    sock = stream.socket
    check_local(sock, what)
    return sock


async def _writable(loop: asyncio.AbstractEventLoop, fd: int) -> None:
    ready = loop.create_future()

    def wake() -> None:
        if not ready.done():
            ready.set_result(None)

    loop.add_writer(fd, wake)
    try:
        await ready
    finally:
        loop.remove_writer(fd)


async def stream_send_fds(
    stream: Stream, data: bytes | bytearray | memoryview, fds: Iterable[int]
) -> None:
    """Send ``data`` with ``fds`` on ``stream`` (see :meth:`Stream.send_fds`)."""
    ancillary = fds_ancillary(fds)
    view = memoryview(data).cast("B")
    if not view:
        raise ValueError(
            "expected at least one byte of data: descriptors go with bytes"
        )
    sock = _stream_socket(stream, "send_fds()")
    loop = asyncio.get_running_loop()
    for _ in range(10_000):
        await stream.send(b"")  # raises as send() would on a closed or broken stream
        await flush(stream)
        if stream.transport.get_write_buffer_size():
            continue  # another task wrote while we waited: flush again
        try:
            sent = try_send_message(sock, view, ancillary)
        except OSError as exc:
            raise broken(exc, "send descriptors") from exc
        if sent is None:
            await _writable(loop, sock.fileno())
            continue
        if sent < len(view):
            # The descriptors went with the first byte; the rest follows at once.
            await stream.send(view[sent:])
        return
    raise BrokenResourceError("the stream never became writable for send_fds()")


async def stream_receive_message(
    stream: Stream, max_bytes: int, max_fds: int
) -> LocalMessage:
    """Receive bytes with their ancillary data (see :meth:`Stream.receive_fds`)."""
    _check_max(max_bytes, max_fds)
    sock = _stream_socket(stream, "receive_fds()")
    transport = stream.transport
    paused_here = transport.is_reading()
    if paused_here:
        transport.pause_reading()
    # The stream's own receive parks a waiter: it returns what is buffered (or
    # the end of stream) at once, refuses a second receiver, and catches bytes
    # the transport may still deliver in this loop iteration.
    try:
        parked = stream._receive_future(max_bytes)
    except BaseException:
        if paused_here:
            transport.resume_reading()
        raise
    taken = False
    try:
        while not parked.done():
            try:
                got = try_receive_message(sock, max_bytes, max_fds)
            except DescriptorsLostError:
                raise
            except OSError as exc:
                raise broken(exc, "receive descriptors") from exc
            if got is not None:
                return got[0]
            await _readable_or_done(sock.fileno(), parked)
        taken = True
        return LocalMessage(parked.result())
    finally:
        if not parked.done():
            parked.cancel()  # the stream treats a cancelled waiter as gone
        elif not taken and not parked.cancelled() and parked.exception() is None:
            stream._unread(parked.result())  # cancelled after bytes came: keep them
        if paused_here and not transport.is_closing() and not stream._reading_paused:
            transport.resume_reading()


async def _readable_or_done(fd: int, fut: asyncio.Future[bytes]) -> None:
    """Wait until ``fd`` is readable or ``fut`` is done."""
    loop = fut.get_loop()
    wake = loop.create_future()

    def ready(*_args: object) -> None:
        if not wake.done():
            wake.set_result(None)

    fut.add_done_callback(ready)
    loop.add_reader(fd, ready)
    try:
        await wake
    finally:
        loop.remove_reader(fd)
        fut.remove_done_callback(ready)
