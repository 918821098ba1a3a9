"""The server lifecycle: accepting, limits, and closing with grace.

Strategy: aiosock runs its own accept loop (``add_reader`` on each listening
socket) instead of the loops' ``create_server``, so that both loops behave the same
where they differ and so that accepting can be paused:

- each readable event accepts a bounded batch, and every accepted socket gets one
  task that owns the connection from ``connect_accepted_socket`` to its end;
- ``max_connections`` removes the readers at the limit and puts them back below it
  (excess clients wait in the kernel's backlog: none is accepted and dropped);
- ``EMFILE``/``ENFILE``/``ENOBUFS``/``ENOMEM`` pause accepting with a growing
  back-off (never a busy loop, never a dead listener) and resume early when a
  connection ends and frees a descriptor;
- :meth:`Server.aclose` stops accepting at once, lets connection tasks finish for
  ``grace`` seconds, then cancels them.

The server is the same for ``serve`` (a handler per connection) and
``serve_protocol`` (a protocol per connection): both hand it a ``run_connection``
coroutine function.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import functools
import logging
import socket
from typing import TYPE_CHECKING, Any

from .._foundation._checks import check_seconds
from .._foundation._errors import ClosedResourceError

if TYPE_CHECKING:
    from collections.abc import Callable, Coroutine

    from .._foundation._endpoints import Endpoint
    from ._listeners import Listener

__all__ = ["Server", "check_max_connections"]

logger = logging.getLogger("aiosock.server")

_FD_EXHAUSTION = {errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM}
# Errors that concern one pending connection only: skip it and go on.
_TRANSIENT = {
    errno.ECONNABORTED,
    errno.EPROTO,
    errno.EPERM,
    errno.ENETDOWN,
    errno.ENOPROTOOPT,
    errno.EHOSTDOWN,
    errno.ENONET,
    errno.EHOSTUNREACH,
    errno.EOPNOTSUPP,
    errno.ENETUNREACH,
    errno.EINTR,
}
_ACCEPT_BATCH = 64
_BACKOFF_START = 0.05
_BACKOFF_MAX = 1.0
#: Seconds after which aclose() says that cancelled handlers have not ended.
_STUCK_AFTER = 5.0


class Server:
    """A running server: listening sockets and the tasks of their connections.

    Made by :func:`aiosock.serve` and :func:`aiosock.serve_protocol`. Use it as an
    async context manager, or call :meth:`aclose` when done.
    """

    def __init__(
        self,
        listeners: list[Listener],
        run_connection: Callable[[socket.socket, Any], Coroutine[Any, Any, None]],
        *,
        max_connections: int | None = None,
        loop: asyncio.AbstractEventLoop | None = None,
    ) -> None:
        check_max_connections(max_connections)
        self._loop = loop or asyncio.get_running_loop()
        self._listeners = listeners
        self._run_connection = run_connection
        self._max_connections = max_connections
        self._tasks: set[asyncio.Task[None]] = set()
        self._accepting = False
        self._closed = False
        self._exhausted = False
        self._backoff = _BACKOFF_START
        self._retry: asyncio.TimerHandle | None = None
        # Done at close(): serve_forever() returns then.
        self._stopped: asyncio.Future[None] = self._loop.create_future()
        # Done when aclose() has finished.
        self._closed_waiter: asyncio.Future[None] = self._loop.create_future()
        self._accepted = 0

    # -- public API ------------------------------------------------------------

    @property
    def endpoints(self) -> tuple[Endpoint, ...]:
        """The concrete endpoints being listened on (port 0 resolved)."""
        return tuple(listener.endpoint for listener in self._listeners)

    @property
    def sockets(self) -> tuple[socket.socket, ...]:
        """The listening sockets."""
        return tuple(listener.sock for listener in self._listeners)

    @property
    def active_connections(self) -> int:
        """How many connections are being served now."""
        return len(self._tasks)

    @property
    def accepted_connections(self) -> int:
        """How many connections were accepted since the server started."""
        return self._accepted

    def is_serving(self) -> bool:
        """Whether the server still accepts (or will resume accepting) connections."""
        return not self._closed

    def start(self) -> None:
        """Start accepting (done by ``serve``; harmless if already started)."""
        if not self._closed:
            self._resume()

    async def serve_forever(self) -> None:
        """Wait until the server is closed; close it if this task is cancelled.

        It returns once :meth:`close` or :meth:`aclose` has stopped the server
        accepting (by another task, a signal handler, a handler of its own),
        at once if that was done already; connections may still be running
        then (``async with server:`` around it waits for them). Cancelled, it
        closes the server with :meth:`aclose`, then raises ``CancelledError``.
        """
        try:
            await asyncio.shield(self._stopped)
        except asyncio.CancelledError:
            await asyncio.shield(self.aclose())
            raise

    def close(self) -> None:
        """Stop accepting and close the listening sockets (connections go on).

        :meth:`serve_forever` returns; :meth:`aclose` finishes the connections.
        """
        if self._closed:
            return
        self._closed = True
        if not self._stopped.done():
            self._stopped.set_result(None)
        self._pause()
        if self._retry is not None:
            self._retry.cancel()
            self._retry = None
        for listener in self._listeners:
            listener.close()

    async def aclose(self, grace: float = 0.0) -> None:
        """Stop accepting at once, let connections finish, then cancel them.

        Args:
            grace: Seconds to let connection tasks (handlers) finish on their own
                before they are cancelled and their connections closed.

        Raises:
            ValueError: ``grace`` is not a number of seconds, 0 or more
                (checked before anything is closed).
        """
        check_seconds("grace", grace)
        self.close()
        # A handler may close its own server (a "shutdown" command): it is not
        # waited for, nor cancelled, or it would wait for itself.
        own = {asyncio.current_task()}
        tasks = self._tasks - own
        if tasks and grace > 0:
            await asyncio.wait(tasks, timeout=grace)
        for task in tasks:
            task.cancel()
        warned = False
        while remaining := self._tasks - own:
            _, pending = await asyncio.wait(
                remaining, timeout=None if warned else _STUCK_AFTER
            )
            if pending and not warned:
                # A handler that catches CancelledError and goes on holds
                # aclose() up: say so (once), and go on waiting for it.
                warned = True
                logger.warning(
                    "aclose() still waits for %d connection(s) %g s after"
                    " cancelling them: a handler that catches CancelledError"
                    " must end soon after",
                    len(pending),
                    _STUCK_AFTER,
                )
        if not self._closed_waiter.done():
            self._closed_waiter.set_result(None)

    async def wait_closed(self) -> None:
        """Wait until :meth:`aclose` has finished."""
        await asyncio.shield(self._closed_waiter)

    async def __aenter__(self) -> Server:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    def __repr__(self) -> str:
        where = ", ".join(str(e) for e in self.endpoints) if self._listeners else ""
        state = "closed" if self._closed else "serving"
        return f"<Server [{where}] {state}, {len(self._tasks)} connections>"

    # -- accepting -------------------------------------------------------------

    def _resume(self) -> None:
        if self._accepting or self._closed:
            return
        self._accepting = True
        for listener in self._listeners:
            self._loop.add_reader(listener.sock.fileno(), self._accept, listener)

    def _pause(self) -> None:
        if not self._accepting:
            return
        self._accepting = False
        for listener in self._listeners:
            if listener.sock.fileno() >= 0:
                self._loop.remove_reader(listener.sock.fileno())

    def _at_limit(self) -> bool:
        limit = self._max_connections
        return limit is not None and len(self._tasks) >= limit

    def _accept(self, listener: Listener) -> None:
        for _ in range(_ACCEPT_BATCH):
            if self._at_limit():
                self._pause()
                return
            try:
                conn, addr = listener.sock.accept()
            except (BlockingIOError, InterruptedError):
                return
            except OSError as exc:
                if exc.errno in _FD_EXHAUSTION:
                    self._on_exhaustion(exc)
                    return
                if exc.errno in _TRANSIENT:
                    continue
                if self._closed:
                    return
                logger.error("accept() on %s failed", listener.endpoint, exc_info=exc)
                self._on_exhaustion(exc)
                return
            self._backoff = _BACKOFF_START
            self._start(conn, addr)

    def _on_exhaustion(self, exc: OSError) -> None:
        """Pause accepting until descriptors free up or the back-off expires."""
        logger.warning(
            "accepting paused for %.2fs: %s (%d connections open)",
            self._backoff,
            exc.strerror,
            len(self._tasks),
        )
        self._exhausted = True
        self._pause()
        if self._retry is None:
            self._retry = self._loop.call_later(self._backoff, self._retry_accept)
        self._backoff = min(self._backoff * 2, _BACKOFF_MAX)

    def _retry_accept(self) -> None:
        self._retry = None
        self._exhausted = False
        if not self._at_limit():
            self._resume()

    def _start(self, conn: socket.socket, addr: Any) -> None:
        conn.setblocking(False)
        self._accepted += 1
        # The socket waits here until the task's first step takes it: a task
        # cancelled before that step never runs its body, so whatever is left
        # here is closed when the task ends.
        unclaimed = [conn]
        try:
            task = self._loop.create_task(self._claim(unclaimed, addr))
        except BaseException:
            conn.close()
            raise
        self._tasks.add(task)
        task.add_done_callback(functools.partial(self._connection_done, unclaimed))

    async def _claim(self, unclaimed: list[socket.socket], addr: Any) -> None:
        await self._run_connection(unclaimed.pop(), addr)

    def _connection_done(
        self, unclaimed: list[socket.socket], task: asyncio.Task[None]
    ) -> None:
        for conn in unclaimed:
            conn.close()
        self._tasks.discard(task)
        if not task.cancelled():
            exc = task.exception()
            if exc is not None and not isinstance(exc, ClosedResourceError):
                logger.error("connection task failed", exc_info=exc)
        if self._closed:
            return
        if self._exhausted:
            # A descriptor was freed: try again now rather than at the back-off.
            if self._retry is not None:
                self._retry.cancel()
                self._retry = None
            self._retry_accept()
        elif not self._accepting and not self._at_limit():
            self._resume()


def check_max_connections(value: int | None) -> None:
    """Raise ``ValueError`` unless ``value`` is ``None`` or a positive ``int``."""
    if value is None:
        return
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise ValueError(
            f"'max_connections' must be at least 1 or None (got {value!r})"
        )


def close_quietly(sock: socket.socket) -> None:
    """Close a socket, ignoring errors."""
    with contextlib.suppress(OSError):
        sock.close()
