"""Cancellation at every await point leaves no descriptor open and loses no data."""

from __future__ import annotations

import asyncio
import contextlib
from pathlib import Path
from typing import TYPE_CHECKING, Any

import aiosock

from ._support import fd_count, scale, settle, warm_up

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

    from .conftest import Figure

#: Cancel after k loop iterations, for k in 0..STEPS.
STEPS = scale(12, 60)


async def _cancel_after(k: int, make: Callable[[], Awaitable[Any]]) -> Any:
    """Run ``make()`` in a task, cancel it after ``k`` loop iterations.

    Returns its result if it finished first, else ``None``.
    """
    task = asyncio.ensure_future(make())
    for _ in range(k):
        await asyncio.sleep(0)  # one loop iteration: the point being tested
    task.cancel()
    try:
        return await task
    except asyncio.CancelledError:
        return None


async def _echo(stream: aiosock.Stream) -> None:
    async for chunk in stream:
        await stream.send(chunk)


async def test_cancel_connect(figure: Figure, short_tmp: Path) -> None:
    """connect cancelled at every step (TCP, Unix, by name) leaks no descriptor."""
    await warm_up()
    cancelled = 0
    async with (
        await aiosock.serve(_echo, "tcp://127.0.0.1:0") as tcp,
        await aiosock.serve(_echo, f"unix:{short_tmp}/s") as unix,
    ):
        port = tcp.endpoints[0].address.port  # type: ignore[union-attr]
        for target in (
            str(tcp.endpoints[0]),
            str(unix.endpoints[0]),
            f"tcp://localhost:{port}",
        ):
            for k in range(STEPS):
                base = fd_count()
                stream = await _cancel_after(k, lambda t=target: aiosock.connect(t))  # type: ignore[misc]
                if stream is None:
                    cancelled += 1
                else:
                    await stream.aclose()
                await settle(lambda b=base: fd_count() <= b, what=f"{target} k={k}")  # type: ignore[misc]
    assert cancelled > 0
    figure("connect attempts cancelled mid-way", cancelled, "attempts")


async def test_cancel_receive_loses_no_data(figure: Figure) -> None:
    """receive cancelled at every step: the next receive gets every byte."""
    a, b = await aiosock.stream_pair()
    async with a, b:
        for k in range(STEPS):
            assert await _cancel_after(k, a.receive) is None
            message = b"after %d" % k
            await b.send(message)
            assert await a.receive_exactly(len(message)) == message
    figure("receives cancelled, then all data received", STEPS, "cancellations")


async def test_cancel_send_and_aclose(figure: Figure) -> None:
    """send blocked on a slow peer, and aclose flushing, cancelled at every step."""
    await warm_up()
    for k in range(STEPS):
        base = fd_count()
        a, b = await aiosock.stream_pair(aiosock.Namespace.INET)

        async def flood(stream: aiosock.Stream = a) -> None:
            for _ in range(1024):
                await stream.send(b"x" * 65536)

        await _cancel_after(k, flood)
        with contextlib.suppress(aiosock.BrokenResourceError):
            await _cancel_after(k, a.aclose)  # flushing to a peer that never reads
        a.abort()
        b.abort()
        await settle(lambda b=base: fd_count() <= b, what=f"k={k}")  # type: ignore[misc]
    figure("send and aclose cancellations", 2 * STEPS, "cancellations")


async def test_cancel_serve_and_server_aclose(figure: Figure, short_tmp: Path) -> None:
    """serve and Server.aclose cancelled at every step: listeners and files go."""
    await warm_up()
    for k in range(STEPS):
        base = fd_count()
        path = short_tmp / f"s{k}"
        server = await _cancel_after(
            k,
            lambda p=path: aiosock.serve(_echo, "tcp://127.0.0.1:0", f"unix:{p}"),  # type: ignore[misc]
        )
        if server is not None:
            client = await aiosock.connect(server.endpoints[0], timeout=5)
            await _cancel_after(k, lambda s=server: s.aclose(grace=1))  # type: ignore[misc]
            assert not server.is_serving()
            await client.aclose()
            await server.aclose()
        assert not path.exists(), f"k={k}: socket file left behind"
        await settle(lambda b=base: fd_count() <= b, what=f"k={k}")  # type: ignore[misc]
    figure("serve and aclose cancellations", 2 * STEPS, "cancellations")
