"""``aiosock connect`` and ``aiosock listen`` for datagram endpoints.

One datagram per line: each line of standard input (without its newline) is
sent as one datagram, and each datagram received is written to standard output
followed by a newline. ``connect`` sends to the endpoint; ``listen`` binds it and
sends its lines to whoever sent the last datagram (lines typed before anyone
has written wait for the first sender). Both end when standard input has ended,
every line has gone out, and no datagram has arrived for ``--idle`` seconds.
"""

from __future__ import annotations

import asyncio
import os
import sys
from typing import TYPE_CHECKING, Any

from .._foundation._concepts import Style
from .._foundation._endpoints import Endpoint
from .._foundation._loop import run
from .._highlevel._datagram_api import open_datagram

if TYPE_CHECKING:
    import argparse
    from collections.abc import Coroutine

    from .._foundation._addresses import ConcreteAddress
    from .._highlevel._datagram import DatagramSocket

__all__ = ["DEFAULT_IDLE", "connect_datagram", "listen_datagram"]

#: Seconds without a datagram, after the end of input, before the command ends.
DEFAULT_IDLE = 1.0
_CHUNK = 65536


async def _lines(stdin_fd: int) -> asyncio.Queue[bytes | None]:
    """Return a queue fed with standard input's lines, then ``None`` at its end."""
    loop = asyncio.get_running_loop()
    queue: asyncio.Queue[bytes | None] = asyncio.Queue()

    async def read() -> None:
        pending = b""
        while data := await loop.run_in_executor(None, os.read, stdin_fd, _CHUNK):
            pending += data
            *complete, pending = pending.split(b"\n")
            for line in complete:
                queue.put_nowait(line)
        if pending:
            queue.put_nowait(pending)
        queue.put_nowait(None)

    task = loop.create_task(read())
    _keep.add(task)
    task.add_done_callback(_keep.discard)
    return queue


_keep: set[asyncio.Task[None]] = set()


async def _write(stdout_fd: int, data: bytes) -> None:
    loop = asyncio.get_running_loop()
    view = memoryview(data + b"\n")
    while view:
        written = await loop.run_in_executor(None, os.write, stdout_fd, view)
        view = view[written:]


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
    sock: DatagramSocket, peer: _Peer, idle: float, stdin_fd: int, stdout_fd: int
) -> None:
    queue = await _lines(stdin_fd)
    activity = asyncio.Event()

    async def upstream() -> None:
        while (line := await queue.get()) is not None:
            await peer.known.wait()
            assert peer.address is not None
            await sock.send_to(line, peer.address)

    async def downstream() -> None:
        while True:
            data, address = await sock.receive_from()
            activity.set()
            if sock.remote_address is None:
                peer.update(address)
            await _write(stdout_fd, data)

    async with asyncio.TaskGroup() as group:
        receiving = group.create_task(downstream())
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


def connect_datagram(args: argparse.Namespace, stdin_fd: int = 0) -> None:
    """``aiosock connect udp://…|unixgram:…``: lines to the endpoint, replies out."""

    async def main() -> None:
        async with asyncio.timeout(args.timeout):
            sock = await open_datagram(remote=args.endpoint)
            async with sock:
                await _run(sock, _Peer(sock.remote_address), args.idle, stdin_fd, 1)

    _run_loop(main(), args)


def listen_datagram(args: argparse.Namespace, stdin_fd: int = 0) -> None:
    """``aiosock listen udp://…|unixgram:…``: print datagrams, reply to the last."""

    async def main() -> None:
        async with asyncio.timeout(args.timeout):
            sock = await open_datagram(args.endpoint)
            async with sock:
                address = sock.local_address
                bound = Endpoint(Style.DATAGRAM, address.namespace, address)
                print(f"listening on {bound}", file=sys.stderr, flush=True)
                await _run(sock, _Peer(None), args.idle, stdin_fd, 1)

    _run_loop(main(), args)


def _run_loop(coro: Coroutine[Any, Any, None], args: argparse.Namespace) -> None:
    run(coro, loop=args.loop)
