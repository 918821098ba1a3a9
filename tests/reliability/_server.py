"""Servers for the reliability suite, each run in its own process.

Usage: ``python tests/reliability/_server.py KIND LOOP [ARGS]``; it prints
``PORT PID`` when it serves and stops when its standard input closes (or, for
``ledger``, on SIGTERM). ``RLIMIT_NOFILE`` is raised to the hard limit first.

- ``echo LOOP MAX_CONNECTIONS``: echo every chunk (``0``: no limit).
- ``ledger LOOP PATH GRACE``: read ``N\\n`` records; write each to PATH (flushed)
  *before* acknowledging it with ``N\\n``; on SIGTERM ``aclose(grace=GRACE)``.
"""

from __future__ import annotations

import asyncio
import logging
import resource
import signal
import sys
from typing import TextIO

import aiosock


async def echo(stream: aiosock.Stream) -> None:
    """Echo until end of stream."""
    async for chunk in stream:
        await stream.send(chunk)


async def serve_echo(max_connections: int) -> None:
    """Serve echo until standard input closes."""
    server = await aiosock.serve(
        echo, "tcp://127.0.0.1:0", backlog=4096, max_connections=max_connections or None
    )
    async with server:
        await _ready_until_stdin_closes(server)


async def _ready_until_stdin_closes(server: aiosock.Server) -> None:
    loop = asyncio.get_running_loop()
    closed = asyncio.Event()
    loop.add_reader(sys.stdin.fileno(), closed.set)
    port = server.endpoints[0].address.port  # type: ignore[union-attr]
    print(port, __import__("os").getpid(), flush=True)
    await closed.wait()
    loop.remove_reader(sys.stdin.fileno())


async def serve_ledger(ledger: TextIO, grace: float) -> None:
    """Record then acknowledge numbered messages; SIGTERM closes with grace."""

    async def handler(stream: aiosock.Stream) -> None:
        while not stop.is_set():  # shutting down: finish the message, then close
            try:
                line = await stream.receive_until(b"\n", max_bytes=32)
            except aiosock.IncompleteReadError:
                return
            ledger.write(line.decode())
            ledger.flush()
            await stream.send(line)

    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    server = await aiosock.serve(handler, "tcp://127.0.0.1:0", backlog=1024)
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    loop.add_reader(sys.stdin.fileno(), stop.set)
    port = server.endpoints[0].address.port  # type: ignore[union-attr]
    print(port, __import__("os").getpid(), flush=True)
    await stop.wait()
    await server.aclose(grace=grace)
    print("closed", flush=True)


def main() -> None:
    """Dispatch on KIND."""
    _soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
    kind, loop = sys.argv[1], sys.argv[2]
    if kind == "echo":
        aiosock.run(serve_echo(int(sys.argv[3])), loop=loop)
    elif kind == "ledger":
        with open(sys.argv[3], "a", buffering=1) as ledger:
            aiosock.run(serve_ledger(ledger, float(sys.argv[4])), loop=loop)
    else:
        raise SystemExit(f"unknown kind {kind!r}")


if __name__ == "__main__":
    main()
