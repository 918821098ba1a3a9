"""serve_datagram: handlers per datagram, concurrency bound, lifecycle."""

from __future__ import annotations

import asyncio
import contextvars
import logging
import os
import socket
from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest

import aiosock

from .conftest import HAVE_IPV6
from .log_helpers import logged

TIMEOUT = 10

request_id: contextvars.ContextVar[int] = contextvars.ContextVar(
    "request_id", default=0
)


async def echo_upper(
    data: bytes, address: object, sock: aiosock.DatagramSocket
) -> None:
    await sock.send_to(data.upper(), address)  # type: ignore[arg-type]


async def _ask(server: aiosock.DatagramServer, *messages: bytes) -> list[bytes]:
    async with await aiosock.open_datagram(remote=server.endpoints[0]) as client:
        for message in messages:
            await client.send(message)
        async with asyncio.timeout(TIMEOUT):
            return [await client.receive() for _ in messages]


async def test_echo_over_udp4() -> None:
    """Every datagram gets its own handler call; replies come from the bound socket."""
    async with await aiosock.serve_datagram(echo_upper, "udp://127.0.0.1:0") as server:
        assert server.is_serving()
        replies = await _ask(server, b"a", b"bb", b"ccc")
        assert sorted(replies) == [b"A", b"BB", b"CCC"]
        clients = [
            await aiosock.open_datagram(remote=server.endpoints[0]) for _ in range(10)
        ]
        for i, client in enumerate(clients):
            await client.send(b"c%d" % i)
        async with asyncio.timeout(TIMEOUT):
            for i, client in enumerate(clients):
                assert await client.receive() == b"C%d" % i
                await client.aclose()
    assert not server.is_serving()


async def test_handlers_run_in_a_task_with_their_own_context() -> None:
    """Handlers see a real current task, asyncio.timeout works, contexts are fresh."""
    seen: list[tuple[bool, int]] = []

    async def handler(
        data: bytes, address: object, sock: aiosock.DatagramSocket
    ) -> None:
        seen.append((asyncio.current_task() is not None, request_id.get()))
        request_id.set(int(data))
        if data == b"2":
            async with asyncio.timeout(TIMEOUT):
                await asyncio.sleep(0)
        try:
            async with asyncio.timeout(0):
                await asyncio.Event().wait()
        except TimeoutError:
            pass
        assert request_id.get() == int(data)
        await sock.send_to(data, address)  # type: ignore[arg-type]

    async with await aiosock.serve_datagram(handler, "udp://127.0.0.1:0") as server:
        replies = await _ask(server, b"1", b"2", b"3")
    assert sorted(replies) == [b"1", b"2", b"3"]
    assert seen == [(True, 0)] * 3


async def test_handler_errors_are_logged_and_isolated(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A handler that raises is logged with the sender; the next datagram is served."""

    async def handler(
        data: bytes, address: object, sock: aiosock.DatagramSocket
    ) -> None:
        if data == b"boom":
            raise RuntimeError("boom")
        if data == b"later":
            await asyncio.sleep(0)
            raise RuntimeError("later")
        await sock.send_to(b"ok", address)  # type: ignore[arg-type]

    caplog.set_level(logging.ERROR, logger="aiosock.server")
    server = await aiosock.serve_datagram(handler, "udp://127.0.0.1:0")
    async with (
        server,
        await aiosock.open_datagram(remote=server.endpoints[0]) as client,
    ):
        sender = str(client.local_address)
        await client.send(b"boom")
        await client.send(b"later")
        await client.send(b"fine")
        async with asyncio.timeout(TIMEOUT):
            assert await client.receive() == b"ok"
    messages = [r.getMessage() for r in caplog.records]
    assert sum("raised" in m and sender in m for m in messages) == 2


async def test_max_concurrent_bounds_running_handlers() -> None:
    """At most max_concurrent handlers run; the rest wait and are served later."""
    release = asyncio.Event()
    running = 0
    peak = 0
    arrived = asyncio.Event()

    async def handler(
        data: bytes, address: object, sock: aiosock.DatagramSocket
    ) -> None:
        nonlocal running, peak
        running += 1
        peak = max(peak, running)
        if running == 3:
            arrived.set()
        try:
            await release.wait()
        finally:
            running -= 1
        await sock.send_to(data, address)  # type: ignore[arg-type]

    server = await aiosock.serve_datagram(
        handler, "udp://127.0.0.1:0", max_concurrent=3
    )
    async with (
        server,
        await aiosock.open_datagram(remote=server.endpoints[0]) as client,
    ):
        for i in range(10):
            await client.send(b"%d" % i)
        async with asyncio.timeout(TIMEOUT):
            await arrived.wait()
            assert server.active_handlers == 3
            release.set()
            replies = {await client.receive() for _ in range(10)}
        assert replies == {b"%d" % i for i in range(10)}
        assert peak == 3
        assert server.dropped == 0


async def test_aclose_grace_lets_handlers_finish() -> None:
    """aclose(grace) stops receiving but lets a running handler reply."""
    started = asyncio.Event()
    finish = asyncio.Event()

    async def handler(
        data: bytes, address: object, sock: aiosock.DatagramSocket
    ) -> None:
        started.set()
        await finish.wait()
        await sock.send_to(b"done", address)  # type: ignore[arg-type]

    server = await aiosock.serve_datagram(handler, "udp://127.0.0.1:0")
    async with await aiosock.open_datagram(remote=server.endpoints[0]) as client:
        await client.send(b"go")
        async with asyncio.timeout(TIMEOUT):
            await started.wait()
            closing = asyncio.ensure_future(server.aclose(grace=TIMEOUT))
            await asyncio.sleep(0)
            assert not server.is_serving()
            finish.set()
            assert await client.receive() == b"done"
            await closing


async def test_aclose_without_grace_cancels_handlers() -> None:
    """aclose() cancels a waiting handler, which sees CancelledError."""
    started = asyncio.Event()
    outcome: list[str] = []

    async def handler(
        data: bytes, address: object, sock: aiosock.DatagramSocket
    ) -> None:
        started.set()
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            outcome.append("cancelled")
            raise

    server = await aiosock.serve_datagram(handler, "udp://127.0.0.1:0")
    async with await aiosock.open_datagram(remote=server.endpoints[0]) as client:
        await client.send(b"go")
        async with asyncio.timeout(TIMEOUT):
            await started.wait()
            await server.aclose()
    assert outcome == ["cancelled"]
    assert server.active_handlers == 0


async def test_serve_forever_closes_when_cancelled() -> None:
    """Cancelling serve_forever closes the server."""
    server = await aiosock.serve_datagram(echo_upper, "udp://127.0.0.1:0")
    task = asyncio.ensure_future(server.serve_forever())
    await asyncio.sleep(0)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert not server.is_serving()
    async with asyncio.timeout(TIMEOUT):
        await server.wait_closed()


async def test_serve_forever_returns_on_close() -> None:
    """close() ends serve_forever(); a later serve_forever() returns at once."""
    server = await aiosock.serve_datagram(echo_upper, "udp://127.0.0.1:0")
    forever = asyncio.ensure_future(server.serve_forever())
    assert await _ask(server, b"one") == [b"ONE"]
    assert not forever.done()
    server.close()
    async with asyncio.timeout(TIMEOUT):
        assert await forever is None
        assert await server.serve_forever() is None
    await server.aclose()


@pytest.mark.skipif(not HAVE_IPV6, reason="IPv6 loopback (::1) cannot be bound")
async def test_any_address_binds_both_families_on_one_port() -> None:
    """udp://:0 binds IPv4 and IPv6 sockets sharing the chosen port."""
    async with await aiosock.serve_datagram(echo_upper, "udp://:0") as server:
        ports = {e.address.port for e in server.endpoints}  # type: ignore[union-attr]
        assert len(server.endpoints) == 2
        assert len(ports) == 1
        port = ports.pop()
        for host in ("127.0.0.1", "::1"):
            async with await aiosock.open_datagram(remote=(host, port)) as client:
                await client.send(b"x")
                async with asyncio.timeout(TIMEOUT):
                    assert await client.receive() == b"X"


async def test_unixgram_server_file_lifecycle(short_tmp: Path) -> None:
    """A unixgram server makes its file with mode, answers, and removes it on close."""
    path = short_tmp / "srv.sock"
    async with await aiosock.serve_datagram(
        echo_upper, f"unixgram:{path}", mode=0o640
    ) as server:
        assert os.stat(path).st_mode & 0o777 == 0o640
        assert await _ask(server, b"local") == [b"LOCAL"]
    assert not path.exists()


async def test_served_socket_refuses_receive() -> None:
    """The handler's socket belongs to the server: receiving on it is refused."""
    async with await aiosock.serve_datagram(echo_upper, "udp://127.0.0.1:0") as server:
        (sock,) = server.datagram_sockets
        with pytest.raises(aiosock.BusyResourceError):
            await sock.receive()
        with pytest.raises(aiosock.BusyResourceError):
            await sock.receive_from()


async def test_oversized_datagram_is_logged_not_handled(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A datagram over max_size is logged and dropped; the handler never sees it."""
    caplog.set_level(logging.WARNING, logger="aiosock.server")
    async with (
        await aiosock.serve_datagram(
            echo_upper, "udp://127.0.0.1:0", max_size=10
        ) as server,
        await aiosock.open_datagram(remote=server.endpoints[0]) as client,
    ):
        await client.send(b"x" * 11)
        await client.send(b"small")
        async with asyncio.timeout(TIMEOUT):
            assert await client.receive() == b"SMALL"
    assert any("11 bytes" in r.getMessage() for r in caplog.records)


async def test_argument_errors() -> None:
    """No endpoint, a stream endpoint or a bad max_concurrent are refused."""
    with pytest.raises(ValueError, match="at least one endpoint"):
        await aiosock.serve_datagram(echo_upper)
    with pytest.raises(ValueError, match="max_concurrent"):
        await aiosock.serve_datagram(echo_upper, "udp://127.0.0.1:0", max_concurrent=0)
    with pytest.raises(aiosock.AddressError):
        await aiosock.serve_datagram(echo_upper, "tcp://127.0.0.1:0")


async def test_workers_end_when_the_loop_cancels_every_task() -> None:
    """A server left open does not hold up loop shutdown: its workers end on cancel."""
    server = await aiosock.serve_datagram(echo_upper, "udp://127.0.0.1:0")
    assert await _ask(server, b"x") == [b"X"]
    workers = asyncio.all_tasks() - {asyncio.current_task()}
    assert workers
    for task in workers:
        task.cancel()
    async with asyncio.timeout(TIMEOUT):
        await asyncio.gather(*workers, return_exceptions=True)
    await server.aclose()


async def test_a_handler_that_is_not_async_is_logged(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A handler that returns no awaitable is logged; the server goes on."""
    calls: list[bytes] = []
    two = asyncio.Event()

    def handler(data: bytes, address: object, sock: aiosock.DatagramSocket) -> None:
        calls.append(data)
        if len(calls) == 2:
            two.set()  # the server logs this call's failure right after it

    caplog.set_level(logging.ERROR, logger="aiosock.server")
    server = await aiosock.serve_datagram(handler, "udp://127.0.0.1:0")  # type: ignore[arg-type]
    async with (
        server,
        await aiosock.open_datagram(remote=server.endpoints[0]) as client,
    ):
        await client.send(b"one")
        await client.send(b"two")
        async with asyncio.timeout(TIMEOUT):
            await two.wait()
    assert calls == [b"one", b"two"]
    assert [r.getMessage().count("raised") for r in caplog.records] == [1, 1]


async def test_replies_queued_when_the_socket_is_full_keep_their_order(
    short_tmp: Path,
) -> None:
    """Answers that find the socket full wait their turn; later ones never overtake."""
    path = short_tmp / "full.sock"
    count = 2000  # the replies fill the server's send buffer many times over

    async def echo(data: bytes, address: object, sock: aiosock.DatagramSocket) -> None:
        await sock.send_to(data, address)  # type: ignore[arg-type]

    async with (
        await aiosock.serve_datagram(echo, f"unixgram:{path}"),
        await aiosock.open_datagram(remote=f"unixgram:{path}") as client,
        asyncio.timeout(TIMEOUT),
    ):
        for i in range(count):
            await client.send(b"%d" % i)
        got = [await client.receive() for _ in range(count)]
        assert got == [b"%d" % i for i in range(count)]


async def test_unnamed_sender_reaches_the_handler(short_tmp: Path) -> None:
    """A sender with no name arrives as LocalAddress(""); an answer to it fails."""
    path = short_tmp / "unnamed.sock"
    seen: asyncio.Queue[tuple[bytes, object, BaseException | None]] = asyncio.Queue()

    async def handler(
        data: bytes, address: object, sock: aiosock.DatagramSocket
    ) -> None:
        try:
            await sock.send_to(b"answer", address)  # type: ignore[arg-type]
        except OSError as exc:
            await seen.put((data, address, exc))
        else:
            await seen.put((data, address, None))

    async with (
        await aiosock.serve_datagram(handler, f"unixgram:{path}"),
        await aiosock.open_datagram(
            remote=f"unixgram:{path}", autobind=False
        ) as client,
        asyncio.timeout(TIMEOUT),
    ):
        for message in (b"one", b"two"):
            await client.send(message)
            data, address, error = await seen.get()
            assert (data, address) == (message, aiosock.LocalAddress(""))
            assert error is not None


def _max_dgram_qlen() -> int:
    with open("/proc/sys/net/unix/max_dgram_qlen") as f:
        return int(f.read())


class _Silent:
    """A Unix-domain client that sends requests and never reads an answer."""

    def __init__(self, path: Path) -> None:
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(str(path))
        self.sock.settimeout(TIMEOUT)  # the sending thread ends whatever happens

    async def send(self, server: Path, count: int, size: int) -> None:
        # Blocking sends from a thread: the server reads as it goes.
        def run() -> None:
            for _ in range(count):
                self.sock.sendto(b"x" * size, str(server))

        await asyncio.to_thread(run)


def _counting_echo(
    target: int,
) -> tuple[
    Callable[[bytes, object, aiosock.DatagramSocket], Awaitable[None]], asyncio.Event
]:
    handled = 0
    done = asyncio.Event()

    async def echo(data: bytes, address: object, sock: aiosock.DatagramSocket) -> None:
        nonlocal handled
        await sock.send_to(data, address)  # type: ignore[arg-type]
        handled += 1
        if handled == target:
            done.set()

    return echo, done


async def test_a_client_that_never_reads_does_not_hold_up_the_others(
    short_tmp: Path,
) -> None:
    """Answers wait per client: one whose queue stays full stops no one else's.

    Past 256 KiB kept for it, its answers are dropped and counted in
    ``server.unsent``.
    """
    path = short_tmp / "hol.sock"
    count, size = 600, 1000
    echo, done = _counting_echo(count + 1)
    silent = _Silent(short_tmp / "silent.sock")
    try:
        async with (
            asyncio.timeout(TIMEOUT),  # the close too: it once waited for ever
            await aiosock.serve_datagram(echo, f"unixgram:{path}") as server,
        ):
            await silent.send(path, count, size)
            # The silent client's queue is full and its answers wait: another
            # client is answered all the same.
            assert await _ask(server, b"hello") == [b"hello"]
            await done.wait()
            qlen = _max_dgram_qlen()
            kept = 256 * 1024 // (size + 64)
            assert count - kept - (qlen + 1) <= server.unsent <= count - kept - qlen
    finally:
        silent.sock.close()


async def test_close_drops_answers_a_full_client_never_takes(
    short_tmp: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """aclose() does not wait for ever on a client that never reads."""
    from aiosock._core import _dgram_transport

    monkeypatch.setattr(_dgram_transport, "CLOSE_LINGER", 0.05)
    path = short_tmp / "linger.sock"
    count = 30
    echo, done = _counting_echo(count)
    silent = _Silent(short_tmp / "silent.sock")
    try:
        server = await aiosock.serve_datagram(echo, f"unixgram:{path}")
        await silent.send(path, count, 10)
        async with asyncio.timeout(TIMEOUT):
            await done.wait()
            assert server.unsent == 0  # waiting, not dropped
            await server.aclose()
        qlen = _max_dgram_qlen()
        assert count - (qlen + 1) <= server.unsent <= count - qlen
    finally:
        silent.sock.close()


async def test_answers_for_a_client_that_went_away_are_dropped_and_logged_once(
    short_tmp: Path,
) -> None:
    """Answers refused (the client closed) are dropped with one warning in all."""
    path = short_tmp / "gone.sock"
    count = 30
    echo, done = _counting_echo(count)
    silent = _Silent(short_tmp / "silent.sock")
    try:
        with logged("aiosock") as log:
            async with (
                asyncio.timeout(TIMEOUT),
                await aiosock.serve_datagram(echo, f"unixgram:{path}") as server,
            ):
                await silent.send(path, count, 10)
                await done.wait()
                silent.sock.close()  # the kernel now refuses what waits for it
                await log.seen.wait()
                qlen = _max_dgram_qlen()
                assert count - (qlen + 1) <= server.unsent <= count - qlen
                assert len(log.records) == 1, log.messages
                assert "refused" in log.messages[0].lower()
                assert await _ask(server, b"still here") == [b"still here"]
    finally:
        silent.sock.close()


async def test_a_connected_client_that_never_reads_fills_the_send_buffer(
    short_tmp: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The server's full send buffer: answers dropped, counted, warned once.

    Linux charges the unread answers of a client connected to the server to
    the server socket's send buffer, without the receiver's queue limit: once
    it is full, nothing can be sent to anyone. The server no longer waits for
    ever: after STALL_LIMIT, answers are dropped and counted, with one
    warning; once the client goes, everyone is answered again.
    """
    from aiosock._core import _dgram_transport

    monkeypatch.setattr(_dgram_transport, "STALL_LIMIT", 0.05)
    path = short_tmp / "full.sock"
    first_handled = asyncio.Event()
    count = 0  # requests from the silent client, set below
    silent_handled = asyncio.Event()

    async def echo(data: bytes, address: object, sock: aiosock.DatagramSocket) -> None:
        nonlocal count
        await sock.send_to(data, address)  # type: ignore[arg-type]
        if data == b"first":
            first_handled.set()
        elif data == b"x" * 100:
            count -= 1
            if count == 0:
                silent_handled.set()

    silent = _Silent(short_tmp / "silent.sock")
    try:
        with logged("aiosock") as log:
            async with (
                asyncio.timeout(TIMEOUT),
                await aiosock.serve_datagram(
                    echo, f"unixgram:{path}", options={"send_buffer": 32768}
                ) as server,
                await aiosock.open_datagram(remote=f"unixgram:{path}") as good,
            ):
                silent.sock.connect(str(path))
                sndbuf = server.sockets[0].getsockopt(
                    socket.SOL_SOCKET, socket.SO_SNDBUF
                )
                # Each 100-byte answer takes far more than 100 bytes of the buffer.
                count = sndbuf // 100 + 1
                await silent.send(path, count, 100)
                await silent_handled.wait()
                await log.seen.wait()
                assert len(log.records) == 1, log.messages
                assert "send buffer" in log.messages[0]
                unsent = server.unsent
                assert unsent > 0
                await good.send(b"first")
                await first_handled.wait()
                assert server.unsent == unsent + 1  # dropped at once, not parked
                silent.sock.close()  # the kernel frees its unread answers
                await good.send(b"second")
                assert await good.receive() == b"second"
                assert len(log.records) == 1
    finally:
        silent.sock.close()
