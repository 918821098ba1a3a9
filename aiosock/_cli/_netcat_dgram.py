"""``aiosock connect`` and ``aiosock listen`` for datagram endpoints.

One datagram per line: each line of standard input (without its newline) is
sent as one datagram, and each datagram received is written to standard output
followed by a newline. ``connect`` sends to the endpoint; ``listen`` binds it and
sends its lines to whoever sent the last datagram (lines typed before anyone
has written wait for the first sender). Both end when standard input has ended,
every line has gone out, and no datagram has arrived for ``--idle`` seconds.

``--timeout`` bounds setting the socket up (resolution included) for
``connect``, and the wait for the first datagram for ``listen``; neither limits
the session. Standard input and output are served by daemon threads
(``_stdio``), so the command ends at once on an error or SIGINT, whatever
standard input is doing.
"""

from __future__ import annotations

import asyncio
import sys
from typing import TYPE_CHECKING, Any

from .._foundation._concepts import Style
from .._foundation._endpoints import Endpoint
from .._foundation._loop import run
from .._highlevel._datagram_api import open_datagram
from ._netcat_report import connect_timed_out, no_peer
from ._stdio import InputReader, OutputWriter

if TYPE_CHECKING:
    import argparse
    from collections.abc import AsyncIterator, Coroutine

    from .._foundation._addresses import ConcreteAddress
    from .._highlevel._datagram import DatagramSocket

__all__ = ["DEFAULT_IDLE", "connect_datagram", "listen_datagram"]

#: Seconds without a datagram, after the end of input, before the command ends.
DEFAULT_IDLE = 1.0


async def _lines(reader: InputReader) -> AsyncIterator[bytes]:
    """Yield standard input's lines (without their newlines), read as needed."""
    pending = b""
    while data := await reader.read():
        *complete, pending = (pending + data).split(b"\n")
        for line in complete:
            yield line
    if pending:
        yield pending


class _Peer:
    """The address replies go to (the last sender, for ``listen``)."""

    def __init__(self, address: ConcreteAddress | None) -> None:
        self.address = address
        self.known = asyncio.Event()
        if address is not None:
            self.known.set()

    def update(self, address: ConcreteAddress) -> None:
        self.address = address
        self.known.set()


async def _run(
    sock: DatagramSocket,
    peer: _Peer,
    idle: float,
    stdin_fd: int,
    stdout_fd: int,
    first_within: float | None = None,
) -> None:
    """Send input lines as datagrams and write datagrams as lines until quiet.

    With ``first_within``, fail (``TimeoutError``) when no datagram has come
    within that many seconds.
    """
    reader = InputReader(stdin_fd)
    writer = OutputWriter(stdout_fd)
    activity = asyncio.Event()
    arrived = asyncio.Event()

    async def upstream() -> None:
        async for line in _lines(reader):
            await peer.known.wait()
            assert peer.address is not None
            await sock.send_to(line, peer.address)

    async def downstream() -> None:
        while True:
            data, address = await sock.receive_from()
            activity.set()
            arrived.set()
            if sock.remote_address is None:
                peer.update(address)
            await writer.write(data + b"\n")

    async def first_datagram() -> None:
        try:
            async with asyncio.timeout(first_within):
                await arrived.wait()
        except TimeoutError:
            raise no_peer(first_within, "datagram") from None

    try:
        async with asyncio.TaskGroup() as group:
            receiving = group.create_task(downstream())
            watching = None
            if first_within is not None:
                watching = group.create_task(first_datagram())
            await upstream()
            # Input is done and sent: wait for replies until the line goes quiet.
            while True:
                activity.clear()
                try:
                    async with asyncio.timeout(idle):
                        await activity.wait()
                except TimeoutError:
                    break
            receiving.cancel()
            if watching is not None:
                watching.cancel()
    except BaseExceptionGroup as errors:
        # Report the first failure (a refused datagram, a timeout) as itself.
        raise errors.exceptions[0] from None
    finally:
        reader.close()
        writer.close()


def connect_datagram(args: argparse.Namespace, stdin_fd: int = 0) -> None:
    """``aiosock connect udp://…|unixgram:…``: lines to the endpoint, replies out."""

    async def main() -> None:
        try:
            async with asyncio.timeout(args.timeout):
                sock = await open_datagram(remote=args.endpoint)
        except TimeoutError as exc:
            if exc.errno is not None:
                raise  # (ETIMEDOUT from the kernel)
            raise connect_timed_out(args.timeout) from None
        async with sock:
            await _run(sock, _Peer(sock.remote_address), args.idle, stdin_fd, 1)

    _run_loop(main(), args)


def listen_datagram(args: argparse.Namespace, stdin_fd: int = 0) -> None:
    """``aiosock listen udp://…|unixgram:…``: print datagrams, reply to the last."""

    async def main() -> None:
        sock = await open_datagram(args.endpoint)
        async with sock:
            address = sock.local_address
            bound = Endpoint(Style.DATAGRAM, address.namespace, address)
            print(f"listening on {bound}", file=sys.stderr, flush=True)
            await _run(
                sock, _Peer(None), args.idle, stdin_fd, 1, first_within=args.timeout
            )

    _run_loop(main(), args)


def _run_loop(coro: Coroutine[Any, Any, None], args: argparse.Namespace) -> None:
    run(coro, loop=args.loop)
