"""Multicast group membership: join and leave, any-source or source-specific.

Strategy: the protocol-independent RFC 3678 socket options (``MCAST_JOIN_GROUP``,
``MCAST_JOIN_SOURCE_GROUP`` and their ``LEAVE`` twins) take an interface index
and ``sockaddr_storage`` structures, so one code path serves IPv4 and IPv6; the
``socket`` module lacks their constants and structures, so they are packed here
(Linux layout). An IPv4 interface given as a local address uses the classic
``IP_ADD_MEMBERSHIP`` with ``struct ip_mreqn`` instead.
"""

from __future__ import annotations

import ipaddress
import socket
import struct
from typing import Final

from .._foundation._errors import AddressError, InterfaceError, translate_os_error

__all__ = ["join_group", "leave_group"]

# <linux/in.h>: the same numbers at IPPROTO_IP and IPPROTO_IPV6.
MCAST_JOIN_GROUP: Final = 42
MCAST_LEAVE_GROUP: Final = 45
MCAST_JOIN_SOURCE_GROUP: Final = 46
MCAST_LEAVE_SOURCE_GROUP: Final = 47
_SOCKADDR_STORAGE: Final = 128
# struct group_req / group_source_req: a u32 interface, padded to the 8-byte
# alignment of sockaddr_storage, then one or two sockaddr_storage.
_GROUP_OFFSET: Final = struct.calcsize("@I") + (-struct.calcsize("@I") % 8)


def _sockaddr(address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bytes:
    if address.version == 4:
        raw = struct.pack("=HH4s", socket.AF_INET, 0, address.packed)
    else:
        raw = struct.pack("=HHI16sI", socket.AF_INET6, 0, 0, address.packed, 0)
    return raw.ljust(_SOCKADDR_STORAGE, b"\0")


def _parse(
    text: str, family: int, what: str
) -> ipaddress.IPv4Address | ipaddress.IPv6Address:
    try:
        address = ipaddress.ip_address(text)
    except ValueError:
        raise AddressError(
            f"expected an IP address for the {what}, got {text!r}"
        ) from None
    want = 4 if family == socket.AF_INET else 6
    if address.version != want:
        raise AddressError(
            f"expected an IPv{want} {what} for this IPv{want} socket, got {text!r}"
        )
    return address


def _interface_index(interface: str | int | None) -> int:
    if interface is None:
        return 0
    if isinstance(interface, int) and not isinstance(interface, bool):
        if interface < 0:
            raise AddressError(f"'interface' must be an index >= 0 (got {interface})")
        return interface
    if not isinstance(interface, str):
        raise AddressError(
            f"'interface' must be a name, an index or None (got {interface!r})"
        )
    try:
        return socket.if_nametoindex(interface)
    except OSError:
        raise InterfaceError(
            f"no network interface named {interface!r}", errno_=19
        ) from None


def _membership(
    sock: socket.socket,
    group: str,
    interface: str | int | None,
    source: str | None,
    *,
    join: bool,
) -> None:
    family = sock.family
    if (
        family not in (socket.AF_INET, socket.AF_INET6)
        or sock.type != socket.SOCK_DGRAM
    ):
        raise AddressError(
            f"expected a UDP socket for multicast, got {sock.family.name}/"
            f"{sock.type.name}"
        )
    address = _parse(group, family, "multicast group")
    if not address.is_multicast:
        example = "239.1.2.3" if family == socket.AF_INET else "ff02::1:3"
        raise AddressError(
            f"expected a multicast group address such as {example!r}, got {group!r}"
        )
    level = socket.IPPROTO_IP if family == socket.AF_INET else socket.IPPROTO_IPV6
    if (
        family == socket.AF_INET
        and isinstance(interface, str)
        and source is None
        and _is_ipv4(interface)
    ):
        # An interface named by one of its addresses: struct ip_mreqn.
        local = ipaddress.IPv4Address(interface)
        name = socket.IP_ADD_MEMBERSHIP if join else socket.IP_DROP_MEMBERSHIP
        value = struct.pack("=4s4si", address.packed, local.packed, 0)
    else:
        index = _interface_index(interface)
        head = struct.pack("=I", index).ljust(_GROUP_OFFSET, b"\0")
        if source is None:
            name = MCAST_JOIN_GROUP if join else MCAST_LEAVE_GROUP
            value = head + _sockaddr(address)
        else:
            origin = _parse(source, family, "multicast source")
            name = MCAST_JOIN_SOURCE_GROUP if join else MCAST_LEAVE_SOURCE_GROUP
            value = head + _sockaddr(address) + _sockaddr(origin)
    try:
        sock.setsockopt(level, name, value)
    except OSError as exc:
        verb = "join" if join else "leave"
        what = f"group {group}" + (f" from source {source}" if source else "")
        raise translate_os_error(exc, f"{verb} multicast {what}") from exc


def _is_ipv4(text: str) -> bool:
    try:
        ipaddress.IPv4Address(text)
    except ValueError:
        return False
    return True


def join_group(
    sock: socket.socket,
    group: str,
    interface: str | int | None = None,
    *,
    source: str | None = None,
) -> None:
    """Make ``sock`` a member of the multicast ``group`` (see ``DatagramSocket``)."""
    _membership(sock, group, interface, source, join=True)


def leave_group(
    sock: socket.socket,
    group: str,
    interface: str | int | None = None,
    *,
    source: str | None = None,
) -> None:
    """Drop a membership made by :func:`join_group` with the same arguments."""
    _membership(sock, group, interface, source, join=False)
