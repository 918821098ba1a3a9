"""Datagram services: internal answers, ``python:`` handlers, and programs.

Strategy: the bound socket is read with ``recvfrom`` in batches when readable.

- internal services answer each datagram at once with ``sendto`` (a reply that
  would block is dropped, as UDP may drop it anyway), unless :func:`refusal`
  says the source cannot be a genuine client;
- ``python:`` handlers run in a task per datagram as
  ``handler(data, address, sock)`` where ``sock.send_to(data, address)`` replies;
- ``wait`` programs get the socket (``Service.spawn_wait``);
- ``nowait`` programs get the socket with the datagram still queued (it is only
  peeked at), one child per datagram. The socket is not watched again until the
  child has read that datagram (the head of the queue changed; checked every few
  milliseconds) or has exited: openbsd-inetd watches it at once and starts a
  child per wake-up until one reads (its manual's BUGS section). A datagram the
  child exits without reading is dropped.

  The head of the queue is told by its bytes, its source and, on Linux internet
  sockets, the time the kernel received it (``SIOCGSTAMPNS`` after the peek gives
  the stamp of the datagram peeked), so that a client's retransmission (the same
  bytes from the same socket) is not taken for the unread first copy. The stamp
  is switched on when the socket is bound (:func:`enable_receive_stamps`): it
  adds no ancillary data to what the child reads. Unix sockets have no such
  stamp: there two identical datagrams from one sender look the same.
"""

from __future__ import annotations

import asyncio
import fcntl
import logging
import socket
import sys
from typing import TYPE_CHECKING, Any

from .._foundation._addresses import ConcreteAddress, from_sockaddr
from ._internal import refusal, reply_for
from ._limits import DISABLED
from ._spawn import describe_status

if TYPE_CHECKING:
    from ._binding import Bound
    from ._service import Service

__all__ = ["DatagramReplier", "datagram_readable", "enable_receive_stamps"]

logger = logging.getLogger("aiosock.inetd")

_BATCH = 64
_MAX_DATAGRAM = 65536
_CHECK_FIRST = 0.002
_CHECK_MAX = 0.05
#: Linux's ioctl for the receive time of the last datagram read or peeked.
_SIOCGSTAMPNS = 0x8907 if sys.platform == "linux" else None

#: A queued datagram as the daemon tells it: (data, source, receive stamp).
_Head = tuple[bytes, Any, bytes | None]


class DatagramReplier:
    """The ``sock`` of a ``python:`` datagram handler: replies from the service's port.

    Attributes:
        socket: The bound socket (an escape hatch; do not close it).
    """

    def __init__(self, sock: socket.socket) -> None:
        self.socket = sock

    @property
    def local_address(self) -> ConcreteAddress:
        """The service's address."""
        return from_sockaddr(self.socket.family, self.socket.getsockname())

    async def send_to(self, data: bytes, address: ConcreteAddress | Any) -> None:
        """Send one datagram to ``address`` (a typed address or a sockaddr)."""
        target: Any = (
            address.to_sockaddr() if hasattr(address, "to_sockaddr") else address
        )
        loop = asyncio.get_running_loop()
        while True:
            try:
                self.socket.sendto(data, target)
                return
            except (BlockingIOError, InterruptedError):
                ready = loop.create_future()
                fd = self.socket.fileno()
                loop.add_writer(fd, ready.set_result, None)
                try:
                    await ready
                finally:
                    loop.remove_writer(fd)


def datagram_readable(service: Service, bound: Bound) -> None:
    """Handle what is pending on a datagram socket of ``service``."""
    entry = service.entry
    if service.disabled:
        service.drain(bound, reason=DISABLED)
    elif entry.is_internal:
        _internal(service, bound)
    elif entry.is_python:
        _python(service, bound)
    elif entry.wait:
        head = _peek(bound.sock)
        if head is None:
            return
        if not service.admit(head[1], rate=False):
            _consume(bound.sock)
            return
        service.spawn_wait(bound, head[1])
    else:
        _nowait(service, bound)


def _internal(service: Service, bound: Bound) -> None:
    sock, entry, context = bound.sock, service.entry, service.context
    builtin = entry.builtin or ""
    explicit_rate = entry.max_rate is not None
    for _ in range(_BATCH):
        try:
            data, source = sock.recvfrom(_MAX_DATAGRAM)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            continue  # an ICMP error reported for an earlier reply
        if not service.admit(source, rate=explicit_rate):
            if service.disabled:
                return
            continue
        why = refusal(
            sock.family,
            source,
            protected_ports=context.protected_ports,
            broadcasts=context.broadcasts,
        )
        if why is not None:
            logger.debug("%s: no reply: %s", entry.name, why)
            continue
        reply = reply_for(builtin, data, service.rotation)
        if reply is not None:
            try:
                sock.sendto(reply, source)
            except OSError as exc:
                logger.debug("%s: reply dropped: %s", entry.name, exc)


def _python(service: Service, bound: Bound) -> None:
    sock = bound.sock
    for _ in range(_BATCH):
        if not bound.watching:
            return
        try:
            data, source = sock.recvfrom(_MAX_DATAGRAM)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            continue
        if not service.admit(source):
            continue
        service.started(source)
        task = asyncio.get_running_loop().create_task(
            _run_python(service, bound, data, source)
        )
        service.tasks.add(task)
        task.add_done_callback(service.tasks.discard)


async def _run_python(service: Service, bound: Bound, data: bytes, source: Any) -> None:
    loop = asyncio.get_running_loop()
    started, name = loop.time(), service.entry.name
    handler = service.handler
    try:
        try:
            address: Any = from_sockaddr(bound.sock.family, source)
        except (ValueError, TypeError):
            address = source
        await handler(data, address, DatagramReplier(bound.sock))
    except asyncio.CancelledError:
        raise
    except Exception:
        logger.exception("%s: handler raised", service.entry.name)
    finally:
        service.ended(source)
        service.log_exit(source, started, None, None, name=name)


def enable_receive_stamps(sock: socket.socket) -> None:
    """Have the kernel stamp each datagram ``sock`` receives from now on.

    The first ``SIOCGSTAMPNS`` switches the stamps on (and finds none yet).
    """
    _stamp(sock)


def _stamp(sock: socket.socket) -> bytes | None:
    """The receive stamp of the datagram last read or peeked on ``sock``."""
    if _SIOCGSTAMPNS is None or sock.family == socket.AF_UNIX:
        return None
    try:
        return fcntl.ioctl(sock.fileno(), _SIOCGSTAMPNS, bytes(16))
    except OSError:
        return None


def _peek(sock: socket.socket) -> _Head | None:
    try:
        data, source = sock.recvfrom(_MAX_DATAGRAM, socket.MSG_PEEK)
    except (BlockingIOError, InterruptedError):
        return None
    except OSError:
        return None  # an ICMP error, now cleared
    return data, source, _stamp(sock)


def _consume(sock: socket.socket) -> None:
    try:
        sock.recv(1)
    except OSError:
        return


def _nowait(service: Service, bound: Bound) -> None:
    if bound.dispatched is not None:
        return
    head = _peek(bound.sock)
    if head is None:
        return
    source = head[1]
    if not service.admit(source):
        _consume(bound.sock)
        return
    service.started(source)
    loop = asyncio.get_running_loop()
    started, name = loop.time(), service.entry.name

    def exited(pid: int, code: int) -> None:
        if bound.dispatched is head:
            bound.dispatched = None
            if not service.closed and _peek(bound.sock) == head:
                logger.warning(
                    "%s: pid %d exited without reading its datagram; dropped",
                    service.entry.name,
                    pid,
                )
                _consume(bound.sock)
        service.ended(source)
        service.log_exit(source, started, pid, describe_status(code), name=name)

    def check(delay: float) -> None:
        if bound.dispatched is not head or service.closed:
            return
        if _peek(bound.sock) != head:
            bound.dispatched = None
            service.resume()
        else:
            next_delay = min(delay * 2, _CHECK_MAX)
            loop.call_later(next_delay, check, next_delay)

    def running(pid: int | None) -> None:
        if pid is not None:
            loop.call_later(_CHECK_FIRST, check, _CHECK_FIRST)
            return
        bound.dispatched = None
        if not service.closed:
            _consume(bound.sock)
        service.ended(source)

    service.unwatch(bound)
    bound.dispatched = head
    service.start_child(bound.sock.fileno(), exited, running, peer=source)
