"""snapshot(), the live OptionsView, and the many things that count as a socket."""

from __future__ import annotations

import asyncio
import errno
import os
import socket
from collections.abc import Iterator
from typing import Any

import attrs
import pytest

from aiosock import ClosedResourceError, OptionError, Style, options
from aiosock._foundation import _options
from aiosock.options import OptionsView, TcpState

COMMON = {
    "debug",
    "reuse_address",
    "keepalive",
    "dont_route",
    "linger",
    "broadcast",
    "oob_inline",
    "send_buffer",
    "receive_buffer",
    "receive_low_water",
    "send_low_water",
    "receive_timeout",
    "send_timeout",
    "priority",
    "mark",
    "bind_to_device",
    "style",
    "namespace",
    "protocol",
    "accepting",
}
TCP = {
    "no_delay",
    "cork",
    "keepalive_idle",
    "keepalive_interval",
    "keepalive_count",
    "user_timeout",
    "max_segment",
    "quick_ack",
    "fast_open",
    "fast_open_connect",
    "defer_accept",
    "not_sent_low_water",
    "congestion",
    "info",
}
IP_BIND = {"transparent", "freebind", "bind_address_no_port"}
IP4 = {"ttl", "tos"} | IP_BIND
MULTICAST4 = {"multicast_ttl", "multicast_loop", "multicast_interface"}
IP6 = {"unicast_hops", "traffic_class"}
MULTICAST6 = {"multicast_hops", "multicast_loop"}
LOCAL = {"pass_credentials", "peer_credentials"}

#: kind -> (socket() arguments, the names snapshot() must return)
EXPECTED: dict[str, tuple[tuple[int, int, int], set[str]]] = {
    "tcp4": (
        (socket.AF_INET, socket.SOCK_STREAM, 0),
        COMMON | {"reuse_port"} | TCP | IP4,
    ),
    "tcp6": (
        (socket.AF_INET6, socket.SOCK_STREAM, 0),
        COMMON | {"reuse_port", "v6_only"} | TCP | IP_BIND | IP6,
    ),
    "udp4": (
        (socket.AF_INET, socket.SOCK_DGRAM, 0),
        COMMON | {"reuse_port"} | IP4 | MULTICAST4,
    ),
    "udp6": (
        (socket.AF_INET6, socket.SOCK_DGRAM, 0),
        COMMON | {"reuse_port", "v6_only"} | IP_BIND | IP6 | MULTICAST6,
    ),
    "ip4": ((socket.AF_INET, socket.SOCK_RAW, 1), COMMON | IP4 | MULTICAST4),
    "ip6": ((socket.AF_INET6, socket.SOCK_RAW, 58), COMMON | IP6 | MULTICAST6),
    "unix": ((socket.AF_UNIX, socket.SOCK_STREAM, 0), COMMON | LOCAL),
    "unixgram": ((socket.AF_UNIX, socket.SOCK_DGRAM, 0), COMMON | LOCAL),
    "unixpacket": ((socket.AF_UNIX, socket.SOCK_SEQPACKET, 0), COMMON | LOCAL),
}


def fresh(request: pytest.FixtureRequest, kind: str) -> socket.socket:
    (family, type_, proto), _ = EXPECTED[kind]
    if family == socket.AF_INET6:
        request.getfixturevalue("ipv6")
    try:
        return socket.socket(family, type_, proto)
    except PermissionError:
        pytest.skip(f"a {kind} socket needs CAP_NET_RAW")


@pytest.fixture
def tcp() -> Iterator[socket.socket]:
    """A fresh, unconnected TCP/IPv4 socket."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        yield sock


@pytest.mark.parametrize("kind", list(EXPECTED))
def test_snapshot_names_per_kind(request: pytest.FixtureRequest, kind: str) -> None:
    """snapshot() reads exactly the options that apply to each kind of socket."""
    with fresh(request, kind) as sock:
        values = options.snapshot(sock)
        namespace, style = options.get(sock, "namespace"), options.get(sock, "style")
    assert set(values) == EXPECTED[kind][1]
    order = [
        row.name
        for row in options.registry()
        if row.name in values and row.applies_to(namespace, style)
    ]
    assert list(values) == order


@pytest.mark.parametrize("kind", list(EXPECTED))
def test_snapshot_values_equal_get(request: pytest.FixtureRequest, kind: str) -> None:
    """Each value in a snapshot is what get() reads for that option."""
    with fresh(request, kind) as sock:
        values = options.snapshot(sock)
        for name, value in values.items():
            if name == "info":  # timers move between two reads
                assert value.state is TcpState.CLOSE
                continue
            assert options.get(sock, name) == value, name


def test_snapshot_follows_set(tcp: socket.socket) -> None:
    """A snapshot taken after set() shows the new values."""
    options.set(tcp, no_delay=True, keepalive=True, ttl=17)
    values = options.snapshot(tcp)
    assert values["no_delay"] is True
    assert values["keepalive"] is True
    assert values["ttl"] == 17


def test_snapshot_leaves_error_out(tcp: socket.socket) -> None:
    """error is readable but not in a snapshot, since reading it clears it."""
    assert "error" not in options.snapshot(tcp)
    assert options.get(tcp, "error") == 0


def test_snapshot_skips_options_the_kernel_lacks(
    tcp: socket.socket, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An option getsockopt refuses with ENOPROTOOPT is left out, not an error."""
    no_delay = options.describe("no_delay")
    bogus = attrs.evolve(no_delay, name="bogus", number=250)
    monkeypatch.setattr(_options, "OPTIONS", (*_options.OPTIONS, bogus))
    with pytest.raises(OSError, match="not available") as info:
        tcp.getsockopt(socket.IPPROTO_TCP, 250)
    assert info.value.errno == errno.ENOPROTOOPT
    assert "bogus" not in options.snapshot(tcp)


def test_snapshot_skips_unsupported_options(
    tcp: socket.socket, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An option whose constant this platform lacks is left out of a snapshot."""
    rows = tuple(
        attrs.evolve(row, number=None) if row.name == "cork" else row
        for row in _options.OPTIONS
    )
    monkeypatch.setattr(_options, "OPTIONS", rows)
    assert "cork" not in options.snapshot(tcp)


def test_snapshot_of_an_accepted_connection() -> None:
    """A connected socket's snapshot shows it established and not listening."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        with socket.create_connection(listener.getsockname()):
            server, _ = listener.accept()
            with server:
                values = options.snapshot(server)
    assert values["accepting"] is False
    assert values["info"].state is TcpState.ESTABLISHED


# --- what counts as a socket -------------------------------------------------


class HasSocket:
    """An aiosock-like object with a ``socket`` attribute."""

    def __init__(self, sock: Any) -> None:
        self.socket = sock


class HasFileno:
    """An object that only has ``fileno()``."""

    def __init__(self, fd: int) -> None:
        self.fd = fd

    def fileno(self) -> int:
        return self.fd


@pytest.mark.parametrize(
    "wrap",
    [
        lambda s: s.fileno(),
        HasSocket,
        lambda s: HasFileno(s.fileno()),
        lambda s: HasSocket(HasFileno(s.fileno())),
        asyncio.trsock.TransportSocket,
    ],
    ids=["fd", "has-socket", "has-fileno", "socket-with-fileno", "transport-socket"],
)
def test_socket_like_arguments(tcp: socket.socket, wrap: Any) -> None:
    """A descriptor or a duck-typed object reaches the same socket, which stays open."""
    target = wrap(tcp)
    options.set(target, no_delay=True)
    assert options.get(target, "no_delay") is True
    assert options.get(tcp, "no_delay") is True
    assert options.snapshot(target)["style"] is Style.STREAM
    assert OptionsView(target)["no_delay"] is True
    os.fstat(tcp.fileno())  # not closed by borrowing it
    assert options.get(tcp, "style") is Style.STREAM


def test_closed_socket_is_refused() -> None:
    """A closed socket raises ClosedResourceError, not a bare OSError."""
    sock = socket.socket()
    sock.close()
    for target in (sock, HasSocket(sock), -1, HasFileno(-1)):
        with pytest.raises(ClosedResourceError, match="expected an open socket"):
            options.get(target, "no_delay")


def test_descriptor_that_is_not_a_socket() -> None:
    """A pipe's descriptor raises ENOTSOCK and is left open."""
    read_fd, write_fd = os.pipe()
    try:
        with pytest.raises(OSError, match="non-socket") as info:
            options.get(read_fd, "no_delay")
        assert info.value.errno == errno.ENOTSOCK
        os.fstat(read_fd)
    finally:
        os.close(read_fd)
        os.close(write_fd)


@pytest.mark.parametrize("bad", ["3", None, True, 2.0, object()])
def test_wrong_socket_types(bad: object) -> None:
    """Anything that is not a socket, a descriptor or has one is a TypeError."""
    with pytest.raises(TypeError, match="expected a socket, a file descriptor"):
        options.get(bad, "no_delay")  # type: ignore[arg-type]


async def test_options_of_a_loop_transport() -> None:
    """A transport's socket works on each loop (both turn Nagle off by default)."""
    server = await asyncio.start_server(lambda r, w: w.close(), "127.0.0.1", 0)
    async with server:
        port = server.sockets[0].getsockname()[1]
        _, writer = await asyncio.open_connection("127.0.0.1", port)
        tsock = writer.get_extra_info("socket")
        assert options.get(tsock, "no_delay") is True
        view = OptionsView(tsock)
        view["keepalive"] = True
        assert view["keepalive"] is True
        assert view["info"].state in (TcpState.ESTABLISHED, TcpState.CLOSE_WAIT)
        writer.close()
        await writer.wait_closed()


# --- OptionsView ---------------------------------------------------------------


def test_view_reads_and_writes_the_socket(tcp: socket.socket) -> None:
    """view[name] reads and view[name] = value writes the live socket."""
    view = OptionsView(tcp)
    assert view["no_delay"] is False
    view["no_delay"] = True
    assert tcp.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) == 1
    assert view["no_delay"] is True


def test_view_keys_are_the_snapshot_names(tcp: socket.socket) -> None:
    """Iteration, len and in follow the names snapshot() reads."""
    view = OptionsView(tcp)
    assert list(view) == list(options.snapshot(tcp))
    assert len(view) == len(EXPECTED["tcp4"][1])
    assert "no_delay" in view
    assert "pass_credentials" not in view
    assert "error" not in view
    assert view["error"] == 0
    assert set(dict(view)) == set(view.snapshot())


@pytest.mark.parametrize("name", ["pass_credentials", "no_dealy", "v6_only"])
def test_view_missing_names_are_key_errors(tcp: socket.socket, name: str) -> None:
    """An inapplicable or unknown name is a KeyError chained to the OptionError."""
    view = OptionsView(tcp)
    with pytest.raises(KeyError) as info:
        view[name]
    assert isinstance(info.value.__cause__, OptionError)
    assert view.get(name, "default") == "default"


def test_view_refuses_deletion(tcp: socket.socket) -> None:
    """Options cannot be deleted: del and clear() raise TypeError."""
    view = OptionsView(tcp)
    with pytest.raises(TypeError, match="cannot be deleted"):
        del view["no_delay"]
    with pytest.raises(TypeError, match="cannot be deleted"):
        view.clear()


def test_view_update_is_all_or_nothing(tcp: socket.socket) -> None:
    """update() sets every option or, on a bad one, none."""
    view = OptionsView(tcp)
    with pytest.raises(OptionError, match="'ttl'"):
        view.update({"no_delay": True}, ttl=300)
    assert view["no_delay"] is False
    view.update([("no_delay", True)], keepalive=True)
    assert view["no_delay"] is True
    assert view["keepalive"] is True


def test_view_read_only_and_bad_values_are_option_errors(tcp: socket.socket) -> None:
    """Setting a read-only option or a bad value raises OptionError, not KeyError."""
    view = OptionsView(tcp)
    with pytest.raises(OptionError, match="read-only"):
        view["style"] = Style.DATAGRAM
    with pytest.raises(OptionError, match="expected a bool"):
        view["no_delay"] = "yes"


def test_view_repr_names_the_socket(tcp: socket.socket) -> None:
    """repr() shows what the view wraps."""
    assert repr(OptionsView(5)) == "OptionsView(5)"
    assert repr(OptionsView(tcp)).startswith("OptionsView(<socket.socket")
