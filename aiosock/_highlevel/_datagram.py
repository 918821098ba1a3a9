"""``DatagramSocket`` and ``open_datagram``: datagrams as a coroutine API.

Strategy (the same as ``Stream``'s): the socket object *is* the asyncio
``DatagramProtocol`` of its transport, and its methods are plain functions
returning awaitables. ``send``/``send_to`` hand the datagram to the transport at
once and return a done future shared by the socket, unless the transport asked
to pause writing. ``receive``/``receive_from`` return a queued datagram in a done
future, or park one future that ``datagram_received`` completes with the
datagram itself. Sender addresses are turned into typed addresses through a
small cache, so a conversation with a few peers builds each address once.

Errors keep the kernel's order (``_datagram_base``): a datagram longer than
``max_size`` raises once, from the receive whose turn it is; an error about no
one datagram (``ConnectionRefusedError`` after an ICMP port-unreachable on a
connected UDP socket) comes after the queued datagrams, raised once by the next
operation.
"""

from __future__ import annotations

import asyncio
import socket
from typing import TYPE_CHECKING, Any

from .._core._dgram import kernel_drops, send_error
from .._core._multicast import join_group, leave_group
from .._foundation._addresses import ConcreteAddress, from_sockaddr
from .._foundation._concepts import Namespace
from .._foundation._endpoints import Endpoint
from .._foundation._errors import (
    AddressError,
    ClosedResourceError,
)
from .._foundation._optionsview import OptionsView
from ._datagram_base import DEFAULT_MAX_SIZE
from ._datagram_local import DatagramLocal
from ._drain import Drain

if TYPE_CHECKING:
    from collections.abc import Awaitable

    from ._destinations import AddressLike

__all__ = ["DEFAULT_MAX_SIZE", "DatagramSocket"]


class DatagramSocket(DatagramLocal):
    """A datagram socket: UDP over IPv4 or IPv6, or a Unix-domain datagram socket.

    Get one from :func:`aiosock.open_datagram`, or as the ``sock`` argument of a
    :func:`aiosock.serve_datagram` handler. Each datagram is sent and received
    whole: boundaries are kept. One task at a time may receive; a second
    concurrent receiver gets :class:`~aiosock.BusyResourceError`. Using the
    socket after :meth:`aclose` raises :class:`~aiosock.ClosedResourceError`.

    A Unix-domain one also passes descriptors and credentials
    (:meth:`send_fds`, :meth:`receive_message`, :attr:`peer_credentials`).

    The asyncio protocol callbacks (``datagram_received`` and so on) are the
    transport's to call.
    """

    __slots__ = ()

    # -- sending ---------------------------------------------------------------

    def send(self, data: bytes | bytearray | memoryview) -> Awaitable[None]:
        """Send one datagram to the connected remote address.

        Raises:
            ClosedResourceError: The socket was closed here.
            MessageTooLargeError: The kernel refused the datagram as too large.
            ConnectionRefusedError: The kernel reported that an earlier datagram
                was refused (an ICMP port-unreachable).
            OSError: Any other error the kernel reported.
        """
        if self._remote_sockaddr is None:
            raise AddressError(
                "expected a connected socket for send(); use send_to(data, address)"
            )
        return self._send(data, None)

    def send_to(
        self, data: bytes | bytearray | memoryview, address: AddressLike
    ) -> Awaitable[None]:
        """Send one datagram to ``address``.

        Args:
            data: The datagram (may be empty).
            address: A typed address, endpoint text (``"udp://127.0.0.1:9"``,
                ``"unixgram:/run/app.sock"``), an :class:`~aiosock.Endpoint`, or
                a ``(host, port)`` tuple; host names are resolved first.

        Raises:
            AddressError: The address is malformed, of another namespace, or not
                the remote address of a connected socket.
            ClosedResourceError: The socket was closed here.
            MessageTooLargeError: The kernel refused the datagram as too large.
        """
        if type(address) is self._address_class:
            if self._fast and data:
                # The common case, kept to a handful of operations: ``_fast``
                # says the socket is open, unconnected, not paused, no error.
                if address is self._last_address:  # an answer: as received
                    sockaddr = self._last_sockaddr
                else:
                    sockaddr = self._sockaddr_of(address)
                self._sending = True
                try:
                    self._transport.sendto(data, sockaddr)  # type: ignore[union-attr]
                except OSError as exc:
                    self._sending = False
                    raise send_error(exc) from exc
                except BaseException:
                    self._sending = False
                    raise
                self._sending = False
                if self._fast:
                    return self._done  # type: ignore[return-value]
                return self._after_send()  # type: ignore[unreachable]
            sockaddr = address.to_sockaddr()  # type: ignore[union-attr]
        else:
            sockaddr = self._destinations.sockaddr(address)
            if isinstance(sockaddr, Endpoint):
                return self._resolve_and_send(data, sockaddr)
        if self._remote_sockaddr is not None:
            if sockaddr != self._remote_sockaddr:
                raise AddressError(
                    f"expected the connected remote address {self._remote}, "
                    f"got {address}"
                )
            sockaddr = None
        return self._send(data, sockaddr)

    async def _resolve_and_send(
        self, data: bytes | bytearray | memoryview, endpoint: Endpoint
    ) -> None:
        await self.send_to(data, await self._destinations.resolve(endpoint))

    def _send(
        self, data: bytes | bytearray | memoryview, sockaddr: Any
    ) -> Awaitable[None]:
        if self._closing or self._error is not None:
            self._check_send()
        if not data and self._reports_send_errors:
            # The loops' transports drop empty datagrams; UDP allows them.
            self._send_now(data, sockaddr)
        else:
            self._sending = True
            try:
                self._transport.sendto(data, sockaddr)  # type: ignore[union-attr]
            except OSError as exc:
                self._sending = False
                raise send_error(exc) from exc
            except BaseException:
                self._sending = False
                raise
            self._sending = False
            if self._send_error is not None:
                return self._raise_send_error()
        if self._write_paused:
            return self._drain_waiter()
        return self._done  # type: ignore[return-value]

    def _after_send(self) -> Awaitable[None]:
        """The datagram went to the transport but the socket is not on the fast path."""
        if self._send_error is not None:
            return self._raise_send_error()
        if self._write_paused:
            return self._drain_waiter()
        return self._done  # type: ignore[return-value]

    def _raise_send_error(self) -> Awaitable[None]:
        error = self._send_error
        self._send_error = None
        self._refresh()
        assert error is not None
        raise error

    def _drain_waiter(self) -> asyncio.Future[None]:
        """A future of the caller's own, done when the queue drains."""
        drain = self._drain
        if drain is None:
            drain = self._drain = Drain()
        return drain.wait(self._create_future())

    def _send_now(self, data: bytes | bytearray | memoryview, sockaddr: Any) -> None:
        try:
            if sockaddr is None:
                self._sock.send(data)
            else:
                self._sock.sendto(data, sockaddr)
        except OSError as exc:
            raise send_error(exc) from exc

    # -- multicast ---------------------------------------------------------------

    def join_group(
        self,
        group: str,
        interface: str | int | None = None,
        *,
        source: str | None = None,
    ) -> None:
        """Join the multicast ``group`` (``IP_ADD_MEMBERSHIP``, ``IPV6_JOIN_GROUP``).

        Args:
            group: The group's IPv4 or IPv6 address (``"239.1.2.3"``, ``"ff02::1"``).
            interface: The interface to join on: a name (``"eth0"``) or index;
                for IPv4 also a local address. ``None`` lets the kernel choose by
                route.
            source: Receive only what this source sends to the group
                (source-specific multicast, ``MCAST_JOIN_SOURCE_GROUP``).

        Raises:
            AddressError: ``group`` is not a multicast address of this socket's
                namespace, or the interface is unknown.
            OSError: The kernel refused (for example, no route for the group).
        """
        join_group(self.socket, group, interface, source=source)

    def leave_group(
        self,
        group: str,
        interface: str | int | None = None,
        *,
        source: str | None = None,
    ) -> None:
        """Leave a group joined with :meth:`join_group` (the same arguments)."""
        leave_group(self.socket, group, interface, source=source)

    # -- closing ---------------------------------------------------------------

    async def aclose(self) -> None:
        """Close the socket (and remove its socket file). Idempotent.

        Datagrams queued because the socket was full are still sent (to a
        Unix-domain receiver whose queue stays full, for two seconds at most:
        then they are dropped); a task waiting in a receive gets
        :class:`~aiosock.ClosedResourceError`.
        """
        if not self._closing:
            self._closing = True
            self._fast = False
            self._wake_closed()
            transport = self._transport
            if transport is not None:
                transport.close()
            else:
                self._holder.close()
                self._lost = True
        if not self._lost:
            if self._lost_waiter is None:
                self._lost_waiter = self._create_future()
            await asyncio.shield(self._lost_waiter)
        else:
            await asyncio.sleep(0)

    def abort(self) -> None:
        """Close at once, dropping datagrams queued for sending."""
        if not self._closing:
            self._closing = True
            self._fast = False
            self._wake_closed()
        transport = self._transport
        if transport is not None and not self._lost:
            transport.abort()

    async def __aenter__(self) -> DatagramSocket:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    # -- introspection ---------------------------------------------------------

    @property
    def socket(self) -> socket.socket:
        """The ``socket.socket`` (for options and ioctls; do not read or write it)."""
        if self._lost or self._sock.fileno() < 0:
            raise ClosedResourceError("the socket was closed")
        return self._sock

    @property
    def options(self) -> OptionsView:
        """The socket's options as a live mapping (``sock.options["broadcast"]``)."""
        if self._options_view is None:
            self._options_view = OptionsView(self.socket)
        return self._options_view

    @property
    def namespace(self) -> Namespace:
        """The socket's namespace."""
        return Namespace.from_family(self._family)

    @property
    def local_address(self) -> ConcreteAddress:
        """The typed address this socket is bound to (port 0 until first use)."""
        return from_sockaddr(self._family, self.socket.getsockname())

    @property
    def remote_address(self) -> ConcreteAddress | None:
        """The connected remote address, or ``None`` for an unconnected socket."""
        return self._remote  # type: ignore[return-value]

    @property
    def max_size(self) -> int:
        """The longest datagram this socket receives; longer ones raise."""
        return self._max_size

    @property
    def dropped(self) -> int:
        """Datagrams dropped because the receive queue was full.

        The kernel's count for this socket (``SO_MEMINFO``, the counter that
        ``SO_RXQ_OVFL`` reports), plus those aiosock dropped because nobody was
        receiving. Unix-domain datagrams are never dropped: senders wait instead.
        """
        kernel = 0 if self._lost else kernel_drops(self._sock)
        return kernel + self._dropped

    @property
    def is_closing(self) -> bool:
        """Whether the socket is closed or closing."""
        return self._closing

    def __repr__(self) -> str:
        state = "closed" if self._closing else "open"
        try:
            where = f" {self.local_address}"
        except Exception:
            where = ""
        if self._remote is not None:
            where += f" -> {self._remote}"
        return f"<DatagramSocket{where} {state}>"
