"""Destinations of datagrams: what ``send_to`` takes, as ``sockaddr`` values.

Strategy: a typed address of the socket's own namespace is the fast path (the
caller tests its class and calls ``to_sockaddr()``); everything else — endpoint
text, :class:`~aiosock.Endpoint`, ``(host, port)`` — goes through
:class:`Destinations`, which remembers the ``sockaddr`` of text and literal
tuples so that a client sending to ``("127.0.0.1", 53)`` in a loop parses it
once. Host names are resolved (asynchronously) every time, as DNS answers may
change.
"""

from __future__ import annotations

import socket
from typing import Any, Final, TypeAlias

from .._foundation._addresses import (
    ConcreteAddress,
    HostAddress,
    Inet6Address,
    InetAddress,
    LocalAddress,
)
from .._foundation._concepts import Namespace, Style
from .._foundation._endpoints import Endpoint, as_endpoint
from .._foundation._errors import AddressError

__all__ = ["ADDRESS_CLASS", "AddressLike", "Destinations"]

#: The typed address class of each family.
ADDRESS_CLASS: Final[dict[int, type]] = {
    socket.AF_INET: InetAddress,
    socket.AF_INET6: Inet6Address,
    socket.AF_UNIX: LocalAddress,
}
#: Entries kept in a cache before it is reset.
CACHE_LIMIT: Final = 4096

#: What ``send_to`` takes as a destination.
AddressLike: TypeAlias = (
    InetAddress | Inet6Address | LocalAddress | Endpoint | str | tuple[Any, ...]
)


class Destinations:
    """Turns destinations into ``sockaddr`` values for sockets of one family."""

    __slots__ = ("_cache", "address_class", "namespace")

    def __init__(self, family: int) -> None:
        self.namespace = Namespace.from_family(family)
        self.address_class = ADDRESS_CLASS[family]
        self._cache: dict[Any, Any] = {}

    def sockaddr(self, address: object) -> Any:
        """Return the ``sockaddr`` of ``address``, or an :class:`Endpoint` to resolve.

        Raises:
            AddressError: The address is malformed or of another namespace.
        """
        if type(address) is self.address_class:
            return address.to_sockaddr()  # type: ignore[attr-defined]
        try:
            cached = self._cache.get(address)
        except TypeError:  # unhashable: not an address either
            cached = None
        if cached is not None:
            key, sockaddr = cached
            # (("h", 53.0) and ("h", True) equal ("h", 53) and ("h", 1), and
            # hash alike: only the very same types take the cached answer.)
            if key.__class__ is str or _same_types(key, address):
                return sockaddr
        if isinstance(address, InetAddress | Inet6Address | LocalAddress):
            raise self.wrong_namespace(address)
        endpoint = self._endpoint_of(address)
        if not endpoint.is_resolved:
            return endpoint
        sockaddr = self.checked(endpoint).to_sockaddr()
        if isinstance(address, str | tuple):
            if len(self._cache) >= CACHE_LIMIT:
                self._cache.clear()
            self._cache[address] = (address, sockaddr)
        return sockaddr

    async def resolve(self, endpoint: Endpoint) -> ConcreteAddress:
        """Resolve ``endpoint`` and return its first address in our namespace.

        Raises:
            ResolutionError: The name resolved to nothing.
            AddressError: It resolved to no address of this namespace.
        """
        for candidate in await endpoint.resolve():
            if candidate.namespace is self.namespace:
                return self.checked(candidate)
        raise AddressError(
            f"expected an address in namespace {self.namespace.name}, got {endpoint}"
        )

    def checked(self, endpoint: Endpoint) -> ConcreteAddress:
        """Return the concrete address of ``endpoint`` if it is of our namespace."""
        address = endpoint.address
        assert address is not None
        assert not isinstance(address, HostAddress)
        if type(address) is not self.address_class:
            raise self.wrong_namespace(address)
        return address

    def wrong_namespace(self, address: object) -> AddressError:
        """Return the error for an address of another namespace."""
        return AddressError(
            f"expected an address in namespace {self.namespace.name}, got {address}"
        )

    @staticmethod
    def _endpoint_of(address: object) -> Endpoint:
        try:
            return as_endpoint(address, Style.DATAGRAM)  # type: ignore[arg-type]
        except AddressError as exc:
            if isinstance(address, str | Endpoint):
                raise
            if isinstance(address, tuple):
                raise AddressError(f"{exc} in {address!r}") from None
            raise AddressError(
                "expected a typed address, endpoint text or (host, port) tuple, "
                f"got {address!r}"
            ) from None


def _same_types(key: tuple[Any, ...], address: Any) -> bool:
    """Whether ``address`` (equal to ``key``) has the same types in each place."""
    return all(a.__class__ is b.__class__ for a, b in zip(key, address, strict=True))
