"""The receiving half of ``DatagramSocket``: protocol callbacks and the queue.

Strategy: see ``_datagram``. :class:`DatagramBase` holds every piece of a
datagram socket's state, takes the transport's callbacks and implements
``receive``/``receive_from``: a queued datagram in a done future, or one parked
future that ``datagram_received`` completes with the datagram itself. Sender
addresses become typed addresses through a small cache.

Queued datagrams are ``(data, sockaddr, extra)``: ``extra`` is ``None``, or the
descriptors and credentials that came with the datagram (``_datagram_local``),
whose descriptors a receive that did not ask for them closes.

Errors keep the kernel's order. A datagram longer than ``max_size`` keeps its
place in the queue as an error item, ``(b"", None, MessageTooLargeError)``,
bounded like the rest: each one is raised once, by the receive whose turn it
is, between the datagrams that came before and after it. Its ``extra`` is not
``None``, so a datagram that fits pays nothing for the check. An error about no
one datagram (``ConnectionRefusedError`` after an ICMP port-unreachable on a
connected UDP socket) waits in ``_error``: queued datagrams first, then the
error, raised once by the next operation, a send too.
"""

from __future__ import annotations

import asyncio
import collections
import operator
import socket
import types
from typing import TYPE_CHECKING, Any, Final, Self

from .._core._dgram import send_error
from .._core._dgram_transport import DrainingTransport
from .._foundation._addresses import ConcreteAddress, from_sockaddr
from .._foundation._errors import (
    BusyResourceError,
    ClosedResourceError,
    MessageTooLargeError,
)
from .._foundation._loop import future_factory
from ._destinations import Destinations
from ._local import close_fds

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable, Generator

    from .._core._listeners import Listener
    from .._foundation._endpoints import Endpoint
    from .._foundation._optionsview import OptionsView
    from ._drain import Drain

__all__ = ["ADDRESS_CACHE_LIMIT", "DEFAULT_MAX_SIZE", "QUEUE_LIMIT", "DatagramBase"]

#: The default ``max_size``: room for the largest UDP datagram.
DEFAULT_MAX_SIZE: Final = 65536
#: Datagrams kept for a receiver that is not receiving; more are dropped, counted.
QUEUE_LIMIT: Final = 1024
#: Receives in a row that may read the kernel's queue at once instead of
#: waiting for the loop (then one waits, and other tasks get their turn).
EAGER_READS: Final = 4
#: Sender addresses remembered as typed addresses (the cache is then reset).
ADDRESS_CACHE_LIMIT: Final = 4096


#: No datagram received yet (``_last_address``).
_NOBODY: Any = object()


def _silence(fut: asyncio.Future[Any]) -> None:
    if fut.done() and not fut.cancelled():
        fut.exception()


def _is_datagram_error(error: BaseException) -> bool:
    """Whether ``error`` stands for one received datagram (it was too long).

    ``too_large`` sets ``limit``; a send's ``EMSGSIZE`` (``send_error``) does not.
    """
    return isinstance(error, MessageTooLargeError) and error.limit is not None


class DatagramBase(asyncio.DatagramProtocol):
    """The state and receiving side of :class:`~aiosock.DatagramSocket`."""

    # Slots: the per-datagram path reads a few dozen attributes, and an
    # instance dict of more than 30 keys is not shared, so each read would
    # be a dict look-up.
    __slots__ = (
        "__weakref__",
        "_address_class",
        "_addresses",
        "_backlog",
        "_closing",
        "_create_future",
        "_destinations",
        "_done",
        "_drain",
        "_dropped",
        "_eager",
        "_error",
        "_family",
        "_fast",
        "_holder",
        "_last_address",
        "_last_sockaddr",
        "_loop",
        "_lost",
        "_lost_waiter",
        "_max_size",
        "_options_view",
        "_queue",
        "_read_now",
        "_read_paused",
        "_remote",
        "_remote_sockaddr",
        "_reports_send_errors",
        "_send_error",
        "_sending",
        "_sock",
        "_sockaddr_of",
        "_transport",
        "_waiter",
        "_want_address",
        "_want_message",
        "_write_paused",
    )

    def __init__(
        self,
        sock: socket.socket,
        holder: Listener,
        *,
        remote: Endpoint | None = None,
        max_size: int = DEFAULT_MAX_SIZE,
    ) -> None:
        self._loop = asyncio.get_running_loop()
        # asyncio.Future() where that is the loop's own way, minus uvloop's
        # costly keyword argument (a receive that waits makes one per datagram).
        self._create_future = future_factory(self._loop)
        self._sock = sock
        self._holder = holder
        self._family = sock.family
        self._max_size = max_size
        self._transport: asyncio.DatagramTransport | None = None
        self._reports_send_errors = False
        self._remote = remote.address if remote is not None else None
        self._remote_sockaddr: Any = (
            remote.address.to_sockaddr()  # type: ignore[union-attr]
            if remote is not None
            else None
        )
        self._queue: collections.deque[tuple[bytes, Any, Any]] = collections.deque()
        self._waiter: asyncio.Future[Any] | None = None
        self._want_address = False
        # receive_message() waits: the waiter gets the queue item itself.
        self._want_message = False
        self._error: Exception | None = None
        self._send_error: Exception | None = None
        self._closing = False
        self._lost = False
        self._lost_waiter: asyncio.Future[None] | None = None
        self._write_paused = False
        #: Senders waiting for the write buffer to drain (made when one does).
        self._drain: Drain | None = None
        self._done: asyncio.Future[None] | None = None
        self._addresses: dict[Any, ConcreteAddress] = {}
        # The typed address last handed to a receiver and its sockaddr as
        # received: send_to() answers it without converting it back.
        self._last_address: Any = _NOBODY
        self._last_sockaddr: Any = None
        self._destinations = Destinations(sock.family)
        self._address_class = self._destinations.address_class
        self._dropped = 0
        self._read_paused = False
        self._sending = False
        self._fast = False
        self._sockaddr_of: Any = (
            operator.attrgetter("host", "port")
            if sock.family == socket.AF_INET
            else operator.methodcaller("to_sockaddr")
        )
        self._options_view: OptionsView | None = None
        # DrainingTransport.read_now (both loops wake a receiving task a turn
        # after its reader ran); eager reads since the task last waited,
        # bounded so that a flood cannot starve the loop; whether the last
        # receive took a queued datagram (the sign that more may be waiting).
        self._read_now: Callable[[], bool] | None = None
        self._eager = 0
        self._backlog = False

    def _attach(self, transport: asyncio.DatagramTransport, loop_owned: bool) -> None:
        self._transport = transport
        self._reports_send_errors = loop_owned
        if isinstance(transport, DrainingTransport):
            self._read_now = transport.read_now

    # -- protocol callbacks ----------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        """Take the transport (called once by the loop)."""
        self._transport = transport  # type: ignore[assignment]
        done = self._loop.create_future()
        done.set_result(None)
        self._done = done
        self._refresh()

    def datagram_received(self, data: bytes, addr: Any) -> None:
        """Hand the datagram to a parked receiver, or queue it."""
        waiter = self._waiter
        if waiter is not None:
            self._waiter = None
            if not waiter.done():
                if self._want_address:
                    if self._want_message:
                        waiter.set_result((data, addr, None))
                    else:
                        waiter.set_result((data, self._address_of(addr)))
                else:
                    waiter.set_result(data)
                return
        queue = self._queue
        if len(queue) < QUEUE_LIMIT:
            queue.append((data, addr, None))
            return
        self._queue_over_limit((data, addr, None))

    def _queue_over_limit(self, item: tuple[bytes, Any, Any]) -> None:
        # Nobody receives: let the kernel's queue take the excess where the
        # transport can pause (the kernel then counts what it drops); else drop
        # here, and count it.
        pause = getattr(self._transport, "pause_reading", None)
        if pause is None:
            self._dropped += 1
            self._discard(item)
            return
        self._queue.append(item)
        if not self._read_paused:
            self._read_paused = True
            pause()

    def _discard(self, item: tuple[bytes, Any, Any]) -> None:
        """Close the descriptors of a datagram nobody will receive (if any)."""
        extra = item[2]
        if extra is not None and not isinstance(extra, BaseException):
            close_fds(extra[0])

    def error_received(self, exc: Exception) -> None:
        """Keep the error for the operation it belongs to."""
        if isinstance(exc, BlockingIOError | InterruptedError):
            return
        error = send_error(exc)
        if self._sending:
            self._send_error = error
            self._fast = False
            return
        waiter = self._waiter
        if waiter is not None:
            self._waiter = None
            if not waiter.done():
                waiter.set_exception(error)
                _silence(waiter)
                return
        if _is_datagram_error(error):
            # One datagram's error: its place in the queue, as the datagram's.
            item = (b"", None, error)
            if len(self._queue) < QUEUE_LIMIT:
                self._queue.append(item)
            else:
                self._queue_over_limit(item)
            return
        self._error = error
        self._fast = False

    def connection_lost(self, exc: Exception | None) -> None:
        """Wake every waiter and release the socket file."""
        self._lost = True
        self._closing = True
        self._fast = False
        self._wake_closed()
        if self._drain is not None:
            self._drain.release()
        self._holder.close()
        queue = self._queue
        while queue:
            self._discard(queue.popleft())
        lost = self._lost_waiter
        if lost is not None and not lost.done():
            lost.set_result(None)

    def pause_writing(self) -> None:
        """Note that the transport's queue is over its high-water mark."""
        self._write_paused = True
        self._fast = False

    def resume_writing(self) -> None:
        """Release senders waiting for the queue to drain."""
        self._write_paused = False
        self._refresh()
        if self._drain is not None:
            self._drain.release()

    # -- receiving -------------------------------------------------------------

    def _address_of(self, addr: Any) -> ConcreteAddress:
        """Return the typed address of a sockaddr as received (and remember both)."""
        try:
            address = self._addresses[addr]
        except KeyError:
            address = self._new_address(addr)
        except TypeError:  # an unhashable sockaddr: never seen on Linux
            return from_sockaddr(self._family, addr)
        if addr is not None:  # an unnamed local sender cannot be answered
            self._last_address = address
            self._last_sockaddr = addr
        return address

    def _new_address(self, addr: Any) -> ConcreteAddress:
        if addr is None:  # not cached: the sockaddr of no sender to answer
            if self._remote is not None:
                return self._remote  # type: ignore[return-value]  # a loop omits it
            return from_sockaddr(self._family, addr)
        addresses = self._addresses
        if len(addresses) >= ADDRESS_CACHE_LIMIT:
            addresses.clear()
        address = addresses[addr] = from_sockaddr(self._family, addr)
        return address

    def _wake_closed(self) -> None:
        waiter = self._waiter
        if waiter is not None:
            self._waiter = None
            if not waiter.done():
                waiter.set_exception(ClosedResourceError("the socket was closed"))
                _silence(waiter)

    def _ready(self, value: Any) -> asyncio.Future[Any]:
        fut = self._create_future()
        fut.set_result(value)
        return fut

    def _failed(self, error: BaseException) -> asyncio.Future[Any]:
        fut = self._create_future()
        fut.set_exception(error)
        return fut

    def _pop(self) -> tuple[bytes, Any, Any]:
        item = self._queue.popleft()
        self._backlog = True
        if self._read_paused and len(self._queue) <= QUEUE_LIMIT // 2:
            self._read_paused = False
            if not self._closing:
                self._transport.resume_reading()  # type: ignore[union-attr]
        return item

    def _park(
        self, want_address: bool, want_message: bool = False
    ) -> asyncio.Future[Any]:
        if self._closing:
            raise ClosedResourceError("the socket was closed")
        error = self._error
        if error is not None:
            self._error = None
            self._refresh()
            raise error
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            raise BusyResourceError("another task is already receiving on this socket")
        waiter = self._create_future()
        self._waiter = waiter
        self._want_address = want_address
        self._want_message = want_message
        read_now = self._read_now
        if read_now is not None:
            # Only after taking a queued datagram: the loop's last read found
            # more than one, so more are likely waiting in the kernel (a lone
            # request and its answer would pay a poll() for nothing). Read as
            # the loop would, with the waiter in place: the first datagram (or
            # error) goes to it, any more to the queue.
            backlog, self._backlog = self._backlog, False
            if backlog and self._eager < EAGER_READS and read_now() and waiter.done():
                self._eager += 1
                return waiter
            self._eager = 0
        return waiter

    def receive_from(self) -> Awaitable[tuple[bytes, ConcreteAddress]]:
        """Receive one datagram and the typed address of its sender.

        Returns:
            ``(data, address)``; an unnamed Unix-domain sender's address is
            ``LocalAddress("")``.

        Raises:
            ClosedResourceError: The socket was closed here.
            BusyResourceError: Another task is receiving.
            MessageTooLargeError: A datagram longer than ``max_size`` arrived (it
                was dropped).
            ConnectionRefusedError: The kernel reported that an earlier datagram
                was refused (connected UDP: an ICMP port-unreachable).
        """
        if self._queue and not self._closing:
            data, addr, extra = self._pop()
            if extra is not None:
                if isinstance(extra, BaseException):
                    return self._failed(extra)  # a datagram too long
                close_fds(extra[0])  # not asked for
            return self._ready((data, self._address_of(addr)))
        return self._wait(True)

    def receive(self) -> Awaitable[bytes]:
        """Receive one datagram (typically on a connected socket).

        Raises the same errors as :meth:`receive_from`.
        """
        if self._queue and not self._closing:
            data, _addr, extra = self._pop()
            if extra is not None:
                if isinstance(extra, BaseException):
                    return self._failed(extra)  # a datagram too long
                close_fds(extra[0])  # not asked for
            return self._ready(data)
        return self._wait(False)

    @types.coroutine
    def _wait(self, want_address: bool) -> Generator[Any, Any, Any]:
        """Wait for a datagram; if the wait is given up, lose nothing.

        It parks at its first step, not at the call: a task cancelled before it
        ever ran leaves no receive behind. The waiter gets the datagram as it
        came (``(data, addr, extra)``), so that a task cancelled between the
        datagram's arrival and its next step (asyncio throws the cancellation
        in instead) can give it back to the front of the queue.
        """
        if self._queue and not self._closing:  # (came since the call)
            item = self._pop()
        else:
            waiter = self._park(True, True)
            try:
                item = yield from waiter
            except BaseException as exc:
                self._give_back(waiter, exc)
                raise
        data, addr, extra = item
        if extra is not None:
            if isinstance(extra, BaseException):
                raise extra  # a datagram too long, in its turn
            close_fds(extra[0])  # not asked for
        return (data, self._address_of(addr)) if want_address else data

    def _give_back(self, waiter: asyncio.Future[Any], raised: BaseException) -> None:
        """Keep what a parked receive was handed if it raises something else.

        A task cancelled after its waiter was completed (asyncio then throws
        the cancellation in instead) puts the datagram, or the error that stood
        for one, back at the front of the queue; an error about no datagram
        goes back to ``_error`` (unless another came since).
        """
        if not waiter.done() or waiter.cancelled():
            return
        error = waiter.exception()
        if error is None:
            self._unread(waiter.result())
        elif error is raised or isinstance(error, ClosedResourceError):
            return
        elif _is_datagram_error(error):
            self._unread((b"", None, error))
        elif self._error is None and not self._closing:
            self._error = error  # type: ignore[assignment]
            self._fast = False

    def _unread(self, item: tuple[bytes, Any, Any]) -> None:
        """Put back a datagram taken by a receive that was then cancelled."""
        if self._lost:
            self._discard(item)
        else:
            self._queue.appendleft(item)

    def __aiter__(self) -> Self:
        return self

    async def __anext__(self) -> tuple[bytes, ConcreteAddress]:
        """Receive ``(data, address)`` pairs until the socket is closed."""
        try:
            return await self.receive_from()
        except ClosedResourceError:
            raise StopAsyncIteration from None

    def _check_send(self) -> None:
        """Raise what a send must raise now: closed here, or a pending error.

        The kernel reports an ICMP error to the next operation, a send too
        (an oversized datagram received is for receivers only).
        """
        if self._closing:
            raise ClosedResourceError("the socket was closed")
        error = self._error
        if error is not None and not isinstance(error, MessageTooLargeError):
            self._error = None
            self._refresh()
            raise error

    def _refresh(self) -> None:
        """Recompute ``_fast`` after a change of state."""
        self._fast = (
            self._remote_sockaddr is None
            and not self._closing
            and self._error is None
            and self._send_error is None
            and not self._write_paused
            and self._done is not None
        )
