"""A draining datagram transport that keeps descriptors and credentials.

Strategy: :class:`MessageTransport` is :class:`~._dgram_transport.DrainingTransport`
reading with ``recvmsg`` instead of ``recvfrom``, for Unix-domain sockets whose
owner may ask for ancillary data. The kernel closes descriptors (``SCM_RIGHTS``)
that arrive with a datagram read by ``recvfrom`` and drops credentials
(``SCM_CREDENTIALS``); read with ``recvmsg``, every datagram keeps them, whether
anyone is waiting for it yet or not. A datagram that came with ancillary data
goes to the protocol's ``message_received(data, addr, ancdata, msg_flags)``, the
others to ``datagram_received`` as usual; one longer than ``max_size`` is
reported through ``error_received`` and its descriptors are closed.
Sending ancillary data (``sendmsg``) is the base class's.
"""

from __future__ import annotations

import array
import asyncio
import contextlib
import os
import socket
from typing import Any, Final

from ._dgram_transport import READ_BATCH, DrainingTransport, too_large

__all__ = ["MessageTransport", "close_rights"]

_MSG_TRUNC: Final = int(getattr(socket, "MSG_TRUNC", 0))
_MSG_CTRUNC: Final = int(getattr(socket, "MSG_CTRUNC", 0))
_CLOEXEC: Final = int(getattr(socket, "MSG_CMSG_CLOEXEC", 0))


def close_rights(ancdata: list[tuple[int, int, bytes]]) -> None:
    """Close the descriptors in ``SCM_RIGHTS`` entries of ``recvmsg`` ancillary data."""
    for level, kind, payload in ancdata:
        if level == socket.SOL_SOCKET and kind == socket.SCM_RIGHTS:
            ints = array.array("i")
            ints.frombytes(payload[: len(payload) - len(payload) % ints.itemsize])
            for fd in ints:
                with contextlib.suppress(OSError):
                    os.close(fd)


class MessageTransport(DrainingTransport):
    """A :class:`DrainingTransport` that reads ancillary data with each datagram.

    Args:
        ancillary: The control buffer size to read with (room for the most
            descriptors and credentials a datagram can carry).
    """

    def __init__(
        self,
        loop: asyncio.AbstractEventLoop,
        sock: socket.socket,
        protocol: asyncio.DatagramProtocol,
        *,
        max_size: int,
        ancillary: int,
    ) -> None:
        super().__init__(loop, sock, protocol, max_size=max_size)
        self._ancillary = ancillary

    def _read_ready(self) -> None:
        self._read_messages()

    def _read_messages(self) -> None:
        # recvmsg() keeps the descriptors and credentials that come with each
        # datagram (about 2,000 instructions more than recvfrom() per datagram).
        # Up to 64 KiB into a fresh bytes object: the length of a longer
        # datagram is then unknown (recvmsg() keeps only the MSG_TRUNC flag).
        # Larger limits read into the reused buffer, where MSG_TRUNC gives it.
        if self._view is not None:
            self._read_large_messages()
            return
        recvmsg = self._sock.recvmsg
        limit = self._max_size
        space = self._ancillary
        protocol = self._protocol
        received = protocol.datagram_received
        more = self.more
        for count in range(READ_BATCH):
            try:
                data, ancdata, flags, addr = recvmsg(limit, space, _CLOEXEC)
            except (BlockingIOError, InterruptedError):
                return
            except OSError as exc:
                protocol.error_received(exc)
            else:
                if ancdata or flags:
                    self._message(data, addr, ancdata, flags, None)
                else:
                    received(data, addr)
            if not self.reading or (count == 0 and not more(0)):
                return

    def _read_large_messages(self) -> None:
        recvmsg_into = self._sock.recvmsg_into
        view = self._view
        assert view is not None
        buffers = [view]
        limit = self._max_size
        space = self._ancillary
        protocol = self._protocol
        more = self.more
        for count in range(READ_BATCH):
            try:
                size, ancdata, flags, addr = recvmsg_into(
                    buffers, space, _CLOEXEC | _MSG_TRUNC
                )
            except (BlockingIOError, InterruptedError):
                return
            except OSError as exc:
                protocol.error_received(exc)
            else:
                data = bytes(view[:size]) if size <= limit else b""
                self._message(data, addr, ancdata, flags, size)
            if not self.reading or (count == 0 and not more(0)):
                return

    def _message(
        self,
        data: bytes,
        addr: Any,
        ancdata: list[tuple[int, int, bytes]],
        flags: int,
        size: int | None,
    ) -> None:
        """Hand over a datagram read by ``recvmsg``, or report it too large."""
        limit = self._max_size
        if flags & _MSG_TRUNC or (size is not None and size > limit):
            close_rights(ancdata)
            self._protocol.error_received(too_large(size, limit))
        elif ancdata or flags & _MSG_CTRUNC:
            self._protocol.message_received(data, addr, ancdata, flags)  # type: ignore[attr-defined]
        else:
            self._protocol.datagram_received(data, addr)
