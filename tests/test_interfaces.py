"""aiosock.interfaces against the socket module, the kernel and ``ip addr``."""

from __future__ import annotations

import errno
import ipaddress
import json
import shutil
import socket
import subprocess
from typing import Any

import pytest

import aiosock
from aiosock import Inet6Address, InetAddress, Namespace, interfaces
from aiosock.interfaces import (
    Interface,
    InterfaceAddress,
    InterfaceError,
    InterfaceFlag,
)

from .conftest import HAVE_IPV6


def _loopback() -> Interface:
    return interfaces.get("lo")


def test_index_and_name_match_the_socket_module() -> None:
    """index() and name() agree with if_nametoindex and if_indextoname, everywhere."""
    pairs = socket.if_nameindex()
    assert pairs
    for number, text in pairs:
        assert interfaces.index(text) == number
        assert interfaces.name(number) == text


def test_list_matches_if_nameindex() -> None:
    """list() has exactly the interfaces if_nameindex() has, in index order."""
    listed = interfaces.list()
    assert [(i.index, i.name) for i in listed] == sorted(socket.if_nameindex())


def test_loopback_interface() -> None:
    """'lo' is up, a loopback, with 127.0.0.1/8 in host scope."""
    lo = _loopback()
    assert lo.index == interfaces.index("lo")
    assert lo.is_up
    assert lo.is_loopback
    assert InterfaceFlag.LOOPBACK | InterfaceFlag.UP in lo.flags
    assert lo.mtu is not None
    assert lo.mtu > 0
    v4 = [a for a in lo.addresses if a.namespace is Namespace.INET]
    assert (
        InterfaceAddress(ipaddress.IPv4Address("127.0.0.1"), 8, 254, None, None, "lo")
        in v4
    )
    loopback = next(a for a in v4 if str(a) == "127.0.0.1/8")
    assert loopback.scope_name == "host"
    assert str(loopback.network) == "127.0.0.0/8"
    assert loopback.interface == ipaddress.ip_interface("127.0.0.1/8")


@pytest.mark.skipif(not HAVE_IPV6, reason="IPv6 loopback (::1) cannot be bound")
def test_loopback_has_ipv6() -> None:
    """With IPv6, 'lo' also has ::1/128, after its IPv4 addresses."""
    lo = _loopback()
    assert "::1/128" in [str(a) for a in lo.addresses]
    versions = [a.address.version for a in lo.addresses]
    assert versions == sorted(versions)


def test_unknown_name_is_a_typed_error() -> None:
    """An unknown name raises InterfaceError: a LookupError and an OSError (ENODEV)."""
    with pytest.raises(InterfaceError) as info:
        interfaces.index("aiosock-none0")
    error = info.value
    assert isinstance(error, LookupError)
    assert isinstance(error, OSError)
    assert isinstance(error, aiosock.AiosockError)
    assert error.errno == errno.ENODEV
    assert str(error) == "expected the name of a network interface, got 'aiosock-none0'"
    assert aiosock.InterfaceError is InterfaceError


@pytest.mark.parametrize("number", [0, -1, 2**32, 2**40, 0x7FFFFFFF])
def test_unknown_index_is_a_typed_error(number: int) -> None:
    """An index no interface has (or can have) raises InterfaceError (ENXIO)."""
    with pytest.raises(InterfaceError, match=f"got {number}") as info:
        interfaces.name(number)
    assert info.value.errno == errno.ENXIO


@pytest.mark.parametrize(
    ("call", "match"),
    [
        (lambda: interfaces.index(1), "expected an interface name as a str"),
        (lambda: interfaces.index(b"lo"), "expected an interface name as a str"),
        (lambda: interfaces.name("1"), "expected an interface index as an int"),
        (lambda: interfaces.name(True), "expected an interface index as an int"),
        (lambda: interfaces.get(1.5), "expected an interface name or index"),
        (lambda: interfaces.get(False), "expected an interface name or index"),
    ],
)
def test_wrong_types(call: Any, match: str) -> None:
    """Names must be str and indexes int: anything else is a TypeError."""
    with pytest.raises(TypeError, match=match):
        call()


def test_name_with_nul_is_unknown() -> None:
    """A name the kernel could never hold is simply not there."""
    with pytest.raises(InterfaceError):
        interfaces.index("lo\0")
    with pytest.raises(InterfaceError):
        interfaces.index("x" * 64)


def test_get_by_name_and_index() -> None:
    """get() finds one interface by name or index; an unknown one raises."""
    lo = interfaces.get("lo")
    assert interfaces.get(lo.index) == lo
    with pytest.raises(InterfaceError):
        interfaces.get(2**31 - 1)


def test_socket_address_zones_link_local() -> None:
    """socket_address() gives typed addresses; link-local IPv6 gets the zone."""
    lo = _loopback()
    v4 = InterfaceAddress(ipaddress.IPv4Address("127.0.0.1"), 8)
    assert lo.socket_address(v4, 80) == InetAddress("127.0.0.1", 80)
    link = InterfaceAddress(ipaddress.IPv6Address("fe80::1"), 64, scope=253)
    assert lo.socket_address(link) == Inet6Address("fe80::1", 0, scope_id=lo.index)
    assert link.scope_name == "link"
    assert (
        InterfaceAddress(ipaddress.IPv6Address("::1"), 128, scope=7).scope_name == "7"
    )
    assert link.namespace is Namespace.INET6


def test_flags_keep_unknown_bits() -> None:
    """Flags the enum does not name are kept, not dropped."""
    flags = InterfaceFlag(0x1 | 0x800000)
    assert InterfaceFlag.UP in flags
    assert flags.value == 0x800001


def _ip_addr() -> list[dict[str, Any]]:
    ip = shutil.which("ip")
    if ip is None:
        pytest.skip("iproute2's ip command is not installed")
    done = subprocess.run(
        [ip, "-json", "addr", "show"], capture_output=True, text=True, check=False
    )
    if done.returncode != 0:
        pytest.skip(f"ip -json addr failed: {done.stderr.strip()}")
    data: list[dict[str, Any]] = json.loads(done.stdout)
    return data


_IP_FLAG_NAMES = {
    "POINTOPOINT": "POINT_TO_POINT",
    "NOARP": "NO_ARP",
    "ALLMULTI": "ALL_MULTI",
    "NOTRAILERS": "NO_TRAILERS",
}


def test_list_agrees_with_ip_addr() -> None:
    """Index, name, flags, MTU, hardware and IP addresses equal what ip addr shows."""
    ours = {i.index: i for i in interfaces.list()}
    for link in _ip_addr():
        mine = ours[link["ifindex"]]
        assert mine.name == link["ifname"]
        assert mine.mtu == link.get("mtu")
        assert mine.state == link.get("operstate", "UNKNOWN").lower()
        if "address" in link:
            assert mine.hardware_address == link["address"]
        names = {_IP_FLAG_NAMES.get(f, f) for f in link["flags"]}
        ours_names = {f.name for f in mine.flags}
        # ip hides RUNNING and shows LOWER_UP etc.; what it shows, we have.
        assert names - {"M-DOWN"} <= ours_names, (names, ours_names)
        theirs = sorted(
            (a["local"], a["prefixlen"], a.get("label") or "")
            for a in link.get("addr_info", [])
        )
        mine_addresses = sorted(
            (str(a.address), a.prefix_length, a.label or "") for a in mine.addresses
        )
        assert mine_addresses == theirs


def test_interface_error_pickles() -> None:
    """InterfaceError survives pickling with its errno and message."""
    import pickle

    error = InterfaceError(
        "expected the name of a network interface, got 'x'", errno_=19
    )
    copy = pickle.loads(pickle.dumps(error))
    assert (type(copy), copy.errno, str(copy)) == (InterfaceError, 19, str(error))


def test_public_names() -> None:
    """aiosock.interfaces exports exactly the documented names."""
    assert sorted(interfaces.__all__) == [
        "Interface",
        "InterfaceAddress",
        "InterfaceError",
        "InterfaceFlag",
        "get",
        "index",
        "list",
        "name",
    ]
    assert interfaces.list is not list
    assert "interfaces" in aiosock.__all__
