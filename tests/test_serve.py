"""serve(): endpoints, handler failures, lifecycle, grace, limits, adopted sockets."""

from __future__ import annotations

import asyncio
import contextlib
import errno
import logging
import select
import socket
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

import aiosock
from aiosock import Inet6Address, InetAddress, LocalAddress, Namespace
from aiosock._core import _listeners, _server

from .conftest import HAVE_IPV6
from .log_helpers import logged
from .serve_helpers import Accepted, echo, echo_once, echo_server, warm_up

# -- endpoints ---------------------------------------------------------------


async def test_port_zero_is_resolved() -> None:
    """server.endpoints gives the port the kernel chose for port 0."""
    async with echo_server("tcp://127.0.0.1:0") as server:
        assert isinstance(server.endpoints, tuple)
        (endpoint,) = server.endpoints
        assert isinstance(endpoint, aiosock.Endpoint)
        address = endpoint.address
        assert isinstance(address, InetAddress)
        assert address.host == "127.0.0.1"
        assert address.port != 0
        assert address.port == server.sockets[0].getsockname()[1]
        async with await aiosock.connect(endpoint, timeout=5) as stream:
            await echo_once(stream)


async def test_any_address_binds_both_families_on_one_port(ipv6: None) -> None:
    """tcp://:0 binds IPv4 and IPv6 with the same kernel-chosen port."""
    async with echo_server("tcp://:0") as server:
        namespaces = sorted(e.namespace.name for e in server.endpoints)  # type: ignore[union-attr]
        assert namespaces == ["INET", "INET6"]
        ports = {e.address.port for e in server.endpoints}  # type: ignore[union-attr]
        assert len(ports) == 1
        (port,) = ports
        assert port != 0
        for target in (f"tcp://127.0.0.1:{port}", f"tcp://[::1]:{port}"):
            async with await aiosock.connect(target, timeout=5) as stream:
                await echo_once(stream, target.encode())


async def test_any_address_retries_a_port_taken_in_the_other_family(
    ipv6: None, monkeypatch: pytest.MonkeyPatch, open_fds: Callable[[], int]
) -> None:
    """tcp://:0 picks another shared port when the first is taken for one family."""
    real_listen = _listeners._listen
    refused: list[aiosock.Endpoint] = []

    def listen(endpoint: aiosock.Endpoint, **kw: Any) -> _listeners.Listener:
        if not refused:
            address = endpoint.address
            if isinstance(address, InetAddress | Inet6Address) and address.port != 0:
                refused.append(endpoint)
                raise OSError(errno.EADDRINUSE, "taken (simulated)")
        return real_listen(endpoint, **kw)

    monkeypatch.setattr(_listeners, "_listen", listen)
    await warm_up()
    before = open_fds()
    async with echo_server("tcp://:0") as server:
        assert len(refused) == 1
        ports = {e.address.port for e in server.endpoints}  # type: ignore[union-attr]
        assert len(server.endpoints) == 2
        assert len(ports) == 1
        for target in server.endpoints:
            async with await aiosock.connect(target, timeout=5) as stream:
                await echo_once(stream)
    assert open_fds() == before


async def test_mixed_namespaces_in_one_server(short_tmp: Path) -> None:
    """One server listens on TCP v4, TCP v6, a socket file and an abstract name."""
    path = str(short_tmp / "mixed.sock")
    abstract = f"aiosock-mixed-{id(object())}"
    endpoints = ["tcp://127.0.0.1:0", f"unix:{path}", f"unix:@{abstract}"]
    if HAVE_IPV6:
        endpoints.insert(1, "tcp://[::1]:0")
    async with echo_server(*endpoints) as server:
        assert len(server.endpoints) == len(endpoints)
        kinds = [type(e.address) for e in server.endpoints]
        assert kinds.count(InetAddress) == 1
        assert kinds.count(LocalAddress) == 2
        assert kinds.count(Inet6Address) == (1 if HAVE_IPV6 else 0)
        assert LocalAddress(path) in [e.address for e in server.endpoints]
        assert LocalAddress.abstract(abstract) in [e.address for e in server.endpoints]
        streams = [await aiosock.connect(e, timeout=5) for e in server.endpoints]
        for i, stream in enumerate(streams):
            await echo_once(stream, b"hello %d" % i)
        for stream in streams:
            await stream.aclose()


async def test_no_endpoint_is_an_error() -> None:
    """serve() with neither endpoints nor sock= raises ValueError."""
    with pytest.raises(ValueError, match="endpoint"):
        await aiosock.serve(echo)


async def test_wrong_style_endpoint_is_address_error() -> None:
    """serve() refuses datagram endpoints with AddressError."""
    with pytest.raises(aiosock.AddressError):
        await aiosock.serve(echo, "udp://127.0.0.1:0")


async def test_failed_bind_closes_earlier_listeners(
    open_fds: Callable[[], int],
) -> None:
    """When one endpoint cannot be bound, those bound before it are closed."""
    await warm_up()
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        port = taken.getsockname()[1]
        before = open_fds()
        with pytest.raises(OSError, match="in use") as info:
            await aiosock.serve(echo, "tcp://127.0.0.1:0", f"tcp://127.0.0.1:{port}")
        assert info.value.errno == errno.EADDRINUSE
        assert open_fds() == before


# -- handler failures ------------------------------------------------------------


async def test_handler_exception_is_logged_with_peer(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A handler's exception is logged with its peer; other connections go on."""

    class Boom(Exception):
        pass

    async def handler(stream: aiosock.Stream) -> None:
        async for chunk in stream:
            if chunk.startswith(b"boom"):
                raise Boom("handler failed on purpose")
            await stream.send(chunk)

    caplog.set_level(logging.INFO, logger="aiosock.server")
    async with await aiosock.serve(handler, "tcp://127.0.0.1:0") as server:
        target = server.endpoints[0]
        healthy = await aiosock.connect(target, timeout=5)
        doomed = await aiosock.connect(target, timeout=5)
        await echo_once(healthy, b"before")
        await doomed.send(b"boom")
        async with asyncio.timeout(5):
            # The handler's stream is closed after the failure: EOF here.
            assert await doomed.receive() == b""
        await echo_once(healthy, b"after")
        records = [
            r
            for r in caplog.records
            if r.name == "aiosock.server" and r.levelno >= logging.ERROR
        ]
        assert len(records) == 1
        record = records[0]
        assert str(doomed.local_address) in record.getMessage()
        assert record.exc_info is not None
        assert isinstance(record.exc_info[1], Boom)
        await healthy.aclose()
        await doomed.aclose()


async def test_handler_exception_after_eof_names_the_peer(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A handler failing after its peer has gone is still logged with the peer."""
    failed = asyncio.Event()

    async def handler(stream: aiosock.Stream) -> None:
        try:
            await stream.receive_exactly(100)  # the client sends 3 and closes
        finally:
            failed.set()

    caplog.set_level(logging.ERROR, logger="aiosock.server")
    async with await aiosock.serve(handler, "tcp://127.0.0.1:0") as server:
        client = await aiosock.connect(server.endpoints[0], timeout=5)
        where = str(client.local_address)
        await client.send(b"abc")
        await client.aclose()
        async with asyncio.timeout(5):
            await failed.wait()
    records = [r for r in caplog.records if r.name == "aiosock.server"]
    assert len(records) == 1
    assert where in records[0].getMessage()
    assert isinstance(records[0].exc_info[1], aiosock.IncompleteReadError)  # type: ignore[index]


async def test_handler_exception_after_reset_names_the_peer(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A handler failing after its peer reset the connection is logged with the peer."""
    failed = asyncio.Event()

    async def handler(stream: aiosock.Stream) -> None:
        try:
            await stream.send(b"ready")
            with contextlib.suppress(aiosock.BrokenResourceError):
                while await stream.receive():
                    pass
            raise RuntimeError("failing after the reset")
        finally:
            failed.set()

    caplog.set_level(logging.ERROR, logger="aiosock.server")
    async with await aiosock.serve(handler, "tcp://127.0.0.1:0") as server:
        client = await aiosock.connect(server.endpoints[0], timeout=5)
        where = str(client.local_address)
        async with asyncio.timeout(5):
            assert await client.receive_exactly(5) == b"ready"
            client.abort()
            await failed.wait()
    records = [r for r in caplog.records if r.name == "aiosock.server"]
    assert len(records) == 1
    assert where in records[0].getMessage()


async def test_handler_exception_on_unix_is_logged() -> None:
    """A failing handler on a socket file is logged too (unnamed peer)."""

    async def handler(stream: aiosock.Stream) -> None:
        raise RuntimeError("nope")

    with logged("aiosock.server", logging.ERROR) as log:
        name = f"aiosock-fail-{id(object())}"
        async with (
            await aiosock.serve(handler, f"unix:@{name}") as server,
            await aiosock.connect(server.endpoints[0], timeout=5) as s,
            asyncio.timeout(5),
        ):
            assert await s.receive() == b""
    assert len(log.records) == 1
    assert "peer" in log.messages[0]


# -- lifecycle -----------------------------------------------------------------


async def test_async_with_closes_the_server() -> None:
    """Leaving `async with server` stops it: the port refuses connections."""
    async with echo_server("tcp://127.0.0.1:0") as server:
        target = server.endpoints[0]
        assert server.is_serving()
    assert not server.is_serving()
    with pytest.raises(ConnectionRefusedError):
        await aiosock.connect(target, timeout=5)


async def test_serve_forever_returns_on_aclose() -> None:
    """serve_forever() returns once another task closes the server."""
    server = await aiosock.serve(echo, "tcp://127.0.0.1:0")
    forever = asyncio.create_task(server.serve_forever())
    async with await aiosock.connect(server.endpoints[0], timeout=5) as stream:
        await echo_once(stream)
    assert not forever.done()
    await server.aclose()
    async with asyncio.timeout(5):
        assert await forever is None


async def test_serve_forever_returns_on_close_while_connections_go_on() -> None:
    """close() ends serve_forever(), as it stops accepting; open connections go on."""
    server = await aiosock.serve(echo, "tcp://127.0.0.1:0")
    forever = asyncio.create_task(server.serve_forever())
    stream = await aiosock.connect(server.endpoints[0], timeout=5)
    async with stream:
        await echo_once(stream)
        assert not forever.done()
        server.close()
        async with asyncio.timeout(5):
            assert await forever is None
        await echo_once(stream)  # its connection is still served
        assert server.active_connections == 1
        # A later serve_forever() returns at once.
        async with asyncio.timeout(5):
            assert await server.serve_forever() is None
    await server.aclose(grace=5)
    assert server.active_connections == 0


async def test_serve_forever_cancelled_closes_the_server() -> None:
    """Cancelling the task in serve_forever() closes the server and its handlers."""
    server = await aiosock.serve(echo, "tcp://127.0.0.1:0")
    target = server.endpoints[0]
    forever = asyncio.create_task(server.serve_forever())
    stream = await aiosock.connect(target, timeout=5)
    await echo_once(stream)
    forever.cancel()
    with pytest.raises(asyncio.CancelledError):
        async with asyncio.timeout(5):
            await forever
    assert not server.is_serving()
    assert server.active_connections == 0
    async with asyncio.timeout(5):
        # The handler was cancelled and its connection aborted (a reset).
        with pytest.raises(aiosock.BrokenResourceError):
            await stream.receive()
    await stream.aclose()
    with pytest.raises(ConnectionRefusedError):
        await aiosock.connect(target, timeout=5)


async def test_wait_closed_waits_for_aclose() -> None:
    """wait_closed() returns once aclose() has finished."""
    server = await aiosock.serve(echo, "tcp://127.0.0.1:0")
    waiting = asyncio.create_task(server.wait_closed())
    await server.aclose()
    async with asyncio.timeout(5):
        await waiting


async def test_aclose_grace_lets_quick_handlers_finish() -> None:
    """aclose(grace) lets a handler finishing in time complete; its data arrives."""
    release = asyncio.Event()
    outcome: list[str] = []

    async def handler(stream: aiosock.Stream) -> None:
        await stream.send(b"hello ")
        await release.wait()
        await stream.send(b"goodbye")
        outcome.append("finished")

    server = await aiosock.serve(handler, "tcp://127.0.0.1:0")
    client = await aiosock.connect(server.endpoints[0], timeout=5)
    assert await client.receive_exactly(6) == b"hello "
    loop = asyncio.get_running_loop()
    start = loop.time()
    # The handler is still parked in release.wait() when aclose() begins.
    release.set()
    await server.aclose(grace=10)
    assert loop.time() - start < 5  # returned as soon as the handler did
    assert outcome == ["finished"]
    async with asyncio.timeout(5):
        assert await client.receive_exactly(7) == b"goodbye"
        assert await client.receive() == b""
    await client.aclose()


async def test_aclose_grace_cancels_slow_handlers() -> None:
    """A handler exceeding grace is cancelled; its client sees EOF or a reset."""
    release = asyncio.Event()
    fast_parked = asyncio.Event()
    outcome: dict[str, str] = {}
    served = Accepted()

    async def handler(stream: aiosock.Stream) -> None:
        kind = await stream.receive_exactly(4)
        if kind == b"fast":
            fast_parked.set()
            await release.wait()
            await stream.send(b"done")
            outcome["fast"] = "finished"
            return
        try:
            await served(stream)
        except asyncio.CancelledError:
            outcome["slow"] = "cancelled"
            raise

    server = await aiosock.serve(handler, "tcp://127.0.0.1:0")
    fast = await aiosock.connect(server.endpoints[0], timeout=5)
    slow = await aiosock.connect(server.endpoints[0], timeout=5)
    await slow.send(b"slow")
    await served.get()
    await fast.send(b"fast")
    async with asyncio.timeout(5):
        await fast_parked.wait()
    loop = asyncio.get_running_loop()
    release.set()
    start = loop.time()
    await server.aclose(grace=0.5)
    elapsed = loop.time() - start
    assert 0.4 <= elapsed < 5
    assert outcome == {"fast": "finished", "slow": "cancelled"}
    assert server.active_connections == 0
    async with asyncio.timeout(5):
        assert await fast.receive_exactly(4) == b"done"
        assert await fast.receive() == b""
        with contextlib.suppress(aiosock.BrokenResourceError):  # a reset is fine
            assert await slow.receive() == b""
    await fast.aclose()
    await slow.aclose()


async def test_handler_may_close_its_own_server() -> None:
    """A handler can await server.aclose() (a shutdown command) without deadlock."""
    servers: list[aiosock.Server] = []
    others_cancelled = asyncio.Event()

    async def handler(stream: aiosock.Stream) -> None:
        command = await stream.receive_exactly(4)
        if command == b"stop":
            await servers[0].aclose(grace=0.1)
            await stream.send(b"stopped")
            return
        try:
            await stream.send(b"idle")
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            others_cancelled.set()
            raise

    server = await aiosock.serve(handler, "tcp://127.0.0.1:0")
    servers.append(server)
    forever = asyncio.create_task(server.serve_forever())
    idle = await aiosock.connect(server.endpoints[0], timeout=5)
    await idle.send(b"wait")
    admin = await aiosock.connect(server.endpoints[0], timeout=5)
    async with asyncio.timeout(5):
        assert await idle.receive_exactly(4) == b"idle"
        await admin.send(b"stop")
        assert await admin.receive_exactly(7) == b"stopped"
        assert await admin.receive() == b""
        await forever
        await others_cancelled.wait()
    assert not server.is_serving()
    await server.aclose()  # from outside as well: waits for the stopping handler
    assert server.active_connections == 0
    await idle.aclose()
    await admin.aclose()


async def test_aclose_says_when_a_handler_ignores_its_cancellation(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A handler that swallows CancelledError holds aclose() up: one warning says so."""
    monkeypatch.setattr(_server, "_STUCK_AFTER", 0.05)
    started, release = asyncio.Event(), asyncio.Event()

    async def stubborn(stream: aiosock.Stream) -> None:
        started.set()
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            await release.wait()  # goes on, until the test lets it end

    server = await aiosock.serve(stubborn, "tcp://127.0.0.1:0")
    client = await aiosock.connect(server.endpoints[0], timeout=5)
    with logged("aiosock.server") as log:
        async with client, asyncio.timeout(5):
            await started.wait()
            closing = asyncio.ensure_future(server.aclose())
            await log.seen.wait()
            assert not closing.done()
            release.set()
            await closing
    assert len(log.records) == 1, log.messages
    assert "still waits for 1 connection(s)" in log.messages[0]


async def test_aclose_is_idempotent() -> None:
    """aclose() may be called again, and concurrently, without error."""
    server = await aiosock.serve(echo, "tcp://127.0.0.1:0")
    stream = await aiosock.connect(server.endpoints[0], timeout=5)
    await echo_once(stream)
    async with asyncio.timeout(5):
        await asyncio.gather(server.aclose(), server.aclose(grace=1))
        await server.aclose()
        await server.aclose(grace=1)
    server.close()
    assert not server.is_serving()
    await stream.aclose()


async def test_nothing_listens_and_nothing_leaks_after_aclose(
    short_tmp: Path, open_fds: Callable[[], int]
) -> None:
    """After aclose() every endpoint refuses and every descriptor is closed."""
    await warm_up()
    before = open_fds()
    path = str(short_tmp / "gone.sock")
    server = await aiosock.serve(echo, "tcp://127.0.0.1:0", f"unix:{path}")
    tcp = server.endpoints[0]
    clients = [await aiosock.connect(e, timeout=5) for e in server.endpoints * 3]
    for client in clients:
        await echo_once(client)
    await server.aclose()
    for client in clients:
        await client.aclose()
    with pytest.raises(ConnectionRefusedError):
        await aiosock.connect(tcp, timeout=5)
    with pytest.raises(FileNotFoundError):
        await aiosock.connect(f"unix:{path}", timeout=5)
    assert open_fds() == before


async def test_handler_return_closes_stream_and_frees_slot() -> None:
    """When a handler returns, its stream is closed and active_connections drops."""
    done = asyncio.Event()

    async def handler(stream: aiosock.Stream) -> None:
        await stream.send(b"bye")
        done.set()

    async with await aiosock.serve(handler, "tcp://127.0.0.1:0") as server:
        async with await aiosock.connect(server.endpoints[0], timeout=5) as client:
            async with asyncio.timeout(5):
                assert await client.receive_exactly(3) == b"bye"
                assert await client.receive() == b""
        assert done.is_set()
        assert server.accepted_connections == 1


# -- max_connections -------------------------------------------------------------


async def test_max_connections_defers_the_third_client() -> None:
    """max_connections=2: a third client waits in the backlog until a slot frees."""
    served = Accepted()
    peak = 0
    server_ref: list[aiosock.Server] = []

    async def handler(stream: aiosock.Stream) -> None:
        nonlocal peak
        peak = max(peak, server_ref[0].active_connections)
        await served(stream)

    async with await aiosock.serve(
        handler, "tcp://127.0.0.1:0", max_connections=2
    ) as server:
        server_ref.append(server)
        target = server.endpoints[0]
        first = await aiosock.connect(target, timeout=5)
        second = await aiosock.connect(target, timeout=5)
        served_first = await served.get()
        served_second = await served.get()
        assert server.active_connections == 2
        third = await aiosock.connect(target, timeout=5)  # the kernel's backlog
        await third.send(b"waiting")
        # A round trip on a served connection makes the loop poll its sockets at
        # least once after the third client connected: it was not accepted.
        await first.send(b"ping")
        assert await served_first.receive_exactly(4) == b"ping"
        await served_first.send(b"pong")
        assert await first.receive_exactly(4) == b"pong"
        assert server.accepted_connections == 2
        assert server.active_connections == 2
        assert served.queue.empty()
        readable, _, _ = select.select([server.sockets[0]], [], [], 0)
        assert readable, "the third connection should wait in the accept queue"
        # Free one slot: the third client is served.
        served.release(served_first)
        served_third = await served.get()
        assert await served_third.receive_exactly(7) == b"waiting"
        assert server.accepted_connections == 3
        assert server.active_connections == 2
        assert peak <= 2
        served.release_all()
        for client in (first, second, third):
            await client.aclose()
        del served_second


async def test_max_connections_must_be_positive(
    open_fds: Callable[[], int],
) -> None:
    """max_connections=0 raises ValueError and leaves no listener open."""
    await warm_up()
    before = open_fds()
    with pytest.raises(ValueError, match="max_connections"):
        await aiosock.serve(echo, "tcp://127.0.0.1:0", max_connections=0)
    assert open_fds() == before


async def test_max_connections_resumes_after_many_cycles() -> None:
    """With max_connections=1, ten clients in turn are each served."""
    async with echo_server("tcp://127.0.0.1:0", max_connections=1) as server:
        for i in range(10):
            async with await aiosock.connect(server.endpoints[0], timeout=5) as c:
                await echo_once(c, b"n%d" % i)
        assert server.accepted_connections == 10


# -- adopted sockets and reuse_port ---------------------------------------------


async def test_serve_adopts_a_listening_socket() -> None:
    """serve(handler, sock=...) serves a listening socket (as systemd passes them)."""
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.bind(("127.0.0.1", 0))
    listener.listen(16)
    address = listener.getsockname()
    async with echo_server(sock=listener) as server:
        assert server.endpoints[0].address == InetAddress(*address)
        async with await aiosock.connect(server.endpoints[0], timeout=5) as stream:
            await echo_once(stream)
    assert listener.fileno() == -1  # the server owned it and closed it


async def test_serve_adopts_several_sockets_and_endpoints(short_tmp: Path) -> None:
    """sock= takes a list, and endpoints can be given alongside."""
    inet = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    inet.bind(("127.0.0.1", 0))
    inet.listen(8)
    unix = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    unix.bind(str(short_tmp / "adopted.sock"))
    unix.listen(8)
    async with echo_server("tcp://127.0.0.1:0", sock=[inet, unix]) as server:
        assert len(server.endpoints) == 3
        assert server.endpoints[1].address == LocalAddress(
            str(short_tmp / "adopted.sock")
        )
        for endpoint in server.endpoints:
            async with await aiosock.connect(endpoint, timeout=5) as stream:
                await echo_once(stream)


async def test_non_listening_socket_is_address_error() -> None:
    """sock= with a socket that is not listening raises AddressError."""
    with socket.socket() as bound:
        bound.bind(("127.0.0.1", 0))
        with pytest.raises(aiosock.AddressError):
            await aiosock.serve(echo, sock=bound)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as datagram:
        datagram.bind(("127.0.0.1", 0))
        with pytest.raises(aiosock.AddressError):
            await aiosock.serve(echo, sock=datagram)


async def test_reuse_port_lets_two_servers_share_a_port() -> None:
    """options={"reuse_port": True} lets two servers bind the same port."""
    options = {"reuse_port": True}
    async with echo_server("tcp://127.0.0.1:0", options=options) as first:
        port = first.endpoints[0].address.port  # type: ignore[union-attr]
        target = f"tcp://127.0.0.1:{port}"
        async with echo_server(target, options=options) as second:
            assert second.endpoints[0] == first.endpoints[0]
            for _ in range(4):
                async with await aiosock.connect(target, timeout=5) as stream:
                    await echo_once(stream)
            assert first.accepted_connections + second.accepted_connections == 4


async def test_without_reuse_port_a_second_server_is_refused() -> None:
    """Without reuse_port a second bind to a live port fails with EADDRINUSE."""
    async with echo_server("tcp://127.0.0.1:0") as first:
        with pytest.raises(OSError, match="in use") as info:
            await aiosock.serve(echo, first.endpoints[0])
        assert info.value.errno == errno.EADDRINUSE


async def test_server_repr_and_counters() -> None:
    """repr() names the endpoints and state; accepted_connections counts."""
    async with echo_server("tcp://127.0.0.1:0") as server:
        assert "serving" in repr(server)
        assert str(server.endpoints[0]) in repr(server)
        async with await aiosock.connect(server.endpoints[0], timeout=5) as c:
            await echo_once(c)
        assert server.accepted_connections == 1
    assert "closed" in repr(server)


async def test_server_inherits_nothing_across_namespaces(short_tmp: Path) -> None:
    """TCP-only options in a server with a Unix endpoint apply where they fit."""
    options = {"no_delay": True}
    async with echo_server(
        "tcp://127.0.0.1:0", f"unix:{short_tmp}/o.sock", options=options
    ) as server:
        assert server.endpoints[1].namespace is Namespace.LOCAL
        for endpoint in server.endpoints:
            async with await aiosock.connect(endpoint, timeout=5) as stream:
                await echo_once(stream)


async def test_peer_reset_in_handler_is_not_an_error(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A handler ended by the peer's reset is logged at INFO, not as an error."""
    finished = asyncio.Event()

    async def handler(stream: aiosock.Stream) -> None:
        try:
            await stream.send(b"ready")
            while await stream.receive():
                pass
        finally:
            finished.set()

    caplog.set_level(logging.INFO, logger="aiosock.server")
    async with await aiosock.serve(handler, "tcp://127.0.0.1:0") as server:
        client = await aiosock.connect(server.endpoints[0], timeout=5)
        async with asyncio.timeout(5):
            assert await client.receive_exactly(5) == b"ready"
            client.abort()  # an RST
            await finished.wait()
        async with await aiosock.connect(server.endpoints[0], timeout=5) as other:
            assert await other.receive_exactly(5) == b"ready"
    server_records = [r for r in caplog.records if r.name == "aiosock.server"]
    assert not [r for r in server_records if r.levelno >= logging.WARNING]
    assert any("broken" in r.getMessage() for r in server_records)


async def test_aclose_returns_with_connections_closed(
    open_fds: Callable[[], int],
) -> None:
    """When aclose() returns, the server's side of every connection is closed."""
    started: asyncio.Queue[aiosock.Stream] = asyncio.Queue()

    async def handler(stream: aiosock.Stream) -> None:
        await started.put(stream)
        await asyncio.Event().wait()  # until cancelled

    await warm_up()
    server = await aiosock.serve(handler, "tcp://127.0.0.1:0")
    address = server.sockets[0].getsockname()
    before = open_fds()  # the listener included
    # Plain blocking clients: nothing of theirs runs on the loop.
    clients = [socket.create_connection(address, timeout=5) for _ in range(4)]
    try:
        async with asyncio.timeout(5):
            for _ in clients:
                await started.get()
        assert open_fds() == before + 2 * len(clients)
        await server.aclose()
        assert open_fds() == before + len(clients) - 1
    finally:
        for client in clients:
            client.close()


async def test_connection_cancelled_before_its_first_step_closes_the_socket(
    open_fds: Callable[[], int],
) -> None:
    """A connection accepted and cancelled in the same loop iteration leaks no fd."""
    import socket as socket_module

    async def handler(stream: aiosock.Stream) -> None:
        raise AssertionError("the handler must not run")

    before = open_fds()
    server = await aiosock.serve(handler, "tcp://127.0.0.1:0")
    client = socket_module.create_connection(server.endpoints[0].address.to_sockaddr())
    try:
        # The handshake is complete, so the connection waits in the backlog:
        # accept it by hand and close the server before its task takes a step.
        server._pause()
        server._accept(server._listeners[0])
        assert server.accepted_connections == 1
        await server.aclose()
    finally:
        client.close()
    assert open_fds() == before
