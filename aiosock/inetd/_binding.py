"""The sockets of a service: its addresses, bound (or taken from systemd).

Strategy: one socket per address a line names, as openbsd-inetd makes them: for
each host of the line (``*`` is every address) and each family of its protocol
(``tcp`` is IPv4 and IPv6 on two sockets, ``tcp46`` one IPv6 socket that also
takes IPv4). Host names are resolved passively through the loop. Each socket is
made by the core's ``make_bound_socket`` (options before ``bind``, stale socket
files replaced, live ones refused, files removed on close), unless a socket that
a service manager passed (``LISTEN_FDS``) is of the same kind and bound to the
same address: that one is adopted instead. Port 0 (an aiosock extension) gives
every socket of the line the port the kernel chose for the first.
"""

from __future__ import annotations

import asyncio
import errno
import ipaddress
import logging
import socket
from typing import TYPE_CHECKING, Any

import attrs

from .._core._listeners import Listener, make_bound_socket
from .._foundation._addresses import (
    Inet6Address,
    InetAddress,
    LocalAddress,
    from_sockaddr,
)
from .._foundation._concepts import Namespace, Style
from .._foundation._endpoints import Endpoint
from .._foundation._errors import AddressError, translate_os_error

if TYPE_CHECKING:
    from ._activation import PassedSocket
    from ._records import ServiceEntry

__all__ = ["DEFAULT_BACKLOG", "Bound", "bind_entry", "planned_addresses", "port_of"]

logger = logging.getLogger("aiosock.inetd")

# An address the host cannot have: skipped when the line has others.
_MISSING_FAMILY = {errno.EADDRNOTAVAIL, errno.EAFNOSUPPORT}

#: The ``listen()`` backlog of stream services.
DEFAULT_BACKLOG = 511
#: Socket files are made as openbsd-inetd makes them (it binds under umask 0111).
SOCKET_FILE_MODE = 0o666


@attrs.define(eq=False)
class Bound:
    """One socket of a service and its watching state.

    Attributes:
        listener: The socket and what closing it needs.
        watching: Whether the loop watches it now.
        owner: The pid of the ``wait`` child that has it, if any.
        dispatched: The datagram handed to a ``nowait`` child and maybe not read
            yet: (data, source, the kernel's receive stamp or ``None``).
        adopted: Whether a service manager passed it (``LISTEN_FDS``).
    """

    listener: Listener
    watching: bool = False
    owner: int | None = None
    dispatched: tuple[bytes, Any, bytes | None] | None = None
    adopted: bool = False

    @property
    def sock(self) -> socket.socket:
        """The socket."""
        return self.listener.sock

    @property
    def endpoint(self) -> Endpoint:
        """Where it is bound (port 0 resolved)."""
        return self.listener.endpoint


def port_of(endpoint: Endpoint) -> int:
    """The port of an internet endpoint (0 for others)."""
    address = endpoint.address
    return address.port if isinstance(address, InetAddress | Inet6Address) else 0


async def _addresses(entry: ServiceEntry, port: int) -> list[tuple[Endpoint, bool]]:
    """Return the concrete endpoints of an internet line and their ``v6_only``."""
    loop = asyncio.get_running_loop()
    result: list[tuple[Endpoint, bool]] = []
    for host in entry.hosts:
        literal: ipaddress.IPv4Address | ipaddress.IPv6Address | None = None
        if host != "*":
            try:
                literal = ipaddress.ip_address(host.partition("%")[0])
            except ValueError:
                literal = None
        for namespace, v6_only in entry.families:
            if host == "*":
                text = "0.0.0.0" if namespace is Namespace.INET else "::"
                result.append((_endpoint(entry, namespace, text, port), v6_only))
            elif literal is not None:
                if (literal.version == 4) == (namespace is Namespace.INET):
                    result.append((_endpoint(entry, namespace, host, port), v6_only))
            else:
                for text in await _resolve(loop, host, namespace, entry.socket_type):
                    result.append((_endpoint(entry, namespace, text, port), v6_only))
    if not result:
        raise AddressError(
            f"expected an address of {entry.protocol} for "
            f"{', '.join(entry.hosts)}, got none"
        )
    return result


async def _resolve(
    loop: asyncio.AbstractEventLoop, host: str, namespace: Namespace, style: Style
) -> list[str]:
    try:
        infos = await loop.getaddrinfo(
            host,
            None,
            family=namespace.family,
            type=style.type,
            flags=socket.AI_PASSIVE,
        )
    except (socket.gaierror, UnicodeError):
        return []  # (UnicodeError: a name IDNA cannot encode, such as "a..b")
    hosts: list[str] = []
    for _family, _type, _proto, _name, sockaddr in infos:
        text = str(sockaddr[0])
        if namespace is Namespace.INET6 and len(sockaddr) > 3 and sockaddr[3]:
            text = f"{text}%{sockaddr[3]}"
        if text not in hosts:
            hosts.append(text)
    return hosts


async def planned_addresses(entry: ServiceEntry) -> list[tuple[Endpoint, bool]]:
    """The endpoints an internet line would bind, and their ``v6_only``.

    Raises:
        AddressError: The line's hosts resolve to no address of its protocol.
    """
    assert entry.port is not None, "the services look-up gives every port"
    return await _addresses(entry, entry.port)


def _endpoint(
    entry: ServiceEntry, namespace: Namespace, host: str, port: int
) -> Endpoint:
    if namespace is Namespace.INET:
        return Endpoint(entry.socket_type, namespace, InetAddress(host, port))
    return Endpoint(entry.socket_type, namespace, Inet6Address(host, port))


def _options(entry: ServiceEntry, v6_only: bool | None) -> dict[str, Any]:
    options: dict[str, Any] = {}
    if v6_only is not None:
        options["v6_only"] = v6_only
    if entry.send_buffer is not None:
        options["send_buffer"] = entry.send_buffer
    if entry.receive_buffer is not None:
        options["receive_buffer"] = entry.receive_buffer
    return options


def _adopt(endpoint: Endpoint, inherited: list[PassedSocket]) -> socket.socket | None:
    address = endpoint.address
    assert isinstance(address, InetAddress | Inet6Address | LocalAddress)
    assert endpoint.namespace is not None
    sockaddr = address.to_sockaddr()
    for item in inherited:
        if item.matches(endpoint.namespace.family, endpoint.style.type, sockaddr):
            inherited.remove(item)
            item.sock.setblocking(False)
            return item.sock
    return None


def _make(
    entry: ServiceEntry,
    endpoint: Endpoint,
    v6_only: bool | None,
    inherited: list[PassedSocket],
    backlog: int,
) -> tuple[Listener, bool]:
    """Bind a socket for ``endpoint`` (or adopt a passed one); say which."""
    adopted = _adopt(endpoint, inherited)
    if adopted is not None:
        bound = from_sockaddr(adopted.family, adopted.getsockname())
        endpoint = Endpoint(entry.socket_type, bound.namespace, bound)
        return Listener(adopted, endpoint), True
    sock, made = make_bound_socket(
        endpoint, options=_options(entry, v6_only), mode=SOCKET_FILE_MODE
    )
    bound = from_sockaddr(sock.family, sock.getsockname())
    listener = Listener(sock, Endpoint(entry.socket_type, bound.namespace, bound), made)
    if entry.socket_type is not Style.DATAGRAM:
        try:
            sock.listen(backlog)
        except OSError as exc:
            listener.close()
            raise translate_os_error(exc, f"listen on {endpoint}") from exc
    return listener, False


async def bind_entry(
    entry: ServiceEntry,
    inherited: list[PassedSocket],
    *,
    backlog: int = DEFAULT_BACKLOG,
) -> list[Bound]:
    """Bind (or adopt) every socket of a service; all or nothing.

    An address of a family the host lacks (no IPv6, say) is skipped with a
    warning, as long as another address of the line is bound.

    Raises:
        OSError: A socket could not be made or bound (``EADDRINUSE``, ...).
        AddressError: The line's hosts resolve to no address of its family.
    """
    if entry.transport == "unix":
        local = Endpoint(
            entry.socket_type, Namespace.LOCAL, LocalAddress(entry.service)
        )
        listener, adopted = _make(entry, local, None, inherited, backlog)
        return [Bound(listener, adopted=adopted)]
    assert entry.port is not None, "the services look-up gives every port"
    planned = await _addresses(entry, entry.port)
    made: list[Bound] = []
    skipped: OSError | None = None
    try:
        port = entry.port
        for endpoint, v6_only in planned:
            target = endpoint
            address = endpoint.address
            assert isinstance(address, InetAddress | Inet6Address)
            if port != address.port:
                target = attrs.evolve(
                    endpoint, address=attrs.evolve(address, port=port)
                )
            v6 = v6_only if target.namespace is Namespace.INET6 else None
            try:
                listener, adopted = _make(entry, target, v6, inherited, backlog)
            except OSError as exc:
                if exc.errno not in _MISSING_FAMILY:
                    raise
                logger.warning("%s: not on %s: %s", entry.name, target, exc.strerror)
                skipped = exc
                continue
            made.append(Bound(listener, adopted=adopted))
            if port == 0:
                port = port_of(listener.endpoint)
        if not made and skipped is not None:
            raise skipped
    except BaseException:
        for bound in made:
            bound.listener.close()
        raise
    return made
