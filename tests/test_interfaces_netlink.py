"""The sans-IO netlink codec behind aiosock.interfaces.list()."""

from __future__ import annotations

import contextlib
import ipaddress
import socket
import struct

import pytest
from hypothesis import given
from hypothesis import strategies as st

from aiosock._foundation import _netlink as nl
from aiosock._foundation._interfaces import InterfaceFlag, _build


def _attr(kind: int, value: bytes) -> bytes:
    data = struct.pack("=HH", 4 + len(value), kind) + value
    return data + b"\0" * (-len(data) % 4)


def _message(kind: int, payload: bytes, *, seq: int = 1, flags: int = 2) -> bytes:
    data = struct.pack("=IHHII", 16 + len(payload), kind, flags, seq, 0) + payload
    return data + b"\0" * (-len(data) % 4)


def _link(index: int, name: bytes, flags: int = 0x49, mtu: int = 1500) -> bytes:
    return (
        struct.pack("=BxHiII", 0, 1, index, flags, 0)
        + _attr(nl.IFLA_IFNAME, name + b"\0")
        + _attr(nl.IFLA_MTU, struct.pack("=I", mtu))
        + _attr(nl.IFLA_ADDRESS, bytes.fromhex("02fc00000001"))
        + _attr(nl.IFLA_OPERSTATE, b"\x06")
    )


def _address(index: int, family: int, prefix: int, scope: int, *attrs: bytes) -> bytes:
    return struct.pack("=BBBBI", family, prefix, 0x80, scope, index) + b"".join(attrs)


V4 = socket.inet_aton


def test_dump_request_layout() -> None:
    """A dump request is an nlmsghdr with REQUEST|DUMP and an empty family header."""
    data = nl.dump_request(nl.RTM_GETLINK, 7)
    length, kind, flags, seq, pid = struct.unpack_from("=IHHII", data)
    assert (length, kind, flags, seq, pid) == (32, nl.RTM_GETLINK, 0x301, 7, 0)
    assert len(nl.dump_request(nl.RTM_GETADDR, 8)) == 24
    with pytest.raises(ValueError, match="expected RTM_GETLINK or RTM_GETADDR"):
        nl.dump_request(99, 1)


def test_split_and_decode_link() -> None:
    """Messages are split at aligned lengths and links decode every field."""
    data = _message(nl.RTM_NEWLINK, _link(3, b"eth7")) + _message(
        nl.NLMSG_DONE, b"\0" * 4
    )
    first, done = nl.split_messages(data)
    assert done.type == nl.NLMSG_DONE
    link = nl.decode_link(first.payload)
    assert (link.index, link.name, link.mtu, link.state) == (3, "eth7", 1500, "up")
    assert link.hardware_address == "02:fc:00:00:00:01"
    assert link.flags == 0x49


def test_decode_addresses() -> None:
    """IPv4 local/peer/broadcast/label and IPv6 addresses decode to ipaddress values."""
    ptp = nl.decode_address(
        _address(
            5,
            socket.AF_INET,
            32,
            0,
            _attr(nl.IFA_ADDRESS, V4("10.0.0.2")),
            _attr(nl.IFA_LOCAL, V4("10.0.0.1")),
            _attr(nl.IFA_LABEL, b"tun0\0"),
        )
    )
    assert ptp is not None
    assert ptp.address == ipaddress.IPv4Address("10.0.0.1")
    assert ptp.peer == ipaddress.IPv4Address("10.0.0.2")
    assert ptp.label == "tun0"
    lan = nl.decode_address(
        _address(
            4,
            socket.AF_INET,
            24,
            0,
            _attr(nl.IFA_ADDRESS, V4("192.0.2.2")),
            _attr(nl.IFA_LOCAL, V4("192.0.2.2")),
            _attr(nl.IFA_BROADCAST, V4("192.0.2.255")),
        )
    )
    assert lan is not None
    assert (lan.peer, lan.broadcast) == (None, ipaddress.IPv4Address("192.0.2.255"))
    v6 = nl.decode_address(
        _address(
            1,
            socket.AF_INET6,
            128,
            254,
            _attr(nl.IFA_ADDRESS, socket.inet_pton(socket.AF_INET6, "::1")),
            _attr(nl.IFA_FLAGS, struct.pack("=I", 0x200)),
        )
    )
    assert v6 is not None
    assert (str(v6.address), v6.prefix_length, v6.scope, v6.flags) == (
        "::1",
        128,
        254,
        0x200,
    )
    assert nl.decode_address(_address(1, socket.AF_PACKET, 0, 0)) is None


def test_build_joins_links_and_addresses() -> None:
    """Addresses attach to their link by index, IPv4 first; links sort by index."""
    links = nl.split_messages(
        _message(nl.RTM_NEWLINK, _link(2, b"b0"))
        + _message(nl.RTM_NEWLINK, _link(1, b"a0"))
    )
    addresses = nl.split_messages(
        _message(
            nl.RTM_NEWADDR,
            _address(
                2,
                socket.AF_INET6,
                64,
                0,
                _attr(nl.IFA_ADDRESS, socket.inet_pton(socket.AF_INET6, "fd00::2")),
            ),
        )
        + _message(
            nl.RTM_NEWADDR,
            _address(2, socket.AF_INET, 8, 0, _attr(nl.IFA_LOCAL, V4("10.1.2.3"))),
        )
    )
    built = _build(links, addresses)
    assert [(i.index, i.name) for i in built] == [(1, "a0"), (2, "b0")]
    assert [str(a) for a in built[1].addresses] == ["10.1.2.3/8", "fd00::2/64"]
    assert (
        built[0].flags
        == InterfaceFlag.UP | InterfaceFlag.LOOPBACK | InterfaceFlag.RUNNING
    )


@pytest.mark.parametrize(
    ("data", "match"),
    [
        (b"\0" * 8, "expected a 16-byte message header"),
        (struct.pack("=IHHII", 8, 16, 0, 0, 0), "expected a message length"),
        (struct.pack("=IHHII", 64, 16, 0, 0, 0), "expected a message length"),
    ],
)
def test_split_rejects_malformed(data: bytes, match: str) -> None:
    """Truncated or inconsistent headers raise NetlinkError."""
    with pytest.raises(nl.NetlinkError, match=match):
        nl.split_messages(data)


@pytest.mark.parametrize(
    ("payload", "match"),
    [
        (b"\0" * 4, "expected a 16-byte ifinfomsg"),
        (struct.pack("=BxHiII", 0, 1, 1, 0, 0), "expected an interface name"),
        (
            struct.pack("=BxHiII", 0, 1, 1, 0, 0) + struct.pack("=HH", 40, 3),
            "attribute length",
        ),
    ],
)
def test_decode_link_rejects_malformed(payload: bytes, match: str) -> None:
    """A link without a name or with a bad attribute raises NetlinkError."""
    with pytest.raises(nl.NetlinkError, match=match):
        nl.decode_link(payload)


@pytest.mark.parametrize(
    ("payload", "match"),
    [
        (b"\0", "expected an 8-byte ifaddrmsg"),
        (_address(1, socket.AF_INET, 8, 0), "expected an address for interface 1"),
        (
            _address(1, socket.AF_INET, 8, 0, _attr(nl.IFA_LOCAL, b"\1\2")),
            "got 2 bytes",
        ),
        (
            _address(1, socket.AF_INET, 33, 0, _attr(nl.IFA_LOCAL, V4("1.2.3.4"))),
            "prefix length",
        ),
    ],
)
def test_decode_address_rejects_malformed(payload: bytes, match: str) -> None:
    """No address, a wrong-sized one or a long prefix raise NetlinkError."""
    with pytest.raises(nl.NetlinkError, match=match):
        nl.decode_address(payload)


def test_decode_error() -> None:
    """NLMSG_ERROR carries a negative errno; short payloads are malformed."""
    assert nl.decode_error(struct.pack("=i", -1)) == 1
    with pytest.raises(nl.NetlinkError):
        nl.decode_error(b"")


@given(st.binary(max_size=200))
def test_arbitrary_bytes_never_crash(data: bytes) -> None:
    """Any bytes decode or raise NetlinkError: never another exception."""
    for decode in (
        nl.split_messages,
        nl.decode_link,
        nl.decode_address,
        nl.decode_error,
    ):
        with contextlib.suppress(nl.NetlinkError):
            decode(data)


@given(st.lists(st.tuples(st.integers(0, 0xFFFF), st.binary(max_size=40)), max_size=8))
def test_framed_attributes_round_trip(attributes: list[tuple[int, bytes]]) -> None:
    """Well-framed attributes after a link header decode (first of each type kept)."""
    payload = struct.pack("=BxHiII", 0, 1, 9, 0, 0) + _attr(nl.IFLA_IFNAME, b"x\0")
    payload += b"".join(_attr(kind, value) for kind, value in attributes)
    try:
        link = nl.decode_link(payload)
    except nl.NetlinkError:
        return
    assert (link.index, link.name) == (9, "x")
