"""Typed socket addresses: validation, sockaddr conversion with real sockets, str()."""

from __future__ import annotations

import ipaddress
import os
import socket
from pathlib import Path

import attrs
import pytest

from aiosock import (
    AddressError,
    HostAddress,
    Inet6Address,
    InetAddress,
    LocalAddress,
    Namespace,
    from_sockaddr,
)
from aiosock._foundation._addresses import SUN_PATH_MAX

LO_INDEX = socket.if_nametoindex("lo")


# --- InetAddress -------------------------------------------------------------


def test_inet_address_fields() -> None:
    """An IPv4 address keeps its host and port and is in the INET namespace."""
    address = InetAddress("127.0.0.1", 8080)
    assert (address.host, address.port) == ("127.0.0.1", 8080)
    assert address.namespace is Namespace.INET


@pytest.mark.parametrize("port", [0, 1, 80, 65535])
def test_inet_address_port_bounds_accepted(port: int) -> None:
    """Ports 0 through 65535 are accepted."""
    assert InetAddress("127.0.0.1", port).port == port


@pytest.mark.parametrize(
    ("port", "phrase"),
    [
        (-1, "'port' must be in 0..65535 (got -1)"),
        (65536, "'port' must be in 0..65535 (got 65536)"),
        (70000, "'port' must be in 0..65535 (got 70000)"),
        ("80", "'port' must be an int in 0..65535 (got '80')"),
        (True, "'port' must be an int in 0..65535 (got True)"),
        (80.0, "'port' must be an int in 0..65535 (got 80.0)"),
        (None, "'port' must be an int in 0..65535 (got None)"),
    ],
)
def test_inet_address_port_rejected(port: object, phrase: str) -> None:
    """A port outside 0..65535, or not an int, is an AddressError naming it."""
    with pytest.raises(AddressError) as info:
        InetAddress("127.0.0.1", port)  # type: ignore[arg-type]
    assert str(info.value) == phrase


@pytest.mark.parametrize(
    "host",
    ["1.2.3", "256.0.0.1", "127.1", "01.2.3.4", "::1", "localhost", "", " 1.2.3.4"],
)
def test_inet_address_rejects_non_ipv4(host: str) -> None:
    """Only a dotted-quad IPv4 literal is an IPv4 host."""
    with pytest.raises(AddressError, match="expected an IPv4 address"):
        InetAddress(host, 80)


def test_inet_address_rejects_non_str_host() -> None:
    """A host that is not a str is an AddressError, not a TypeError."""
    with pytest.raises(AddressError, match="'host' must be an IPv4 address string"):
        InetAddress(0x7F000001, 80)  # type: ignore[arg-type]


def test_ipaddress_objects_are_accepted() -> None:
    """Hosts may be ipaddress objects; they are stored as canonical strings."""
    v4 = ipaddress.ip_address("127.0.0.1")
    v6 = ipaddress.ip_address("fe80::1%lo")
    assert InetAddress(v4, 80) == InetAddress("127.0.0.1", 80)  # type: ignore[arg-type]
    assert Inet6Address(v6, 80) == Inet6Address("fe80::1", 80, scope_id="lo")
    assert HostAddress(v4, "http") == HostAddress("127.0.0.1", "http")  # type: ignore[arg-type]
    assert str(HostAddress(v6, "http")) == "[fe80::1%lo]:http"  # type: ignore[arg-type]


def test_inet_address_is_a_frozen_value() -> None:
    """Addresses are immutable, compare by value and hash."""
    a = InetAddress("127.0.0.1", 80)
    assert a == InetAddress("127.0.0.1", 80)
    assert a != InetAddress("127.0.0.1", 81)
    assert len({a, InetAddress("127.0.0.1", 80)}) == 1
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        a.port = 81  # type: ignore[misc]


def test_inet_address_to_sockaddr() -> None:
    """to_sockaddr gives the (host, port) pair socket takes."""
    assert InetAddress("10.0.0.1", 53).to_sockaddr() == ("10.0.0.1", 53)


# --- Inet6Address ------------------------------------------------------------


@pytest.mark.parametrize(
    ("given", "stored"),
    [
        ("::1", "::1"),
        ("0:0:0:0:0:0:0:1", "::1"),
        ("FE80::0001", "fe80::1"),
        ("2001:db8:0:0:1:0:0:1", "2001:db8::1:0:0:1"),
        ("::ffff:127.0.0.1", "::ffff:127.0.0.1"),
        ("::FFFF:7f00:1", "::ffff:127.0.0.1"),
        ("0:0:0:0:0:ffff:a00:1", "::ffff:10.0.0.1"),
    ],
)
def test_inet6_address_host_is_compressed(given: str, stored: str) -> None:
    """IPv6 hosts are compressed and lower-case; IPv4-mapped ones keep dotted form."""
    address = Inet6Address(given, 80)
    assert address.host == stored
    assert address.namespace is Namespace.INET6


@pytest.mark.parametrize("host", ["127.0.0.1", "::g", "1::2::3", "", "[::1]", "lo"])
def test_inet6_address_rejects_non_ipv6(host: str) -> None:
    """Only an IPv6 literal is an IPv6 host."""
    with pytest.raises(AddressError, match="expected an IPv6 address"):
        Inet6Address(host, 80)


@pytest.mark.parametrize("port", [-1, 65536])
def test_inet6_address_port_rejected(port: int) -> None:
    """IPv6 addresses check their port like IPv4 ones."""
    with pytest.raises(AddressError, match=r"'port' must be in 0\.\.65535"):
        Inet6Address("::1", port)


@pytest.mark.parametrize(
    ("flowinfo", "ok"), [(0, True), (0xFFFFF, True), (-1, False), (0x100000, False)]
)
def test_inet6_address_flowinfo_bounds(flowinfo: int, ok: bool) -> None:
    """The flow label is a 20-bit number."""
    if ok:
        assert Inet6Address("::1", 1, flowinfo).flowinfo == flowinfo
    else:
        with pytest.raises(AddressError, match=r"'flowinfo' must be in 0\.\.1048575"):
            Inet6Address("::1", 1, flowinfo)


def test_inet6_zone_by_name_in_host() -> None:
    """A zone written 'addr%name' is split off and kept as a name."""
    address = Inet6Address("fe80::1%lo", 80)
    assert address.host == "fe80::1"
    assert address.scope_id == "lo"


def test_inet6_zone_by_name_is_converted_to_index() -> None:
    """to_sockaddr turns a zone name into the interface's index."""
    address = Inet6Address("fe80::1", 80, scope_id="lo")
    assert address.scope_index() == LO_INDEX
    assert address.to_sockaddr() == ("fe80::1", 80, 0, LO_INDEX)


@pytest.mark.parametrize("zone", [LO_INDEX, str(LO_INDEX)])
def test_inet6_zone_by_number(zone: int | str) -> None:
    """A zone given as a number (int or digits) is stored as an int index."""
    address = Inet6Address("fe80::1", 80, scope_id=zone)
    assert address.scope_id == LO_INDEX
    assert Inet6Address(f"fe80::1%{zone}", 80) == address
    assert address.to_sockaddr() == ("fe80::1", 80, 0, LO_INDEX)


def test_inet6_zone_in_host_and_scope_id_must_agree() -> None:
    """A zone given twice, differently, is an error; the same zone twice is not."""
    assert Inet6Address("fe80::1%lo", 80, scope_id="lo").scope_id == "lo"
    with pytest.raises(AddressError, match="differ"):
        Inet6Address("fe80::1%lo", 80, scope_id="eth0")
    # An index agrees with itself however it is written.
    assert Inet6Address("fe80::1%2", 80, scope_id=2).scope_id == 2
    assert Inet6Address("fe80::1%02", 80, scope_id="2").scope_id == 2
    with pytest.raises(AddressError, match="differ"):
        Inet6Address("fe80::1%2", 80, scope_id=3)


@pytest.mark.parametrize(
    ("zone", "phrase"),
    [
        ("", "interface name of 1 to 15 characters"),
        ("a" * 16, "interface name of 1 to 15 characters"),
        ("eth 0", "interface name of 1 to 15 characters"),
        ("eth0%1", "interface name of 1 to 15 characters"),
        ("²", "interface name of 1 to 15 characters"),
        (-1, r"'scope_id' must be in 0\.\.4294967295"),
        (2**32, r"'scope_id' must be in 0\.\.4294967295"),
        (True, "'scope_id' must be an int or an interface name"),
        (1.0, "'scope_id' must be an int or an interface name"),
    ],
)
def test_inet6_zone_rejected(zone: object, phrase: str) -> None:
    """Zones are interface names of 1..15 characters or 32-bit indexes."""
    with pytest.raises(AddressError, match=phrase):
        Inet6Address("fe80::1", 80, scope_id=zone)  # type: ignore[arg-type]


def test_inet6_unknown_zone_name_fails_at_to_sockaddr() -> None:
    """A zone naming no interface is kept, and to_sockaddr names it in the error."""
    address = Inet6Address("fe80::1", 80, scope_id="nosuchif0")
    with pytest.raises(AddressError, match="no network interface named 'nosuchif0'"):
        address.to_sockaddr()


def test_inet6_zone_from_getaddrinfo_is_an_index() -> None:
    """A link-local sockaddr as the resolver returns it gives an int zone."""
    infos = socket.getaddrinfo(
        "fe80::1%lo", 80, socket.AF_INET6, socket.SOCK_STREAM, 0, socket.AI_NUMERICHOST
    )
    sockaddr = infos[0][4]
    address = from_sockaddr(socket.AF_INET6, sockaddr)
    assert address == Inet6Address("fe80::1", 80, 0, LO_INDEX)
    assert address.to_sockaddr() == ("fe80::1", 80, 0, LO_INDEX)


# --- LocalAddress ------------------------------------------------------------


def test_local_address_file() -> None:
    """A file path is kept as given and is its own sockaddr."""
    address = LocalAddress("/run/app.sock")
    assert address.namespace is Namespace.LOCAL
    assert address.path == "/run/app.sock"
    assert address.to_sockaddr() == "/run/app.sock"
    assert not address.is_abstract
    assert not address.is_unnamed
    assert address.name == "/run/app.sock"


@pytest.mark.parametrize(
    "value", [b"/run/app.sock", Path("/run/app.sock"), "/run/app.sock"]
)
def test_local_address_accepts_str_bytes_and_paths(value: object) -> None:
    """A path may be given as str, bytes or a path-like object."""
    assert LocalAddress(value) == LocalAddress("/run/app.sock")  # type: ignore[arg-type]


def test_local_address_abstract() -> None:
    """An abstract name is stored with its NUL byte and converts to bytes."""
    address = LocalAddress.abstract("app")
    assert address.path == "\0app"
    assert address.is_abstract
    assert address.name == "app"
    assert address.to_sockaddr() == b"\0app"
    assert LocalAddress.abstract(b"app") == address
    assert LocalAddress(b"\0app") == address


def test_local_address_unnamed() -> None:
    """The empty path is the unnamed address."""
    address = LocalAddress("")
    assert address.is_unnamed
    assert not address.is_abstract
    assert address.to_sockaddr() == ""


def test_local_address_at_sign_is_not_abstract() -> None:
    """A relative path beginning with '@' is stored as './@…', a file."""
    address = LocalAddress("@name")
    assert address.path == "./@name"
    assert not address.is_abstract


def test_local_path_limit_is_107_bytes() -> None:
    """sun_path holds 108 bytes with the path's NUL: 107 are accepted, 108 are
    an error that says why (Python's socket module refuses them at bind)."""
    assert len(LocalAddress("a" * (SUN_PATH_MAX - 1)).path) == SUN_PATH_MAX - 1
    with pytest.raises(AddressError) as info:
        LocalAddress("a" * SUN_PATH_MAX)
    assert str(info.value) == (
        "local path must be at most 107 bytes, as sun_path holds 108 "
        "with the terminating NUL (got 108)"
    )


def test_local_path_limit_counts_encoded_bytes() -> None:
    """The limit is in bytes of the file-system encoding, not characters."""
    assert LocalAddress("é" * 53 + "a").path == "é" * 53 + "a"  # 107 bytes
    with pytest.raises(AddressError, match=r"at most 107 bytes.*\(got 108\)"):
        LocalAddress("é" * 54)


def test_socket_module_agrees_on_the_limits(short_tmp: Path) -> None:
    """What LocalAddress accepts, bind takes; the first byte more, it refuses."""
    room = SUN_PATH_MAX - 1 - len(os.fsencode(f"{short_tmp}/"))
    longest = LocalAddress(f"{short_tmp}/" + "p" * room)
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        sock.bind(longest.to_sockaddr())
        assert from_sockaddr(socket.AF_UNIX, sock.getsockname()) == longest
    with (
        socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock,
        pytest.raises(OSError, match="too long"),
    ):
        sock.bind(longest.path + "p")
    with pytest.raises(AddressError):
        LocalAddress(longest.path + "p")
    name = f"aiosock-{os.getpid()}-"
    abstract = LocalAddress.abstract(name + "n" * (107 - len(name)))
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        sock.bind(abstract.to_sockaddr())
        assert from_sockaddr(socket.AF_UNIX, sock.getsockname()) == abstract
    with (
        socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock,
        pytest.raises(OSError, match="too long"),
    ):
        sock.bind(abstract.to_sockaddr() + b"n")
    with pytest.raises(AddressError):
        LocalAddress.abstract(abstract.name + "n")


def test_from_sockaddr_reads_a_full_sun_path() -> None:
    """A 108-byte path (bound without the socket module, no NUL) is still read."""
    path = "/" + "k" * (SUN_PATH_MAX - 1)
    address = from_sockaddr(socket.AF_UNIX, path)
    assert isinstance(address, LocalAddress)
    assert address.path == path
    assert not address.is_abstract
    with pytest.raises(AddressError, match="NUL"):
        from_sockaddr(socket.AF_UNIX, "/a\0" + "k" * (SUN_PATH_MAX - 3))


def test_abstract_name_limit_includes_the_nul() -> None:
    """An abstract name has 107 bytes after its NUL byte."""
    assert LocalAddress.abstract("a" * 107).name == "a" * 107
    with pytest.raises(
        AddressError,
        match=r"abstract name must be at most 107 bytes, as sun_path holds 108 "
        r"with its leading NUL \(got 108\)",
    ):
        LocalAddress.abstract("a" * 108)


def test_local_path_rejects_nul() -> None:
    """A file path cannot contain a NUL byte (abstract names can)."""
    with pytest.raises(AddressError, match="must not contain NUL"):
        LocalAddress("/tmp/a\0b")
    assert LocalAddress.abstract("a\0b").name == "a\0b"


@pytest.mark.parametrize("value", ["/tmp/\ud800", "\0\udfff"])
def test_local_path_must_be_encodable(value: str) -> None:
    """A path the file system encoding cannot encode is an AddressError."""
    with pytest.raises(AddressError, match="must be encodable"):
        LocalAddress(value)


def test_local_path_keeps_undecodable_bytes() -> None:
    """Bytes that are not UTF-8 survive the round trip (surrogateescape)."""
    address = LocalAddress(b"/tmp/\xff.sock")
    assert address.to_sockaddr() == "/tmp/\udcff.sock"
    assert os.fsencode(address.path) == b"/tmp/\xff.sock"


@pytest.mark.parametrize("value", [1, None, ["/tmp/x"]])
def test_local_path_type(value: object) -> None:
    """A path must be str, bytes or path-like."""
    with pytest.raises(AddressError, match="'path' must be a str, bytes or path"):
        LocalAddress(value)  # type: ignore[arg-type]


def test_local_abstract_name_type() -> None:
    """An abstract name must be str or bytes."""
    with pytest.raises(AddressError, match="'name' must be a str or bytes"):
        LocalAddress.abstract(1)  # type: ignore[arg-type]


# --- HostAddress -------------------------------------------------------------


@pytest.mark.parametrize(
    ("host", "port", "stored"),
    [
        ("localhost", 80, ("localhost", 80)),
        ("LocalHost", "http", ("localhost", "http")),
        ("*", 8080, ("", 8080)),
        ("", "8080", ("", 8080)),
        ("127.0.0.1", "domain", ("127.0.0.1", "domain")),
        ("0:0::1", "http", ("::1", "http")),
        ("fe80::1%lo", "http", ("fe80::1%lo", "http")),
        ("fe80::1%01", "http", ("fe80::1%1", "http")),
        ("host.example.", 1, ("host.example.", 1)),
        ("_srv.example", 1, ("_srv.example", 1)),
    ],
)
def test_host_address_normalises(host: str, port: object, stored: object) -> None:
    """Host names are lower-cased, '*' is '', digits become port numbers."""
    address = HostAddress(host, port)  # type: ignore[arg-type]
    assert (address.host, address.port) == stored
    assert address.namespace is None


@pytest.mark.parametrize(
    ("host", "phrase"),
    [
        ("-bad", "expected a host name or IP address"),
        ("bad-", "expected a host name or IP address"),
        ("a..b", "each label of a host name must be 1 to 63 characters"),
        ("a" * 64, "each label of a host name must be 1 to 63 characters"),
        (".".join(["a" * 60] * 5), "at most 253 characters"),
        ("1.2.3", "expected an IPv4 address"),
        ("300.1.1.1", "expected an IPv4 address"),
        ("héllo", "expected a host name or IP address"),
        ("fe80::1%", "interface name of 1 to 15 characters"),
    ],
)
def test_host_address_rejects(host: str, phrase: str) -> None:
    """Malformed host names and IP literals are AddressErrors saying why."""
    with pytest.raises(AddressError, match=phrase):
        HostAddress(host, 80)


@pytest.mark.parametrize(
    ("port", "phrase"),
    [
        ("-1", "expected a port number or service name"),
        ("8 0", "expected a port number or service name"),
        ("²", "expected a port number or service name"),
        ("٣", "expected a port number or service name"),
        ("65536", r"'port' must be in 0\.\.65535"),
        (-1, r"'port' must be in 0\.\.65535"),
    ],
)
def test_host_address_rejects_port(port: object, phrase: str) -> None:
    """Service names start with a letter; numbers are ASCII digits in range."""
    with pytest.raises(AddressError, match=phrase):
        HostAddress("localhost", port)  # type: ignore[arg-type]


def test_host_address_literal_namespace() -> None:
    """A literal host reveals its namespace; a name or the any-address does not."""
    assert HostAddress("127.0.0.1", "http").literal_namespace is Namespace.INET
    assert HostAddress("::1", "http").literal_namespace is Namespace.INET6
    assert HostAddress("localhost", 80).literal_namespace is None
    assert HostAddress("", 80).literal_namespace is None
    assert HostAddress("*", 80).is_any


# --- str() -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("address", "text"),
    [
        (InetAddress("127.0.0.1", 80), "127.0.0.1:80"),
        (Inet6Address("::1", 80), "[::1]:80"),
        (Inet6Address("fe80::1", 80, scope_id="lo"), "[fe80::1%lo]:80"),
        (Inet6Address("fe80::1", 80, scope_id=3), "[fe80::1%3]:80"),
        (Inet6Address("::1", 80, flowinfo=5), "[::1]:80"),
        (LocalAddress("/run/app.sock"), "/run/app.sock"),
        (LocalAddress("rel.sock"), "rel.sock"),
        (LocalAddress.abstract("name"), "@name"),
        (LocalAddress("@name"), "./@name"),
        (LocalAddress(""), ""),
        (HostAddress("localhost", "http"), "localhost:http"),
        (HostAddress("::1", "http"), "[::1]:http"),
        (HostAddress("*", 80), ":80"),
    ],
)
def test_str_forms(address: object, text: str) -> None:
    """Each address prints itself as the address part of the endpoint grammar."""
    assert str(address) == text


# --- from_sockaddr with real sockets -----------------------------------------


def _check_round_trip(sock: socket.socket, sockaddr: object) -> None:
    address = from_sockaddr(sock.family, sockaddr)
    assert address.namespace.family == sock.family
    assert address.to_sockaddr() == sockaddr
    assert from_sockaddr(sock.family, address.to_sockaddr()) == address


@pytest.mark.parametrize(
    ("family", "host"), [(socket.AF_INET, "127.0.0.1"), (socket.AF_INET6, "::1")]
)
def test_tcp_round_trip(
    family: socket.AddressFamily, host: str, request: pytest.FixtureRequest
) -> None:
    """getsockname/getpeername of loopback TCP sockets convert back and forth."""
    if family == socket.AF_INET6:
        request.getfixturevalue("ipv6")
    with socket.socket(family, socket.SOCK_STREAM) as listener:
        listener.bind((host, 0))
        listener.listen()
        with socket.create_connection(listener.getsockname()[:2]) as client:
            conn, accepted = listener.accept()
            with conn:
                for sock, sockaddr in [
                    (listener, listener.getsockname()),
                    (client, client.getsockname()),
                    (client, client.getpeername()),
                    (conn, conn.getsockname()),
                    (conn, conn.getpeername()),
                    (listener, accepted),
                ]:
                    _check_round_trip(sock, sockaddr)
                peer = from_sockaddr(family, client.getpeername())
                assert peer == from_sockaddr(family, listener.getsockname())
                assert peer.host == host


@pytest.mark.parametrize(
    ("family", "host"), [(socket.AF_INET, "127.0.0.1"), (socket.AF_INET6, "::1")]
)
def test_udp_round_trip(
    family: socket.AddressFamily, host: str, request: pytest.FixtureRequest
) -> None:
    """Loopback UDP getsockname and recvfrom addresses convert back and forth."""
    if family == socket.AF_INET6:
        request.getfixturevalue("ipv6")
    with (
        socket.socket(family, socket.SOCK_DGRAM) as a,
        socket.socket(family, socket.SOCK_DGRAM) as b,
    ):
        a.bind((host, 0))
        b.bind((host, 0))
        target = from_sockaddr(family, a.getsockname())
        b.sendto(b"x", target.to_sockaddr())
        data, sender = a.recvfrom(16)
        assert data == b"x"
        assert from_sockaddr(family, sender) == from_sockaddr(family, b.getsockname())
        _check_round_trip(a, a.getsockname())
        _check_round_trip(a, sender)


def test_ipv4_mapped_peer_round_trip(request: pytest.FixtureRequest) -> None:
    """An IPv4 client of a dual-stack listener is seen as ::ffff:a.b.c.d, unchanged."""
    request.getfixturevalue("ipv6")
    with socket.socket(socket.AF_INET6, socket.SOCK_STREAM) as listener:
        listener.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
        listener.bind(("::ffff:127.0.0.1", 0))
        listener.listen()
        port = listener.getsockname()[1]
        with socket.create_connection(("127.0.0.1", port)) as client:
            conn, accepted = listener.accept()
            with conn:
                peer = from_sockaddr(socket.AF_INET6, accepted)
                assert peer.host == "::ffff:127.0.0.1"
                assert peer.port == client.getsockname()[1]
                assert str(peer) == f"[::ffff:127.0.0.1]:{peer.port}"
                _check_round_trip(conn, accepted)
                _check_round_trip(conn, conn.getsockname())


def test_unix_file_round_trip(short_tmp: Path) -> None:
    """A socket file's name converts to LocalAddress and back, and binds."""
    address = LocalAddress(short_tmp / "s.sock")
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as listener:
        listener.bind(address.to_sockaddr())
        listener.listen()
        assert from_sockaddr(socket.AF_UNIX, listener.getsockname()) == address
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as client:
            client.connect(address.to_sockaddr())
            conn, accepted = listener.accept()
            with conn:
                assert from_sockaddr(socket.AF_UNIX, client.getpeername()) == address
                # The connecting side never bound: its address is unnamed.
                assert from_sockaddr(socket.AF_UNIX, accepted).is_unnamed
                assert from_sockaddr(socket.AF_UNIX, client.getsockname()).is_unnamed
                _check_round_trip(listener, listener.getsockname())


def test_unix_abstract_round_trip() -> None:
    """An abstract name binds, and getsockname gives the same LocalAddress."""
    address = LocalAddress.abstract(f"aiosock-test-{os.getpid()}-abstract")
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.bind(address.to_sockaddr())
        name = sock.getsockname()
        assert isinstance(name, bytes)
        assert from_sockaddr(socket.AF_UNIX, name) == address
        _check_round_trip(sock, name)
        assert str(from_sockaddr(socket.AF_UNIX, name)) == "@" + address.name


def test_unix_autobind_round_trip() -> None:
    """A datagram socket bound to '' gets an autobound abstract name."""
    with (
        socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock,
        socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as receiver,
    ):
        sock.bind("")
        name = sock.getsockname()
        address = from_sockaddr(socket.AF_UNIX, name)
        assert address.is_abstract
        assert len(address.name) == 5  # Linux autobind: five hex digits
        _check_round_trip(sock, name)
        receiver.bind("")
        sock.sendto(
            b"x", from_sockaddr(socket.AF_UNIX, receiver.getsockname()).to_sockaddr()
        )
        data, sender = receiver.recvfrom(16)
        assert data == b"x"
        assert from_sockaddr(socket.AF_UNIX, sender) == address


def test_unix_unnamed_socketpair() -> None:
    """socketpair() sockets are unnamed on both ends."""
    a, b = socket.socketpair()
    with a, b:
        for sockaddr in (a.getsockname(), a.getpeername(), b.getsockname()):
            address = from_sockaddr(socket.AF_UNIX, sockaddr)
            assert address == LocalAddress("")
            assert address.is_unnamed
            assert address.to_sockaddr() == sockaddr


def test_unix_unnamed_sender_is_none() -> None:
    """recvfrom gives None for an unnamed datagram sender: the unnamed address."""
    a, b = socket.socketpair(socket.AF_UNIX, socket.SOCK_DGRAM)
    with a, b:
        a.send(b"x")
        _data, sender = b.recvfrom(16)
        assert from_sockaddr(socket.AF_UNIX, sender) == LocalAddress("")


@pytest.mark.parametrize(
    ("family", "sockaddr", "phrase"),
    [
        (socket.AF_INET, ("127.0.0.1",), "expected an AF_INET"),
        (socket.AF_INET, "127.0.0.1:80", "expected an AF_INET"),
        (socket.AF_INET, ("::1", 80), "expected an IPv4 address"),
        (socket.AF_INET6, ("::1", 80, 0), "expected an AF_INET6"),
        (socket.AF_INET6, ("127.0.0.1", 80, 0, 0), "expected an IPv6 address"),
        (socket.AF_UNIX, 5, "expected an AF_UNIX"),
        (socket.AF_PACKET, ("lo", 0), "expected family AF_UNIX, AF_INET or AF_INET6"),
    ],
)
def test_from_sockaddr_rejects(family: int, sockaddr: object, phrase: str) -> None:
    """A sockaddr that does not fit its family is an AddressError."""
    with pytest.raises(AddressError, match=phrase):
        from_sockaddr(family, sockaddr)


def test_from_sockaddr_accepts_short_ipv6_tuple() -> None:
    """A (host, port) pair is enough for AF_INET6; flowinfo and zone default to 0."""
    assert from_sockaddr(socket.AF_INET6, ("::1", 80)) == Inet6Address("::1", 80)


def test_from_sockaddr_keeps_flowinfo() -> None:
    """flowinfo and scope_id of a 4-tuple are kept."""
    address = from_sockaddr(socket.AF_INET6, ("fe80::1%lo", 80, 7, LO_INDEX))
    assert address == Inet6Address("fe80::1", 80, 7, LO_INDEX)
