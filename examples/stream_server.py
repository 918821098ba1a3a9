"""A server for many clients at once: the manual's "Byte Stream Connection Server".

The C server keeps a set of descriptors and waits on all of them with
``select``, accepting new clients on the listening socket and reading from the
others as data comes. With aiosock each connection is its own task and the
event loop does the waiting: the handler below is written as if it served one
client, yet any number are served at once. Like the manual's server it prints
every message it gets; unlike it, it also echoes each one back.

It prints the endpoints it listens on first (so port 0 works). It stops on
Ctrl-C, or on SIGTERM after letting the open connections finish, or with
``--max-clients N`` after serving N clients::

    python examples/stream_server.py tcp://127.0.0.1:7007 unix:/tmp/echo.sock
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import signal

import aiosock

DEFAULT_ENDPOINT = "tcp://127.0.0.1:7007"


async def echo(stream: aiosock.Stream) -> None:
    """Print and echo every message from one client, until it closes its side."""
    peer = str(stream.peer_address) or "an unnamed socket"
    print(f"Server: connect from {peer}")
    async for chunk in stream:
        print(f"Server: got message: {chunk.decode(errors='replace')!r}")
        await stream.send(chunk)


async def main(endpoints: list[str], max_clients: int | None) -> None:
    done = asyncio.Event()
    served = 0

    async def handle(stream: aiosock.Stream) -> None:
        nonlocal served
        try:
            await echo(stream)
        finally:
            served += 1
            if served == max_clients:
                done.set()

    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, done.set)
    async with await aiosock.serve(handle, *endpoints) as server:
        for endpoint in server.endpoints:
            print(f"listening on {endpoint}", flush=True)
        await done.wait()
        await server.aclose(grace=5)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "endpoints",
        nargs="*",
        metavar="ENDPOINT",
        default=[DEFAULT_ENDPOINT],
        help=f"stream endpoints to listen on (default: {DEFAULT_ENDPOINT})",
    )
    parser.add_argument(
        "--max-clients", type=int, metavar="N", help="exit after serving N clients"
    )
    args = parser.parse_args()
    with contextlib.suppress(KeyboardInterrupt):
        aiosock.run(main(args.endpoints, args.max_clients))
