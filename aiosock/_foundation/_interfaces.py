"""Network interfaces: names, indexes, flags, MTU, hardware and IP addresses.

Strategy: :func:`index` and :func:`name` are the C library's ``if_nametoindex``
and ``if_indextoname`` (through the ``socket`` module). :func:`list_interfaces`
asks the kernel over a route netlink socket, as ``ip addr`` does: one
``RTM_GETLINK`` dump (index, name, flags, MTU, hardware address, operational
state) and one ``RTM_GETADDR`` dump (every IPv4 and IPv6 address with its prefix
length), decoded by the sans-IO ``_netlink`` module. That is one source for all
of it, with no ctypes structure layouts and no dependency; ``getifaddrs(3)``
would still need an ``ioctl`` per interface for the MTU. Linux only. A dump the
kernel marks as interrupted (an interface changed meanwhile) is asked again.
"""

from __future__ import annotations

import enum
import errno
import ipaddress
import socket
from collections.abc import Iterable

import attrs

from ._addresses import Inet6Address, InetAddress
from ._concepts import Namespace
from ._errors import InterfaceError
from ._netlink import (
    NLM_F_DUMP_INTR,
    NLMSG_DONE,
    NLMSG_ERROR,
    RTM_GETADDR,
    RTM_GETLINK,
    RTM_NEWADDR,
    RTM_NEWLINK,
    Message,
    decode_address,
    decode_error,
    decode_link,
    dump_request,
    split_messages,
)

__all__ = [
    "Interface",
    "InterfaceAddress",
    "InterfaceFlag",
    "get",
    "index",
    "list_interfaces",
    "name",
]

_TIMEOUT = 5.0
_ATTEMPTS = 5


class InterfaceFlag(enum.Flag, boundary=enum.KEEP):
    """Interface flags (the kernel's ``IFF_*``, as ``ip link`` shows them)."""

    UP = 0x1
    BROADCAST = 0x2
    DEBUG = 0x4
    LOOPBACK = 0x8
    POINT_TO_POINT = 0x10
    NO_TRAILERS = 0x20
    RUNNING = 0x40
    NO_ARP = 0x80
    PROMISC = 0x100
    ALL_MULTI = 0x200
    MASTER = 0x400
    SLAVE = 0x800
    MULTICAST = 0x1000
    PORTSEL = 0x2000
    AUTOMEDIA = 0x4000
    DYNAMIC = 0x8000
    LOWER_UP = 0x10000
    DORMANT = 0x20000
    ECHO = 0x40000


_SCOPES = {0: "global", 200: "site", 253: "link", 254: "host", 255: "nowhere"}


@attrs.frozen
class InterfaceAddress:
    """An IPv4 or IPv6 address of an interface, with its prefix length.

    Attributes:
        address: The address (this end, on a point-to-point link).
        prefix_length: The length of the network prefix (``8`` in
            ``127.0.0.1/8``).
        scope: The kernel's address scope: 0 global, 200 site, 253 link,
            254 host.
        broadcast: The IPv4 broadcast address, if the interface has one.
        peer: The other end's address on a point-to-point link, else ``None``.
        label: The IPv4 address label (``eth0`` or an alias such as
            ``eth0:1``), else ``None``.
    """

    address: ipaddress.IPv4Address | ipaddress.IPv6Address
    prefix_length: int
    scope: int = 0
    broadcast: ipaddress.IPv4Address | None = None
    peer: ipaddress.IPv4Address | ipaddress.IPv6Address | None = None
    label: str | None = None

    @property
    def namespace(self) -> Namespace:
        """:attr:`~aiosock.Namespace.INET` or :attr:`~aiosock.Namespace.INET6`."""
        return Namespace.INET if self.address.version == 4 else Namespace.INET6

    @property
    def interface(self) -> ipaddress.IPv4Interface | ipaddress.IPv6Interface:
        """The address with its prefix, as :mod:`ipaddress` models it."""
        return ipaddress.ip_interface(f"{self.address}/{self.prefix_length}")

    @property
    def network(self) -> ipaddress.IPv4Network | ipaddress.IPv6Network:
        """The network the prefix names (``127.0.0.0/8``)."""
        return self.interface.network

    @property
    def scope_name(self) -> str:
        """The scope as ``ip addr`` names it (``global``, ``link``, ``host``, ...)."""
        return _SCOPES.get(self.scope, str(self.scope))

    def __str__(self) -> str:
        return f"{self.address}/{self.prefix_length}"


@attrs.frozen
class Interface:
    """A network interface, with what ``ip addr`` shows about it.

    Attributes:
        index: The interface index (``if_nametoindex``), from 1.
        name: The interface name, such as ``"lo"`` or ``"eth0"``.
        flags: The interface flags.
        mtu: The maximum transmission unit in bytes, or ``None`` if unknown.
        hardware_address: The link-layer address as lower-case hex pairs
            separated by colons, or ``None`` for a link that has none.
        addresses: Every IPv4 and IPv6 address, IPv4 first, in the kernel's order.
        state: The RFC 2863 operational state (``"up"``, ``"down"``,
            ``"unknown"``, ...).
    """

    index: int
    name: str
    flags: InterfaceFlag
    mtu: int | None
    hardware_address: str | None
    addresses: tuple[InterfaceAddress, ...] = ()
    state: str = "unknown"

    @property
    def is_up(self) -> bool:
        """Whether the interface is administratively up (``IFF_UP``)."""
        return InterfaceFlag.UP in self.flags

    @property
    def is_loopback(self) -> bool:
        """Whether this is a loopback interface (``IFF_LOOPBACK``)."""
        return InterfaceFlag.LOOPBACK in self.flags

    def socket_address(
        self, address: InterfaceAddress, port: int = 0
    ) -> InetAddress | Inet6Address:
        """Return a socket address for one of this interface's addresses.

        A link-local IPv6 address gets this interface as its zone, so that it can
        be bound or connected to.
        """
        if address.address.version == 4:
            return InetAddress(str(address.address), port)
        scope = self.index if address.address.is_link_local else 0
        return Inet6Address(str(address.address), port, scope_id=scope)


def _check_name(value: object) -> str:
    if not isinstance(value, str):
        raise TypeError(f"expected an interface name as a str, got {value!r}")
    return value


def index(name: str) -> int:
    """Return the index of the interface called ``name`` (``if_nametoindex``).

    Raises:
        InterfaceError: No interface has that name.
        TypeError: ``name`` is not a ``str``.
    """
    _check_name(name)
    try:
        return socket.if_nametoindex(name)
    except (OSError, ValueError) as exc:
        raise InterfaceError(
            f"expected the name of a network interface, got {name!r}",
            errno_=errno.ENODEV,
        ) from exc


def name(index: int) -> str:
    """Return the name of the interface numbered ``index`` (``if_indextoname``).

    Raises:
        InterfaceError: No interface has that index.
        TypeError: ``index`` is not an int.
    """
    if isinstance(index, bool) or not isinstance(index, int):
        raise TypeError(f"expected an interface index as an int, got {index!r}")
    try:
        if not 0 < index <= 0xFFFFFFFF:
            raise OverflowError
        return socket.if_indextoname(index)
    except (OSError, OverflowError) as exc:
        raise InterfaceError(
            f"expected the index of a network interface, got {index}",
            errno_=errno.ENXIO,
        ) from exc


def _dump(sock: socket.socket, message_type: int, seq: int) -> list[Message] | None:
    """Return the messages of one dump, or ``None`` if the kernel interrupted it."""
    sock.send(dump_request(message_type, seq))
    messages: list[Message] = []
    interrupted = False
    while True:
        for message in split_messages(sock.recv(1 << 16)):
            if message.seq != seq:
                continue
            interrupted |= bool(message.flags & NLM_F_DUMP_INTR)
            if message.type == NLMSG_DONE:
                return None if interrupted else messages
            if message.type == NLMSG_ERROR:
                code = decode_error(message.payload)
                raise OSError(code, f"netlink dump failed: {errno.errorcode.get(code)}")
            messages.append(message)


def _netlink_dumps() -> tuple[list[Message], list[Message]]:
    if not hasattr(socket, "AF_NETLINK"):
        raise OSError(errno.ENOSYS, "listing interfaces needs Linux route netlink")
    with socket.socket(
        socket.AF_NETLINK, socket.SOCK_RAW | socket.SOCK_CLOEXEC, socket.NETLINK_ROUTE
    ) as sock:
        sock.settimeout(_TIMEOUT)
        sock.bind((0, 0))
        for attempt in range(1, _ATTEMPTS + 1):
            links = _dump(sock, RTM_GETLINK, 2 * attempt)
            addresses = _dump(sock, RTM_GETADDR, 2 * attempt + 1)
            if links is not None and addresses is not None:
                return links, addresses
    raise OSError(errno.EAGAIN, "interfaces kept changing while being listed")


def _build(links: Iterable[Message], addresses: Iterable[Message]) -> list[Interface]:
    per_index: dict[int, list[InterfaceAddress]] = {}
    for message in addresses:
        if message.type != RTM_NEWADDR:
            continue
        info = decode_address(message.payload)
        if info is None:
            continue
        per_index.setdefault(info.index, []).append(
            InterfaceAddress(
                info.address,
                info.prefix_length,
                info.scope,
                info.broadcast,
                info.peer,
                info.label,
            )
        )
    interfaces = []
    for message in links:
        if message.type != RTM_NEWLINK:
            continue
        link = decode_link(message.payload)
        own = sorted(per_index.get(link.index, ()), key=lambda a: a.address.version)
        interfaces.append(
            Interface(
                index=link.index,
                name=link.name,
                flags=InterfaceFlag(link.flags),
                mtu=link.mtu,
                hardware_address=link.hardware_address,
                addresses=tuple(own),
                state=link.state,
            )
        )
    interfaces.sort(key=lambda i: i.index)
    return interfaces


def list_interfaces() -> list[Interface]:
    """Return every network interface, by index, with its addresses (``ip addr``).

    Returns:
        The interfaces in index order.

    Raises:
        OSError: The kernel's route netlink interface is not available (not
            Linux, or forbidden by a sandbox).
    """
    links, addresses = _netlink_dumps()
    return _build(links, addresses)


def get(interface: str | int) -> Interface:
    """Return one interface, by name or by index.

    Args:
        interface: The interface's name or index.

    Raises:
        InterfaceError: No interface has that name or index.
        TypeError: ``interface`` is neither a ``str`` nor an ``int``.
    """
    if isinstance(interface, bool) or not isinstance(interface, str | int):
        raise TypeError(f"expected an interface name or index, got {interface!r}")
    number = interface if isinstance(interface, int) else index(interface)
    for candidate in list_interfaces():
        if candidate.index == number:
            return candidate
    raise InterfaceError(
        f"expected the index of a network interface, got {number}",
        errno_=errno.ENXIO,
    )
