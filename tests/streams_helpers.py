"""Shared helpers for stream tests: servers that hand their streams to the test."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import aiosock

PairFactory = Callable[[], Awaitable[tuple[aiosock.Stream, aiosock.Stream]]]


@contextlib.asynccontextmanager
async def served_pairs(
    *endpoints: str, ssl_server: Any = None, ssl_client: Any = None, **serve_kw: Any
) -> AsyncIterator[tuple[aiosock.Server, PairFactory]]:
    """Serve ``endpoints``; the factory returns (client, server side) pairs."""
    accepted: asyncio.Queue[aiosock.Stream] = asyncio.Queue()
    release = asyncio.Event()

    async def handler(stream: aiosock.Stream) -> None:
        await accepted.put(stream)
        await release.wait()

    server = await aiosock.serve(handler, *endpoints, ssl=ssl_server, **serve_kw)

    async def make_pair() -> tuple[aiosock.Stream, aiosock.Stream]:
        client = await aiosock.connect(server.endpoints[0], timeout=10, ssl=ssl_client)
        async with asyncio.timeout(10):
            served = await accepted.get()
        return client, served

    try:
        yield server, make_pair
    finally:
        release.set()
        await server.aclose()
