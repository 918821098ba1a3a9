"""``serve_protocol`` and ``connect_protocol``: the callback core.

Strategy: users' ordinary ``asyncio.Protocol`` factories run on the loop's own
transports, with nothing added to the per-message path on uvloop. On the default
loop a plain ``Protocol`` is fed through :class:`BufferedAdapter`, which reads into
one receive buffer shared by the loop's connections and copies each read out once:
the selector loop's plain-protocol path allocates a fresh 256 KiB buffer per read,
which is several times slower. A ``BufferedProtocol`` is used as it is.

The server needs to know when each connection ends (for ``max_connections`` and
``aclose``). It learns it by wrapping ``connection_lost``, which is called once per
connection, never by wrapping the data path.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import socket
import ssl as ssl_module
from typing import TYPE_CHECKING, Any

from .._foundation._addresses import from_sockaddr
from .._foundation._checks import check_seconds
from .._foundation._concepts import Style
from .._foundation._endpoints import Endpoint, EndpointLike, as_endpoint
from .._foundation._errors import AddressError, OptionError, ResolutionError
from .._foundation._loop import current_loop_name
from ._buffers import shared_buffer, shared_mapping
from ._connect import DEFAULT_HAPPY_EYEBALLS_DELAY, open_connected_socket
from ._listeners import DEFAULT_SOCKET_MODE, Listener, adopt_listener, bind_listeners
from ._options import accepted_options, apply_accepted, wants_no_delay
from ._server import Server, check_max_connections, logger

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable, Mapping

__all__ = [
    "BufferedAdapter",
    "accept_starter",
    "connect_protocol",
    "describe_peer",
    "log_failed_start",
    "make_transport",
    "open_transport",
    "serve_protocol",
    "server_hostname_for",
    "start_accepted",
    "start_server",
    "tls_timeouts",
]


class BufferedAdapter(asyncio.BufferedProtocol):
    """Feed a plain ``Protocol`` from the loop's shared receive buffer.

    Every callback is passed on to the wrapped protocol; reads are copied out of
    the shared buffer once and given to its ``data_received``.
    """

    __slots__ = ("_data_received", "_mapping", "_on_lost", "_view", "protocol")

    def __init__(
        self,
        protocol: asyncio.Protocol,
        loop: asyncio.AbstractEventLoop,
        on_lost: Callable[[], None] | None = None,
    ) -> None:
        self.protocol = protocol
        self._view = shared_buffer(loop)
        self._mapping = shared_mapping(loop)
        self._data_received = protocol.data_received
        self._on_lost = on_lost

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        """Pass the transport on."""
        self.protocol.connection_made(transport)

    def get_buffer(self, sizehint: int) -> memoryview:
        """Lend the loop's shared receive buffer."""
        return self._view

    def buffer_updated(self, nbytes: int) -> None:
        """Copy the bytes read out of the buffer and deliver them."""
        self._data_received(self._mapping[:nbytes])

    def eof_received(self) -> bool | None:
        """Pass end of stream on."""
        return self.protocol.eof_received()

    def connection_lost(self, exc: Exception | None) -> None:
        """Pass the loss on, then tell the server."""
        try:
            self.protocol.connection_lost(exc)
        finally:
            if self._on_lost is not None:
                self._on_lost()

    def pause_writing(self) -> None:
        """Pass flow control on."""
        self.protocol.pause_writing()

    def resume_writing(self) -> None:
        """Pass flow control on."""
        self.protocol.resume_writing()


def _track(
    protocol: asyncio.BaseProtocol,
    loop: asyncio.AbstractEventLoop,
    on_lost: Callable[[], None] | None,
) -> asyncio.BaseProtocol:
    """Return what to give the transport for ``protocol`` on ``loop``."""
    buffered = isinstance(protocol, asyncio.BufferedProtocol)
    if (
        not buffered
        and isinstance(protocol, asyncio.Protocol)
        and current_loop_name(loop) != "uvloop"
    ):
        return BufferedAdapter(protocol, loop, on_lost)
    if on_lost is not None:
        original = protocol.connection_lost

        def connection_lost(exc: Exception | None) -> None:
            try:
                original(exc)
            finally:
                on_lost()

        try:
            protocol.connection_lost = connection_lost  # type: ignore[method-assign]
        except AttributeError:
            # A protocol with __slots__ and no __dict__: wrap it whole instead.
            if isinstance(protocol, asyncio.BufferedProtocol):
                return _WholeBufferedWrapper(protocol, on_lost)
            if isinstance(protocol, asyncio.Protocol):
                return _WholeWrapper(protocol, on_lost)
            raise
    return protocol


class _Whole(asyncio.BaseProtocol):
    """A delegating wrapper for slotted protocols whose methods cannot be patched.

    The data path is the wrapped protocol's own bound methods, set as instance
    attributes by the subclasses, so the transport calls them directly. (The
    subclasses derive from only one of ``Protocol`` and ``BufferedProtocol``:
    uvloop checks for ``Protocol`` first.)
    """

    def __init__(
        self,
        protocol: asyncio.Protocol | asyncio.BufferedProtocol,
        on_lost: Callable[[], None],
    ) -> None:
        self.protocol = protocol
        self._on_lost = on_lost

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.protocol.connection_made(transport)

    def eof_received(self) -> bool | None:
        return self.protocol.eof_received()

    def connection_lost(self, exc: Exception | None) -> None:
        try:
            self.protocol.connection_lost(exc)
        finally:
            self._on_lost()

    def pause_writing(self) -> None:
        self.protocol.pause_writing()

    def resume_writing(self) -> None:
        self.protocol.resume_writing()


class _WholeWrapper(_Whole, asyncio.Protocol):
    """:class:`_Whole` for a slotted ``Protocol``."""

    def __init__(self, protocol: asyncio.Protocol, on_lost: Callable[[], None]) -> None:
        super().__init__(protocol, on_lost)
        self.data_received = protocol.data_received  # type: ignore[method-assign]


class _WholeBufferedWrapper(_Whole, asyncio.BufferedProtocol):
    """:class:`_Whole` for a slotted ``BufferedProtocol``."""

    def __init__(
        self, protocol: asyncio.BufferedProtocol, on_lost: Callable[[], None]
    ) -> None:
        super().__init__(protocol, on_lost)
        self.get_buffer = protocol.get_buffer  # type: ignore[method-assign]
        self.buffer_updated = protocol.buffer_updated  # type: ignore[method-assign]


_INTERNET = (socket.AF_INET, socket.AF_INET6)


async def make_transport(
    sock: socket.socket,
    factory: Callable[[], asyncio.BaseProtocol],
    *,
    ssl: ssl_module.SSLContext | None = None,
    server_side: bool = False,
    server_hostname: str | None = None,
    no_delay: bool = True,
    ssl_handshake_timeout: float | None = None,
    ssl_shutdown_timeout: float | None = None,
) -> tuple[asyncio.Transport, asyncio.BaseProtocol]:
    """Wrap a connected socket in a transport of the running loop.

    With ``ssl``, the two TLS timeouts (``None``: the loop's, 60 and 30
    seconds) go to the loop: a handshake or closing exchange that takes longer
    aborts the connection (``ConnectionAbortedError``, or ``TimeoutError``).

    A TCP socket gets ``TCP_NODELAY`` set to ``no_delay`` whatever the loop. Left
    to themselves the loops disagree: uvloop turns it on for every TCP transport
    it makes (over what the socket had), the default loop only for a socket made
    with the protocol number ``IPPROTO_TCP`` (aiosock's are made with 0, as
    ``socket.socket()`` makes them). So it is set here before the transport is
    made; on uvloop, to be off, it is set again before the protocol's
    ``connection_made`` (after the transport is made, for a protocol whose
    methods cannot be replaced).
    """
    loop = asyncio.get_running_loop()
    tcp = sock.type == socket.SOCK_STREAM and sock.family in _INTERNET
    undo_uvloop = tcp and not no_delay and current_loop_name(loop) == "uvloop"
    if tcp:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, no_delay)
    if undo_uvloop:
        factory = _nagle_before_connection_made(factory, sock)
    tls: dict[str, Any] = {}
    if ssl is not None:
        tls["ssl"] = ssl
        if ssl_handshake_timeout is not None:
            tls["ssl_handshake_timeout"] = ssl_handshake_timeout
        if ssl_shutdown_timeout is not None:
            tls["ssl_shutdown_timeout"] = ssl_shutdown_timeout
    if server_side:
        pair = await loop.connect_accepted_socket(factory, sock, **tls)
    elif sock.family == socket.AF_UNIX:
        pair = await loop.create_unix_connection(
            factory, sock=sock, server_hostname=server_hostname, **tls
        )
    else:
        pair = await loop.create_connection(
            factory, sock=sock, server_hostname=server_hostname, **tls
        )
    transport, protocol = pair
    if undo_uvloop:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, False)
    return transport, protocol


def _nagle_before_connection_made(
    factory: Callable[[], asyncio.BaseProtocol], sock: socket.socket
) -> Callable[[], asyncio.BaseProtocol]:
    """``factory``, its protocols turning ``TCP_NODELAY`` off on ``sock`` as they start.

    For uvloop, which turns it on when it makes a TCP transport: the protocol's
    own ``connection_made`` then finds the socket as ``options=`` set it.
    """

    def make() -> asyncio.BaseProtocol:
        protocol = factory()
        original = protocol.connection_made

        def connection_made(transport: asyncio.BaseTransport) -> None:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, False)
            original(transport)

        # (A protocol with __slots__ keeps its own: make_transport sets the
        # option once the transport is made.)
        with contextlib.suppress(AttributeError):
            protocol.connection_made = connection_made  # type: ignore[method-assign]
        return protocol

    return make


def server_hostname_for(
    endpoint: Endpoint, ssl: ssl_module.SSLContext | None
) -> str | None:
    """The name to check the server's certificate against, for TLS clients."""
    if ssl is None or endpoint.address is None:
        return None
    host = getattr(endpoint.address, "host", None)
    return host or "localhost"


def tls_timeouts(
    ssl: ssl_module.SSLContext | None,
    handshake: float | None,
    shutdown: float | None,
    *,
    idle_timeout: float | None = None,
) -> tuple[float | None, float | None]:
    """Check a server's TLS timeouts; return ``(handshake, shutdown)`` to use.

    Each is ``None`` (the loop's default) or a positive number of seconds, and
    needs ``ssl``. A handshake is bounded by ``idle_timeout`` too: a peer
    stalling there sends nothing for that long.
    """
    for name, value in (
        ("ssl_handshake_timeout", handshake),
        ("ssl_shutdown_timeout", shutdown),
    ):
        if value is None:
            continue
        check_seconds(name, value, positive=True)
        if ssl is None:
            raise ValueError(f"{name!r} needs 'ssl' (a TLS server)")
    if ssl is not None and idle_timeout is not None:
        handshake = idle_timeout if handshake is None else min(handshake, idle_timeout)
    return handshake, shutdown


async def start_accepted(
    conn: socket.socket,
    peer: Any,
    factory: Callable[[], asyncio.BaseProtocol],
    *,
    ssl: ssl_module.SSLContext | None,
    no_delay: bool,
    ssl_handshake_timeout: float | None,
    ssl_shutdown_timeout: float | None,
    options: Mapping[str, Any] | None = None,
) -> asyncio.Transport | None:
    """:func:`make_transport` for a socket a server accepted from ``peer``.

    ``options`` (checked: :func:`accepted_options`) are set on it first: a
    Unix-domain socket inherits none of its listener's, and a TCP one not all.

    Returns:
        The transport; ``None`` if the connection failed to start (a TLS
        handshake the client broke off, refused or let time out, or a reset
        before it was set up: the peer's doing), when the socket is closed and
        the failure logged (:func:`log_failed_start`).
    """
    try:
        apply_accepted(conn, options or {})
        transport, _ = await make_transport(
            conn,
            factory,
            ssl=ssl,
            server_side=True,
            no_delay=no_delay,
            ssl_handshake_timeout=ssl_handshake_timeout,
            ssl_shutdown_timeout=ssl_shutdown_timeout,
        )
    except OptionError as exc:
        # (Tried on the listeners when the server started; a kernel that
        # refuses it on an accepted socket only is told here, per client.)
        logger.warning("connection from %s closed: %s", describe_peer(conn, peer), exc)
        conn.close()
        return None
    except OSError as exc:
        conn.close()
        log_failed_start(conn, peer, exc)
        return None
    except BaseException:
        conn.close()
        raise
    return transport


def accept_starter(
    options: Mapping[str, Any] | None,
    ssl: ssl_module.SSLContext | None,
    ssl_handshake_timeout: float | None,
    ssl_shutdown_timeout: float | None,
    *,
    idle_timeout: float | None = None,
) -> Callable[
    [socket.socket, Any, Callable[[], asyncio.BaseProtocol]],
    Awaitable[asyncio.Transport | None],
]:
    """:func:`start_accepted` for one server, its settings checked once, up front.

    ``serve`` and ``serve_protocol`` start every connection they accept this
    way: ``TCP_NODELAY`` as ``options`` say, the options of accepted sockets,
    and the TLS timeouts (:func:`tls_timeouts`; errors raised here, before
    anything listens).
    """
    handshake, shutdown = tls_timeouts(
        ssl, ssl_handshake_timeout, ssl_shutdown_timeout, idle_timeout=idle_timeout
    )
    return functools.partial(
        start_accepted,
        ssl=ssl,
        no_delay=wants_no_delay(options),
        ssl_handshake_timeout=handshake,
        ssl_shutdown_timeout=shutdown,
        options=accepted_options(options),
    )


def log_failed_start(conn: socket.socket, peer: Any, exc: BaseException) -> None:
    """Log a connection that failed before its handler or protocol started.

    A TLS handshake the client broke off, refused or let time out, or a reset:
    the peer's doing, not a server error (INFO, no traceback).
    """
    logger.info(
        "connection from %s failed to start: %s",
        describe_peer(conn, peer),
        str(exc) or repr(exc),
    )


def describe_peer(conn: socket.socket, peername: Any) -> str:
    """The peer's address as text, for the log (``peername`` from ``accept()``)."""
    if peername is None:
        return "(unknown)"
    try:
        return str(from_sockaddr(conn.family, peername)) or "(unnamed)"
    except AddressError:
        return repr(peername)


async def start_server(
    run_connection: Callable[[socket.socket, Any], Any],
    endpoints: tuple[EndpointLike, ...],
    *,
    backlog: int,
    options: Mapping[str, Any] | None,
    max_connections: int | None,
    sock: socket.socket | list[socket.socket] | None,
    mode: int,
) -> Server:
    """Bind (or adopt) listeners and start a :class:`Server` on them.

    Every argument is checked before anything is bound, so that a mistake leaves
    no listening socket behind; adopted sockets stay the caller's if this fails.
    """
    check_max_connections(max_connections)
    parsed = [as_endpoint(e, Style.STREAM) for e in endpoints]
    socks = [] if sock is None else [sock] if isinstance(sock, socket.socket) else sock
    if not parsed and not socks:
        raise ValueError("expected at least one endpoint or an existing socket")
    listeners: list[Listener] = [adopt_listener(existing) for existing in socks]
    bound = await bind_listeners(
        parsed, backlog=backlog, options=options, mode=mode, adopted=listeners
    )
    try:
        server = Server(
            listeners + bound, run_connection, max_connections=max_connections
        )
        server.start()
    except BaseException:
        for listener in bound:
            listener.close()
        raise
    return server


async def serve_protocol(
    factory: Callable[[], asyncio.BaseProtocol],
    *endpoints: EndpointLike,
    backlog: int = 511,
    options: Mapping[str, Any] | None = None,
    max_connections: int | None = None,
    ssl: ssl_module.SSLContext | None = None,
    sock: socket.socket | list[socket.socket] | None = None,
    mode: int = DEFAULT_SOCKET_MODE,
    ssl_handshake_timeout: float | None = None,
    ssl_shutdown_timeout: float | None = None,
) -> Server:
    """Serve ``asyncio`` protocols made by ``factory`` on ``endpoints``.

    Each accepted connection gets ``factory()``; the protocol's callbacks are
    called straight by the loop's transport (on the default loop a plain
    ``Protocol`` is fed from a shared receive buffer, which is faster there).

    Args:
        factory: A zero-argument callable returning an ``asyncio.Protocol`` or
            ``asyncio.BufferedProtocol``.
        *endpoints: Stream endpoints to listen on (text such as
            ``"tcp://127.0.0.1:0"`` or ``"unix:/run/app.sock"``, or typed values).
        backlog: The ``listen()`` backlog.
        options: Socket options for every listening socket (set before ``bind``
            where it matters), and for each accepted one all but those of a
            listening socket only. TCP connections have ``no_delay`` on unless
            this turns it off.
        max_connections: Stop accepting at this many open connections.
        ssl: Serve TLS with this server-side context.
        sock: Already listening socket(s) to adopt (socket activation).
        mode: The file mode of socket files created for ``unix:`` endpoints.
        ssl_handshake_timeout: With ``ssl``: seconds a connection's TLS
            handshake may take before it is aborted (default: the loop's, 60).
            Until then it counts towards ``max_connections``.
        ssl_shutdown_timeout: With ``ssl``: seconds the closing exchange
            (``close_notify``) may take before the connection is aborted
            (default: the loop's, 30).

    A connection that fails before its protocol starts (a TLS handshake the
    client broke off, refused or let time out; a reset) is logged at INFO
    level with the peer's address, as the peer's doing, and goes no further.

    Returns:
        The running :class:`~aiosock.Server`.
    """
    loop = asyncio.get_running_loop()
    start = accept_starter(options, ssl, ssl_handshake_timeout, ssl_shutdown_timeout)

    async def run_connection(conn: socket.socket, peer: Any) -> None:
        lost = loop.create_future()

        def on_lost() -> None:
            if not lost.done():
                lost.set_result(None)

        def make() -> asyncio.BaseProtocol:
            return _track(factory(), loop, on_lost)

        transport = await start(conn, peer, make)
        if transport is None:
            return
        try:
            # Shielded: cancelling this task (aclose) must not cancel ``lost``
            # itself, or the connection would look finished and stay open.
            await asyncio.shield(lost)
        except asyncio.CancelledError:
            if not lost.done():
                transport.abort()
                # connection_lost() comes on the next loop turn: wait for it, so
                # that the socket is closed when aclose() returns.
                await asyncio.shield(lost)
            raise

    return await start_server(
        run_connection,
        endpoints,
        backlog=backlog,
        options=options,
        max_connections=max_connections,
        sock=sock,
        mode=mode,
    )


async def connect_protocol(
    factory: Callable[[], asyncio.BaseProtocol],
    endpoint: EndpointLike,
    *,
    timeout: float | None = None,
    local: EndpointLike | None = None,
    options: Mapping[str, Any] | None = None,
    ssl: ssl_module.SSLContext | None = None,
    server_hostname: str | None = None,
    happy_eyeballs_delay: float = DEFAULT_HAPPY_EYEBALLS_DELAY,
) -> tuple[asyncio.Transport, asyncio.BaseProtocol]:
    """Connect to a stream ``endpoint`` and run ``factory()``'s protocol on it.

    Args:
        factory: A zero-argument callable returning an asyncio protocol.
        endpoint: Where to connect (``"tcp://host:port"``, ``"unix:path"``, ...).
        timeout: Seconds for the whole operation, resolution included.
        local: The local address to bind before connecting.
        options: Socket options to set before connecting. TCP connections
            have ``no_delay`` on unless this turns it off.
        ssl: Connect with TLS using this client-side context.
        server_hostname: The name to check the certificate against (default: the
            endpoint's host).
        happy_eyeballs_delay: Seconds between attempts to successive addresses.

    Returns:
        The transport and the protocol that the transport calls. On the default
        loop a plain protocol is wrapped in a :class:`BufferedAdapter`, whose
        ``protocol`` attribute is yours.

    Raises:
        TimeoutError: ``timeout`` passed first.
        OSError: The connection failed (``ConnectionRefusedError``,
            ``FileNotFoundError``, ...).
        AddressError: The endpoint is malformed or not a stream endpoint.
    """
    loop = asyncio.get_running_loop()
    return await open_transport(
        endpoint,
        lambda: _track(factory(), loop, None),
        timeout=timeout,
        local=local,
        options=options,
        ssl=ssl,
        server_hostname=server_hostname,
        happy_eyeballs_delay=happy_eyeballs_delay,
    )


async def open_transport(
    endpoint: EndpointLike,
    factory: Callable[[], asyncio.BaseProtocol],
    *,
    timeout: float | None,
    local: EndpointLike | None,
    options: Mapping[str, Any] | None,
    ssl: ssl_module.SSLContext | None,
    server_hostname: str | None,
    happy_eyeballs_delay: float,
) -> tuple[asyncio.Transport, asyncio.BaseProtocol]:
    """Connect to a stream endpoint and put a transport with ``factory()`` on it.

    The one connection sequence of :func:`connect_protocol` and
    :func:`aiosock.connect`: parse, resolve and race the addresses (happy
    eyeballs), all under ``timeout``; the socket is closed if anything fails.
    """
    check_seconds("timeout", timeout, none_ok=True)
    check_seconds("happy_eyeballs_delay", happy_eyeballs_delay)
    target = as_endpoint(endpoint, Style.STREAM)
    bind_to = None if local is None else as_endpoint(local, Style.STREAM)
    if server_hostname is None:
        server_hostname = server_hostname_for(target, ssl)
    deadline = asyncio.timeout(timeout)
    try:
        async with deadline:
            return await _open_transport_within(
                endpoint,
                target,
                factory,
                local=bind_to,
                options=options,
                ssl=ssl,
                server_hostname=server_hostname,
                happy_eyeballs_delay=happy_eyeballs_delay,
            )
    except TimeoutError:
        if not deadline.expired():
            raise
        written = endpoint if isinstance(endpoint, str) else str(target)
        raise TimeoutError(
            f"connect to {written}: not connected within {timeout:g} s (timeout)"
        ) from None


async def _open_transport_within(
    endpoint: EndpointLike,
    target: Endpoint,
    factory: Callable[[], asyncio.BaseProtocol],
    *,
    local: Endpoint | None,
    options: Mapping[str, Any] | None,
    ssl: ssl_module.SSLContext | None,
    server_hostname: str | None,
    happy_eyeballs_delay: float,
) -> tuple[asyncio.Transport, asyncio.BaseProtocol]:
    """:func:`open_transport`'s steps, under its timeout."""
    try:
        sock = await open_connected_socket(
            target,
            local=local,
            options=options,
            happy_eyeballs_delay=happy_eyeballs_delay,
            text=endpoint if isinstance(endpoint, str) else None,
        )
    except ResolutionError as exc:
        if isinstance(endpoint, str) and exc.text == str(target) != endpoint:
            # Named as the caller wrote it (``tcp://``, not the ``tcp4://``
            # its IPv4 address makes of it).
            renamed = ResolutionError(exc.reason, text=endpoint, errno_=exc.errno)
            raise renamed from exc.__cause__
        raise
    try:
        return await make_transport(
            sock,
            factory,
            ssl=ssl,
            server_hostname=server_hostname,
            no_delay=wants_no_delay(options),
        )
    except BaseException:
        sock.close()
        raise
