"""``aiosock connect`` and ``aiosock listen`` for sequenced-packet endpoints.

One record per line: each line of standard input (without its newline) is sent
as one record, and each record received is written to standard output followed
by a newline. Empty lines are skipped (a record cannot be empty). At the end of
standard input the sending side is shut down (``send_eof``); the command ends
when the peer has ended its side too, as for streams.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import sys
from typing import TYPE_CHECKING

from .._foundation._errors import AiosockError, BrokenResourceError
from .._foundation._loop import run
from .._highlevel._packet_api import connect_packets, serve_packets

if TYPE_CHECKING:
    import argparse

    from .._highlevel._packets import PacketStream

__all__ = ["connect_packet_endpoint", "listen_packet_endpoint", "pump_records"]

_CHUNK = 65536


async def pump_records(
    stream: PacketStream, stdin_fd: int = 0, stdout_fd: int = 1
) -> None:
    """Send ``stdin_fd``'s lines as records; write records to ``stdout_fd`` as lines.

    Ends when both directions have ended: the peer's at its end of stream, ours
    at the end of standard input (or when the peer is gone).
    """
    loop = asyncio.get_running_loop()

    async def upstream() -> None:
        pending = b""
        while data := await loop.run_in_executor(None, os.read, stdin_fd, _CHUNK):
            *lines, pending = (pending + data).split(b"\n")
            for line in lines:
                if line:
                    await stream.send(line)
        if pending:
            await stream.send(pending)
        await stream.send_eof()

    async def downstream() -> None:
        async for record in stream:
            view = memoryview(record + b"\n")
            while view:
                written = await loop.run_in_executor(None, os.write, stdout_fd, view)
                view = view[written:]

    sending = asyncio.ensure_future(upstream())
    try:
        await downstream()
    except BaseException:
        sending.cancel()
        raise
    with contextlib.suppress(BrokenResourceError):
        await sending


def _fail(message: str) -> int:
    print(f"aiosock: {message}", file=sys.stderr)
    return 1


def connect_packet_endpoint(args: argparse.Namespace) -> int:
    """Run ``aiosock connect`` for a ``unixpacket:`` endpoint."""

    async def main() -> None:
        stream = await connect_packets(args.endpoint, timeout=args.timeout)
        async with stream:
            await pump_records(stream)

    try:
        run(main(), loop=args.loop)
    except (AiosockError, OSError) as exc:
        return _fail(f"connect {args.endpoint}: {exc}")
    return 0


def listen_packet_endpoint(args: argparse.Namespace) -> int:
    """Run ``aiosock listen`` for a ``unixpacket:`` endpoint (one connection)."""

    async def main() -> None:
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()

        async def handler(stream: PacketStream) -> None:
            server.close()  # one connection, as netcat -l
            try:
                await pump_records(stream)
            finally:
                if not done.done():
                    done.set_result(None)

        server = await serve_packets(handler, args.endpoint, backlog=1)
        for endpoint in server.endpoints:
            print(f"listening on {endpoint}", file=sys.stderr, flush=True)
        try:
            async with asyncio.timeout(args.timeout):
                await done
        finally:
            await server.aclose(grace=30)

    try:
        run(main(), loop=args.loop)
    except (AiosockError, OSError) as exc:
        return _fail(f"listen {args.endpoint}: {exc}")
    return 0
