"""``aiosock connect`` and ``aiosock listen``: netcat for every endpoint kind.

Datagram endpoints (``udp*``, ``unixgram``) go to ``_netcat_dgram``: one datagram
per line; sequenced-packet endpoints (``unixpacket``) to ``_netcat_packets``: one
record per line.

Standard input goes to the socket and the socket to standard output; at the end
of standard input the socket is half-closed (``send_eof``), and the command ends
when the peer ends its side. Standard input and output are read and written by
daemon threads (``_stdio``), so files, pipes and terminals all work, a slow
terminal never blocks the loop, and the command ends as soon as the connection
is broken (or on SIGINT) whatever standard input is doing.

``--timeout`` bounds the wait for the peer: the connection's set-up for
``connect``, the wait for a connection for ``listen``; an established session
may last as long as it likes.
"""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

from .._foundation._concepts import Style
from .._foundation._endpoints import parse_endpoint
from .._foundation._errors import AiosockError
from .._foundation._loop import run
from .._highlevel._api import connect, serve
from ._args import seconds
from ._netcat_dgram import DEFAULT_IDLE, connect_datagram, listen_datagram
from ._netcat_packets import connect_packet_endpoint, listen_packet_endpoint
from ._netcat_report import connect_timed_out, fail
from ._stdio import InputReader, OutputWriter, copy_both_ways, serve_one

if TYPE_CHECKING:
    from .._highlevel._stream import Stream

__all__ = ["pump", "register_connect", "register_listen"]


async def pump(stream: Stream, stdin_fd: int = 0, stdout_fd: int = 1) -> None:
    """Copy ``stdin_fd`` to ``stream`` and ``stream`` to ``stdout_fd`` until both end.

    The command ends when both directions have ended: the peer's data at its
    end of stream, ours at the end of standard input (or when the peer is gone).

    Raises:
        BrokenResourceError: The connection broke while data was coming in.
        OSError: Reading standard input or writing standard output failed.
    """

    async def upstream(reader: InputReader) -> None:
        while data := await reader.read():
            await stream.send(data)
        await stream.send_eof()

    async def downstream(writer: OutputWriter) -> None:
        async for chunk in stream:
            await writer.write(chunk)

    await copy_both_ways(upstream, downstream, stdin_fd, stdout_fd)


def _add_common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "endpoint",
        metavar="ENDPOINT",
        help="a stream endpoint: tcp://HOST:PORT, tcp6://[::1]:PORT, unix:PATH, "
        "unix:@NAME; or a datagram endpoint (udp://HOST:PORT, unixgram:PATH, "
        "one datagram per line); or unixpacket:PATH (one record per line)",
    )
    parser.add_argument(
        "--timeout",
        type=seconds,
        default=None,
        help="seconds to wait for the peer: connect, to set up the connection; "
        "listen, for a connection (or the first datagram); the session itself "
        "may last as long as it likes",
    )
    parser.add_argument(
        "--idle",
        type=seconds,
        default=DEFAULT_IDLE,
        help="datagram endpoints: after the end of input, stop once no datagram "
        f"has come for this many seconds (default {DEFAULT_IDLE:g})",
    )


def register_connect(
    subparsers: argparse._SubParsersAction[argparse.ArgumentParser],
) -> None:
    """Add ``aiosock connect``."""
    parser = subparsers.add_parser(
        "connect",
        help="connect to an endpoint (stream, datagram or unixpacket); stdin to "
        "it, it to stdout",
        description="Connect to ENDPOINT, copy standard input to it and it to "
        "standard output; half-close at the end of standard input.",
    )
    _add_common(parser)
    parser.set_defaults(func=_run_connect)


def register_listen(
    subparsers: argparse._SubParsersAction[argparse.ArgumentParser],
) -> None:
    """Add ``aiosock listen``."""
    parser = subparsers.add_parser(
        "listen",
        help="accept one connection (or peer) on an endpoint; stdin to it, it to "
        "stdout",
        description="Listen on ENDPOINT, accept one connection, copy standard "
        "input to it and it to standard output. The bound endpoint (with port 0 "
        "resolved) is printed to standard error.",
    )
    _add_common(parser)
    parser.set_defaults(func=_run_listen)


def _is_datagram(text: str) -> bool:
    try:
        return parse_endpoint(text).style is Style.DATAGRAM
    except AiosockError:
        return False  # the stream path reports the error


def _run_connect(args: argparse.Namespace) -> int:
    if args.endpoint.startswith("unixpacket:"):
        return connect_packet_endpoint(args)
    if _is_datagram(args.endpoint):
        try:
            connect_datagram(args)
        except (AiosockError, OSError) as exc:
            return fail("connect", args.endpoint, exc)
        return 0

    async def main() -> None:
        try:
            stream = await connect(args.endpoint, timeout=args.timeout)
        except TimeoutError as exc:
            if exc.errno is not None:
                raise  # a timeout with its own story (ETIMEDOUT from the kernel)
            raise connect_timed_out(args.timeout) from None
        async with stream:
            await pump(stream)

    try:
        run(main(), loop=args.loop)
    except (AiosockError, OSError) as exc:
        return fail("connect", args.endpoint, exc)
    return 0


def _run_listen(args: argparse.Namespace) -> int:
    if args.endpoint.startswith("unixpacket:"):
        return listen_packet_endpoint(args)
    if _is_datagram(args.endpoint):
        try:
            listen_datagram(args)
        except (AiosockError, OSError) as exc:
            return fail("listen", args.endpoint, exc)
        return 0

    async def main() -> None:
        await serve_one(
            lambda handler: serve(handler, args.endpoint, backlog=1),
            pump,
            args.timeout,
        )

    try:
        run(main(), loop=args.loop)
    except (AiosockError, OSError) as exc:
        return fail("listen", args.endpoint, exc)
    return 0
