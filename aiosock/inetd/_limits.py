"""Per-service limits: the ``.max`` rate, instances, per-source counts, address lists.

Strategy: plain objects with no I/O, fed the time by the caller, so that the
rules are tested without clocks or sockets:

- :class:`RateWindow` counts servers started in a window of 60 seconds that opens
  with the first; past ``max`` in one window the service is disabled for
  ``retry_time`` seconds (openbsd-inetd's "server failing (looping)"; it trips
  one start earlier, at the ``max``-th);
- :class:`Counters` counts running servers per service and per client address;
- :func:`access_allowed` applies ``only_from`` / ``no_access`` as xinetd does:
  when a client matches both, the longer prefix decides and a tie refuses.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Hashable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ._records import IPNetwork, Limits

__all__ = [
    "DISABLED",
    "RATE_WINDOW",
    "Counters",
    "RateWindow",
    "access_allowed",
    "client_address",
]

#: The length of the ``.max`` window, in seconds (openbsd-inetd's CNT_INTVL).
RATE_WINDOW = 60.0

#: Why a client is turned away while the ``.max`` rate has disabled its service.
DISABLED = "service disabled (.max servers a minute)"

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


class RateWindow:
    """Counts server starts and says when a service must be disabled.

    Args:
        limit: At most this many starts in a window of :data:`RATE_WINDOW`.
    """

    __slots__ = ("_count", "_start", "limit")

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._start = 0.0
        self._count = 0

    def admit(self, now: float) -> bool:
        """Count one start at ``now``; return ``False`` when it is one too many."""
        if self._count == 0 or now - self._start > RATE_WINDOW:
            self._start = now
            self._count = 0
        self._count += 1
        if self._count > self.limit:
            self._count = 0
            return False
        return True


def client_address(sockaddr: object) -> IPAddress | None:
    """Return the IP address of a peer's sockaddr (IPv4-mapped read as IPv4).

    Returns ``None`` for Unix-domain peers, which the address lists never judge.
    """
    if not isinstance(sockaddr, tuple) or not sockaddr:
        return None
    host = sockaddr[0]
    if not isinstance(host, str):
        return None
    try:
        address = ipaddress.ip_address(host.partition("%")[0])
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped:
        return address.ipv4_mapped
    return address


def _longest(address: IPAddress, networks: tuple[IPNetwork, ...]) -> int:
    best = -1
    for network in networks:
        if network.version == address.version and address in network:
            best = max(best, network.prefixlen)
    return best


def access_allowed(limits: Limits, address: IPAddress | None) -> bool:
    """Whether ``only_from`` / ``no_access`` let ``address`` in."""
    if address is None or not limits.filters_addresses:
        return True
    refused = _longest(address, limits.no_access)
    if limits.only_from is None:
        return refused < 0
    allowed = _longest(address, limits.only_from)
    if allowed < 0:
        return False
    return allowed > refused


class Counters:
    """Running servers of one service: in all, and per client address."""

    __slots__ = ("_per_source", "running")

    def __init__(self) -> None:
        self.running = 0
        self._per_source: dict[Hashable, int] = {}

    def at_instances(self, limits: Limits) -> bool:
        """Whether the ``instances`` limit is reached."""
        return limits.instances is not None and self.running >= limits.instances

    def at_per_source(self, limits: Limits, source: Hashable | None) -> bool:
        """Whether ``source`` has reached the ``per_source`` limit."""
        if limits.per_source is None or source is None:
            return False
        return self._per_source.get(source, 0) >= limits.per_source

    def add(self, source: Hashable | None) -> None:
        """Count one more running server (for ``source``)."""
        self.running += 1
        if source is not None:
            self._per_source[source] = self._per_source.get(source, 0) + 1

    def remove(self, source: Hashable | None) -> None:
        """Count one server less."""
        self.running -= 1
        if source is not None:
            left = self._per_source.get(source, 0) - 1
            if left > 0:
                self._per_source[source] = left
            else:
                self._per_source.pop(source, None)
