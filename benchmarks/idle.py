"""Memory per idle connection: ``python -m benchmarks.idle [--connections N]``.

A server (``serve`` + ``Stream`` echo handler) accepts N loopback connections made
by a child process (so the clients' memory is not counted), and reports the
Python heap (tracemalloc) and the resident set size added per connection, on
each loop. The file-descriptor limit is raised to the hard limit for the run.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import socket
import sys
import time
import tracemalloc

import aiosock


def _rss_bytes() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


async def _echo(stream: aiosock.Stream) -> None:
    async for chunk in stream:
        await stream.send(chunk)


def _clients(port: int, count: int, ready_fd: int) -> None:
    socks = [socket.create_connection(("127.0.0.1", port)) for _ in range(count)]
    os.write(ready_fd, b"x")
    time.sleep(120)  # held until the parent kills us; bounded all the same
    del socks


async def measure(count: int) -> tuple[int, float, float]:
    """Return (connections held, heap bytes each, RSS bytes each)."""
    server = await aiosock.serve(_echo, "tcp://127.0.0.1:0", backlog=4096)
    port = server.endpoints[0].address.port  # type: ignore[union-attr]
    tracemalloc.start()
    heap0, rss0 = tracemalloc.get_traced_memory()[0], _rss_bytes()
    read_fd, write_fd = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(read_fd)
        try:
            _clients(port, count, write_fd)
        finally:
            os._exit(0)
    os.close(write_fd)
    loop = asyncio.get_running_loop()
    try:
        await loop.run_in_executor(None, os.read, read_fd, 1)
        async with asyncio.timeout(60):
            while server.active_connections < count:  # noqa: ASYNC110 (a counter, no event)
                await asyncio.sleep(0.05)
        for _ in range(10):  # let every handler reach its receive
            await asyncio.sleep(0)
        held = server.active_connections
        heap = (tracemalloc.get_traced_memory()[0] - heap0) / held
        rss = (_rss_bytes() - rss0) / held
    finally:
        os.kill(pid, 9)
        os.waitpid(pid, 0)  # noqa: ASYNC222 (reaps a child just killed: immediate)
        os.close(read_fd)
        tracemalloc.stop()
        await server.aclose()
    return held, heap, rss


def main() -> None:
    """Measure on each loop and print a table."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks.idle")
    parser.add_argument("--connections", type=int, default=10_000)
    parser.add_argument(
        "--json", action="store_true", help="print one JSON line instead of a table"
    )
    args = parser.parse_args()
    hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    if hard < args.connections + 100:
        sys.exit(f"the descriptor limit ({hard}) is too low for {args.connections}")
    rows = []
    for loop in ("uvloop", "asyncio"):
        held, heap, rss = aiosock.run(measure(args.connections), loop=loop)
        rows.append({"loop": loop, "held": held, "heap": heap, "rss": rss})
    if args.json:
        print(json.dumps(rows))
        return
    print(
        "| loop | connections held | Python heap per connection | RSS per connection |"
    )
    print("| --- | ---: | ---: | ---: |")
    for row in rows:
        print(
            f"| {row['loop']} | {row['held']:,} | {row['heap'] / 1024:.1f} KiB "
            f"| {row['rss'] / 1024:.1f} KiB |"
        )


if __name__ == "__main__":
    main()
