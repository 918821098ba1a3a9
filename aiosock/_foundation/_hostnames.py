"""Host names: ``resolve``, ``reverse`` and the local host name.

Strategy: the forward and reverse look-ups go through the running loop's
``getaddrinfo`` and ``getnameinfo`` (the default executor on the asyncio loop,
libuv's thread pool on uvloop), so a slow name service never blocks the loop.
Service names are looked up in aiosock's own services database first (in the
executor, as the file may have to be read), then left to ``getaddrinfo``, which
may know other sources; protocol names likewise. Results are typed addresses, in
the resolver's order, without duplicates; failures are
:class:`~aiosock.ResolutionError`.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket

from ._addresses import Inet6Address, InetAddress, from_sockaddr
from ._concepts import Namespace, Style
from ._errors import ResolutionError
from ._netdb import protocol_by_name, service_by_name

__all__ = [
    "host_name",
    "ip_literal",
    "protocol_number",
    "resolve",
    "reverse",
    "service_port",
]

_PROTOCOL_OF_STYLE = {Style.STREAM: "tcp", Style.DATAGRAM: "udp"}


def host_name() -> str:
    """Return this host's name (``gethostname``), as the kernel holds it."""
    return socket.gethostname()


def _lookup_port(name: str, style: Style | None) -> int | None:
    protocol = _PROTOCOL_OF_STYLE.get(style) if style is not None else None
    entry = service_by_name(name, protocol)
    return None if entry is None else entry.port


async def service_port(name: str | int, style: Style | None) -> int | str:
    """Return the port of service ``name`` for ``style`` from the services database.

    A number is returned as it is; a name the database lacks is returned as it is,
    for ``getaddrinfo`` to try its other sources.

    Raises:
        TypeError: ``name`` is neither an ``int`` nor a ``str``.
        ValueError: A number outside 0..65535, or an empty or padded name
            (which the two loops' resolvers would read differently).
    """
    if isinstance(name, bool) or not isinstance(name, int | str):
        raise TypeError(f"'port' must be an int or a service name (got {name!r})")
    if isinstance(name, str):
        if name.isdecimal() and name.isascii():
            name = int(name)
        elif not name or name != name.strip():
            raise ValueError(f"expected a port number or a service name, got {name!r}")
    if isinstance(name, int):
        if not 0 <= name <= 65535:
            raise ValueError(f"'port' must be in 0..65535 (got {name})")
        return name
    loop = asyncio.get_running_loop()
    port = await loop.run_in_executor(None, _lookup_port, name, style)
    return name if port is None else port


def _lookup_protocol(name: str) -> int:
    entry = protocol_by_name(name)
    if entry is not None:
        return entry.number
    return socket.getprotobyname(name)


async def protocol_number(name: str, *, text: str | None = None) -> int:
    """Return the number of protocol ``name`` from the protocols database.

    Args:
        name: The protocol's name or alias.
        text: What to name in the error (default ``name``).

    Raises:
        ResolutionError: No protocol has that name.
    """
    loop = asyncio.get_running_loop()
    try:
        return await loop.run_in_executor(None, _lookup_protocol, name)
    except OSError as exc:
        raise ResolutionError(
            f"no protocol named {name!r} in the protocols database",
            text=name if text is None else text,
        ) from exc


def _lower(message: str | None) -> str:
    """Return a resolver message in the house style (lower case first letter)."""
    if not message:
        return "unknown error"
    return message[:1].lower() + message[1:]


def _check_namespace(namespace: Namespace | None) -> int:
    if namespace is None:
        return socket.AF_UNSPEC
    if namespace not in (Namespace.INET, Namespace.INET6):
        raise ValueError(f"expected namespace INET, INET6 or None, got {namespace}")
    return namespace.family


async def resolve(
    host: str | None,
    port: int | str | None = None,
    *,
    namespace: Namespace | None = None,
    style: Style | None = None,
    passive: bool = False,
) -> tuple[InetAddress | Inet6Address, ...]:
    """Resolve a host name (and service) to socket addresses, without blocking.

    Args:
        host: A host name, an IP literal, or ``None`` (or ``""``) for the
            loopback address (the any-address when ``passive``).
        port: A port number, a service name from the services database, or
            ``None`` for 0.
        namespace: :attr:`~aiosock.Namespace.INET` or
            :attr:`~aiosock.Namespace.INET6` for one family only; ``None`` for both.
        style: The communication style the addresses are for; it picks the
            protocol a service name is looked up for (``tcp`` for
            :attr:`~aiosock.Style.STREAM`, ``udp`` for :attr:`~aiosock.Style.DATAGRAM`).
        passive: Resolve for binding (``AI_PASSIVE``).

    Returns:
        A non-empty tuple of :class:`~aiosock.InetAddress` and
        :class:`~aiosock.Inet6Address`, in the resolver's order, without duplicates.

    Raises:
        ResolutionError: The name is unknown or resolves to no address.
        ValueError: ``namespace`` is :attr:`~aiosock.Namespace.LOCAL`, or
            ``port`` is outside 0..65535 (as a number or as text), or is empty
            or padded text.
        TypeError: ``port`` is neither an ``int`` nor a ``str``.
        AddressError: An IPv6 literal's zone names no interface of this host.

    An IP literal is not sent to the resolver: its address is made directly,
    its zone kept as written, the same on both loops.
    """
    family = _check_namespace(namespace)
    if isinstance(port, int) and not isinstance(port, bool) and not 0 <= port <= 65535:
        raise ValueError(f"'port' must be in 0..65535 (got {port})")
    if host == "*":
        host = None
    service = await service_port(0 if port is None else port, style)
    if host and isinstance(service, int):
        literal = ip_literal(host, service, family)
        if literal is not None:
            return (literal,)
    flags = socket.AI_PASSIVE if passive else 0
    loop = asyncio.get_running_loop()
    what = f"{host or ''}:{service}" if port is not None else (host or "")
    try:
        infos = await loop.getaddrinfo(
            host or None,
            service,
            family=family,
            type=style.type if style is not None else socket.SOCK_STREAM,
            flags=flags,
        )
    except socket.gaierror as exc:
        raise ResolutionError(
            f"cannot resolve: {_lower(exc.strerror)}", text=what, errno_=exc.errno
        ) from exc
    seen: dict[InetAddress | Inet6Address, None] = {}
    for family_, _type, _proto, _canon, sockaddr in infos:
        if family_ in (socket.AF_INET, socket.AF_INET6):
            address = from_sockaddr(family_, sockaddr)
            seen.setdefault(address, None)  # type: ignore[arg-type]
    if not seen:
        raise ResolutionError("resolved to no address", text=what)
    return tuple(seen)


def ip_literal(
    host: str, port: int, family: int = socket.AF_UNSPEC
) -> InetAddress | Inet6Address | None:
    """``host`` as an address when it is an IP literal of ``family``; else ``None``.

    A literal needs no resolver: the address is made here, its zone kept as
    written (uvloop's ``getaddrinfo`` drops an IPv6 zone) and checked (an
    interface this host lacks is an :class:`~aiosock.AddressError`, on both
    loops). Anything else (a name, a literal of the other family) is left to
    ``getaddrinfo`` and its errors.
    """
    bare = host.partition("%")[0]
    try:
        ip = ipaddress.ip_address(bare)
    except ValueError:
        return None
    if ip.version == 4:
        if family not in (socket.AF_UNSPEC, socket.AF_INET) or bare != host:
            return None
        return InetAddress(bare, port)
    if family not in (socket.AF_UNSPEC, socket.AF_INET6):
        return None
    address = Inet6Address(host, port)
    address.to_sockaddr()  # (an unknown interface fails here, not at connect)
    return address


def _sockaddr(
    address: InetAddress | Inet6Address | tuple[str, int] | str,
) -> tuple[str, int] | tuple[str, int, int, int]:
    if isinstance(address, InetAddress | Inet6Address):
        return address.to_sockaddr()
    if isinstance(address, str):
        address = (address, 0)
    if not (isinstance(address, tuple) and len(address) == 2):
        raise TypeError(
            "expected an InetAddress, Inet6Address, (host, port) tuple or IP text, "
            f"got {address!r}"
        )
    host, port = address
    try:
        ip = ipaddress.ip_address(host.partition("%")[0])
    except (ValueError, AttributeError):
        raise ValueError(f"expected an IP address, got {host!r}") from None
    typed = InetAddress(str(ip), port) if ip.version == 4 else Inet6Address(host, port)
    return typed.to_sockaddr()


async def reverse(
    address: InetAddress | Inet6Address | tuple[str, int] | str,
    *,
    style: Style | None = None,
    numeric_host: bool = False,
    numeric_service: bool = False,
    name_required: bool = False,
) -> tuple[str, str]:
    """Find the host and service names of a socket address (``getnameinfo``).

    Args:
        address: An :class:`~aiosock.InetAddress` or :class:`~aiosock.Inet6Address`, a
            ``(host, port)`` tuple with an IP literal, or an IP literal (port 0).
        style: :attr:`~aiosock.Style.DATAGRAM` looks the port up as a UDP service
            (``NI_DGRAM``); otherwise TCP.
        numeric_host: Give the address as text instead of a name (``NI_NUMERICHOST``).
        numeric_service: Give the port as digits (``NI_NUMERICSERV``).
        name_required: Fail rather than fall back to the numeric address when the
            address has no name (``NI_NAMEREQD``).

    Returns:
        ``(host, service)``: names where known, else the address and port as text.

    Raises:
        ResolutionError: The look-up failed (with ``name_required``, no name).
        ValueError: ``address`` is not an IP address.
    """
    sockaddr = _sockaddr(address)
    flags = 0
    if style is Style.DATAGRAM:
        flags |= socket.NI_DGRAM
    if numeric_host:
        flags |= socket.NI_NUMERICHOST
    if numeric_service:
        flags |= socket.NI_NUMERICSERV
    if name_required:
        flags |= socket.NI_NAMEREQD
    loop = asyncio.get_running_loop()
    try:
        host, service = await loop.getnameinfo(sockaddr, flags)
    except socket.gaierror as exc:
        raise ResolutionError(
            f"cannot find a name: {_lower(exc.strerror)}",
            text=sockaddr[0],
            errno_=exc.errno,
        ) from exc
    return host, service
