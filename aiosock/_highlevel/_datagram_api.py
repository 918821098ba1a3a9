"""``open_datagram``: a :class:`DatagramSocket` bound and/or connected as asked."""

from __future__ import annotations

import socket
from typing import TYPE_CHECKING, Any

from .._core._dgram import BoundDatagram, open_datagram_socket
from .._core._dgram_transport import make_datagram_transport
from .._core._listeners import DEFAULT_SOCKET_MODE, Listener
from .._foundation._addresses import LocalAddress
from .._foundation._concepts import Namespace, Style
from .._foundation._endpoints import Endpoint, EndpointLike, as_endpoint
from ._datagram import DEFAULT_MAX_SIZE, DatagramSocket

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping

__all__ = ["check_max_size", "datagram_pair", "open_datagram", "wrap_datagram"]


def check_max_size(value: int) -> int:
    """Return ``value`` if it is a valid ``max_size``; raise ``ValueError`` if not."""
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"'max_size' must be an int of at least 1 (got {value!r})")
    return value


async def wrap_datagram(
    bound: BoundDatagram,
    *,
    max_size: int = DEFAULT_MAX_SIZE,
    factory: Callable[..., DatagramSocket] = DatagramSocket,
    draining: bool = False,
    **kwargs: Any,
) -> DatagramSocket:
    """Put a transport and a :class:`DatagramSocket` on a socket made by the core.

    The socket object takes ownership of ``bound`` (also when this fails).
    """
    try:
        protocol = factory(
            bound.sock, bound.holder, remote=bound.remote, max_size=max_size, **kwargs
        )
        transport, loop_owned = await make_datagram_transport(
            bound.sock,
            lambda: protocol,
            max_size=max_size,
            draining=draining,
            ancillary=_ancillary_space(bound.sock, factory),
        )
    except BaseException:
        bound.holder.close()
        raise
    protocol._attach(transport, loop_owned)
    return protocol


def _ancillary_space(
    sock: socket.socket, factory: Callable[..., DatagramSocket]
) -> int:
    """The control buffer to read with: Unix-domain sockets keep ancillary data."""
    if sock.family != socket.AF_UNIX:
        return 0
    return getattr(factory, "_ancillary_space", 0)


async def open_datagram(
    local: EndpointLike | None = None,
    remote: EndpointLike | None = None,
    *,
    options: Mapping[str, Any] | None = None,
    mode: int = DEFAULT_SOCKET_MODE,
    autobind: bool = True,
    max_size: int = DEFAULT_MAX_SIZE,
) -> DatagramSocket:
    """Open a datagram socket: bound to ``local``, connected to ``remote``, or both.

    Args:
        local: Where to bind: ``"udp://127.0.0.1:0"``, ``"udp6://[::1]:5353"``,
            ``"unixgram:/run/app.sock"``, ``"unixgram:@name"``, an address or
            ``(host, port)``. A socket file is made with ``mode``; a stale one is
            replaced, a live one is an error; the file is removed on close.
        remote: Where :meth:`~DatagramSocket.send` sends, and the only sender
            :meth:`~DatagramSocket.receive` hears from (the manual's ``connect``
            on a datagram socket; nothing is sent).
        options: Socket options, applied in their phase (``{"broadcast": True}``).
        mode: The file mode of a socket file made for ``local``.
        autobind: Give a Unix-domain socket without ``local`` a unique abstract
            name, so that peers can reply to it (Linux autobind).
        max_size: The longest datagram to receive; a longer one is dropped and
            raises :class:`~aiosock.MessageTooLargeError` instead of arriving cut
            short. The default takes any UDP datagram.

    Returns:
        The open :class:`DatagramSocket`.

    Raises:
        ValueError: Neither ``local`` nor ``remote`` was given, or ``max_size``
            is not a positive ``int``.
        AddressError: An endpoint is malformed, not of the datagram style, or
            the two are in different namespaces.
        OSError: Binding or connecting failed (``PermissionError``,
            ``FileNotFoundError`` for a missing socket file, ...).
    """
    check_max_size(max_size)
    local_ep = None if local is None else as_endpoint(local, Style.DATAGRAM)
    remote_ep = None if remote is None else as_endpoint(remote, Style.DATAGRAM)
    bound = await open_datagram_socket(
        local_ep, remote_ep, options=options, mode=mode, autobind=autobind
    )
    return await wrap_datagram(bound, max_size=max_size)


async def datagram_pair(
    *, max_size: int = DEFAULT_MAX_SIZE
) -> tuple[DatagramSocket, DatagramSocket]:
    """Return two connected Unix-domain datagram sockets (the manual's ``socketpair``).

    Neither has a name: each one's :attr:`~DatagramSocket.remote_address` is
    ``LocalAddress("")``. The kernel records each one's
    :attr:`~DatagramSocket.peer_credentials` (the process that made the pair).

    Args:
        max_size: The longest datagram each one receives, as for
            :func:`open_datagram`.

    Raises:
        ValueError: ``max_size`` is not a positive ``int``.
    """
    check_max_size(max_size)
    remote = Endpoint(Style.DATAGRAM, Namespace.LOCAL, LocalAddress(""))
    a, b = socket.socketpair(socket.AF_UNIX, socket.SOCK_DGRAM)
    for sock in (a, b):
        sock.setblocking(False)
    try:
        first = await wrap_datagram(
            BoundDatagram(a, Listener(a, remote), remote), max_size=max_size
        )
    except BaseException:
        b.close()
        raise
    try:
        second = await wrap_datagram(
            BoundDatagram(b, Listener(b, remote), remote), max_size=max_size
        )
    except BaseException:
        first.abort()
        raise
    return first, second
