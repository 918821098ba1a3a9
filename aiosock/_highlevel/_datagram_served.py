"""The sockets of a datagram server and its workers: the per-datagram path.

Strategy: see ``_datagram_server``. A :class:`ServedSocket` hands each datagram
to its server: inline, inside an idle :class:`Worker`'s task, when one is idle
(the common case); through ``DatagramServer._dispatch`` otherwise. It reads for
itself (``read_datagrams``, called by the draining transport once per wake-up),
so that the common case costs no call per datagram beyond the handler's, and a
worker's task stays entered from one datagram to the next. A reply to the
latest datagram goes straight to the socket (``send_to``).

Per datagram, in instructions (callgrind, UDP 100 B echo on uvloop): about
4,400 in ``recvfrom`` and 1,800 in ``sendto`` (CPython's socket module: the
sender's address formatted and parsed, the GIL released twice), about 4,000
for the handler's coroutine and its context, the rest here.
"""

from __future__ import annotations

import asyncio
import contextvars
import logging
import socket
from typing import TYPE_CHECKING, Any, Final

from .._core._dgram import send_error
from .._core._dgram_transport import READ_BATCH, too_large
from .._core._mmsg import BATCH, SLOT, batch_receiver, decode_sockaddr
from .._foundation._errors import BusyResourceError
from ._datagram import DatagramSocket
from ._datagram_base import ADDRESS_CACHE_LIMIT
from ._eager import enter_task as _enter_task
from ._eager import leave_task as _leave_task

if TYPE_CHECKING:
    from collections.abc import Awaitable, Sized

    from .._foundation._addresses import ConcreteAddress
    from ._datagram_server import DatagramServer
    from ._destinations import AddressLike
    from ._local import LocalMessage

__all__ = ["ServedSocket", "Worker"]

logger = logging.getLogger("aiosock.server")

#: What ``next`` returns when a handler's awaitable ends.
_RETURNED: Any = object()
_MSG_TRUNC: Final = int(getattr(socket, "MSG_TRUNC", 0))
#: Datagrams a recvmmsg() call must bring for the next to be worth it (below,
#: recvfrom is cheaper: a call costs about as much as three).
_WORTH_A_BATCH: Final = 3
#: Bytes of answers kept for one Unix-domain client whose queue is full.
PARKED_PER_CLIENT: Final = 256 * 1024


class Worker:
    """One worker task and the handler it was handed, if any."""

    __slots__ = ("handoff", "idle", "parked", "task")

    task: asyncio.Task[None]

    def __init__(self) -> None:
        self.parked: asyncio.Future[None] | None = None
        self.idle = False
        # (coroutine, context, what it yielded, exception to throw first, sender)
        self.handoff: tuple[Any, contextvars.Context, Any, Any, Any] | None = None


class ServedSocket(DatagramSocket):
    """A socket of a datagram server: what it receives goes to the handler.

    Its transport reads with ``recvfrom``: the handler gets no descriptors, so
    the kernel closes any that come with a datagram.
    """

    __slots__ = (
        "_base_context",
        "_batches",
        "_batching",
        "_entered",
        "_fast_idle",
        "_handler",
        "_parked_sends",
        "_raw_addresses",
        "_server",
        "_sock_recvfrom",
        "_sock_sendto",
        "_waiting_sends",
    )

    _ancillary_space = 0

    def __init__(self, *args: Any, server: DatagramServer, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._server = server
        # What the per-datagram path needs, one attribute away. ``_fast_idle``
        # is the server's list of idle workers, or an empty tuple once the
        # server closes (everything then goes through ``_dispatch``).
        self._fast_idle: list[Worker] | tuple[()] = server._idle
        self._handler = server._handler
        self._base_context = server._context
        self._batching = False
        self._entered: asyncio.Task[None] | None = None
        self._sock_sendto = self._sock.sendto
        self._sock_recvfrom = self._sock.recvfrom
        #: The loop's recvmmsg() reader (``_mmsg``), or ``None``.
        self._batches = (
            batch_receiver(self._loop, self._family) if self._max_size <= SLOT else None
        )
        #: Senders' raw sockaddr keys (``_mmsg``) -> (typed address, sockaddr).
        self._raw_addresses: dict[Any, tuple[ConcreteAddress, Any]] = {}
        self._waiting_sends: Sized = (0,)  # the transport's queue, once known
        self._parked_sends: Sized = ()  # its datagrams for full receivers

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        """Take the transport (called once by the draining transport)."""
        super().connection_made(transport)
        queue = getattr(transport, "write_queue", None)
        if queue is not None:
            self._waiting_sends = queue
        parked = getattr(transport, "parked", None)
        if parked is not None:
            # An answer to a Unix-domain client whose queue stays full waits
            # for it alone (bounded; past the bound it is dropped and counted
            # in DatagramServer.unsent): the others' answers go on.
            self._parked_sends = parked
            transport.parked_limit = PARKED_PER_CLIENT  # type: ignore[attr-defined]

    def datagram_received(self, data: bytes, addr: Any) -> None:
        """Run the handler for this datagram (inline when a worker is idle)."""
        # The common case, inlined: a worker is idle and the handler answers at
        # once. Everything else goes through DatagramServer._dispatch.
        idle = self._fast_idle
        address = self._addresses.get(addr)
        if address is None:
            address = self._address_of(addr)
        if addr is not None:  # an unnamed local sender cannot be answered
            self._last_address = address
            self._last_sockaddr = addr
        if not idle:
            self._server._dispatch(self, data, addr, address)
            return
        worker = idle[-1]  # it stays idle unless the handler has to wait
        context = self._base_context.copy()
        # The awaitable's iterator: ``next`` on it runs the first step, and a
        # handler that returns ends it without raising StopIteration (cheaper).
        try:
            steps = self._handler(data, address, self).__await__()
        except Exception as exc:  # not an async handler, or it raised at once
            self._server._failed(exc, address)
            return
        task = worker.task
        if self._entered is not task and not self._enter(task):
            # Called from inside a task (not a transport callback): use a task.
            self._server._start_steps(steps, context, address)
            return
        try:
            yielded = context.run(next, steps, _RETURNED)
        except BaseException as exc:
            if not self._batching:
                self._leave()
            self._server._failed(exc, address)
            return
        if not self._batching:
            self._leave()
        if yielded is not _RETURNED:
            self._server._hand_over(worker, steps, context, yielded, address)

    def send_to(
        self, data: bytes | bytearray | memoryview, address: AddressLike
    ) -> Awaitable[None]:
        """Send one datagram to ``address`` (see :meth:`DatagramSocket.send_to`)."""
        # The common case of a server, kept to a handful of operations: the
        # answer to the latest datagram, on the fast path (open, no error, not
        # paused), nothing waiting in the transport's queue: straight to the
        # socket, to the sockaddr as received.
        if (
            address is self._last_address
            and self._fast
            and data
            and not self._waiting_sends
            and not self._parked_sends
        ):
            try:
                self._sock_sendto(data, self._last_sockaddr)
            except (BlockingIOError, InterruptedError):
                pass  # the socket is full: the transport queues it below
            except OSError as exc:
                raise send_error(exc) from exc
            else:
                return self._done  # type: ignore[return-value]
        return DatagramSocket.send_to(self, data, address)

    # The draining transport lets the socket read for itself, once per
    # wake-up: no other task runs meanwhile, so a worker's task stays entered
    # from one datagram to the next (entering and leaving cost more than a
    # handler that answers at once) and is left at the end.

    def read_datagrams(self, transport: Any) -> None:
        """Read and handle the queued datagrams (called by the draining transport).

        It reads as the transport would (see ``_dgram_transport``): up to
        ``READ_BATCH`` datagrams, until ``EAGAIN`` or ``transport.reading`` is
        false, asking ``transport.more(0)`` after the first.
        """
        self._batching = True
        try:
            self._read(transport)
        finally:
            self._batching = False
            self._leave()

    def _read(self, transport: Any) -> None:
        recv = self._sock_recvfrom
        limit = self._max_size
        more = transport.more
        addresses = self._addresses
        handler = self._handler
        base_context = self._base_context
        server = self._server
        batches = self._batches
        count = 0
        while count < READ_BATCH:
            if count and (not transport.reading or (count == 1 and not more(0))):
                return
            if count == 2 and batches is not None:
                # A third datagram may be queued: take the rest many per
                # system call (not from the second: a call costs about as much
                # as three recvfrom). After a short batch, datagrams that come
                # meanwhile trickle in: recvfrom takes those.
                rest = self._read_batches(transport, READ_BATCH - 2)
                if not rest:
                    return
                count = READ_BATCH - rest
                batches = None
                continue
            count += 1
            try:
                data, addr = recv(limit, _MSG_TRUNC)
            except (BlockingIOError, InterruptedError):
                return
            except OSError as exc:
                self.error_received(exc)  # an ICMP error (connected UDP)
                continue
            idle = self._fast_idle
            address = addresses.get(addr)  # None: new, or an unnamed sender
            if address is None or len(data) > limit or not idle:
                self._received(data, addr)  # every case but the common one
                continue
            worker = idle[-1]
            if self._entered is not worker.task:
                self._received(data, addr)  # the batch's first datagram
                continue
            # datagram_received's common case, inlined: a worker is idle, its
            # task entered, the sender's address known.
            self._last_address = address
            self._last_sockaddr = addr
            context = base_context.copy()
            try:
                steps = handler(data, address, self).__await__()
            except Exception as exc:
                server._failed(exc, address)
                continue
            try:
                yielded = context.run(next, steps, _RETURNED)
            except BaseException as exc:
                server._failed(exc, address)
                continue
            if yielded is not _RETURNED:
                server._hand_over(worker, steps, context, yielded, address)

    def _read_batches(self, transport: Any, budget: int) -> int:
        """Read and handle up to ``budget`` datagrams with ``recvmmsg`` (``_mmsg``).

        The same steps as :meth:`_read`'s, per datagram, with the sender known
        by its raw sockaddr key. Returns what is left of ``budget`` if a batch
        brought few and more datagrams came since (recvfrom is then cheaper),
        else 0 (done).
        """
        batches = self._batches
        assert batches is not None
        fd = self._sock.fileno()
        limit = self._max_size
        raw_addresses = self._raw_addresses
        handler = self._handler
        base_context = self._base_context
        server = self._server
        while budget > 0 and transport.reading:
            want = min(budget, BATCH)
            try:
                received, sizes, keys = batches.receive(fd, want)
            except OSError as exc:
                self.error_received(exc)  # an ICMP error (connected UDP)
                budget -= 1
                continue
            budget -= len(received)
            # Everything is copied out: handlers may read other sockets. The
            # loop's body is _read's, written out again on purpose: a call per
            # datagram would cost more than the handler's own step.
            for data, size, key in zip(received, sizes, keys):  # noqa: B905
                known = raw_addresses.get(key)
                idle = self._fast_idle
                if known is None or size > limit or not idle:
                    self._received_raw(data, size, key)
                    continue
                address, addr = known
                worker = idle[-1]
                if self._entered is not worker.task:
                    self._received(data, addr)
                    continue
                self._last_address = address
                self._last_sockaddr = addr
                context = base_context.copy()
                try:
                    steps = handler(data, address, self).__await__()
                except Exception as exc:
                    server._failed(exc, address)
                    continue
                try:
                    yielded = context.run(next, steps, _RETURNED)
                except BaseException as exc:
                    server._failed(exc, address)
                    continue
                if yielded is not _RETURNED:
                    server._hand_over(worker, steps, context, yielded, address)
            if len(received) < want:
                # The queue ran dry: done, unless more came meanwhile. If
                # this batch was small, they trickle in: recvfrom takes them.
                if not (budget > 0 and transport.reading and transport.more(0)):
                    return 0
                if len(received) < _WORTH_A_BATCH:
                    return budget
        return 0

    def _received_raw(self, data: bytes, size: int, key: Any) -> None:
        if size > self._max_size:
            self.error_received(too_large(size, self._max_size))
            return
        addr = decode_sockaddr(self._family, key)
        if addr is not None:
            raw_addresses = self._raw_addresses
            if key not in raw_addresses:
                if len(raw_addresses) >= ADDRESS_CACHE_LIMIT:
                    raw_addresses.clear()
                raw_addresses[key] = (self._address_of(addr), addr)
        self.datagram_received(data, addr)

    def _received(self, data: bytes, addr: Any) -> None:
        if len(data) > self._max_size:
            self.error_received(too_large(len(data), self._max_size))
        else:
            self.datagram_received(data, addr)

    def _enter(self, task: asyncio.Task[None]) -> bool:
        self._leave()
        try:
            _enter_task(self._loop, task)
        except RuntimeError:
            return False
        self._entered = task
        return True

    def _leave(self) -> None:
        task = self._entered
        if task is not None:
            self._entered = None
            _leave_task(self._loop, task)

    def error_received(self, exc: Exception) -> None:
        """Log what no receiver is there to raise (oversized datagrams, ICMP)."""
        if self._sending or isinstance(exc, BlockingIOError | InterruptedError):
            super().error_received(exc)
            return
        logger.warning("datagram server on %s: %s", self._holder.endpoint, exc)

    def _refuse(self) -> Any:
        raise BusyResourceError(
            "this socket belongs to a datagram server: its handler receives"
        )

    def receive(self) -> Awaitable[bytes]:
        """Refused: the server's handler receives every datagram."""
        return self._refuse()  # type: ignore[no-any-return]

    def receive_from(self) -> Awaitable[tuple[bytes, ConcreteAddress]]:
        """Refused: the server's handler receives every datagram."""
        return self._refuse()  # type: ignore[no-any-return]

    async def receive_message(self, *, max_fds: int = 253) -> LocalMessage:
        """Refused: the server's handler receives every datagram."""
        return self._refuse()  # type: ignore[no-any-return]
