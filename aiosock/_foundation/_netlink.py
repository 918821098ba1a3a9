"""Route netlink (``NETLINK_ROUTE``) messages: dump requests and their answers.

Strategy: sans-IO. :func:`dump_request` builds the bytes of a
``RTM_GETLINK`` / ``RTM_GETADDR`` dump request; :func:`split_messages` cuts what the
kernel sent into messages; :func:`decode_link` and :func:`decode_address` turn an
``RTM_NEWLINK`` / ``RTM_NEWADDR`` payload into plain values. The socket work lives
in ``_interfaces``. Every decoder checks lengths before it reads and raises
:class:`NetlinkError` on a malformed message, so arbitrary bytes never crash it.
Layouts are those of ``<linux/netlink.h>``, ``<linux/rtnetlink.h>``,
``<linux/if_link.h>`` and ``<linux/if_addr.h>``, in native byte order.
"""

from __future__ import annotations

import ipaddress
import socket
import struct

import attrs

__all__ = [
    "NLMSG_DONE",
    "NLMSG_ERROR",
    "RTM_GETADDR",
    "RTM_GETLINK",
    "RTM_NEWADDR",
    "RTM_NEWLINK",
    "AddressInfo",
    "LinkInfo",
    "Message",
    "NetlinkError",
    "decode_address",
    "decode_error",
    "decode_link",
    "dump_request",
    "split_messages",
]

NLMSG_ERROR = 2
NLMSG_DONE = 3
RTM_NEWLINK = 16
RTM_GETLINK = 18
RTM_NEWADDR = 20
RTM_GETADDR = 22
NLM_F_REQUEST = 0x1
NLM_F_MULTI = 0x2
NLM_F_DUMP_INTR = 0x10
NLM_F_DUMP = 0x300

IFLA_ADDRESS = 1
IFLA_BROADCAST = 2
IFLA_IFNAME = 3
IFLA_MTU = 4
IFLA_OPERSTATE = 16
IFA_ADDRESS = 1
IFA_LOCAL = 2
IFA_LABEL = 3
IFA_BROADCAST = 4
IFA_FLAGS = 8

_NLMSGHDR = struct.Struct("=IHHII")  # len, type, flags, seq, pid
_IFINFOMSG = struct.Struct("=BxHiII")  # family, type, index, flags, change
_IFADDRMSG = struct.Struct("=BBBBI")  # family, prefixlen, flags, scope, index
_RTATTR = struct.Struct("=HH")  # len, type
_U32 = struct.Struct("=I")
_I32 = struct.Struct("=i")

#: RFC 2863 operational states, as ``IFLA_OPERSTATE`` numbers them.
OPERSTATES = (
    "unknown",
    "notpresent",
    "down",
    "lowerlayerdown",
    "testing",
    "dormant",
    "up",
)


class NetlinkError(ValueError):
    """A netlink message that is truncated or malformed."""


def _align(length: int) -> int:
    return (length + 3) & ~3


@attrs.frozen
class Message:
    """One netlink message: its header fields and its payload."""

    type: int
    flags: int
    seq: int
    pid: int
    payload: bytes


def dump_request(message_type: int, seq: int, family: int = socket.AF_UNSPEC) -> bytes:
    """Return a dump request for every link or address of ``family``."""
    if message_type == RTM_GETLINK:
        body = _IFINFOMSG.pack(family, 0, 0, 0, 0)
    elif message_type == RTM_GETADDR:
        body = _IFADDRMSG.pack(family, 0, 0, 0, 0)
    else:
        raise ValueError(f"expected RTM_GETLINK or RTM_GETADDR, got {message_type}")
    header = _NLMSGHDR.pack(
        _NLMSGHDR.size + len(body), message_type, NLM_F_REQUEST | NLM_F_DUMP, seq, 0
    )
    return header + body


def split_messages(data: bytes) -> list[Message]:
    """Cut one datagram from a netlink socket into its messages.

    Raises:
        NetlinkError: A header or length is inconsistent with the data.
    """
    messages = []
    offset = 0
    while offset < len(data):
        if len(data) - offset < _NLMSGHDR.size:
            raise NetlinkError(
                f"expected a {_NLMSGHDR.size}-byte message header, "
                f"got {len(data) - offset} bytes"
            )
        length, type_, flags, seq, pid = _NLMSGHDR.unpack_from(data, offset)
        if length < _NLMSGHDR.size or offset + length > len(data):
            raise NetlinkError(
                f"expected a message length in {_NLMSGHDR.size}.."
                f"{len(data) - offset}, got {length}"
            )
        payload = data[offset + _NLMSGHDR.size : offset + length]
        messages.append(Message(type_, flags, seq, pid, payload))
        offset += _align(length)
    return messages


def decode_error(payload: bytes) -> int:
    """Return the errno of an ``NLMSG_ERROR`` payload (0 for an acknowledgement)."""
    if len(payload) < _I32.size:
        raise NetlinkError(f"expected a 4-byte error code, got {len(payload)} bytes")
    code: int = _I32.unpack_from(payload)[0]
    return -code


def _attributes(payload: bytes, offset: int) -> dict[int, bytes]:
    attributes: dict[int, bytes] = {}
    while offset + _RTATTR.size <= len(payload):
        length, type_ = _RTATTR.unpack_from(payload, offset)
        if length < _RTATTR.size or offset + length > len(payload):
            raise NetlinkError(
                f"expected an attribute length in {_RTATTR.size}.."
                f"{len(payload) - offset}, got {length}"
            )
        attributes.setdefault(
            type_ & 0x3FFF, payload[offset + _RTATTR.size : offset + length]
        )
        offset += _align(length)
    return attributes


def _text(value: bytes | None) -> str | None:
    if value is None:
        return None
    return value.split(b"\0", 1)[0].decode("utf-8", "surrogateescape")


def _u32(value: bytes | None) -> int | None:
    if value is None or len(value) < _U32.size:
        return None
    result: int = _U32.unpack_from(value)[0]
    return result


def _hardware(value: bytes | None) -> str | None:
    if not value:
        return None
    return ":".join(f"{byte:02x}" for byte in value)


@attrs.frozen
class LinkInfo:
    """What an ``RTM_NEWLINK`` message says about one interface."""

    index: int
    name: str
    flags: int
    link_type: int
    mtu: int | None
    hardware_address: str | None
    hardware_broadcast: str | None
    state: str


def decode_link(payload: bytes) -> LinkInfo:
    """Decode the payload of an ``RTM_NEWLINK`` message.

    Raises:
        NetlinkError: The payload is truncated or malformed, or has no name.
    """
    if len(payload) < _IFINFOMSG.size:
        raise NetlinkError(
            f"expected a {_IFINFOMSG.size}-byte ifinfomsg, got {len(payload)} bytes"
        )
    _family, link_type, index, flags, _change = _IFINFOMSG.unpack_from(payload)
    attributes = _attributes(payload, _IFINFOMSG.size)
    name = _text(attributes.get(IFLA_IFNAME))
    if not name:
        raise NetlinkError(f"expected an interface name for index {index}, got none")
    state = attributes.get(IFLA_OPERSTATE, b"\0")[:1] or b"\0"
    return LinkInfo(
        index=index,
        name=name,
        flags=flags,
        link_type=link_type,
        mtu=_u32(attributes.get(IFLA_MTU)),
        hardware_address=_hardware(attributes.get(IFLA_ADDRESS)),
        hardware_broadcast=_hardware(attributes.get(IFLA_BROADCAST)),
        state=OPERSTATES[state[0]] if state[0] < len(OPERSTATES) else str(state[0]),
    )


@attrs.frozen
class AddressInfo:
    """What an ``RTM_NEWADDR`` message says about one address."""

    index: int
    address: ipaddress.IPv4Address | ipaddress.IPv6Address
    prefix_length: int
    scope: int
    flags: int
    peer: ipaddress.IPv4Address | ipaddress.IPv6Address | None
    broadcast: ipaddress.IPv4Address | None
    label: str | None


def _ip(
    family: int, value: bytes | None
) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    if value is None:
        return None
    if family == socket.AF_INET and len(value) == 4:
        return ipaddress.IPv4Address(value)
    if family == socket.AF_INET6 and len(value) == 16:
        return ipaddress.IPv6Address(value)
    raise NetlinkError(
        f"expected an address of family {family}, got {len(value)} bytes"
    )


def decode_address(payload: bytes) -> AddressInfo | None:
    """Decode the payload of an ``RTM_NEWADDR`` message.

    Returns:
        The address, or ``None`` for a family other than IPv4 and IPv6.

    Raises:
        NetlinkError: The payload is truncated or malformed.
    """
    if len(payload) < _IFADDRMSG.size:
        raise NetlinkError(
            f"expected an {_IFADDRMSG.size}-byte ifaddrmsg, got {len(payload)} bytes"
        )
    family, prefix_length, flags, scope, index = _IFADDRMSG.unpack_from(payload)
    if family not in (socket.AF_INET, socket.AF_INET6):
        return None
    attributes = _attributes(payload, _IFADDRMSG.size)
    address = _ip(family, attributes.get(IFA_ADDRESS))
    local = _ip(family, attributes.get(IFA_LOCAL))
    # IFA_LOCAL is this end; IFA_ADDRESS is the peer on a point-to-point link.
    mine = local or address
    if mine is None:
        raise NetlinkError(f"expected an address for interface {index}, got none")
    limit = 32 if family == socket.AF_INET else 128
    if prefix_length > limit:
        raise NetlinkError(
            f"expected a prefix length in 0..{limit}, got {prefix_length}"
        )
    broadcast = _ip(family, attributes.get(IFA_BROADCAST))
    extended = _u32(attributes.get(IFA_FLAGS))
    return AddressInfo(
        index=index,
        address=mine,
        prefix_length=prefix_length,
        scope=scope,
        flags=flags if extended is None else extended,
        peer=address if local is not None and address != local else None,
        broadcast=broadcast if isinstance(broadcast, ipaddress.IPv4Address) else None,
        label=_text(attributes.get(IFA_LABEL)),
    )
