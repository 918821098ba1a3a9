"""``serve_datagram``: a request/response service, one handler call per datagram.

Strategy: each bound socket is a :class:`DatagramSocket` whose received datagrams
go to a pool of *worker* tasks shared by the server instead of to a queue. A
handler's first step runs inline in the transport's callback inside an idle
worker's task (``_eager``), so a handler that answers at once costs no task and
no loop iteration; one that has to wait is handed to that worker, which drives
it to its end. There are at most ``max_concurrent`` workers. When all of them
are busy, datagrams wait in a bounded backlog and reading pauses where the
transport can pause (the kernel's queue then holds the rest, and counts what it
drops). Servers use aiosock's draining transport on both loops (see
``_dgram_transport``), which can pause; what still does not fit the backlog is
dropped and counted in :attr:`DatagramServer.dropped`.

The lifecycle is that of :class:`~aiosock.Server`: :meth:`DatagramServer.aclose`
stops receiving at once, lets running handlers finish (they may still send) for
``grace`` seconds, cancels them, then closes the sockets.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import contextvars
import logging
from collections.abc import Callable, Coroutine
from typing import TYPE_CHECKING, Any, Final, TypeAlias

from .._core._dgram import bind_datagram_sockets
from .._core._listeners import DEFAULT_SOCKET_MODE
from .._foundation._addresses import ConcreteAddress
from .._foundation._checks import check_handler, check_seconds
from .._foundation._concepts import Style
from .._foundation._endpoints import EndpointLike, endpoints_of
from . import _eager
from ._datagram import DEFAULT_MAX_SIZE, DatagramSocket
from ._datagram_api import check_max_size, wrap_datagram
from ._datagram_served import ServedSocket as _ServedSocket
from ._datagram_served import Worker as _Worker

if TYPE_CHECKING:
    import socket
    from collections.abc import Mapping

    from .._foundation._endpoints import Endpoint

__all__ = ["DEFAULT_MAX_CONCURRENT", "DatagramServer", "serve_datagram"]

logger = logging.getLogger("aiosock.server")

#: The default bound on handlers running at once.
DEFAULT_MAX_CONCURRENT: Final = 256
#: Datagrams that wait for a free worker at most; more are dropped and counted.
BACKLOG_LIMIT: Final = 1024

#: What ``serve_datagram`` calls: ``async def handler(data, address, sock)``.
Handler: TypeAlias = Callable[
    [bytes, ConcreteAddress, DatagramSocket], Coroutine[Any, Any, object]
]


class DatagramServer:
    """A running datagram service: bound sockets and the handlers they run.

    Made by :func:`aiosock.serve_datagram`. Use it as an async context manager,
    or call :meth:`aclose` when done.
    """

    def __init__(self, handler: Handler, max_concurrent: int) -> None:
        self._loop = asyncio.get_running_loop()
        self._handler = handler
        self._max = max_concurrent
        self._context = contextvars.copy_context()
        self._sockets: list[_ServedSocket] = []
        self._workers: set[_Worker] = set()
        self._idle: list[_Worker] = []
        self._busy = 0
        self._tasks: set[asyncio.Task[None]] = set()
        self._backlog: collections.deque[
            tuple[_ServedSocket, bytes, ConcreteAddress]
        ] = collections.deque()
        self._paused = False
        self._closing = False
        self._quiet: asyncio.Future[None] | None = None
        # Done at close(): serve_forever() returns then.
        self._stopped: asyncio.Future[None] = self._loop.create_future()
        # Done when aclose() has finished.
        self._closed_waiter: asyncio.Future[None] = self._loop.create_future()
        self._dropped = 0
        self._inline = _eager.AVAILABLE

    # -- public API --------------------------------------------------------------

    @property
    def endpoints(self) -> tuple[Endpoint, ...]:
        """The concrete endpoints bound (port 0 resolved)."""
        return tuple(s._holder.endpoint for s in self._sockets)

    @property
    def sockets(self) -> tuple[socket.socket, ...]:
        """The bound ``socket.socket`` objects."""
        return tuple(s._sock for s in self._sockets)

    @property
    def datagram_sockets(self) -> tuple[DatagramSocket, ...]:
        """The :class:`DatagramSocket` of each endpoint (for options, multicast)."""
        return tuple(self._sockets)

    @property
    def active_handlers(self) -> int:
        """Handlers waiting on something now (those that finished inline excluded)."""
        return self._busy

    @property
    def dropped(self) -> int:
        """Datagrams dropped by the kernel (full queues) or the full backlog."""
        return self._dropped + sum(s.dropped for s in self._sockets)

    @property
    def unsent(self) -> int:
        """Answers dropped because a Unix-domain client did not read them.

        An answer to a client whose receive queue is full waits for that client
        alone (the others' answers go on), up to 256 KiB per client; more are
        dropped, as are those still waiting when the client goes away or when
        the server has closed for two seconds. While the socket's own send
        buffer stays full of answers not yet read (a client connected to the
        server that does not read fills it), answers to everyone are dropped
        after one second (see "A request/response service" in the manual).
        """
        return sum(getattr(s._transport, "dropped_sends", 0) for s in self._sockets)

    def is_serving(self) -> bool:
        """Whether the server still receives datagrams."""
        return not self._closing

    async def serve_forever(self) -> None:
        """Wait until the server is closed; close it if this task is cancelled.

        It returns once :meth:`close` or :meth:`aclose` has stopped the server
        receiving (at once if that was done already); handlers may still be
        running then. Cancelled, it closes the server with :meth:`aclose`,
        then raises ``CancelledError``.
        """
        try:
            await asyncio.shield(self._stopped)
        except asyncio.CancelledError:
            await asyncio.shield(self.aclose())
            raise

    def close(self) -> None:
        """Stop receiving at once (running handlers go on; see :meth:`aclose`).

        :meth:`serve_forever` returns.
        """
        if self._closing:
            return
        self._closing = True
        if not self._stopped.done():
            self._stopped.set_result(None)
        for sock in self._sockets:
            sock._fast_idle = ()
            pause = getattr(sock._transport, "pause_reading", None)
            if pause is not None and not sock._lost:
                pause()
        self._dropped += len(self._backlog)
        self._backlog.clear()
        for worker in list(self._idle):
            if worker.task is not None:
                worker.task.cancel()

    async def aclose(self, grace: float = 0.0) -> None:
        """Stop receiving, let handlers finish for ``grace`` seconds, close.

        Args:
            grace: Seconds to let running handlers finish (they may still send)
                before they are cancelled.

        Raises:
            ValueError: ``grace`` is not a number of seconds, 0 or more
                (checked before anything is closed).
        """
        check_seconds("grace", grace)
        self.close()
        if self._busy and grace > 0:
            self._quiet = self._loop.create_future()
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(grace):
                    await asyncio.shield(self._quiet)
        for task in {w.task for w in self._workers} | self._tasks:
            if task is not None:
                task.cancel()
        while True:
            pending = {w.task for w in self._workers if w.task is not None}
            pending |= self._tasks
            if not pending:
                break
            await asyncio.wait(pending)
        for sock in self._sockets:
            await sock.aclose()
        if not self._closed_waiter.done():
            self._closed_waiter.set_result(None)

    async def wait_closed(self) -> None:
        """Wait until :meth:`aclose` has finished."""
        await asyncio.shield(self._closed_waiter)

    async def __aenter__(self) -> DatagramServer:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    def __repr__(self) -> str:
        where = ", ".join(str(e) for e in self.endpoints)
        state = "closed" if self._closing else "serving"
        return f"<DatagramServer [{where}] {state}, {self._busy} handlers>"

    # -- dispatching -------------------------------------------------------------

    def _dispatch(
        self, sock: _ServedSocket, data: bytes, addr: Any, address: ConcreteAddress
    ) -> None:
        """Start the handler when no worker is idle (or inline steps are off)."""
        if self._closing:
            return
        if self._inline and len(self._workers) < self._max:
            worker = self._new_worker()
            self._idle.append(worker)
            worker.idle = True
            sock.datagram_received(data, addr)
        elif not self._inline and len(self._tasks) < self._max:
            self._start_task(sock, data, address)
        else:
            self._wait(sock, data, address)

    def _hand_over(
        self,
        worker: _Worker,
        coro: Any,
        context: contextvars.Context,
        yielded: Any,
        address: ConcreteAddress,
    ) -> None:
        """The handler waits: its worker drives it from here."""
        idle = self._idle
        if idle and idle[-1] is worker:
            idle.pop()
        else:
            idle.remove(worker)
        worker.idle = False
        self._busy += 1
        worker.handoff = (coro, context, yielded, None, address)
        parked = worker.parked
        if parked is not None and not parked.done():
            parked.set_result(None)

    def _failed(self, exc: BaseException, address: object) -> None:
        if isinstance(exc, Exception | asyncio.CancelledError):
            self._log_failure(exc, address)
            return
        raise exc

    def _handler_done(self) -> None:
        self._busy -= 1
        waiter = self._quiet
        if self._busy == 0 and waiter is not None and not waiter.done():
            waiter.set_result(None)

    def _back_to_idle(self, worker: _Worker) -> None:
        worker.idle = True
        self._idle.append(worker)

    def _new_worker(self) -> _Worker:
        worker = _Worker()
        task = self._loop.create_task(self._work(worker), context=self._context.copy())
        worker.task = task
        self._workers.add(worker)
        task.add_done_callback(lambda _t: self._worker_done(worker))
        return worker

    def _worker_done(self, worker: _Worker) -> None:
        self._workers.discard(worker)
        if worker.idle:
            self._idle.remove(worker)
        handoff = worker.handoff
        if handoff is not None:  # cancelled before it could start: close it
            worker.handoff = None
            self._handler_done()
            handoff[0].close()

    async def _work(self, worker: _Worker) -> None:
        loop = self._loop
        while True:
            handoff = worker.handoff
            if handoff is None:
                if self._backlog and not self._closing:
                    if worker.idle:
                        worker.idle = False
                        self._idle.remove(worker)
                    handoff = self._from_backlog()
                    if handoff is None:
                        continue
                else:
                    await self._park(worker, loop)
                    continue
            worker.handoff = None
            coro, context, yielded, throw, address = handoff
            try:
                await _eager.drive(coro, context, yielded=yielded, throw=throw)
            except asyncio.CancelledError:
                # The worker's task was cancelled (aclose, the loop shutting
                # down, or the handler cancelling "its" task): it ends, as a
                # task of its own would; a new worker is made when needed.
                raise
            except Exception as exc:
                self._log_failure(exc, address)
            finally:
                self._handler_done()
            if not self._backlog:
                self._back_to_idle(worker)
                self._resume_reading()

    async def _park(self, worker: _Worker, loop: asyncio.AbstractEventLoop) -> None:
        if not worker.idle:
            self._back_to_idle(worker)
        parked = worker.parked = loop.create_future()
        try:
            await parked
        except asyncio.CancelledError:
            handoff = worker.handoff
            if handoff is None:
                raise  # an idle worker cancelled: aclose or loop shutdown
            # Cancelled while a handler was being handed over: pass it on.
            coro, context, yielded, _, address = handoff
            cancel = asyncio.CancelledError()
            worker.handoff = (coro, context, yielded, cancel, address)
        finally:
            worker.parked = None

    def _from_backlog(self) -> tuple[Any, contextvars.Context, Any, Any, Any] | None:
        sock, data, address = self._backlog.popleft()
        try:
            steps = self._handler(data, address, sock).__await__()
        except Exception as exc:
            self._log_failure(exc, address)
            return None
        self._busy += 1
        return (steps, self._context.copy(), _eager.NOT_STARTED, None, address)

    def _wait(self, sock: _ServedSocket, data: bytes, address: ConcreteAddress) -> None:
        """Every worker is busy: keep the datagram, and stop reading if we can."""
        if len(self._backlog) >= BACKLOG_LIMIT:
            self._dropped += 1
            return
        self._backlog.append((sock, data, address))
        if not self._paused:
            self._paused = True
            for each in self._sockets:
                pause = getattr(each._transport, "pause_reading", None)
                if pause is not None:
                    pause()

    def _resume_reading(self) -> None:
        if self._paused and not self._closing:
            self._paused = False
            for each in self._sockets:
                resume = getattr(each._transport, "resume_reading", None)
                if resume is not None and not each._lost:
                    resume()

    # -- without inline first steps (a Python without the task hooks) ------------

    def _start_task(
        self, sock: _ServedSocket, data: bytes, address: ConcreteAddress
    ) -> None:
        try:
            steps = self._handler(data, address, sock).__await__()
        except Exception as exc:
            self._log_failure(exc, address)
            return
        self._start_steps(steps, self._context.copy(), address)

    def _start_steps(
        self, steps: Any, context: contextvars.Context, address: ConcreteAddress
    ) -> None:
        """Run a handler (its awaitable's iterator) in a task of its own."""
        self._busy += 1
        task = self._loop.create_task(self._run_task(steps, context, address))
        self._tasks.add(task)
        task.add_done_callback(self._task_done)

    async def _run_task(
        self, steps: Any, context: contextvars.Context, address: ConcreteAddress
    ) -> None:
        try:
            await _eager.drive(steps, context)
        except Exception as exc:
            self._log_failure(exc, address)

    def _task_done(self, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        self._handler_done()
        if self._backlog and not self._closing:
            sock, data, address = self._backlog.popleft()
            self._start_task(sock, data, address)
        elif not self._backlog:
            self._resume_reading()

    def _log_failure(self, exc: BaseException, address: object) -> None:
        if isinstance(exc, asyncio.CancelledError):
            return
        where = f" from {address}" if address is not None else ""
        logger.error("datagram handler%s raised", where, exc_info=exc)


def _check_max_concurrent(value: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(
            f"'max_concurrent' must be an int of at least 1 (got {value!r})"
        )
    return value


async def serve_datagram(
    handler: Handler,
    *endpoints: EndpointLike,
    options: Mapping[str, Any] | None = None,
    max_concurrent: int = DEFAULT_MAX_CONCURRENT,
    max_size: int = DEFAULT_MAX_SIZE,
    mode: int = DEFAULT_SOCKET_MODE,
) -> DatagramServer:
    """Serve ``handler(data, address, sock)`` for every datagram to ``endpoints``.

    The handler is an async callable; ``sock`` is the :class:`DatagramSocket`
    that received the datagram, so ``await sock.send_to(reply, address)`` answers
    from the address the client sent to. An exception from a handler is logged
    with the sender's address and affects nothing else.

    Args:
        handler: ``async def handler(data, address, sock)``.
        *endpoints: Datagram endpoints to bind (``"udp://127.0.0.1:0"``,
            ``"udp://:5353"`` for every address family, ``"unixgram:/path"``).
        options: Socket options for the bound sockets.
        max_concurrent: The most handlers running at once; further datagrams
            wait (in a bounded backlog, then in the kernel's queue).
        max_size: The longest datagram taken; longer ones are dropped, logged
            and never handed over cut short.
        mode: The file mode of socket files made for ``unixgram:`` endpoints.

    Returns:
        The running :class:`DatagramServer`.

    Raises:
        ValueError: No endpoint, or a bad ``max_concurrent`` or ``max_size``.
        AddressError: An endpoint is malformed or not of the datagram style.
        OSError: Binding failed (its class kept).
    """
    check_handler(handler)
    if not endpoints:
        raise ValueError("expected at least one endpoint to serve on")
    _check_max_concurrent(max_concurrent)
    check_max_size(max_size)
    targets = endpoints_of(endpoints, Style.DATAGRAM)
    server = DatagramServer(handler, max_concurrent)
    bound = await bind_datagram_sockets(targets, options=options, mode=mode)
    try:
        for item in bound:
            sock = await wrap_datagram(
                item,
                max_size=max_size,
                factory=_ServedSocket,
                draining=True,  # measured faster for servers, on uvloop too
                server=server,
            )
            server._sockets.append(sock)  # type: ignore[arg-type]
    except BaseException:
        for item in bound:
            item.holder.close()
        for each in server._sockets:
            each.abort()
        raise
    return server
