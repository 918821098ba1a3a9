"""``open_raw``: raw sockets (``ip4:PROTO``, ``ip6:PROTO``), the manual's ``SOCK_RAW``.

Strategy: a raw socket has no transport on either loop and no connection, so
:class:`RawSocket` drives the non-blocking socket itself, as the sequenced-packet
stream does: each call tries ``sendto``/``recvfrom`` at once and waits with
``add_reader``/``add_writer`` (:class:`FdWatcher`) only when the kernel says
``EAGAIN``. Nothing is read ahead, so a cancelled receive loses no packet.

Creating a raw socket needs ``CAP_NET_RAW``; the ``PermissionError`` says so, and
what to do instead.
"""

from __future__ import annotations

import asyncio
import errno
import ipaddress
import socket
from typing import TYPE_CHECKING, Any, Final

from .._core._options import Phase, apply_phase, checked_options
from .._foundation._addresses import Inet6Address, InetAddress, from_sockaddr
from .._foundation._checks import check_count
from .._foundation._concepts import Namespace, Style
from .._foundation._endpoints import Endpoint, EndpointLike, as_endpoint
from .._foundation._errors import (
    AddressError,
    BusyResourceError,
    ClosedResourceError,
    MessageTooLargeError,
)
from .._foundation._optionsview import OptionsView
from ._fdwatch import FdWatcher

if TYPE_CHECKING:
    from collections.abc import Mapping

__all__ = ["RAW_PERMISSION_HINT", "RawSocket", "open_raw"]

#: Big enough for any IPv4 or IPv6 packet without jumbograms.
DEFAULT_MAX_PACKET: Final = 65535

RAW_PERMISSION_HINT: Final = (
    "raw sockets need the CAP_NET_RAW capability: run as root, or grant it to "
    "the interpreter (setcap cap_net_raw+ep /path/to/python3); for ICMP echo "
    "alone, an unprivileged ping socket (SOCK_DGRAM with IPPROTO_ICMP) works "
    "where the sysctl net.ipv4.ping_group_range includes your group"
)

InetLike = (
    InetAddress
    | Inet6Address
    | str
    | tuple[Any, ...]
    | ipaddress.IPv4Address
    | ipaddress.IPv6Address
)


class RawSocket:
    """A raw socket for one IP protocol: whole packets, no ports, no connection.

    Get one from :func:`aiosock.open_raw`. On IPv4 the packets received include
    the IP header (its length is ``(data[0] & 0x0F) * 4``); on IPv6 they start at
    the protocol's own header. Sent packets never include the IP header: the
    kernel adds it. For ICMPv6 the kernel also computes the checksum; for ICMP
    over IPv4 the sender does.

    Attributes:
        endpoint: The resolved endpoint (``ip4:1``, ``ip6:58``, ...).
    """

    __slots__ = (
        "__weakref__",
        "_closing",
        "_options_view",
        "_receiving",
        "_sock",
        "_watch",
        "endpoint",
    )

    def __init__(self, sock: socket.socket, endpoint: Endpoint) -> None:
        sock.setblocking(False)
        self._sock = sock
        self.endpoint = endpoint
        self._watch = FdWatcher(asyncio.get_running_loop(), sock.fileno())
        self._closing = False
        self._receiving = False
        self._options_view: OptionsView | None = None

    @property
    def namespace(self) -> Namespace:
        """:attr:`~aiosock.Namespace.INET` or :attr:`~aiosock.Namespace.INET6`."""
        return Namespace.from_family(self._sock.family)

    @property
    def protocol(self) -> int:
        """The IP protocol number (1 for ICMP, 58 for ICMPv6, ...)."""
        return self._sock.proto

    async def send_to(
        self, data: bytes | bytearray | memoryview, address: InetLike
    ) -> None:
        """Send one packet (the protocol's header and payload) to ``address``.

        Args:
            data: The packet, without the IP header.
            address: An IP address (``"127.0.0.1"``, ``"fe80::1%eth0"``), an
                :class:`~aiosock.InetAddress` or :class:`~aiosock.Inet6Address`
                (its port is ignored), or a ``(host, port)`` tuple.

        Raises:
            AddressError: The address is not an IP literal of this socket's
                namespace.
            MessageTooLargeError: The packet is larger than the kernel allows.
            ClosedResourceError: The socket was closed.
        """
        sockaddr = self._sockaddr(address)
        view = memoryview(data)
        while True:
            self._check_open()
            try:
                self._sock.sendto(view, sockaddr)
            except (BlockingIOError, InterruptedError):
                await self._watch.writable()
                continue
            except OSError as exc:
                if exc.errno == errno.EMSGSIZE:
                    raise MessageTooLargeError(
                        f"expected a packet the kernel can send, got {view.nbytes} "
                        "bytes",
                        size=view.nbytes,
                    ) from exc
                raise
            return

    async def receive_from(
        self, max_bytes: int = DEFAULT_MAX_PACKET
    ) -> tuple[bytes, InetAddress | Inet6Address]:
        """Receive one packet of this socket's protocol, from any host.

        Returns:
            The packet (with the IPv4 header on IPv4) and the sender's address
            (port 0).

        Raises:
            MessageTooLargeError: The packet was longer than ``max_bytes``; it
                was discarded (never returned cut short).
            ClosedResourceError: The socket was closed (also wakes a waiter).
            BusyResourceError: Another task is receiving.
        """
        self._check_open()
        if self._receiving:
            raise BusyResourceError("another task is already receiving on this socket")
        check_count("max_bytes", max_bytes, minimum=1)
        self._receiving = True
        try:
            while True:
                try:
                    data, _, flags, sockaddr = self._sock.recvmsg(max_bytes)
                except (BlockingIOError, InterruptedError):
                    await self._watch.readable()
                    continue
                if flags & socket.MSG_TRUNC:
                    # Never a packet cut short: the kernel dropped the rest.
                    raise MessageTooLargeError(
                        f"expected a packet of at most {max_bytes} bytes"
                        " (max_bytes), got a longer one; it was discarded",
                        limit=max_bytes,
                    )
                address = from_sockaddr(self._sock.family, sockaddr)
                assert isinstance(address, InetAddress | Inet6Address)
                return data, address
        finally:
            self._receiving = False

    def _check_open(self) -> None:
        if self._closing:
            raise ClosedResourceError("the raw socket was closed")

    def _sockaddr(self, address: InetLike) -> tuple[Any, ...]:
        if isinstance(address, ipaddress.IPv4Address | ipaddress.IPv6Address):
            address = str(address)
        if isinstance(address, tuple):
            address = str(address[0]) if address else ""
        if isinstance(address, str):
            try:
                typed: InetAddress | Inet6Address = (
                    Inet6Address(address, 0)
                    if self._sock.family == socket.AF_INET6
                    else InetAddress(address, 0)
                )
            except (AddressError, ValueError) as exc:
                raise AddressError(
                    f"expected an {self.namespace.name} address literal, got "
                    f"{address!r}"
                ) from exc
            address = typed
        if not isinstance(address, InetAddress | Inet6Address):
            raise AddressError(
                f"expected an {self.namespace.name} address literal, typed address"
                f" or (host, port) tuple, got {address!r}"
            )
        if address.namespace is not self.namespace:
            raise AddressError(
                f"expected an {self.namespace.name} address, got {address} "
                f"({address.namespace.name})"
            )
        if isinstance(address, Inet6Address):
            # The port field of an IPv6 raw sockaddr must be 0 or the protocol.
            return (address.host, 0, address.flowinfo, address.scope_index())
        return (address.host, 0)

    async def aclose(self) -> None:
        """Close the socket; a waiting receive gets ``ClosedResourceError``."""
        if not self._closing:
            self._closing = True
            self._watch.close(lambda: ClosedResourceError("the raw socket was closed"))
            self._sock.close()
        await asyncio.sleep(0)

    async def __aenter__(self) -> RawSocket:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    @property
    def socket(self) -> socket.socket:
        """The socket (an escape hatch for options such as ICMP filters)."""
        self._check_open()
        return self._sock

    @property
    def options(self) -> OptionsView:
        """The socket's options as a live mapping (``raw.options["ttl"] = 5``)."""
        if self._options_view is None:
            self._options_view = OptionsView(self.socket)
        return self._options_view

    def __repr__(self) -> str:
        state = "closed" if self._closing else "open"
        return f"<RawSocket {self.endpoint} {state}>"


async def open_raw(
    endpoint: EndpointLike, *, options: Mapping[str, Any] | None = None
) -> RawSocket:
    """Open a raw socket for an IP protocol (the manual's ``SOCK_RAW``).

    Args:
        endpoint: ``"ip4:icmp"``, ``"ip6:ipv6-icmp"``, ``"ip6:58"`` or a raw
            :class:`~aiosock.Endpoint`; a protocol name is looked up in the
            protocols database.
        options: Socket options to set at creation (``{"ttl": 5}``).

    Returns:
        The open :class:`RawSocket`.

    Raises:
        PermissionError: The process lacks ``CAP_NET_RAW``; the message says
            what is needed.
        AddressError: The endpoint is not a raw endpoint.
        ResolutionError: The protocol name is unknown.
    """
    values = checked_options(options)
    target = as_endpoint(endpoint, Style.RAW)
    (resolved,) = await target.resolve()
    assert resolved.namespace is not None
    assert isinstance(resolved.protocol, int)
    try:
        sock = socket.socket(
            resolved.namespace.family, socket.SOCK_RAW, resolved.protocol
        )
    except PermissionError as exc:
        raise PermissionError(
            exc.errno, f"cannot open {target}: {RAW_PERMISSION_HINT}"
        ) from exc
    try:
        for phase in (Phase.BEFORE_BIND, Phase.BEFORE_CONNECT, Phase.CONNECTED):
            apply_phase(sock, values, phase)
        return RawSocket(sock, resolved)
    except BaseException:
        sock.close()
        raise
