"""``python:`` handlers that the inetd tests' configurations name."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import aiosock


async def upper(stream: aiosock.Stream) -> None:
    """Send back what arrives, in capitals."""
    async for chunk in stream:
        await stream.send(chunk.upper())


async def reverse(data: bytes, address: Any, sock: Any) -> None:
    """Answer each datagram with its bytes reversed."""
    await sock.send_to(data[::-1], address)


async def broken(stream: aiosock.Stream) -> None:
    """Fail at once (the daemon logs it and goes on)."""
    raise RuntimeError("this handler is broken on purpose")


async def hold(stream: aiosock.Stream) -> None:
    """Send 'held', then echo until the client ends (a connection kept open)."""
    await stream.send(b"held\n")
    async for chunk in stream:
        await stream.send(chunk)


NOT_CALLABLE = 42


async def no_arguments() -> None:
    """A handler of the wrong shape: it takes nothing (--check refuses it)."""


class NotAwaitable:
    """A class: calling it with the stream makes an object no one can await."""

    def __init__(self, stream: aiosock.Stream) -> None:
        self.stream = stream
