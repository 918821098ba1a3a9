"""``aiosock connect`` and ``aiosock listen`` for sequenced-packet endpoints.

One record per line: each line of standard input (without its newline) is sent
as one record, and each record received is written to standard output followed
by a newline. Empty lines are skipped (a record cannot be empty). At the end of
standard input the sending side is shut down (``send_eof``); the command ends
when the peer has ended its side too, as for streams. Standard input and output
are served by daemon threads, as for streams (``_stdio``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .._foundation._errors import AiosockError
from .._foundation._loop import run
from .._highlevel._packet_api import connect_packets, serve_packets
from ._netcat_report import connect_timed_out, fail
from ._stdio import InputReader, OutputWriter, copy_both_ways, serve_one

if TYPE_CHECKING:
    import argparse

    from .._highlevel._packets import PacketStream

__all__ = ["connect_packet_endpoint", "listen_packet_endpoint", "pump_records"]


async def pump_records(
    stream: PacketStream, stdin_fd: int = 0, stdout_fd: int = 1
) -> None:
    """Send ``stdin_fd``'s lines as records; write records to ``stdout_fd`` as lines.

    Ends when both directions have ended: the peer's at its end of stream, ours
    at the end of standard input (or when the peer is gone).

    Raises:
        BrokenResourceError: The connection broke while records were coming in.
        OSError: Reading standard input or writing standard output failed.
    """

    async def upstream(reader: InputReader) -> None:
        pending = b""
        while data := await reader.read():
            *lines, pending = (pending + data).split(b"\n")
            for line in lines:
                if line:
                    await stream.send(line)
        if pending:
            await stream.send(pending)
        await stream.send_eof()

    async def downstream(writer: OutputWriter) -> None:
        async for record in stream:
            await writer.write(record + b"\n")

    await copy_both_ways(upstream, downstream, stdin_fd, stdout_fd)


def connect_packet_endpoint(args: argparse.Namespace) -> int:
    """Run ``aiosock connect`` for a ``unixpacket:`` endpoint."""

    async def main() -> None:
        try:
            stream = await connect_packets(args.endpoint, timeout=args.timeout)
        except TimeoutError as exc:
            if exc.errno is not None:
                raise  # (ETIMEDOUT from the kernel)
            raise connect_timed_out(args.timeout) from None
        async with stream:
            await pump_records(stream)

    try:
        run(main(), loop=args.loop)
    except (AiosockError, OSError) as exc:
        return fail("connect", args.endpoint, exc)
    return 0


def listen_packet_endpoint(args: argparse.Namespace) -> int:
    """Run ``aiosock listen`` for a ``unixpacket:`` endpoint (one connection).

    ``--timeout`` bounds the wait for the connection, not the session.
    """

    async def main() -> None:
        await serve_one(
            lambda handler: serve_packets(handler, args.endpoint, backlog=1),
            pump_records,
            args.timeout,
        )

    try:
        run(main(), loop=args.loop)
    except (AiosockError, OSError) as exc:
        return fail("listen", args.endpoint, exc)
    return 0
