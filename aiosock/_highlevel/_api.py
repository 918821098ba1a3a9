"""``connect``, ``serve`` and ``stream_pair``: streams for the stream style.

Strategy: the core makes and connects sockets; this module puts a :class:`Stream`
(in the flavour fastest on the running loop) on each and, for servers, runs the
user's handler in the connection's task. The handler's stream is closed when the
handler returns (flushing what was sent) or aborted when it is cancelled; an
exception from a handler is logged with the peer's address and touches nothing
else.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import ssl as ssl_module
import types
from typing import TYPE_CHECKING, Any

from .._core._connect import DEFAULT_HAPPY_EYEBALLS_DELAY
from .._core._listeners import DEFAULT_SOCKET_MODE
from .._core._protocols import (
    accept_starter,
    describe_peer,
    make_transport,
    open_transport,
    start_server,
)
from .._foundation._checks import check_handler, check_seconds
from .._foundation._concepts import Namespace
from .._foundation._errors import BrokenResourceError, translate_os_error
from ._drive import AVAILABLE as DRIVE_AVAILABLE
from ._drive import UNDRIVEN, Driver
from ._packet_api import (
    connect_packets,
    is_packet_endpoint,
    serve_packets,
    wants_packets,
)
from ._stream import Stream, stream_class, watched_stream_class

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable, Mapping

    from .._core._server import Server
    from .._foundation._endpoints import EndpointLike

__all__ = ["connect", "serve", "stream_pair", "wrap_socket"]

logger = logging.getLogger("aiosock.server")

#: Seconds ``stream_pair`` waits for its own loopback connection.
_LOOPBACK_TIMEOUT = 5.0


async def wrap_socket(
    sock: socket.socket,
    *,
    ssl: ssl_module.SSLContext | None = None,
    server_side: bool = False,
    server_hostname: str | None = None,
) -> Stream:
    """Return a :class:`Stream` over an already connected stream socket.

    The stream takes ownership of ``sock``.

    Raises:
        ValueError: ``sock`` is not a stream socket, or it is listening (serve
            it with ``serve(handler, sock=...)``); it stays the caller's.
        OSError: ``sock`` is not connected (``ENOTCONN``); it stays the
            caller's.
    """
    _check_connected_stream(sock)
    loop = asyncio.get_running_loop()
    sock.setblocking(False)
    cls = stream_class(loop)
    stream = cls(loop, half_close=ssl is None)
    await make_transport(
        sock,
        lambda: stream,
        ssl=ssl,
        server_side=server_side,
        server_hostname=server_hostname,
    )
    return stream


def _check_connected_stream(sock: socket.socket) -> None:
    """Refuse what :func:`wrap_socket` cannot make a stream of."""
    if sock.type != socket.SOCK_STREAM:
        raise ValueError(
            f"expected a stream socket (SOCK_STREAM), got {sock.type!r}"
            f" on descriptor {sock.fileno()}"
        )
    if sock.getsockopt(socket.SOL_SOCKET, socket.SO_ACCEPTCONN):
        raise ValueError(
            f"expected a connected socket, got a listening one on descriptor"
            f" {sock.fileno()} (serve it: serve(handler, sock=...))"
        )
    try:
        sock.getpeername()
    except OSError as exc:
        raise translate_os_error(
            exc, f"wrap_socket: descriptor {sock.fileno()} is not connected"
        ) from exc


async def connect(
    endpoint: EndpointLike,
    *,
    timeout: float | None = None,
    local: EndpointLike | None = None,
    options: Mapping[str, Any] | None = None,
    ssl: ssl_module.SSLContext | None = None,
    server_hostname: str | None = None,
    happy_eyeballs_delay: float = DEFAULT_HAPPY_EYEBALLS_DELAY,
) -> Stream:
    """Connect to a stream endpoint and return a :class:`Stream`.

    Host names are resolved through the running loop; when they give several
    addresses, attempts are raced with happy eyeballs (RFC 8305) on both loops.

    Args:
        endpoint: ``"tcp://host:port"``, ``"tcp6://…"``, ``"unix:/path"``,
            ``"unix:@name"``, an address object or a ``(host, port)`` tuple.
            A ``"unixpacket:…"`` endpoint gives a
            :class:`~aiosock.PacketStream` (see :func:`~aiosock.connect_packets`).
        timeout: Seconds for the whole operation, resolution included.
        local: A local address to bind before connecting.
        options: Socket options to set before connecting (``{"keepalive": True}``).
            TCP streams have ``no_delay`` on unless this turns it off.
        ssl: Connect with TLS using this client-side ``ssl.SSLContext``.
        server_hostname: The name to check the certificate against (default:
            the endpoint's host).
        happy_eyeballs_delay: Seconds between attempts to successive addresses.

    Returns:
        The connected stream.

    Raises:
        TimeoutError: ``timeout`` passed first.
        OSError: The connection failed; its class is kept
            (``ConnectionRefusedError``, ``FileNotFoundError``, ...).
        AddressError: The endpoint is malformed or not of the stream style.
    """
    if is_packet_endpoint(endpoint) and ssl is None:
        # unixpacket: a record stream (typed code calls connect_packets).
        packets = await connect_packets(
            endpoint, timeout=timeout, local=local, options=options
        )
        return packets  # type: ignore[return-value]
    loop = asyncio.get_running_loop()
    stream = stream_class(loop)(loop, half_close=ssl is None)
    await open_transport(
        endpoint,
        lambda: stream,
        timeout=timeout,
        local=local,
        options=options,
        ssl=ssl,
        server_hostname=server_hostname,
        happy_eyeballs_delay=happy_eyeballs_delay,
    )
    return stream


async def serve(
    handler: Callable[[Stream], Awaitable[object]],
    *endpoints: EndpointLike,
    backlog: int = 511,
    options: Mapping[str, Any] | None = None,
    max_connections: int | None = None,
    ssl: ssl_module.SSLContext | None = None,
    sock: socket.socket | list[socket.socket] | None = None,
    mode: int = DEFAULT_SOCKET_MODE,
    idle_timeout: float | None = None,
    ssl_handshake_timeout: float | None = None,
    ssl_shutdown_timeout: float | None = None,
) -> Server:
    """Serve ``handler(stream)`` for every connection to ``endpoints``.

    Each connection runs in its own task; when the handler returns, its stream is
    closed (data already sent is still delivered). An exception from a handler
    is logged with the peer's address and affects no other connection.

    Args:
        handler: An async callable taking the connection's :class:`Stream`.
        *endpoints: Stream endpoints to listen on; several, of mixed namespaces,
            may be given. ``"tcp://:PORT"`` binds every address family. When
            all are ``"unixpacket:…"``, the handler gets a
            :class:`~aiosock.PacketStream` (see :func:`~aiosock.serve_packets`).
        backlog: The ``listen()`` backlog.
        options: Socket options for the listening sockets, and for each
            accepted one all but those of a listening socket only (see
            :doc:`options`). TCP connections have ``no_delay`` on unless this
            turns it off.
        max_connections: Stop accepting at this many open connections; resume
            below it (excess clients wait in the kernel's backlog).
        ssl: Serve TLS with this server-side ``ssl.SSLContext``.
        sock: Already listening socket(s) to adopt (as systemd passes them).
        mode: The file mode of socket files made for ``unix:`` endpoints.
        idle_timeout: Reset a connection with no traffic (nothing received, no
            ``send``, no write-buffer progress) for this many seconds (at most a
            quarter more); its handler's ``receive``/``send`` then raise
            :class:`~aiosock.BrokenResourceError` caused by a ``TimeoutError``.
            For a deadline on one read, wrap it in ``asyncio.timeout``. With
            ``ssl`` it bounds the TLS handshake too.
        ssl_handshake_timeout: With ``ssl``: seconds a connection's TLS
            handshake may take before it is aborted (default: the loop's, 60,
            or ``idle_timeout`` if that is less). Until then the connection
            counts towards ``max_connections``; the handler is not called.
        ssl_shutdown_timeout: With ``ssl``: seconds the closing exchange
            (``close_notify``) may take once the handler is done, before the
            connection is aborted (default: the loop's, 30).

    A connection that fails before its handler starts (a TLS handshake the
    client broke off, refused or let time out; a reset) is logged at INFO
    level with the peer's address, as the peer's doing.

    Returns:
        The running :class:`~aiosock.Server`; ``server.endpoints`` lists what is
        bound, with port 0 resolved.
    """
    check_handler(handler)
    check_seconds("idle_timeout", idle_timeout, none_ok=True, positive=True)
    if ssl is None and wants_packets(endpoints, sock):
        if idle_timeout is not None:
            raise ValueError("'idle_timeout' is for byte streams, not unixpacket")
        # unixpacket: record streams (typed code calls serve_packets).
        return await serve_packets(
            handler,  # type: ignore[arg-type]
            *endpoints,
            backlog=backlog,
            options=options,
            max_connections=max_connections,
            sock=sock,
            mode=mode,
        )
    loop = asyncio.get_running_loop()
    cls = (
        stream_class(loop, served=DRIVE_AVAILABLE)
        if idle_timeout is None
        else watched_stream_class(loop, served=DRIVE_AVAILABLE)
    )
    half_close = ssl is None
    start = accept_starter(
        options,
        ssl,
        ssl_handshake_timeout,
        ssl_shutdown_timeout,
        idle_timeout=idle_timeout,
    )

    async def run_connection(conn: socket.socket, peer: Any) -> None:
        # ``peer``: what accept() returned (a client that reset at once has no
        # peer name for getpeername(), and a handler's failure is logged with it).
        stream = cls(loop, half_close=half_close)
        transport = await start(conn, peer, lambda: stream)
        if transport is None:
            return  # (the peer's doing, logged)
        if idle_timeout is not None:
            stream.watch_idle(idle_timeout)  # type: ignore[attr-defined]
        try:
            # Not a helper coroutine: an idle connection waits in this frame.
            awaitable = handler(stream)
            if DRIVE_AVAILABLE and isinstance(awaitable, types.CoroutineType):
                driver = Driver(awaitable, stream, loop)
                stream._driver = driver
                try:
                    await driver.run()
                finally:
                    stream._driver = UNDRIVEN
            else:
                await awaitable
        except asyncio.CancelledError:
            stream.abort()
            raise
        except BrokenResourceError as exc:
            # The peer reset the connection: its doing, not the handler's bug.
            logger.info("connection from %s broken: %s", describe_peer(conn, peer), exc)
            stream.abort()
        except Exception as exc:
            logger.error(
                "handler for peer %s raised", describe_peer(conn, peer), exc_info=exc
            )
            await stream.aclose()
        else:
            await stream.aclose()

    return await start_server(
        run_connection,
        endpoints,
        backlog=backlog,
        options=options,
        max_connections=max_connections,
        sock=sock,
        mode=mode,
    )


async def stream_pair(
    namespace: Namespace = Namespace.LOCAL,
) -> tuple[Stream, Stream]:
    """Return two connected streams (the manual's ``socketpair``).

    Args:
        namespace: :attr:`~aiosock.Namespace.LOCAL` (the default; unnamed
            Unix-domain sockets), or an internet namespace (a loopback pair).
    """
    if namespace is Namespace.LOCAL:
        a, b = socket.socketpair(namespace.family, socket.SOCK_STREAM)
    else:
        # The kernel has socketpair() for AF_UNIX only: connect over loopback.
        a, b = _loopback_pair(namespace.family)
    try:
        first = await wrap_socket(a)
    except BaseException:
        a.close()
        b.close()
        raise
    try:
        second = await wrap_socket(b)
    except BaseException:
        first.abort()
        b.close()
        raise
    return first, second


def _loopback_pair(family: int) -> tuple[socket.socket, socket.socket]:
    """Return two TCP sockets connected over the loopback interface of ``family``."""
    host = "::1" if family == socket.AF_INET6 else "127.0.0.1"
    with socket.socket(family, socket.SOCK_STREAM) as listener:
        listener.bind((host, 0))
        listener.listen(1)
        listener.settimeout(_LOOPBACK_TIMEOUT)
        client = socket.socket(family, socket.SOCK_STREAM)
        try:
            client.setblocking(False)
            with contextlib.suppress(BlockingIOError, InterruptedError):
                client.connect(listener.getsockname())
            # On loopback the handshake is done by now: accept() does not wait.
            server, peer = listener.accept()
            if peer != client.getsockname():
                server.close()
                raise ConnectionError(
                    f"expected a connection from {client.getsockname()}, got {peer}"
                )
        except BaseException:
            client.close()
            raise
    return client, server
