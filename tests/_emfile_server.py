"""A server for the EMFILE test, run in its own process with few descriptors.

Usage: ``python tests/_emfile_server.py LOOP CAPACITY``. It starts an echo server
on 127.0.0.1 (every connection is greeted with ``b"hi"`` when its handler starts)
and makes one connection to itself, so that every descriptor the loop opens lazily
is open (uvloop opens ``/dev/null`` on first use). It then lowers
``RLIMIT_NOFILE`` so that only about ``CAPACITY`` more descriptors can be opened
(one or two more while that first connection's server side closes), prints its
port and serves until its standard input closes.
"""

from __future__ import annotations

import asyncio
import logging
import os
import resource
import sys

import aiosock


async def handler(stream: aiosock.Stream) -> None:
    """Greet, then echo until end of stream."""
    await stream.send(b"hi")
    async for chunk in stream:
        await stream.send(chunk)


async def main(capacity: int) -> None:
    """Serve with a descriptor limit until standard input closes."""
    loop = asyncio.get_running_loop()
    stdin_closed = asyncio.Event()
    async with await aiosock.serve(handler, "tcp://127.0.0.1:0", backlog=64) as server:
        async with await aiosock.connect(server.endpoints[0], timeout=5) as client:
            assert await client.receive_exactly(2) == b"hi"
            await client.send(b"x")
            assert await client.receive_exactly(1) == b"x"
        # (The server's side of it may still be open: one descriptor of slack.)
        in_use = len(os.listdir("/proc/self/fd")) - 1  # minus listdir's own fd
        limit = in_use + capacity
        _soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        resource.setrlimit(resource.RLIMIT_NOFILE, (limit, hard))
        loop.add_reader(sys.stdin.fileno(), stdin_closed.set)
        port = server.endpoints[0].address.port  # type: ignore[union-attr]
        sys.stdout.write(f"{port}\n")
        sys.stdout.flush()
        await stdin_closed.wait()
        loop.remove_reader(sys.stdin.fileno())


if __name__ == "__main__":
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
    aiosock.run(main(int(sys.argv[2])), loop=sys.argv[1])
