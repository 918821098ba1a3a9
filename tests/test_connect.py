"""connect(): errors keep their OSError class, timeouts, and happy eyeballs."""

from __future__ import annotations

import asyncio
import contextlib
import errno
import socket
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

import aiosock
from aiosock import Endpoint, Inet6Address, InetAddress, LocalAddress, Namespace, Style
from aiosock._core import _connect
from aiosock._foundation import _resolve

from .conftest import HAVE_IPV6
from .serve_helpers import (
    closed_port,
    echo_once,
    echo_server,
    unaccepting_listener,
    warm_up,
)

# -- errors ------------------------------------------------------------------


async def test_refused_keeps_class() -> None:
    """Connecting to a closed TCP port raises ConnectionRefusedError."""
    port = closed_port()
    with pytest.raises(ConnectionRefusedError) as info:
        await aiosock.connect(f"tcp://127.0.0.1:{port}", timeout=5)
    assert info.value.errno is not None


async def test_refused_names_the_host_name_and_the_address_tried() -> None:
    """The endpoint as written and the address that refused are both named."""
    port = closed_port()
    with pytest.raises(ConnectionRefusedError) as info:
        await aiosock.connect(f"tcp://localhost:{port}", timeout=5)
    assert f"(connect to tcp://localhost:{port} (tcp://" in str(info.value)
    # A service name is named as written, scheme too (it parsed as tcp4).
    with pytest.raises(ConnectionRefusedError) as info:
        await aiosock.connect("tcp://127.0.0.1:tcpmux", timeout=5)
    assert "(connect to tcp://127.0.0.1:tcpmux (tcp://127.0.0.1:1))" in str(info.value)
    # A literal address is named once.
    with pytest.raises(ConnectionRefusedError) as info:
        await aiosock.connect(f"tcp://127.0.0.1:{port}", timeout=5)
    assert str(info.value).endswith(f"(connect to tcp://127.0.0.1:{port})")


async def test_refused_ipv6_keeps_class(ipv6: None) -> None:
    """Connecting to a closed TCP port on ::1 raises ConnectionRefusedError."""
    port = closed_port("::1")
    with pytest.raises(ConnectionRefusedError):
        await aiosock.connect(f"tcp://[::1]:{port}", timeout=5)


async def test_missing_unix_path_is_file_not_found(short_tmp: Path) -> None:
    """Connecting to a Unix path that does not exist raises FileNotFoundError."""
    with pytest.raises(FileNotFoundError):
        await aiosock.connect(f"unix:{short_tmp}/nothing.sock", timeout=5)


async def test_unix_file_without_listener_is_refused(short_tmp: Path) -> None:
    """A socket file with nobody listening behind it refuses the connection."""
    path = str(short_tmp / "stale.sock")
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
        s.bind(path)
    with pytest.raises(ConnectionRefusedError):
        await aiosock.connect(f"unix:{path}", timeout=5)


async def test_missing_abstract_name_is_refused() -> None:
    """An abstract name nobody listens on refuses the connection."""
    name = f"aiosock-none-{id(object())}"
    with pytest.raises(ConnectionRefusedError):
        await aiosock.connect(f"unix:@{name}", timeout=5)


async def test_timeout_when_syn_is_dropped(open_fds: Callable[[], int]) -> None:
    """timeout= raises TimeoutError when the peer never answers, leaking nothing."""
    await warm_up()
    with unaccepting_listener() as (host, port):
        before = open_fds()
        loop = asyncio.get_running_loop()
        start = loop.time()
        with pytest.raises(TimeoutError):
            await aiosock.connect(f"tcp://{host}:{port}", timeout=0.3)
        assert loop.time() - start < 3
        assert open_fds() == before


@contextlib.contextmanager
def full_unix_listener(path: str) -> Iterator[socket.socket]:
    """A Unix listener at ``path`` whose backlog is full (connect gets EAGAIN)."""
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    fillers: list[socket.socket] = []
    try:
        listener.bind(path)
        listener.listen(0)
        for _ in range(8):
            filler = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            filler.setblocking(False)
            try:
                filler.connect(path)
            except BlockingIOError:
                filler.close()
                break
            fillers.append(filler)
        else:
            pytest.fail("the backlog of a Unix listener never filled")
        yield listener
    finally:
        for filler in fillers:
            filler.close()
        listener.close()


async def test_unix_full_backlog_is_not_a_connection(
    short_tmp: Path, open_fds: Callable[[], int]
) -> None:
    """A Unix listener with a full backlog: connect waits (timeout applies)."""
    path = str(short_tmp / "full.sock")
    await warm_up()
    with full_unix_listener(path):
        before = open_fds()
        with pytest.raises(TimeoutError) as info:
            await aiosock.connect(f"unix:{path}", timeout=0.3)
        assert open_fds() == before
    # The message names what timed out, as the caller wrote it.
    assert str(info.value) == (
        f"connect to unix:{path}: not connected within 0.3 s (timeout)"
    )


async def test_unix_connect_completes_when_backlog_frees(short_tmp: Path) -> None:
    """A connect waiting on a full Unix backlog completes once the server accepts."""
    path = str(short_tmp / "frees.sock")
    with full_unix_listener(path) as listener:
        connecting = asyncio.ensure_future(aiosock.connect(f"unix:{path}"))
        # One round trip through the loop: the task has met the full backlog.
        a, b = await aiosock.stream_pair()
        async with a, b, asyncio.timeout(5):
            await a.send(b"turn")
            assert await b.receive_exactly(4) == b"turn"
        assert not connecting.done()
        listener.settimeout(5)
        first, _ = listener.accept()  # a filler: frees a place in the backlog
        first.close()
        async with asyncio.timeout(5):
            stream = await connecting
        async with stream:
            ours, _ = listener.accept()
            with ours:
                await stream.send(b"made it")
                ours.settimeout(5)
                assert ours.recv(16) == b"made it"
                assert stream.peer_address == LocalAddress(path)


async def test_timeout_covers_resolution(monkeypatch: pytest.MonkeyPatch) -> None:
    """timeout= also bounds name resolution, not just the connection."""
    started = asyncio.Event()

    async def never(endpoint: Endpoint, *, passive: bool = False) -> tuple[()]:
        started.set()
        await asyncio.Event().wait()
        raise AssertionError("unreachable")

    monkeypatch.setattr(_resolve, "resolve_endpoint", never)
    with pytest.raises(TimeoutError):
        await aiosock.connect("tcp://slow.invalid:80", timeout=0.3)
    assert started.is_set()


async def test_timeout_none_still_connects() -> None:
    """timeout=None (the default) connects normally."""
    async with (
        echo_server("tcp://127.0.0.1:0") as server,
        await aiosock.connect(server.endpoints[0]) as stream,
    ):
        await echo_once(stream)


@pytest.mark.parametrize(
    "endpoint",
    [
        "udp://127.0.0.1:9",
        "unixgram:/tmp/x.sock",
        "tcp://127.0.0.1:99999",
        "tcp://[::1",
        "nonsense",
    ],
)
async def test_bad_or_wrong_style_endpoint_is_address_error(endpoint: str) -> None:
    """A malformed endpoint or one of another style raises AddressError."""
    with pytest.raises(aiosock.AddressError):
        await aiosock.connect(endpoint, timeout=5)


async def test_unresolvable_host_is_resolution_error() -> None:
    """A host name that resolves to nothing raises ResolutionError (an OSError)."""
    with pytest.raises(aiosock.ResolutionError) as info:
        await aiosock.connect("tcp://no-such-host.invalid:80", timeout=10)
    assert isinstance(info.value, OSError)
    assert isinstance(info.value, aiosock.AddressError)


async def test_resolution_error_names_the_endpoint_as_written() -> None:
    """An unknown service is reported in the caller's spelling (tcp://, not tcp4://)."""
    with pytest.raises(aiosock.ResolutionError) as info:
        await aiosock.connect("tcp://127.0.0.1:nosuchservice", timeout=10)
    assert info.value.text == "tcp://127.0.0.1:nosuchservice"
    assert "'tcp://127.0.0.1:nosuchservice'" in str(info.value)
    assert info.value.errno is not None  # the resolver's, kept


async def test_connect_accepts_typed_values() -> None:
    """connect() takes Endpoints, addresses and (host, port) tuples alike."""
    async with echo_server("tcp://127.0.0.1:0") as server:
        endpoint = server.endpoints[0]
        address = endpoint.address
        assert isinstance(address, InetAddress)
        for target in (endpoint, address, ("127.0.0.1", address.port), str(endpoint)):
            async with await aiosock.connect(target, timeout=5) as stream:
                await echo_once(stream)


async def test_connect_with_local_address() -> None:
    """local= binds the client socket before connecting."""
    async with echo_server("tcp://127.0.0.1:0") as server:
        local_port = closed_port()
        stream = await aiosock.connect(
            server.endpoints[0], local=f"tcp://127.0.0.1:{local_port}", timeout=5
        )
        async with stream:
            assert stream.local_address == InetAddress("127.0.0.1", local_port)
            await echo_once(stream)


async def test_connect_unix_with_local_name(short_tmp: Path) -> None:
    """local= names a Unix client socket: the server sees it as the peer."""
    served: asyncio.Queue[aiosock.Stream] = asyncio.Queue()

    async def handler(stream: aiosock.Stream) -> None:
        await served.put(stream)
        await stream.receive()

    name = f"aiosock-client-{id(object())}"
    path = str(short_tmp / "named.sock")
    async with await aiosock.serve(handler, f"unix:{path}"):
        stream = await aiosock.connect(f"unix:{path}", local=f"unix:@{name}", timeout=5)
        async with stream, asyncio.timeout(5):
            assert stream.local_address == LocalAddress.abstract(name)
            peer = await served.get()
            assert peer.peer_address == LocalAddress.abstract(name)


async def test_a_failed_local_bind_names_the_local_address() -> None:
    """A local= that cannot be bound: the error keeps its class, names local=."""
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        async with echo_server("tcp://127.0.0.1:0") as server:
            with pytest.raises(OSError, match="Address already in use") as info:
                await aiosock.connect(
                    server.endpoints[0], local=f"tcp://127.0.0.1:{port}", timeout=5
                )
    assert info.value.errno == errno.EADDRINUSE
    assert f"(bind tcp://127.0.0.1:{port} to connect to " in str(info.value)


@pytest.mark.parametrize(
    ("keyword", "value"),
    [
        ("timeout", -1),
        ("timeout", "1"),
        ("timeout", True),
        ("happy_eyeballs_delay", -0.5),
        ("happy_eyeballs_delay", float("nan")),
        ("happy_eyeballs_delay", None),
    ],
)
async def test_bad_durations_are_refused(keyword: str, value: object) -> None:
    """A timeout or delay that is not a number of seconds is a ValueError naming it."""
    kwargs: dict[str, Any] = {keyword: value}
    with pytest.raises(ValueError, match=f"'{keyword}' must be a number of seconds"):
        await aiosock.connect("tcp://127.0.0.1:1", **kwargs)
    with pytest.raises(ValueError, match=f"'{keyword}' must be a number of seconds"):
        await aiosock.connect_protocol(asyncio.Protocol, "tcp://127.0.0.1:1", **kwargs)


async def test_local_in_another_namespace_is_address_error() -> None:
    """A local address in no namespace of the target raises AddressError."""
    with pytest.raises(aiosock.AddressError, match="local address"):
        await aiosock.connect(
            f"tcp://127.0.0.1:{closed_port()}", local="unix:@x", timeout=5
        )
    with pytest.raises(aiosock.AddressError, match="local address"):
        await aiosock.connect(
            f"tcp://127.0.0.1:{closed_port()}", local="tcp://[::1]:0", timeout=5
        )


async def test_connect_with_options() -> None:
    """options= are set on the socket before it connects."""
    async with echo_server("tcp://127.0.0.1:0") as server:
        stream = await aiosock.connect(
            server.endpoints[0], options={"no_delay": True}, timeout=5
        )
        async with stream:
            sock = stream.socket
            assert sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY)


# -- happy eyeballs -----------------------------------------------------------


def _v4(port: int) -> Endpoint:
    return Endpoint(Style.STREAM, Namespace.INET, InetAddress("127.0.0.1", port))


def _v6(port: int, host: str = "::1") -> Endpoint:
    return Endpoint(Style.STREAM, Namespace.INET6, Inet6Address(host, port))


def test_interleave_alternates_families() -> None:
    """interleave() alternates families from the first one, keeping each's order."""
    a, b, c = _v6(1), _v6(2), _v6(3)
    x, y = _v4(10), _v4(11)
    assert _connect.interleave([a, b, c, x, y]) == [a, x, b, y, c]
    assert _connect.interleave([x, a, b, c]) == [x, a, b, c]
    assert _connect.interleave([x, y]) == [x, y]
    assert _connect.interleave([]) == []


@pytest.mark.skipif(not HAVE_IPV6, reason="IPv6 loopback (::1) cannot be bound")
async def test_happy_eyeballs_falls_back_after_refusal(
    monkeypatch: pytest.MonkeyPatch, open_fds: Callable[[], int]
) -> None:
    """A name giving [::1 (refused), 127.0.0.1 (listening)] connects to the second."""
    await warm_up()
    before = open_fds()
    async with echo_server("tcp://127.0.0.1:0") as server:
        address = server.endpoints[0].address
        assert isinstance(address, InetAddress)
        port = address.port
        seen: list[Endpoint] = []

        async def fake(
            endpoint: Endpoint, *, passive: bool = False
        ) -> tuple[Endpoint, ...]:
            seen.append(endpoint)
            return (_v6(closed_port("::1")), _v4(port))

        monkeypatch.setattr(_resolve, "resolve_endpoint", fake)
        stream = await aiosock.connect(
            f"tcp://localhost:{port}", timeout=5, happy_eyeballs_delay=2
        )
        async with stream:
            assert stream.peer_address == InetAddress("127.0.0.1", port)
            await echo_once(stream)
        assert seen
    assert open_fds() == before


async def test_happy_eyeballs_races_past_a_silent_address(
    open_fds: Callable[[], int],
) -> None:
    """An address that never answers is raced after the delay; its socket is closed."""
    await warm_up()
    before = open_fds()
    loop = asyncio.get_running_loop()
    async with echo_server("tcp://127.0.0.1:0") as server:
        good = server.endpoints[0]
        assert isinstance(good.address, InetAddress)
        with unaccepting_listener() as (_host, silent_port):
            start = loop.time()
            sock = await asyncio.wait_for(
                _connect._race([(_v4(silent_port), None), (good, None)], {}, 0.1),
                5,
            )
            elapsed = loop.time() - start
            with sock:
                assert sock.getpeername() == good.address.to_sockaddr()
            assert elapsed >= 0.1
    assert open_fds() == before


@pytest.mark.skipif(not HAVE_IPV6, reason="IPv6 loopback (::1) cannot be bound")
async def test_happy_eyeballs_all_refused_raises_first_with_notes(
    monkeypatch: pytest.MonkeyPatch, open_fds: Callable[[], int]
) -> None:
    """When every address refuses, ConnectionRefusedError is raised; no fd leaks."""
    v6, v4 = _v6(closed_port("::1")), _v4(closed_port())

    async def fake(
        endpoint: Endpoint, *, passive: bool = False
    ) -> tuple[Endpoint, ...]:
        return (v6, v4)

    monkeypatch.setattr(_resolve, "resolve_endpoint", fake)
    await warm_up()
    before = open_fds()
    with pytest.raises(ConnectionRefusedError) as info:
        await aiosock.connect("tcp://localhost:1", timeout=5)
    assert any("also:" in note for note in getattr(info.value, "__notes__", []))
    assert open_fds() == before


async def test_happy_eyeballs_timeout_closes_every_attempt(
    open_fds: Callable[[], int],
) -> None:
    """A timeout while several attempts are pending closes all their sockets."""
    await warm_up()
    with (
        unaccepting_listener() as (_h, port_a),
        unaccepting_listener() as (_h2, port_b),
    ):
        before = open_fds()
        with pytest.raises(TimeoutError):
            async with asyncio.timeout(0.4):
                await _connect._race(
                    [(_v4(port_a), None), (_v4(port_b), None)], {}, 0.05
                )
        assert open_fds() == before
