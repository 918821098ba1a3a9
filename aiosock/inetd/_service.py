"""A running service: its sockets, watched by the loop, and what it starts.

Strategy: every socket is watched with ``loop.add_reader`` and handled without
transports until a connection is accepted, so that one mechanism serves every
kind of line and the limits can pause a service by not watching it:

- stream ``nowait``: accept a batch; each connection is checked against the
  address lists, ``per_source`` and the ``.max`` rate, then either runs an
  in-process handler (internal or ``python:``) in a task on a :class:`Stream`, or
  is given to a child as fds 0-2; at ``instances`` the socket is not watched
  until a server ends (clients wait in the backlog);
- ``wait`` programs: the child gets the socket itself and the socket is not
  watched until the child exits (the datagram side is in ``_datagrams``);
- while a service is disabled by its ``.max`` rate, connections are accepted and
  closed at once and datagrams read and dropped: the port is never given up.

Per connection one line is logged on ``aiosock.inetd.connections``, as xinetd
does: ``EXIT: service from=peer pid=N status=N duration=Ss`` (or ``FAIL: ...``).
"""

from __future__ import annotations

import asyncio
import errno
import logging
import socket
import subprocess
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from .._foundation._concepts import Style
from .._foundation._errors import BrokenResourceError, ClosedResourceError
from .._highlevel._api import wrap_socket
from ._binding import Bound, bind_entry
from ._config import unenforceable_reason
from ._context import Context, format_peer, resolve_python, start_program
from ._datagrams import datagram_readable, enable_receive_stamps
from ._internal import STREAM_HANDLERS, ChargenRotation
from ._limits import DISABLED, Counters, RateWindow, access_allowed, client_address
from ._spawn import ChildWatch, describe_status, watch_child

if TYPE_CHECKING:
    from .._highlevel._stream import Stream
    from ._records import ServiceEntry

__all__ = ["Service"]

logger = logging.getLogger("aiosock.inetd")
connections = logging.getLogger("aiosock.inetd.connections")

_BATCH = 64
_TRANSIENT_ACCEPT = {errno.ECONNABORTED, errno.EPROTO, errno.EINTR, errno.EPERM}
_FORK_ERRORS = {errno.EAGAIN, errno.ENOMEM}
_BACKOFF = 1.0


class Service:
    """One line of the configuration, listening."""

    def __init__(self, entry: ServiceEntry, context: Context) -> None:
        self.entry = entry
        self.context = context
        self.bound: list[Bound] = []
        self.counters = Counters()
        self.tasks: set[asyncio.Task[None]] = set()
        self.children: dict[int, ChildWatch] = {}
        self._spawning: set[asyncio.Future[subprocess.Popen[bytes]]] = set()
        self.closed = False
        self._loop = asyncio.get_running_loop()
        self._disabled_until = 0.0
        # Clients turned away since the rate last disabled the service.
        self._turned_away = 0
        self._paused_until = 0.0
        self._handler: Callable[..., Awaitable[object]] | None = None
        self._rate: RateWindow | None = None
        #: Where the next chargen datagram starts.
        self.rotation = ChargenRotation()
        self._configure()

    # -- lifecycle --------------------------------------------------------------

    @property
    def is_program(self) -> bool:
        """Whether the server is a program (not internal, not ``python:``)."""
        return not self.entry.is_internal and not self.entry.is_python

    def _configure(self) -> None:
        entry = self.entry
        if unenforceable := entry.unenforceable_limits:
            # The parser refuses such lines; this covers entries made by hand.
            raise LookupError(unenforceable_reason(unenforceable))
        limit = entry.max_rate
        if limit is None and self.is_program:
            limit = self.context.default_rate
        if limit is None:
            self._rate = None
        elif self._rate is None:
            self._rate = RateWindow(limit)
        else:  # a changed line: the starts of this minute still count
            self._rate.limit = limit
        if entry.is_internal:
            self._handler = STREAM_HANDLERS[entry.builtin or ""]
        elif entry.is_python:
            self._handler = resolve_python(
                entry.python_target,
                self.context.handlers,
                3 if entry.socket_type is Style.DATAGRAM else 1,
            )

    async def start(self) -> None:
        """Bind the sockets and start watching them.

        Raises:
            OSError: A socket could not be bound; nothing is left open.
            LookupError: A ``python:`` handler cannot be found.
        """
        self.bound = await bind_entry(
            self.entry, self.context.inherited, backlog=self.context.backlog
        )
        for bound in self.bound:
            if self.entry.socket_type is Style.DATAGRAM:
                enable_receive_stamps(bound.sock)
            self.watch(bound)

    def update(self, entry: ServiceEntry) -> None:
        """Take a changed line with the same sockets (servers, user, limits...).

        Raises:
            LookupError: The new ``python:`` handler cannot be found, or the new
                line sets limits the daemon cannot apply (the old line stays in
                force).
        """
        old = self.entry
        self.entry = entry
        try:
            self._configure()
        except LookupError:
            self.entry = old
            self._configure()
            raise
        self.resume()

    def close(self) -> None:
        """Stop listening: running servers and connections go on."""
        if self.closed:
            return
        self.closed = True
        for bound in self.bound:
            self.unwatch(bound)
        if not self._spawning:
            # Else the spawning threads still use the descriptors: the last one
            # to finish closes them.
            self._close_sockets()

    def _close_sockets(self) -> None:
        for bound in self.bound:
            bound.listener.close()

    @property
    def busy(self) -> bool:
        """Whether programs are starting, or children or handlers still run."""
        return bool(self._spawning or self.children or self.tasks)

    @property
    def spawning(self) -> frozenset[asyncio.Future[subprocess.Popen[bytes]]]:
        """The program starts in flight."""
        return frozenset(self._spawning)

    def close_sockets(self) -> None:
        """Close a closed service's sockets once no program start uses them."""
        if self.closed and not self._spawning:
            self._close_sockets()

    async def aclose(self, grace: float = 0.0) -> None:
        """Stop listening, then cancel in-process handlers after ``grace`` seconds.

        Children keep running; a thread reaps them.
        """
        self.close()
        if self._spawning:
            await asyncio.wait(set(self._spawning))
        self.detach_children()
        tasks = set(self.tasks)
        if tasks and grace > 0:
            await asyncio.wait(tasks, timeout=grace)
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.wait(tasks)

    @property
    def endpoints(self) -> tuple[str, ...]:
        """Where the service listens, as endpoint text."""
        return tuple(str(bound.endpoint) for bound in self.bound)

    @property
    def handler(self) -> Callable[..., Awaitable[object]]:
        """The in-process handler (internal or ``python:``)."""
        assert self._handler is not None, "programs have no handler"
        return self._handler

    def describe(self) -> str:
        """What serves the line: ``internal echo``, ``/bin/cat``, ``python:m:f``."""
        entry = self.entry
        if entry.is_internal:
            return f"internal {entry.builtin}"
        mode = "wait" if entry.wait else "nowait"
        return f"{entry.server} {mode}"

    # -- watching ---------------------------------------------------------------

    def watch(self, bound: Bound) -> None:
        if bound.watching or self.closed or bound.owner is not None:
            return
        bound.watching = True
        self._loop.add_reader(bound.sock.fileno(), self._readable, bound)

    def unwatch(self, bound: Bound) -> None:
        if bound.watching:
            bound.watching = False
            self._loop.remove_reader(bound.sock.fileno())

    def _pause(self) -> None:
        for bound in self.bound:
            self.unwatch(bound)

    def resume(self) -> None:
        if self.closed or self._loop.time() < self._paused_until - 0.001:
            return
        if self.counters.at_instances(self.entry.limits) and not self.disabled:
            return
        for bound in self.bound:
            if bound.dispatched is None:
                self.watch(bound)

    def _pause_for(self, seconds: float) -> None:
        self._paused_until = self._loop.time() + seconds
        self._pause()
        self._loop.call_later(seconds, self.resume)

    @property
    def disabled(self) -> bool:
        """Whether the ``.max`` rate disabled the service for now."""
        return self._loop.time() < self._disabled_until

    def _admit_rate(self) -> bool:
        """Count one server start; disable the service when it is one too many."""
        if self._rate is None or self._rate.admit(self._loop.time()):
            return True
        retry = self.context.retry_time
        self._disabled_until = self._loop.time() + retry
        self._turned_away = 0
        logger.error(
            "%s: more than %d servers a minute: server failing (looping), "
            "service disabled for %g s",
            self.entry.name,
            self._rate.limit,
            retry,
        )
        self._loop.call_later(retry, self._enable)
        return False

    def _enable(self) -> None:
        if not self.closed and not self.disabled:
            if self._turned_away > 1:
                logger.warning(
                    "%s: service enabled again (%d clients turned away while "
                    "it was disabled)",
                    self.entry.name,
                    self._turned_away,
                )
            else:
                logger.warning("%s: service enabled again", self.entry.name)
            self.resume()

    def turn_away(self, sockaddr: Any) -> None:
        """Turn a client away because the service is disabled.

        The first is logged (``FAIL: ... reason=service disabled ...``), the
        others counted and their number logged when the service is enabled
        again: a service is disabled because clients keep coming, and a
        datagram's source can be forged, so a line each would flood the log.
        """
        self._turned_away += 1
        if self._turned_away == 1:
            self.log_fail(sockaddr, DISABLED)

    def _readable(self, bound: Bound) -> None:
        if self.entry.socket_type is Style.DATAGRAM:
            datagram_readable(self, bound)
        elif self.entry.wait and self.is_program:
            self.spawn_wait(bound)
        else:
            self._accept(bound)

    # -- admission --------------------------------------------------------------

    def admit(self, sockaddr: Any, *, rate: bool = True) -> bool:
        """Check a client against the lists, ``per_source`` and the rate.

        Refusals are logged; ``rate=False`` leaves the ``.max`` count alone.
        While the rate has the service disabled, every client is turned away
        (:meth:`turn_away`).
        """
        if self.disabled:
            self.turn_away(sockaddr)
            return False
        limits = self.entry.limits
        source = client_address(sockaddr)
        if not access_allowed(limits, source):
            self.log_fail(sockaddr, "address refused (only_from/no_access)")
            return False
        if self.counters.at_per_source(limits, source):
            self.log_fail(sockaddr, f"per_source limit {limits.per_source} reached")
            return False
        return not rate or self._admit_rate()

    def log_fail(self, sockaddr: Any, reason: str) -> None:
        """Log one refused client."""
        connections.info(
            "FAIL: %s from=%s reason=%s", self.entry.name, format_peer(sockaddr), reason
        )

    def log_exit(
        self,
        sockaddr: Any,
        started: float,
        pid: int | None,
        status: str | None,
        *,
        name: str,
    ) -> None:
        """Log one finished server, as xinetd does.

        ``name`` is the service's name when the server started: a reload may
        have changed the line since, and the server still served the old one.
        """
        parts = [f"EXIT: {name}"]
        if sockaddr is not None:
            parts.append(f"from={format_peer(sockaddr)}")
        if pid is not None:
            parts.append(f"pid={pid}")
        if status is not None:
            parts.append(status)
        parts.append(f"duration={self._loop.time() - started:.3f}s")
        connections.info(" ".join(parts))

    def started(self, sockaddr: Any) -> None:
        """Count a server as running; stop watching at ``instances``."""
        self.counters.add(client_address(sockaddr))
        if self.counters.at_instances(self.entry.limits) or (
            self.entry.wait and not self.is_program
        ):
            self._pause()

    def ended(self, sockaddr: Any) -> None:
        """Count a server as ended; watch again below ``instances``."""
        self.counters.remove(client_address(sockaddr))
        self.resume()

    # -- streams ----------------------------------------------------------------

    def _accept(self, bound: Bound) -> None:
        for _ in range(_BATCH):
            if not bound.watching:
                return
            try:
                conn, peer = bound.sock.accept()
            except (BlockingIOError, InterruptedError):
                return
            except OSError as exc:
                if exc.errno in _TRANSIENT_ACCEPT:
                    continue
                logger.error(
                    "%s: accept failed: %s", self.entry.name, exc.strerror or exc
                )
                self._pause_for(_BACKOFF)
                return
            self._connection(conn, peer)

    def _connection(self, conn: socket.socket, peer: Any) -> None:
        if not self.admit(peer):
            conn.close()
            return
        self.started(peer)
        if self.is_program:
            self._spawn_connection(conn, peer)
            return
        task = self._loop.create_task(self._run_handler(conn, peer))
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    async def _run_handler(self, conn: socket.socket, peer: Any) -> None:
        started, name = self._loop.time(), self.entry.name
        handler = self._handler
        assert handler is not None
        try:
            try:
                stream: Stream = await wrap_socket(conn, server_side=True)
            except BaseException:
                conn.close()
                raise
            await self._call(handler, stream, peer)
        finally:
            self.ended(peer)
            self.log_exit(peer, started, None, None, name=name)

    async def _call(
        self, handler: Callable[..., Awaitable[object]], stream: Stream, peer: Any
    ) -> None:
        try:
            await handler(stream)
        except asyncio.CancelledError:
            stream.abort()
            raise
        except (BrokenResourceError, ClosedResourceError):
            stream.abort()
            return
        except Exception:
            logger.exception(
                "%s: handler for %s raised", self.entry.name, format_peer(peer)
            )
        try:
            await stream.aclose()
        except (BrokenResourceError, ClosedResourceError, OSError):
            stream.abort()

    def start_child(
        self,
        fd: int,
        on_exit: Callable[[int, int], None],
        on_started: Callable[[int | None], None],
        *,
        listen_fds: bool = False,
        peer: Any = None,
    ) -> None:
        """Start the program on ``fd`` in a spawning thread.

        ``on_started(pid)`` is called on the loop once the program runs (``None``
        when it could not start; the failure is logged, naming ``peer``, the
        client it was started for, if any), and ``on_exit(pid, returncode)``
        once it is reaped. ``fd`` must stay open until ``on_started`` is called.
        """
        entry = self.entry
        client = "" if peer is None else f" (for {format_peer(peer)})"
        future = self._loop.run_in_executor(
            self.context.spawner, start_program, entry, fd, listen_fds
        )
        self._spawning.add(future)

        def done(future: asyncio.Future[subprocess.Popen[bytes]]) -> None:
            self._spawning.discard(future)
            try:
                proc = future.result()
            except LookupError as exc:
                logger.error(
                    "%s: cannot start %s: %s%s", entry.name, entry.server, exc, client
                )
                proc = None
            except OSError as exc:
                reason = exc.strerror or str(exc)
                logger.error(
                    "%s: cannot start %s: %s%s",
                    entry.name,
                    entry.server,
                    reason,
                    client,
                )
                if exc.errno in _FORK_ERRORS:
                    self._pause_for(_BACKOFF)
                proc = None
            except asyncio.CancelledError:
                proc = None
            if proc is None:
                on_started(None)
            else:
                pid = proc.pid

                def exited(code: int) -> None:
                    self.children.pop(pid, None)
                    on_exit(pid, code)

                self.children[pid] = watch_child(proc, exited, self._loop)
                on_started(pid)
            if self.closed and not self._spawning:
                self._close_sockets()

        future.add_done_callback(done)

    def _spawn_connection(self, conn: socket.socket, peer: Any) -> None:
        started, name = self._loop.time(), self.entry.name

        def exited(pid: int, code: int) -> None:
            self.ended(peer)
            self.log_exit(peer, started, pid, describe_status(code), name=name)

        def running(pid: int | None) -> None:
            conn.close()
            if pid is None:
                self.ended(peer)

        try:
            self.start_child(conn.fileno(), exited, running, peer=peer)
        except BaseException:
            conn.close()
            self.ended(peer)
            raise

    def spawn_wait(self, bound: Bound, peer: Any = None) -> None:
        """Give the socket to a ``wait`` child and stop watching it until it exits."""
        if self.disabled or not self._admit_rate():
            self.drain(bound, reason=DISABLED)
            return
        started, name = self._loop.time(), self.entry.name

        def exited(pid: int, code: int) -> None:
            bound.owner = None
            self.counters.remove(None)
            self.log_exit(peer, started, pid, describe_status(code), name=name)
            self.resume()

        def running(pid: int | None) -> None:
            if pid is not None:
                bound.owner = pid
                return
            bound.owner = None
            self.counters.remove(None)
            if not self.closed:
                # Drop what the child would have taken, so that a broken program
                # fails once a second at most rather than on every wake-up.
                self.drain(bound, limit=1, reason="the server failed to start")
                self._pause_for(_BACKOFF)

        self.unwatch(bound)
        bound.owner = 0  # starting
        self.counters.add(None)
        self.start_child(bound.sock.fileno(), exited, running, listen_fds=True)

    def detach_children(self) -> None:
        """Leave running children to a reaper thread (the loop is closing)."""
        for watch in list(self.children.values()):
            watch.detach()
        self.children.clear()

    def drain(self, bound: Bound, limit: int = _BATCH, *, reason: str) -> None:
        """Take what is pending and drop it (a disabled or failing service).

        Each client turned away is logged (``FAIL: ... reason=``); while the
        service is disabled (``reason`` is :data:`DISABLED`), as
        :meth:`turn_away` says.
        """
        for _ in range(limit):
            try:
                if self.entry.socket_type is Style.DATAGRAM:
                    _data, source = bound.sock.recvfrom(1)
                else:
                    conn, source = bound.sock.accept()
                    conn.close()
            except (BlockingIOError, InterruptedError):
                return
            except OSError:
                continue
            if reason is DISABLED:
                self.turn_away(source)
            else:
                self.log_fail(source, reason)
