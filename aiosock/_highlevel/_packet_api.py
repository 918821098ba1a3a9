"""``connect_packets``, ``serve_packets`` and ``packet_pair``: sequenced packets.

Strategy: the core does what it does for streams (resolve, create with options,
bind with socket-file handling, listen, accept with limits and grace, connect);
the only difference is the socket type, which comes from the endpoint's style.
Each connection gets a :class:`PacketStream` instead of a transport.

:func:`aiosock.connect` and :func:`aiosock.serve` hand ``unixpacket:`` endpoints
to the functions here (see :func:`is_packet_endpoint`), so the endpoint grammar
works the same everywhere; typed code calls these functions directly, whose
return types say that the result is a :class:`PacketStream`.
"""

from __future__ import annotations

import asyncio
import logging
import socket
from typing import TYPE_CHECKING, Any

from .._core._connect import open_connected_socket
from .._core._listeners import (
    DEFAULT_SOCKET_MODE,
    Listener,
    adopt_listener,
    bind_listeners,
)
from .._core._options import accepted_options, apply_accepted
from .._core._server import Server, check_max_connections
from .._foundation._checks import check_handler
from .._foundation._concepts import Style
from .._foundation._endpoints import Endpoint, EndpointLike, as_endpoint
from .._foundation._errors import AddressError, BrokenResourceError
from ._packets import PacketStream

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable, Mapping

__all__ = [
    "connect_packets",
    "is_packet_endpoint",
    "packet_pair",
    "serve_packets",
    "wants_packets",
]

logger = logging.getLogger("aiosock.server")


def is_packet_endpoint(endpoint: object) -> bool:
    """Whether ``endpoint`` names the sequenced-packet style (``unixpacket:``)."""
    if isinstance(endpoint, str):
        return endpoint.startswith("unixpacket:")
    return isinstance(endpoint, Endpoint) and endpoint.style is Style.SEQPACKET


def wants_packets(
    endpoints: tuple[EndpointLike, ...],
    sock: socket.socket | list[socket.socket] | None,
) -> bool:
    """Whether a server for ``endpoints`` and ``sock`` serves sequenced packets."""
    socks = [] if sock is None else [sock] if isinstance(sock, socket.socket) else sock
    if not endpoints and not socks:
        return False
    return all(map(is_packet_endpoint, endpoints)) and all(
        s.type == socket.SOCK_SEQPACKET for s in socks
    )


async def connect_packets(
    endpoint: EndpointLike,
    *,
    timeout: float | None = None,
    local: EndpointLike | None = None,
    options: Mapping[str, Any] | None = None,
) -> PacketStream:
    """Connect to a sequenced-packet endpoint and return a :class:`PacketStream`.

    Args:
        endpoint: ``"unixpacket:/path"``, ``"unixpacket:@name"``, an
            :class:`~aiosock.Endpoint`, or a :class:`~aiosock.LocalAddress` or
            path (taken as ``unixpacket``).
        timeout: Seconds for the whole operation.
        local: A local address to bind before connecting.
        options: Socket options to set before connecting.

    Raises:
        TimeoutError: ``timeout`` passed first.
        OSError: The connection failed (``FileNotFoundError``,
            ``ConnectionRefusedError``, ...).
        AddressError: The endpoint is malformed or not ``unixpacket``.
    """
    target = as_endpoint(endpoint, Style.SEQPACKET)
    bind_to = None if local is None else as_endpoint(local, Style.SEQPACKET)
    async with asyncio.timeout(timeout):
        sock = await open_connected_socket(target, local=bind_to, options=options)
    try:
        return PacketStream(sock)
    except BaseException:
        sock.close()
        raise


async def serve_packets(
    handler: Callable[[PacketStream], Awaitable[object]],
    *endpoints: EndpointLike,
    backlog: int = 511,
    options: Mapping[str, Any] | None = None,
    max_connections: int | None = None,
    sock: socket.socket | list[socket.socket] | None = None,
    mode: int = DEFAULT_SOCKET_MODE,
) -> Server:
    """Serve ``handler(stream)`` for every connection to sequenced-packet endpoints.

    The lifecycle is :func:`aiosock.serve`'s: each connection runs in its own
    task, its stream is closed when the handler returns (aborted if it is
    cancelled), an exception from a handler is logged, and
    ``server.aclose(grace=...)`` lets handlers finish before cancelling them.

    Args:
        handler: An async callable taking the connection's :class:`PacketStream`.
        *endpoints: ``unixpacket:`` endpoints to listen on.
        backlog: The ``listen()`` backlog.
        options: Socket options for the listening sockets, and for each
            accepted one all but those of a listening socket only.
        max_connections: Stop accepting at this many open connections.
        sock: Already listening ``SOCK_SEQPACKET`` socket(s) to adopt.
        mode: The file mode of the socket files made.

    Returns:
        The running :class:`~aiosock.Server`.
    """
    check_handler(handler)
    check_max_connections(max_connections)
    parsed = [as_endpoint(e, Style.SEQPACKET) for e in endpoints]
    socks = [] if sock is None else [sock] if isinstance(sock, socket.socket) else sock
    if not parsed and not socks:
        raise ValueError("expected at least one endpoint or an existing socket")
    for existing in socks:
        if existing.type != socket.SOCK_SEQPACKET:
            raise AddressError(f"expected a SOCK_SEQPACKET socket, got {existing!r}")
    listeners: list[Listener] = [adopt_listener(existing) for existing in socks]
    bound = await bind_listeners(
        parsed, backlog=backlog, options=options, mode=mode, adopted=listeners
    )
    accepted = accepted_options(options)

    async def run_connection(conn: socket.socket, _peername: Any) -> None:
        try:
            # (A Unix-domain socket inherits none of its listener's options.)
            apply_accepted(conn, accepted)
            stream = PacketStream(conn)
        except BaseException:
            conn.close()
            raise
        try:
            await handler(stream)
        except asyncio.CancelledError:
            stream.abort()
            raise
        except BrokenResourceError as exc:
            logger.info("packet connection broken: %s", exc)
            stream.abort()
        except Exception as exc:
            logger.error("packet handler raised", exc_info=exc)
            await stream.aclose()
        else:
            await stream.aclose()

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


async def packet_pair() -> tuple[PacketStream, PacketStream]:
    """Return two connected packet streams (``socketpair`` with ``SOCK_SEQPACKET``)."""
    a, b = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    return PacketStream(a), PacketStream(b)
