"""Socket options against the kernel: every option round-trips on every kind of socket.

The expectations here are written independently of the registry: each row names
the C level and number and decodes ``getsockopt`` by hand, so a wrong constant,
buffer size or codec in aiosock shows up as a mismatch.
"""

from __future__ import annotations

import errno
import math
import os
import select
import socket
import struct
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from aiosock import Namespace, OptionError, Style, options
from aiosock.options import Credentials, Linger, TcpInfo, TcpState

SO, TCP, IP, IP6 = (
    socket.SOL_SOCKET,
    socket.IPPROTO_TCP,
    socket.IPPROTO_IP,
    socket.IPPROTO_IPV6,
)
AF_INET, AF_INET6, AF_UNIX = socket.AF_INET, socket.AF_INET6, socket.AF_UNIX
STREAM, DGRAM, SEQPACKET, RAW = (
    socket.SOCK_STREAM,
    socket.SOCK_DGRAM,
    socket.SOCK_SEQPACKET,
    socket.SOCK_RAW,
)

#: kind of socket -> socket() arguments
KINDS: dict[str, tuple[int, int, int]] = {
    "tcp4": (AF_INET, STREAM, 0),
    "tcp6": (AF_INET6, STREAM, 0),
    "udp4": (AF_INET, DGRAM, 0),
    "udp6": (AF_INET6, DGRAM, 0),
    "ip4": (AF_INET, RAW, socket.IPPROTO_ICMP),
    "ip6": (AF_INET6, RAW, socket.IPPROTO_ICMPV6),
    "unix": (AF_UNIX, STREAM, 0),
    "unixgram": (AF_UNIX, DGRAM, 0),
    "unixpacket": (AF_UNIX, SEQPACKET, 0),
}
INET_KINDS = ("tcp4", "udp4", "ip4")
INET6_KINDS = ("tcp6", "udp6", "ip6")
LOCAL_KINDS = ("unix", "unixgram", "unixpacket")
ALL_KINDS = tuple(KINDS)


@pytest.fixture
def make_socket(
    request: pytest.FixtureRequest,
) -> Iterator[Callable[[str], socket.socket]]:
    """Return a factory of fresh sockets by kind, all closed after the test."""
    made: list[socket.socket] = []

    def make(kind: str) -> socket.socket:
        family, type_, proto = KINDS[kind]
        if family == AF_INET6:
            request.getfixturevalue("ipv6")
        try:
            sock = socket.socket(family, type_, proto)
        except PermissionError:
            pytest.skip(f"a {kind} socket needs CAP_NET_RAW")
        made.append(sock)
        return sock

    yield make
    for sock in made:
        sock.close()


# --- readers: getsockopt decoded by hand ------------------------------------


def read_int(sock: socket.socket, level: int, number: int) -> int:
    return sock.getsockopt(level, number)


def read_bool(sock: socket.socket, level: int, number: int) -> bool:
    return sock.getsockopt(level, number) != 0


def read_u32(sock: socket.socket, level: int, number: int) -> int:
    value: int = struct.unpack("=I", sock.getsockopt(level, number, 4))[0]
    return value


def read_linger(sock: socket.socket, level: int, number: int) -> Linger:
    onoff, seconds = struct.unpack("=ii", sock.getsockopt(level, number, 8))
    # Disabling keeps the kernel's old seconds, meaningless until re-enabled.
    return Linger(onoff != 0, seconds if onoff else 0)


def read_timeval(sock: socket.socket, level: int, number: int) -> float:
    size = struct.calcsize("@ll")
    seconds, micros = struct.unpack("@ll", sock.getsockopt(level, number, size))
    return seconds + micros / 1e6


def read_name(sock: socket.socket, level: int, number: int) -> str:
    return sock.getsockopt(level, number, 16).split(b"\0")[0].decode()


def read_in_addr(sock: socket.socket, level: int, number: int) -> str:
    return socket.inet_ntoa(sock.getsockopt(level, number, 4))


def read_ms(sock: socket.socket, level: int, number: int) -> float:
    return sock.getsockopt(level, number) / 1000


#: What the kernel says without the capability (SO_DEBUG answers EACCES).
PERMISSION_ERRNOS = (errno.EPERM, errno.EACCES)

Reader = Callable[[socket.socket, int, int], Any]
Check = Callable[[Any, Any], bool]


def same(value: Any, raw: Any) -> bool:
    return bool(value == raw)


def doubled(value: int, raw: int) -> bool:
    return raw == 2 * value


def ticked(value: float, raw: float) -> bool:
    return math.isclose(value, raw, abs_tol=0.011)  # HZ >= 100


def any_value(value: Any, raw: Any) -> bool:
    return True


def at_least(value: int, raw: int) -> bool:
    return raw >= value


def default_if_minus_one(default: int) -> Check:
    def check(value: int, raw: int) -> bool:
        return raw == (default if value == -1 else value)

    return check


def positive_if_minus_one(value: int, raw: int) -> bool:
    return raw > 0 if value == -1 else raw == value


def route_default_if_zero(value: int, raw: int) -> bool:
    return raw > 0 if value == 0 else raw == value


# (name, level, number, reader, values to set, how the kernel's value relates)
ROUND_TRIPS: list[tuple[str, int, int, Reader, list[Any], Check]] = [
    ("debug", SO, 1, read_bool, [True, False], same),
    ("reuse_address", SO, 2, read_bool, [True, False], same),
    ("reuse_port", SO, 15, read_bool, [True, False], same),
    ("keepalive", SO, 9, read_bool, [True, False], same),
    ("dont_route", SO, 5, read_bool, [True, False], same),
    (
        "linger",
        SO,
        13,
        read_linger,
        [Linger(True, 5), Linger(False, 0), Linger(True, 0)],
        same,
    ),
    ("broadcast", SO, 6, read_bool, [True, False], same),
    ("oob_inline", SO, 10, read_bool, [True, False], same),
    ("send_buffer", SO, 7, read_int, [8192, 65536], doubled),
    ("receive_buffer", SO, 8, read_int, [8192, 65536], doubled),
    ("receive_low_water", SO, 18, read_int, [10, 1], same),
    ("receive_timeout", SO, 20, read_timeval, [1.5, 0.25, 0.0], ticked),
    ("send_timeout", SO, 21, read_timeval, [2.0, 0.0], ticked),
    ("priority", SO, 12, read_int, [3, 7, 0], same),
    ("mark", SO, 36, read_u32, [1, 2**32 - 1, 0], same),
    ("bind_to_device", SO, 25, read_name, ["lo", ""], same),
    ("pass_credentials", SO, 16, read_bool, [True, False], same),
    ("no_delay", TCP, 1, read_bool, [True, False], same),
    ("cork", TCP, 3, read_bool, [True, False], same),
    ("keepalive_idle", TCP, 4, read_int, [60, 1], same),
    ("keepalive_interval", TCP, 5, read_int, [10, 75], same),
    ("keepalive_count", TCP, 6, read_int, [3, 127], same),
    ("user_timeout", TCP, 18, read_ms, [1.5, 0.001, 0.0], same),
    ("max_segment", TCP, 2, read_int, [1000, 0], route_default_if_zero),
    ("quick_ack", TCP, 12, read_bool, [False, True], any_value),
    ("fast_open", TCP, 23, read_int, [5, 0], same),
    ("fast_open_connect", TCP, 30, read_bool, [True, False], same),
    ("defer_accept", TCP, 9, read_int, [5, 0], at_least),
    ("not_sent_low_water", TCP, 25, read_u32, [16384, 2**32 - 1, 0], same),
    ("congestion", TCP, 13, read_name, ["reno"], same),
    ("ttl", IP, 2, read_int, [32, 255, -1], positive_if_minus_one),
    ("tos", IP, 1, read_int, [0x10, 0], same),
    ("multicast_ttl", IP, 33, read_int, [5, 0, -1], default_if_minus_one(1)),
    ("multicast_loop", IP, 34, read_bool, [False, True], same),
    ("multicast_interface", IP, 32, read_in_addr, ["127.0.0.1", "0.0.0.0"], same),
    ("transparent", IP, 19, read_bool, [True, False], same),
    ("freebind", IP, 15, read_bool, [True, False], same),
    ("bind_address_no_port", IP, 24, read_bool, [True, False], same),
    ("v6_only", IP6, 26, read_bool, [True, False], same),
    ("unicast_hops", IP6, 16, read_int, [10, -1], positive_if_minus_one),
    ("multicast_hops", IP6, 18, read_int, [10, -1], default_if_minus_one(1)),
    ("multicast_loop", IP6, 19, read_bool, [False, True], same),
    ("traffic_class", IP6, 67, read_int, [0x20, -1], default_if_minus_one(0)),
]

#: option -> the kinds of socket it applies to (everything else must refuse it)
ANY = ALL_KINDS
TCP_KINDS = ("tcp4", "tcp6")
APPLIES: dict[tuple[str, int], tuple[str, ...]] = {
    ("reuse_port", SO): ("tcp4", "tcp6", "udp4", "udp6"),
    ("pass_credentials", SO): LOCAL_KINDS,
    ("multicast_ttl", IP): ("udp4", "ip4"),
    ("multicast_loop", IP): ("udp4", "ip4"),
    ("multicast_interface", IP): ("udp4", "ip4"),
    ("transparent", IP): (*INET_KINDS, "tcp6", "udp6"),
    ("freebind", IP): (*INET_KINDS, "tcp6", "udp6"),
    ("bind_address_no_port", IP): (*INET_KINDS, "tcp6", "udp6"),
    ("v6_only", IP6): ("tcp6", "udp6"),
    ("multicast_hops", IP6): ("udp6", "ip6"),
    ("multicast_loop", IP6): ("udp6", "ip6"),
}
LEVEL_KINDS = {SO: ANY, TCP: TCP_KINDS, IP: INET_KINDS, IP6: INET6_KINDS}


def applies(name: str, level: int, kind: str) -> bool:
    return kind in APPLIES.get((name, level), LEVEL_KINDS[level])


def set_or_eperm(sock: socket.socket, name: str, value: Any) -> bool:
    """Set one option; a refusal for want of privilege must be EPERM or EACCES."""
    try:
        options.set(sock, **{name: value})
    except OptionError as exc:
        if exc.errno not in PERMISSION_ERRNOS or exc.option != name:
            raise
        return False
    return True


def round_trip_cases() -> Iterator[Any]:
    for name, level, number, reader, values, check in ROUND_TRIPS:
        for kind in ALL_KINDS:
            if applies(name, level, kind):
                yield pytest.param(
                    kind,
                    name,
                    level,
                    number,
                    reader,
                    values,
                    check,
                    id=f"{name}-{kind}",
                )


@pytest.mark.parametrize(
    ("kind", "name", "level", "number", "reader", "values", "check"),
    list(round_trip_cases()),
)
def test_option_round_trips_against_getsockopt(
    make_socket: Callable[[str], socket.socket],
    kind: str,
    name: str,
    level: int,
    number: int,
    reader: Reader,
    values: list[Any],
    check: Check,
) -> None:
    """Setting an option changes what raw getsockopt reports, and get() decodes it."""
    sock = make_socket(kind)
    assert options.get(sock, name) == reader(sock, level, number)
    for value in values:
        if not set_or_eperm(sock, name, value):
            continue
        raw = reader(sock, level, number)
        assert check(value, raw), (value, raw)
        assert options.get(sock, name) == raw


def inapplicable_cases() -> Iterator[Any]:
    levels: dict[str, list[int]] = {}
    first_value: dict[str, Any] = {}
    for name, level, _number, _reader, values, _check in ROUND_TRIPS:
        levels.setdefault(name, []).append(level)
        first_value.setdefault(name, values[0])
    for name, name_levels in levels.items():
        for kind in ALL_KINDS:
            if not any(applies(name, level, kind) for level in name_levels):
                yield pytest.param(kind, name, first_value[name], id=f"{name}-{kind}")


@pytest.mark.parametrize(("kind", "name", "value"), list(inapplicable_cases()))
def test_option_refused_on_other_kinds(
    make_socket: Callable[[str], socket.socket], kind: str, name: str, value: Any
) -> None:
    """An option that does not apply to a kind of socket is refused by name and kind."""
    sock = make_socket(kind)
    with pytest.raises(OptionError, match=f"got an? {kind} socket") as info:
        options.get(sock, name)
    assert info.value.option == name
    assert info.value.errno is None
    with pytest.raises(OptionError, match=r"expected an? .* socket"):
        options.set(sock, **{name: value})


# (name, level, number, reader, value written with raw setsockopt, expected get)
RAW_WRITES: list[tuple[str, int, int, bytes | int, Any]] = [
    ("linger", SO, 13, struct.pack("=ii", 1, 7), Linger(True, 7)),
    ("receive_timeout", SO, 20, struct.pack("@ll", 2, 500000), 2.5),
    ("mark", SO, 36, struct.pack("=I", 2**31 + 5), 2**31 + 5),
    ("bind_to_device", SO, 25, b"lo", "lo"),
    ("congestion", TCP, 13, b"reno", "reno"),
    ("user_timeout", TCP, 18, 2500, 2.5),
    ("not_sent_low_water", TCP, 25, struct.pack("=I", 2**32 - 2), 2**32 - 2),
    ("keepalive_count", TCP, 6, 17, 17),
    ("no_delay", TCP, 1, 1, True),
    ("ttl", IP, 2, 99, 99),
]


@pytest.mark.parametrize(
    ("name", "level", "number", "raw", "expected"),
    RAW_WRITES,
    ids=[row[0] for row in RAW_WRITES],
)
def test_get_decodes_what_raw_setsockopt_wrote(
    name: str, level: int, number: int, raw: bytes | int, expected: Any
) -> None:
    """A value written with raw setsockopt reads back decoded through get()."""
    with socket.socket(AF_INET, STREAM) as sock:
        sock.setsockopt(level, number, raw)
        assert options.get(sock, name) == expected


# --- read-only options -------------------------------------------------------


@pytest.mark.parametrize("kind", ALL_KINDS)
def test_identity_options_match_the_socket(
    make_socket: Callable[[str], socket.socket], kind: str
) -> None:
    """style, namespace and protocol read SO_TYPE, SO_DOMAIN and SO_PROTOCOL."""
    sock = make_socket(kind)
    family, type_, proto = KINDS[kind]
    assert options.get(sock, "style") is Style(type_)
    assert options.get(sock, "namespace") is Namespace(family)
    expected_proto = sock.getsockopt(SO, socket.SO_PROTOCOL)
    assert options.get(sock, "protocol") == expected_proto
    if proto:
        assert expected_proto == proto
    assert options.get(sock, "accepting") is False
    assert options.get(sock, "error") == 0
    assert options.get(sock, "send_low_water") == sock.getsockopt(SO, 19)


@pytest.mark.parametrize("kind", ["tcp4", "unix", "unixpacket"])
def test_accepting_is_true_on_a_listener(
    make_socket: Callable[[str], socket.socket], kind: str, short_tmp: Any
) -> None:
    """accepting reads SO_ACCEPTCONN: true once the socket listens."""
    sock = make_socket(kind)
    sock.bind(("127.0.0.1", 0) if kind == "tcp4" else str(short_tmp / "l.sock"))
    sock.listen()
    assert options.get(sock, "accepting") is True
    assert sock.getsockopt(SO, socket.SO_ACCEPTCONN) == 1


@pytest.mark.parametrize("type_", [STREAM, DGRAM, SEQPACKET])
def test_peer_credentials_of_a_socketpair(type_: int) -> None:
    """peer_credentials decodes SO_PEERCRED: this process is its own peer."""
    a, b = socket.socketpair(AF_UNIX, type_)
    with a, b:
        creds = options.get(a, "peer_credentials")
        raw = struct.unpack("=iII", a.getsockopt(SO, socket.SO_PEERCRED, 12))
        assert creds == Credentials(*raw)
        assert creds == Credentials(os.getpid(), os.geteuid(), os.getegid())


def test_peer_credentials_without_a_peer_is_none() -> None:
    """An unconnected local socket has no peer, so peer_credentials is None."""
    with socket.socket(AF_UNIX, STREAM) as sock:
        assert options.get(sock, "peer_credentials") is None


def test_error_reports_and_clears_the_pending_error() -> None:
    """error reads SO_ERROR: a refused non-blocking connect shows up once."""
    with socket.socket(AF_INET, STREAM) as listener:
        listener.bind(("127.0.0.1", 0))
        port = listener.getsockname()[1]
    with socket.socket(AF_INET, STREAM) as sock:
        sock.setblocking(False)
        assert sock.connect_ex(("127.0.0.1", port)) in (
            errno.EINPROGRESS,
            errno.ECONNREFUSED,
        )
        select.select([], [sock], [], 5)
        assert options.get(sock, "error") == errno.ECONNREFUSED
        assert options.get(sock, "error") == 0


def test_tcp_info_of_a_connection() -> None:
    """info decodes TCP_INFO: an established loopback connection, its MSS and RTT."""
    with socket.socket(AF_INET, STREAM) as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        client = socket.create_connection(listener.getsockname())
        server, _ = listener.accept()
        with client, server:
            client.sendall(b"x" * 1000)
            assert server.recv(1000)
            info = options.get(client, "info")
            raw = client.getsockopt(TCP, socket.TCP_INFO, 232)
            assert isinstance(info, TcpInfo)
            assert info.state is TcpState.ESTABLISHED
            assert info.state == raw[0]
            assert info.snd_mss == struct.unpack_from("=I", raw, 16)[0]
            assert info.cwnd == struct.unpack_from("=I", raw, 80)[0]
            assert info.rtt > 0
            assert info.bytes_acked is not None
            assert info.segs_out is not None
            assert info.segs_out >= 2


def test_tcp_info_of_a_fresh_socket_is_closed() -> None:
    """A socket that never connected reports TCP state CLOSE."""
    with socket.socket(AF_INET, STREAM) as sock:
        info = options.get(sock, "info")
        assert info.state is TcpState.CLOSE
        assert info.total_retrans == 0


@pytest.mark.parametrize(
    ("name", "tiny"),
    [
        ("receive_timeout", 4e-07),
        ("send_timeout", 5e-07),
        ("user_timeout", 0.0004),
    ],
)
def test_a_tiny_timeout_is_not_none(name: str, tiny: float) -> None:
    """0 means "no timeout" to the kernel: a positive time never encodes to it."""
    with socket.socket() as sock:
        options.set(sock, **{name: tiny})
        assert options.get(sock, name) > 0
