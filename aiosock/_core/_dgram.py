"""Datagram sockets: resolve, create, set options, bind (or autobind), connect.

Strategy: the same steps as the manual's datagram examples, done by aiosock so
that options go on in their phase and socket files get the handling that
listening sockets get (``_listeners.make_bound_socket``: a mode of your choice,
a stale file replaced, a live one refused, the file removed on close):

- ``local`` given: resolve it passively and bind the first address (in the
  namespace of ``remote`` when both are given);
- ``local`` not given for a Unix-domain socket: *autobind* (``bind("")`` gives
  the socket a unique abstract name, so that a peer can reply to it), unless
  told not to;
- ``remote`` given: ``connect()`` to the first resolved address that accepts it
  (a datagram ``connect`` only sets the default destination and the filter on
  received datagrams; nothing is sent).
"""

from __future__ import annotations

import errno
import socket
import struct
from typing import TYPE_CHECKING, Any, Final

import attrs

from .._foundation._addresses import HostAddress, from_sockaddr
from .._foundation._concepts import Namespace, Style
from .._foundation._endpoints import Endpoint
from .._foundation._errors import (
    AddressError,
    MessageTooLargeError,
    translate_os_error,
)
from ._listeners import DEFAULT_SOCKET_MODE, Listener, make_bound_socket
from ._options import Phase, apply_phase, check_applicable, checked_options

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

__all__ = [
    "BoundDatagram",
    "bind_datagram_sockets",
    "kernel_drops",
    "open_datagram_socket",
    "send_error",
]

#: ``SO_MEMINFO`` (Linux): its ninth field is the socket's drop counter.
_SO_MEMINFO: Final = getattr(socket, "SO_MEMINFO", 55)
_MEMINFO: Final = struct.Struct("9I")


def kernel_drops(sock: socket.socket) -> int:
    """Return the kernel's count of datagrams dropped on ``sock`` (0 if unknown).

    It is the counter that ``SO_RXQ_OVFL`` reports with each datagram, read
    whenever asked instead (``SO_MEMINFO``), so receiving costs nothing extra.
    """
    if sock.fileno() < 0:
        return 0
    try:
        raw = sock.getsockopt(socket.SOL_SOCKET, _SO_MEMINFO, _MEMINFO.size)
        return int(_MEMINFO.unpack(raw)[8])
    except (OSError, struct.error):
        return 0


def send_error(exc: Exception) -> Exception:
    """Return the error to raise for ``exc`` as the kernel or a loop reported it.

    ``EMSGSIZE`` becomes :class:`~aiosock.MessageTooLargeError`;
    other ``OSError`` values get the class of their errno.
    """
    if isinstance(exc, OSError) and not isinstance(exc, MessageTooLargeError):
        if exc.errno == errno.EMSGSIZE:
            error = MessageTooLargeError(
                f"the datagram is too large to send ({exc.strerror})"
            )
            error.__cause__ = exc
            return error
        return translate_os_error(exc)
    return exc


@attrs.define(eq=False)
class BoundDatagram:
    """A datagram socket as made here, with what closing it needs.

    Attributes:
        sock: The non-blocking socket.
        holder: Closes the socket and removes its socket file, if one was made.
        remote: The concrete endpoint it is connected to, or ``None``.
    """

    sock: socket.socket
    holder: Listener
    remote: Endpoint | None = None


def _concrete(endpoint: Endpoint) -> Any:
    address = endpoint.address
    if address is None or isinstance(address, HostAddress):
        raise AddressError(f"expected a resolved endpoint, got {endpoint}")
    return address.to_sockaddr()


def _bound_endpoint(sock: socket.socket) -> Endpoint:
    address = from_sockaddr(sock.family, sock.getsockname())
    return Endpoint(Style.DATAGRAM, address.namespace, address)


def _pick(
    locals_: Sequence[Endpoint], remotes: Sequence[Endpoint]
) -> tuple[Endpoint | None, list[Endpoint]]:
    """Choose the local endpoint and the remote candidates in its namespace."""
    if not locals_:
        first = remotes[0].namespace
        return None, [r for r in remotes if r.namespace is first]
    if not remotes:
        return locals_[0], []
    for local in locals_:
        matching = [r for r in remotes if r.namespace is local.namespace]
        if matching:
            return local, matching
    raise AddressError(
        f"expected a remote address in the namespace of local {locals_[0]}, "
        f"got {', '.join(str(r) for r in remotes)}"
    )


def _new_socket(
    namespace: Namespace, values: Mapping[str, Any], *, autobind: bool
) -> Listener:
    sock = socket.socket(namespace.family, socket.SOCK_DGRAM)
    try:
        sock.setblocking(False)
        apply_phase(sock, values, Phase.BEFORE_BIND)
        if namespace is Namespace.LOCAL and autobind:
            sock.bind("")  # Linux autobind: a unique abstract name
        apply_phase(sock, values, Phase.BEFORE_CONNECT)
    except OSError as exc:
        sock.close()
        raise translate_os_error(exc, "create a datagram socket") from exc
    except BaseException:
        sock.close()
        raise
    return Listener(sock, _bound_endpoint(sock))


def _bind(endpoint: Endpoint, values: Mapping[str, Any], mode: int) -> Listener:
    sock, made = make_bound_socket(endpoint, options=values, mode=mode, listening=False)
    return Listener(sock, _bound_endpoint(sock), made)


def _connect(holder: Listener, candidates: Sequence[Endpoint]) -> Endpoint:
    errors: list[OSError] = []
    for candidate in candidates:
        try:
            holder.sock.connect(_concrete(candidate))
        except OSError as exc:
            errors.append(translate_os_error(exc, f"connect to {candidate}"))
            continue
        return candidate
    first = errors[0]
    for other in errors[1:]:
        first.add_note(f"also: {other}")
    raise first


async def open_datagram_socket(
    local: Endpoint | None,
    remote: Endpoint | None,
    *,
    options: Mapping[str, Any] | None = None,
    mode: int = DEFAULT_SOCKET_MODE,
    autobind: bool = True,
) -> BoundDatagram:
    """Make a non-blocking datagram socket bound to ``local``, connected to ``remote``.

    Raises:
        ValueError: Neither ``local`` nor ``remote`` was given.
        AddressError: They are in different namespaces.
        OSError: Binding or connecting failed (its class kept).
    """
    if local is None and remote is None:
        raise ValueError("expected a local or a remote endpoint, got neither")
    values = checked_options(options)
    locals_ = await local.resolve(passive=True) if local is not None else ()
    remotes = await remote.resolve() if remote is not None else ()
    check_applicable(values, [e for e in (local, remote) if e is not None])
    chosen, candidates = _pick(locals_, remotes)
    if chosen is not None:
        holder = _bind(chosen, values, mode)
    else:
        namespace = candidates[0].namespace
        assert namespace is not None
        holder = _new_socket(namespace, values, autobind=autobind)
    connected = None
    try:
        if candidates:
            connected = _connect(holder, candidates)
            apply_phase(holder.sock, values, Phase.CONNECTED)
        else:
            apply_phase(holder.sock, values, Phase.CONNECTED)
    except BaseException:
        holder.close()
        raise
    if chosen is None or connected is not None:
        holder.endpoint = _bound_endpoint(holder.sock)
    return BoundDatagram(holder.sock, holder, connected)


async def bind_datagram_sockets(
    endpoints: Sequence[Endpoint],
    *,
    options: Mapping[str, Any] | None = None,
    mode: int = DEFAULT_SOCKET_MODE,
) -> list[BoundDatagram]:
    """Resolve ``endpoints`` passively and bind a socket to every address.

    All or nothing. ``udp://:PORT`` binds each address family the host has (IPv6
    ones with ``v6_only``, so the two can share the port); with port 0 the later
    families reuse the port the kernel chose for the first.
    """
    values = checked_options(options)
    check_applicable(values, endpoints)
    resolved = [await endpoint.resolve(passive=True) for endpoint in endpoints]
    bound: list[BoundDatagram] = []
    try:
        for concrete in resolved:
            chosen_port: int | None = None
            for candidate in concrete:
                item_values = dict(values)
                if len(concrete) > 1 and candidate.namespace is Namespace.INET6:
                    item_values.setdefault("v6_only", True)
                target = candidate
                if chosen_port is not None:
                    target = _with_port(candidate, chosen_port)
                holder = _bind(target, item_values, mode)
                bound.append(BoundDatagram(holder.sock, holder))
                port = getattr(holder.endpoint.address, "port", None)
                if len(concrete) > 1 and isinstance(port, int):
                    chosen_port = port
    except BaseException:
        for item in bound:
            item.holder.close()
        raise
    return bound


def _with_port(endpoint: Endpoint, port: int) -> Endpoint:
    address = endpoint.address
    if getattr(address, "port", None) == 0:
        return attrs.evolve(endpoint, address=attrs.evolve(address, port=port))  # type: ignore[misc]
    return endpoint
