"""The sockets of a datagram server and its workers: the per-datagram path.

Strategy: see ``_datagram_server``. A :class:`ServedSocket` hands each datagram
to its server: inline, inside an idle :class:`Worker`'s task, when one is idle
(the common case, kept in one function); through ``DatagramServer._dispatch``
otherwise. The draining transport brackets each batch of datagrams with
``begin_batch``/``end_batch`` so that a worker's task stays entered from one
datagram to the next.
"""

from __future__ import annotations

import asyncio
import contextvars
import logging
from typing import TYPE_CHECKING, Any

from .._foundation._errors import BusyResourceError
from ._datagram import DatagramSocket
from ._eager import enter_task as _enter_task
from ._eager import leave_task as _leave_task

if TYPE_CHECKING:
    from collections.abc import Awaitable

    from .._foundation._addresses import ConcreteAddress
    from ._datagram_server import DatagramServer
    from ._local import LocalMessage

__all__ = ["ServedSocket", "Worker"]

logger = logging.getLogger("aiosock.server")

#: What ``next`` returns when a handler's awaitable ends.
_RETURNED: Any = object()


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

    def datagram_received(self, data: bytes, addr: Any) -> None:
        """Run the handler for this datagram (inline when a worker is idle)."""
        # The common case, inlined: a worker is idle and the handler answers at
        # once. Everything else goes through DatagramServer._dispatch.
        idle = self._fast_idle
        address = self._addresses.get(addr)
        if address is None:
            address = self._address_of(addr)
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

    # The draining reader calls these around each batch of datagrams: within a
    # batch no other task runs, so a worker's task stays entered from one
    # datagram to the next (entering and leaving cost more than a handler that
    # answers at once) and is left at the end of the batch.

    def begin_batch(self) -> None:
        """A batch of datagrams starts (called by the draining transport)."""
        self._batching = True

    def end_batch(self) -> None:
        """The batch ended: no worker's task stays current."""
        self._batching = False
        self._leave()

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
