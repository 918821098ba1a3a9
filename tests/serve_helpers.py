"""Shared helpers for server tests: echo handlers, fd baselines, closed ports."""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import AsyncIterator, Iterator
from typing import Any

import aiosock


async def echo(stream: aiosock.Stream) -> None:
    """Echo everything until end of stream."""
    async for chunk in stream:
        await stream.send(chunk)


@contextlib.asynccontextmanager
async def echo_server(
    *endpoints: Any, **serve_kw: Any
) -> AsyncIterator[aiosock.Server]:
    """A server echoing every connection until end of stream."""
    async with await aiosock.serve(echo, *endpoints, **serve_kw) as server:
        yield server


async def echo_once(stream: aiosock.Stream, data: bytes = b"ping") -> None:
    """Send ``data`` and expect it back, within 5 seconds."""
    async with asyncio.timeout(5):
        await stream.send(data)
        assert await stream.receive_exactly(len(data)) == data


async def warm_up() -> None:
    """Run one connection through a server, so one-time loop descriptors exist.

    (uvloop opens ``/dev/null`` once per loop, on first use.) Call it before taking
    a descriptor count to compare with later.
    """
    async with (
        echo_server("tcp://127.0.0.1:0") as server,
        await aiosock.connect(server.endpoints[0], timeout=5) as stream,
    ):
        await echo_once(stream)


def closed_port(host: str = "127.0.0.1") -> int:
    """A port that was just bound and closed: connecting to it is refused."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        port: int = s.getsockname()[1]
    return port


@contextlib.contextmanager
def unaccepting_listener() -> Iterator[tuple[str, int]]:
    """A TCP listener whose accept queue is full: the next SYN gets no answer."""
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    fillers: list[socket.socket] = []
    try:
        listener.bind(("127.0.0.1", 0))
        listener.listen(0)
        address = listener.getsockname()
        # listen(0) queues one connection; that one fills the queue.
        filler = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        fillers.append(filler)
        filler.settimeout(5)
        filler.connect(address)
        yield address
    finally:
        for filler in fillers:
            filler.close()
        listener.close()


class Accepted:
    """A handler that hands each served stream to the test and waits to be released.

    ``await accepted.get()`` gives the next served stream; ``release(stream)``
    lets its handler return (closing it); ``release_all()`` lets every one return.
    """

    def __init__(self) -> None:
        self.queue: asyncio.Queue[aiosock.Stream] = asyncio.Queue()
        self._events: dict[aiosock.Stream, asyncio.Event] = {}
        self._released_all = False

    async def __call__(self, stream: aiosock.Stream) -> None:
        event = self._events[stream] = asyncio.Event()
        if self._released_all:
            event.set()
        await self.queue.put(stream)
        await event.wait()

    async def get(self, timeout: float = 5) -> aiosock.Stream:
        """The next served stream, waiting at most ``timeout`` seconds."""
        async with asyncio.timeout(timeout):
            return await self.queue.get()

    def release(self, stream: aiosock.Stream) -> None:
        """Let the handler of ``stream`` return."""
        self._events[stream].set()

    def release_all(self) -> None:
        """Let every handler, present and future, return."""
        self._released_all = True
        for event in self._events.values():
            event.set()
