"""Two tasks talking over a socket pair: the manual's ``socketpair``, the async way.

``socketpair`` makes two sockets already connected to each other, with no name
and no listening socket: a pipe that works both ways. :func:`aiosock.stream_pair`
makes one and returns a :class:`~aiosock.Stream` for each end. Here one task
asks questions at one end and another task answers them at the other; when the
asker half-closes, the answerer's loop ends and it closes its end in turn::

    python examples/socketpair.py
"""

from __future__ import annotations

import asyncio

import aiosock


async def answer(stream: aiosock.Stream) -> None:
    """Answer every request with it in capitals, until the asker half-closes."""
    async with stream:
        async for request in stream:
            await stream.send(request.upper())


async def ask(stream: aiosock.Stream) -> None:
    """Send three requests, one at a time, and print each answer."""
    async with stream:
        for word in ("hello", "socket", "pair"):
            await stream.send(word.encode())
            reply = await stream.receive_exactly(len(word))
            print(f"asked {word!r}, got {reply.decode()!r}")
        await stream.send_eof()
        assert await stream.receive() == b"", "the other end closes last"


async def main() -> None:
    asker, answerer = await aiosock.stream_pair()
    async with asyncio.TaskGroup() as tasks:
        tasks.create_task(answer(answerer))
        tasks.create_task(ask(asker))
    print("both ends closed")


if __name__ == "__main__":
    aiosock.run(main())
