"""Slow and hostile peers: never reading, dripping, resetting, half-closing, bugs."""

from __future__ import annotations

import asyncio
import logging
import socket
import struct
import time
from typing import TYPE_CHECKING

import aiosock

from ._support import FULL, fd_count, scale, settle, warm_up

if TYPE_CHECKING:
    import pytest

    from .conftest import Figure

CHUNK = b"x" * 65536
LOCALHOST = "tcp://127.0.0.1:0"


def _target(server: aiosock.Server) -> aiosock.Endpoint:
    return server.endpoints[0]


async def _raw_client(server: aiosock.Server, rcvbuf: int = 4096) -> socket.socket:
    """A non-blocking client socket with a small receive buffer."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
    sock.setblocking(False)
    port = _target(server).address.port  # type: ignore[union-attr]
    await asyncio.get_running_loop().sock_connect(sock, ("127.0.0.1", port))
    return sock


async def test_never_reading_client_bounds_server_memory(figure: Figure) -> None:
    """A client that never reads: send waits, the write buffer stays bounded."""
    largest = 0
    blocked = asyncio.Event()

    async def flood(stream: aiosock.Stream) -> None:
        nonlocal largest
        try:
            for _ in range(4096):  # 256 MiB at most: far more than any buffer
                await asyncio.wait_for(stream.send(CHUNK), 0.5)
                largest = max(largest, stream.transport.get_write_buffer_size())
        except TimeoutError:
            largest = max(largest, stream.transport.get_write_buffer_size())
            blocked.set()

    async with await aiosock.serve(flood, LOCALHOST) as server:
        client = await _raw_client(server)
        try:
            async with asyncio.timeout(20):
                await blocked.wait()
        finally:
            client.close()
    high = 64 * 1024  # both loops' default write high-water mark
    assert largest <= high + len(CHUNK), f"write buffer grew to {largest} bytes"
    figure("largest write buffer before send waited", largest, "bytes")


async def test_idle_timeout_resets_a_silent_or_stuck_peer(figure: Figure) -> None:
    """idle_timeout resets a peer that sends nothing and one that never reads."""
    idle = 0.4
    outcomes: list[tuple[str, float]] = []
    started: dict[int, float] = {}

    async def handler(stream: aiosock.Stream) -> None:
        begin = time.monotonic()
        first = await stream.receive(1)
        try:
            if first == b"s":  # silent: waits to receive
                await stream.receive()
            else:  # stuck: floods a peer that never reads
                for _ in range(4096):
                    await stream.send(CHUNK)
        except aiosock.BrokenResourceError as exc:
            if isinstance(exc.__cause__, TimeoutError):
                outcomes.append((first.decode(), time.monotonic() - begin))
            raise

    await warm_up()
    async with await aiosock.serve(handler, LOCALHOST, idle_timeout=idle) as server:
        base = fd_count()
        silent, stuck = await _raw_client(server), await _raw_client(server)
        loop = asyncio.get_running_loop()
        await loop.sock_sendall(silent, b"s")
        await loop.sock_sendall(stuck, b"r")
        started[0] = time.monotonic()
        async with asyncio.timeout(10):
            # The silent peer sees its connection reset (end of stream or RST).
            try:
                while await loop.sock_recv(silent, 65536):
                    pass
            except ConnectionResetError:
                pass
        await settle(lambda: server.active_connections == 0, what="still served")
        silent.close()
        stuck.close()
        await settle(lambda: fd_count() <= base, what="descriptors leaked")
    assert sorted(kind for kind, _ in outcomes) == ["r", "s"]
    for kind, waited in outcomes:
        assert idle <= waited + 0.05, f"{kind}: reset after {waited:.2f}s < {idle}s"
        assert waited < idle * 1.25 + 1.0, f"{kind}: reset only after {waited:.2f}s"
    figure("idle_timeout", idle, "s")
    figure("silent peer reset after", dict(outcomes)["s"], "s")
    figure("never-reading peer reset after", dict(outcomes)["r"], "s")


async def test_drip_client_ended_by_read_timeout_others_unaffected(
    figure: Figure,
) -> None:
    """A one-byte-at-a-time client hits the read deadline; others keep their pace."""
    interval = 1.0 if FULL else 0.1
    deadline = 10 * interval / 2  # half of what the drip needs for its line
    timed_out = asyncio.Event()

    async def handler(stream: aiosock.Stream) -> None:
        while True:
            try:
                async with asyncio.timeout(deadline):
                    line = await stream.receive_until(b"\n")
            except TimeoutError:
                timed_out.set()
                return
            except aiosock.IncompleteReadError:
                return
            await stream.send(line)

    latencies: list[float] = []

    async def normal_client(target: aiosock.Endpoint) -> None:
        async with await aiosock.connect(target, timeout=5) as stream:
            for i in range(scale(40, 200)):
                began = time.monotonic()
                await stream.send(b"%d\n" % i)
                assert await stream.receive_until(b"\n") == b"%d\n" % i
                latencies.append(time.monotonic() - began)

    async def drip(target: aiosock.Endpoint) -> float:
        began = time.monotonic()
        async with await aiosock.connect(target, timeout=5) as stream:
            try:
                for byte in b"123456789\n":
                    await stream.send(bytes([byte]))
                    # The drip's pace: the attack itself, not synchronisation.
                    await asyncio.sleep(interval)
                ending = await stream.receive()
            except aiosock.BrokenResourceError:
                # Bytes sent after the server closed draw a reset: also an end.
                ending = b""
            assert ending == b"", f"the drip was answered: {ending!r}"
        return time.monotonic() - began

    async with await aiosock.serve(handler, LOCALHOST) as server:
        async with asyncio.timeout(30):
            dripped, *_ = await asyncio.gather(
                drip(_target(server)),
                *(normal_client(_target(server)) for _ in range(4)),
            )
    assert timed_out.is_set()
    worst = max(latencies)
    assert worst < deadline, f"a normal client waited {worst:.3f}s"
    figure("read deadline", deadline, "s")
    figure("drip client's connection ended after", dripped, "s")
    figure("worst round trip of the other clients meanwhile", worst * 1000, "ms")


async def test_resets_mid_write_and_mid_read_leak_nothing(
    figure: Figure, caplog: pytest.LogCaptureFixture
) -> None:
    """Peers resetting mid-write and mid-read: handlers end, no fd leaks, no noise."""
    rounds = scale(30, 1000)
    broken: list[str] = []

    async def handler(stream: aiosock.Stream) -> None:
        kind = await stream.receive_exactly(1)
        try:
            if kind == b"w":
                while True:
                    await stream.send(CHUNK)
            else:
                await stream.receive_exactly(1 << 20)
        except aiosock.BrokenResourceError:
            broken.append(kind.decode())
            raise
        except aiosock.IncompleteReadError:
            broken.append(kind.decode())

    caplog.set_level(logging.INFO, logger="aiosock.server")
    await warm_up()
    base = fd_count()
    async with await aiosock.serve(handler, LOCALHOST) as server:
        served = fd_count()
        loop = asyncio.get_running_loop()
        for i in range(rounds):
            client = await _raw_client(server)
            kind = b"w" if i % 2 else b"r"
            await loop.sock_sendall(client, kind + (b"" if i % 2 else b"partial"))
            if i % 2:
                # Mid-write: take some of the flood first.
                async with asyncio.timeout(5):
                    await loop.sock_recv(client, 1)
            client.setsockopt(
                socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0)
            )
            client.close()  # RST
        await settle(lambda: len(broken) == rounds, what=f"{len(broken)} of {rounds}")
        await settle(lambda: server.active_connections == 0, what="still served")
        await settle(lambda: fd_count() <= served, what="descriptors leaked")
        # The server still serves.
        async with await aiosock.connect(_target(server), timeout=5) as ok:
            await ok.send(b"r" + b"y" * 10)
            await ok.send_eof()
            assert await ok.receive() == b""
    assert fd_count() <= base
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]
    figure("resets survived", rounds, "connections")


async def test_half_close_both_ways(figure: Figure) -> None:
    """A client that half-closes still gets every byte the server sends after."""
    size = scale(1 << 20, 1 << 26)

    async def handler(stream: aiosock.Stream) -> None:
        request = b"".join([chunk async for chunk in stream])  # to the client's EOF
        assert request == b"give"
        sent = 0
        while sent < size:
            await stream.send(CHUNK)
            sent += len(CHUNK)

    async with (
        await aiosock.serve(handler, LOCALHOST) as server,
        await aiosock.connect(_target(server), timeout=5) as client,
    ):
        await client.send(b"give")
        await client.send_eof()
        received = 0
        async with asyncio.timeout(30):
            async for chunk in client:
                received += len(chunk)
    assert received == size
    figure("bytes received after half-close", received, "bytes")


async def test_raising_handlers_touch_nothing_else(
    figure: Figure, caplog: pytest.LogCaptureFixture
) -> None:
    """Handlers that raise are logged with the peer; other connections go on."""
    n = scale(40, 2000)

    async def handler(stream: aiosock.Stream) -> None:
        data = await stream.receive_exactly(1)
        if data == b"!":
            raise ValueError("handler bug")
        await stream.send(data)

    await warm_up()
    base = fd_count()
    async with await aiosock.serve(handler, LOCALHOST) as server:

        async def client(i: int) -> None:
            async with await aiosock.connect(_target(server), timeout=5) as stream:
                await stream.send(b"!" if i % 2 else b"k")
                expected = b"" if i % 2 else b"k"
                assert await stream.receive() == expected

        async with asyncio.timeout(30):
            await asyncio.gather(*(client(i) for i in range(n)))
        await settle(lambda: server.active_connections == 0, what="still served")
    await settle(lambda: fd_count() <= base, what="descriptors leaked")
    failures = [r for r in caplog.records if "raised" in r.getMessage()]
    assert len(failures) == n // 2
    assert all("127.0.0.1:" in r.getMessage() for r in failures)
    figure("handlers that raised", n // 2, "connections")
