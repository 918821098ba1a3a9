"""Local-namespace extras of datagram sockets: descriptors, credentials, peer.

Strategy: a Unix-domain :class:`~aiosock.DatagramSocket` reads ahead, like a
:class:`~aiosock.Stream`, but its transport is aiosock's own and reads with
``recvmsg`` (``_dgram_transport``): every datagram keeps the descriptors
(``SCM_RIGHTS``) and credentials (``SCM_CREDENTIALS``) it came with, whether a
receive was waiting for it or it was queued. Nothing depends on the order of
calls, unlike on a stream: the kernel closes descriptors only in datagrams read
by ``recvfrom``, and nothing here reads that way.

- A datagram that came with ancillary data reaches :meth:`message_received`;
  its descriptors ride along in the queue item (``extra``).
- :meth:`receive_message` (and :meth:`receive_fds`) take the next datagram with
  its descriptors: those beyond ``max_fds`` are closed, ``MSG_CTRUNC`` raises
  :class:`~aiosock.DescriptorsLostError`. A receive that waits gets the queue
  item itself, so that a cancellation puts it back at the front of the queue
  with its descriptors, in order.
- ``receive()``/``receive_from()`` did not ask for descriptors: they close them,
  as the kernel would. Closing the socket closes those of queued datagrams.
- :meth:`send_fds` hands the datagram to the transport's ``sendmsg``: sent at
  once, or queued in order behind datagrams waiting for room. The call returns
  once the kernel took the descriptors, so the caller may close its copies then;
  a cancelled call sends nothing.
"""

from __future__ import annotations

import socket
from typing import TYPE_CHECKING, Any, ClassVar

from .._core._dgram import send_error
from .._foundation._endpoints import Endpoint
from .._foundation._errors import (
    AddressError,
    ClosedResourceError,
    OptionError,
)
from .._foundation._options import get as get_option
from ._datagram_base import QUEUE_LIMIT, DatagramBase
from ._local import (
    ANCILLARY_SPACE,
    MAX_FDS,
    DescriptorsLostError,
    LocalMessage,
    check_local,
    close_fds,
    fds_ancillary,
    parse_ancillary,
)

if TYPE_CHECKING:
    from collections.abc import Iterable

    from .._foundation._credentials import Credentials
    from ._destinations import AddressLike

__all__ = ["DatagramLocal"]

_MSG_CTRUNC = int(getattr(socket, "MSG_CTRUNC", 0))


class DatagramLocal(DatagramBase):
    """The local-namespace extras of :class:`~aiosock.DatagramSocket`."""

    __slots__ = ()

    #: The control buffer the transport reads with on a Unix-domain socket.
    _ancillary_space: ClassVar[int] = ANCILLARY_SPACE

    # -- protocol callback -----------------------------------------------------

    def message_received(
        self, data: bytes, addr: Any, ancdata: list[tuple[int, int, bytes]], flags: int
    ) -> None:
        """Take a datagram that came with ancillary data (called by the transport)."""
        fds, credentials = parse_ancillary(ancdata)
        item = (data, addr, (fds, credentials, bool(flags & _MSG_CTRUNC)))
        waiter = self._waiter
        if waiter is not None:
            self._waiter = None
            if not waiter.done():
                if self._want_message:
                    waiter.set_result(item)
                    return
                close_fds(fds)  # a plain receive does not ask for them
                if self._want_address:
                    waiter.set_result((data, self._address_of(addr)))
                else:
                    waiter.set_result(data)
                return
        if len(self._queue) < QUEUE_LIMIT:
            self._queue.append(item)
        else:
            self._queue_over_limit(item)

    # -- receiving -------------------------------------------------------------

    async def receive_fds(self, *, max_fds: int = MAX_FDS) -> tuple[bytes, list[int]]:
        """Receive one datagram and the descriptors sent with it (``SCM_RIGHTS``).

        Like :meth:`receive_message`, which also gives the sender's address and
        credentials.

        Returns:
            The datagram and its descriptors, which are the caller's to close.
        """
        message = await self.receive_message(max_fds=max_fds)
        return message.data, message.fds

    async def receive_message(self, *, max_fds: int = MAX_FDS) -> LocalMessage:
        """Receive one datagram with its descriptors, credentials and sender.

        Every datagram keeps what came with it until it is received, however
        long it waited in the queue (see the "Local namespace extras" page).
        ``credentials`` is set when this socket has the ``pass_credentials``
        option on (turn it on before the peer sends).

        Args:
            max_fds: The most descriptors to keep (0..253); any more that came
                with the datagram are closed.

        Returns:
            A :class:`~aiosock.LocalMessage`: the datagram, its descriptors (the
            caller's to close, close-on-exec), the sender's credentials or
            ``None``, and the sender's address (``LocalAddress("")`` for an
            unnamed sender).

        Raises:
            ValueError: ``max_fds`` is out of range, or the socket is not a
                Unix-domain one.
            ClosedResourceError: The socket was closed here.
            BusyResourceError: Another task is receiving.
            MessageTooLargeError: A datagram longer than ``max_size`` arrived (it
                and its descriptors were dropped).
            DescriptorsLostError: The kernel dropped descriptors sent with the
                datagram (``MSG_CTRUNC``); ``data`` and ``address`` say which.
        """
        if isinstance(max_fds, bool) or not isinstance(max_fds, int):
            raise TypeError(f"'max_fds' must be an int (got {max_fds!r})")
        if not 0 <= max_fds <= MAX_FDS:
            raise ValueError(f"'max_fds' must be in 0..{MAX_FDS} (got {max_fds})")
        check_local(self._sock, "receive_message()")
        if self._queue and not self._closing:
            return self._message(self._pop(), max_fds)
        waiter = self._park(True, True)
        try:
            item = await waiter
        except BaseException as exc:
            self._give_back(waiter, exc)
            raise
        return self._message(item, max_fds)

    def _message(self, item: tuple[bytes, Any, Any], max_fds: int) -> LocalMessage:
        data, addr, extra = item
        if isinstance(extra, BaseException):
            raise extra  # a datagram too long, in its turn
        address = self._address_of(addr)
        if extra is None:
            return LocalMessage(data, [], None, address)
        fds, credentials, lost = extra
        if lost:
            close_fds(fds)
            raise DescriptorsLostError(
                f"the kernel dropped descriptors sent with a datagram of {len(data)} "
                f"bytes from {address or 'an unnamed sender'} (MSG_CTRUNC): is the "
                "process out of descriptors (RLIMIT_NOFILE)?",
                data,
                address=address,
            )
        if len(fds) > max_fds:
            close_fds(fds[max_fds:])
            del fds[max_fds:]
        return LocalMessage(data, fds, credentials, address)

    # -- sending ---------------------------------------------------------------

    async def send_fds(
        self,
        data: bytes | bytearray | memoryview,
        fds: Iterable[int],
        address: AddressLike | None = None,
    ) -> None:
        """Send one datagram with open descriptors ``fds`` (``SCM_RIGHTS``).

        The datagram keeps its place among those sent before it. The call
        returns once the kernel has the descriptors: ``fds`` stay open here (the
        receiver gets new descriptors for the same files) and may be closed
        then. Cancelled before that, it sends nothing.

        Args:
            data: The datagram; it may be empty (the descriptors still travel).
            fds: At most 253 open descriptors.
            address: The destination, as for :meth:`send_to`; ``None`` sends to
                the connected remote address.

        Raises:
            ValueError: The socket is not a Unix-domain one, or too many
                descriptors (``TypeError`` for ones that are not ``int``).
            AddressError: No ``address`` on an unconnected socket, or one that is
                not the remote address of a connected socket.
            ClosedResourceError: The socket was closed here.
            MessageTooLargeError: The kernel refused the datagram as too large.
            OSError: The kernel's error (``ConnectionRefusedError`` when nobody
                is bound to the address any more, ``FileNotFoundError``...).
        """
        ancillary = fds_ancillary(fds)
        check_local(self._sock, "send_fds()")
        view = memoryview(data).cast("B")
        sockaddr = await self._destination(address)
        self._check_send()
        sendmsg = self._transport.sendmsg  # type: ignore[union-attr]
        try:
            sent = sendmsg(view, ancillary, sockaddr)
            if sent is not None:
                await sent
        except OSError as exc:
            if self._closing:
                raise ClosedResourceError("the socket was closed") from exc
            raise send_error(exc) from exc

    async def _destination(self, address: AddressLike | None) -> Any:
        """Return the ``sockaddr`` for ``address`` (``None``: the connected peer)."""
        if address is None:
            if self._remote_sockaddr is None:
                raise AddressError(
                    "expected a connected socket for send_fds() without an "
                    "address; use send_fds(data, fds, address)"
                )
            return None
        sockaddr = self._destinations.sockaddr(address)
        if isinstance(sockaddr, Endpoint):
            resolved = await self._destinations.resolve(sockaddr)
            sockaddr = resolved.to_sockaddr()
        if self._remote_sockaddr is not None:
            if sockaddr != self._remote_sockaddr:
                raise AddressError(
                    f"expected the connected remote address {self._remote}, "
                    f"got {address}"
                )
            return None
        return sockaddr

    # -- credentials -----------------------------------------------------------

    @property
    def peer_credentials(self) -> Credentials:
        """The process id, user id and group id of the peer (``SO_PEERCRED``).

        The kernel records them for the two sockets of a
        :func:`~aiosock.datagram_pair` (and a ``socketpair()`` made elsewhere),
        not for a datagram socket that is bound or connected by address: there,
        turn on ``pass_credentials`` and read each sender's from
        :meth:`receive_message`.

        Raises:
            OptionError: The socket is not in the local namespace, or the kernel
                recorded no peer credentials for it.
            ClosedResourceError: The socket was closed.
        """
        if self._closing or self._sock.fileno() < 0:
            raise ClosedResourceError("the socket was closed")
        credentials: Credentials | None = get_option(self._sock, "peer_credentials")
        if credentials is None:
            raise OptionError(
                "peer_credentials",
                "the kernel records peer credentials of a datagram socket only "
                "for a socket pair (datagram_pair()); turn on 'pass_credentials' "
                "and read receive_message().credentials instead",
            )
        return credentials
