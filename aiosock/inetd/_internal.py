"""The internal services: echo, discard, chargen, daytime and time.

Strategy: each service is an ordinary aiosock stream handler (``handler(stream)``)
and a datagram responder, byte for byte what openbsd-inetd answers:

- ``echo`` sends back what it receives (over UDP the first 4096 bytes of each
  datagram, openbsd-inetd's buffer);
- ``discard`` reads and drops;
- ``chargen`` sends lines of 72 printable ASCII characters (32..126) and CRLF,
  each line starting one character later than the one before; over TCP until
  the client goes away, over UDP one line per datagram, the rotation carried on
  from one datagram to the next;
- ``daytime`` sends ``ctime()`` in local time, 24 characters and CRLF;
- ``time`` sends the seconds since 1900-01-01 as 4 bytes, big-endian.

UDP services answer whoever the source address claims to be, so a forged source
can aim one at another UDP service (or at itself) and start a loop. Replies are
refused (see :func:`refusal`) to sources that cannot be genuine clients:
unspecified, multicast and broadcast addresses, 0.0.0.0/8 and 255.0.0.0/8 (as
openbsd-inetd's ``dg_badinput``), privileged ports below 1024 and 2049 (NFS) (as
upstream OpenBSD's ``dg_badinput``), and the ports of this daemon's own internal
UDP services (as FreeBSD's ``check_loop``). IPv4-mapped IPv6 sources are judged by
their IPv4 address. Unlike openbsd-inetd, loopback sources are answered.
"""

from __future__ import annotations

import ipaddress
import itertools
import socket
import struct
import time as _time
from collections.abc import Awaitable, Callable, Collection, Iterator
from typing import TYPE_CHECKING, Any, Final

from .._foundation._errors import BrokenResourceError, ClosedResourceError

if TYPE_CHECKING:
    from .._highlevel._stream import Stream

__all__ = [
    "DATAGRAM_BUFFER",
    "STREAM_HANDLERS",
    "ChargenRotation",
    "chargen",
    "chargen_datagram",
    "chargen_lines",
    "daytime",
    "daytime_datagram",
    "daytime_text",
    "discard",
    "discard_datagram",
    "echo",
    "echo_datagram",
    "refusal",
    "time",
    "time_bytes",
    "time_datagram",
]

#: The bytes of a datagram that echo sends back (openbsd-inetd's BUFSIZE).
DATAGRAM_BUFFER: Final = 4096
#: Seconds from 1900-01-01 to 1970-01-01 (RFC 868).
EPOCH_1900: Final = 2208988800
LINE_LENGTH: Final = 72
_RING: Final = bytes(range(32, 127))
_LINES: Final = tuple(
    (_RING * 2)[start : start + LINE_LENGTH] + b"\r\n" for start in range(len(_RING))
)
#: One full turn of chargen lines, repeated to about 56 KiB per send.
_CHARGEN_BLOCK: Final = b"".join(_LINES) * 8
_PRIVILEGED: Final = 1024
_NFS_PORT: Final = 2049
_BAD_FIRST_OCTETS: Final = frozenset({0, 255})


def chargen_lines(start: int = 0) -> Iterator[bytes]:
    """Yield chargen lines forever, starting with line ``start`` of the rotation."""
    for index in itertools.count(start):
        yield _LINES[index % len(_LINES)]


def daytime_text(now: float | None = None) -> bytes:
    """Return the daytime answer: ``ctime()`` in local time and CRLF."""
    return _time.ctime(_time.time() if now is None else now)[:24].encode() + b"\r\n"


def time_bytes(now: float | None = None) -> bytes:
    """Return the time answer: seconds since 1900, 32 bits, big-endian."""
    seconds = int(_time.time() if now is None else now) + EPOCH_1900
    return struct.pack("!I", seconds & 0xFFFFFFFF)


# -- stream handlers ------------------------------------------------------------


async def echo(stream: Stream) -> None:
    """Send back everything received, until the client ends the stream."""
    try:
        async for chunk in stream:
            await stream.send(chunk)
    except (BrokenResourceError, ClosedResourceError):
        return


async def discard(stream: Stream) -> None:
    """Read and drop everything, until the client ends the stream."""
    try:
        async for _chunk in stream:
            pass
    except (BrokenResourceError, ClosedResourceError):
        return


async def chargen(stream: Stream) -> None:
    """Send chargen lines until the client goes away (input is ignored)."""
    block = _CHARGEN_BLOCK
    try:
        while True:
            await stream.send(block)
    except (BrokenResourceError, ClosedResourceError):
        return


async def daytime(stream: Stream) -> None:
    """Send the local date and time, then close."""
    try:
        await stream.send(daytime_text())
    except (BrokenResourceError, ClosedResourceError):
        return


async def time(stream: Stream) -> None:
    """Send the time as 4 bytes (seconds since 1900), then close."""
    try:
        await stream.send(time_bytes())
    except (BrokenResourceError, ClosedResourceError):
        return


#: The stream handler of each internal service.
STREAM_HANDLERS: Final[dict[str, Callable[[Stream], Awaitable[None]]]] = {
    "echo": echo,
    "discard": discard,
    "chargen": chargen,
    "daytime": daytime,
    "time": time,
}


# -- datagrams ------------------------------------------------------------------


class ChargenRotation:
    """Where the next chargen datagram starts (carried across datagrams)."""

    __slots__ = ("_next",)

    def __init__(self) -> None:
        self._next = 0

    def next_line(self) -> bytes:
        """Return the next line of the rotation."""
        line = _LINES[self._next]
        self._next = (self._next + 1) % len(_LINES)
        return line


def reply_for(builtin: str, data: bytes, rotation: ChargenRotation) -> bytes | None:
    """Return what an internal UDP service sends back for ``data``, if anything."""
    if builtin == "echo":
        return data[:DATAGRAM_BUFFER]
    if builtin == "chargen":
        return rotation.next_line()
    if builtin == "daytime":
        return daytime_text()
    if builtin == "time":
        return time_bytes()
    return None


def refusal(
    family: int,
    sockaddr: Any,
    *,
    protected_ports: Collection[int] = (),
    broadcasts: Collection[ipaddress.IPv4Address] = (),
) -> str | None:
    """Return why a UDP reply to ``sockaddr`` must not be sent, or ``None``.

    Args:
        family: ``socket.AF_INET``, ``socket.AF_INET6`` or ``socket.AF_UNIX``
            (others are not judged).
        sockaddr: The source address as the socket gives it (for a Unix
            socket, its path or abstract name; ``None`` or empty when unnamed).
        protected_ports: The ports of the daemon's internal UDP services.
        broadcasts: The broadcast addresses of the local interfaces.

    Returns:
        A short reason ("source port 19 is privileged"), or ``None`` to reply.
    """
    if family == socket.AF_UNIX:
        # An unbound (unnamed) socket cannot be answered: there is no address.
        return None if sockaddr else "the sender is an unnamed Unix socket"
    if family not in (socket.AF_INET, socket.AF_INET6):
        return None
    host, port = sockaddr[0], sockaddr[1]
    try:
        address = ipaddress.ip_address(host.partition("%")[0])
    except ValueError:
        return f"source address {host!r} is not an address"
    if isinstance(address, ipaddress.IPv6Address):
        mapped = address.ipv4_mapped
        if mapped is not None:
            address = mapped
        elif address.is_multicast or address.is_unspecified:
            return f"source address {host} cannot send"
    if isinstance(address, ipaddress.IPv4Address):
        if address.is_multicast or address.packed[0] in _BAD_FIRST_OCTETS:
            return f"source address {address} cannot send"
        if address in broadcasts:
            return f"source address {address} is a broadcast address"
    if port < _PRIVILEGED or port == _NFS_PORT:
        return f"source port {port} is privileged (or NFS)"
    if port in protected_ports:
        return f"source port {port} is an internal service's"
    return None


async def _answer(
    builtin: str, data: bytes, address: Any, sock: Any, rotation: ChargenRotation
) -> None:
    family = address.namespace.family
    if refusal(family, address.to_sockaddr()) is not None:
        return
    reply = reply_for(builtin, data, rotation)
    if reply is not None:
        await sock.send_to(reply, address)


_ROTATION = ChargenRotation()


async def echo_datagram(data: bytes, address: Any, sock: Any) -> None:
    """``serve_datagram`` handler: send the datagram back (its first 4096 bytes)."""
    await _answer("echo", data, address, sock, _ROTATION)


async def discard_datagram(data: bytes, address: Any, sock: Any) -> None:
    """``serve_datagram`` handler: drop the datagram."""


async def chargen_datagram(data: bytes, address: Any, sock: Any) -> None:
    """``serve_datagram`` handler: answer with the next chargen line."""
    await _answer("chargen", data, address, sock, _ROTATION)


async def daytime_datagram(data: bytes, address: Any, sock: Any) -> None:
    """``serve_datagram`` handler: answer with the local date and time."""
    await _answer("daytime", data, address, sock, _ROTATION)


async def time_datagram(data: bytes, address: Any, sock: Any) -> None:
    """``serve_datagram`` handler: answer with the time since 1900 (4 bytes)."""
    await _answer("time", data, address, sock, _ROTATION)
