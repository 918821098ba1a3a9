"""The limit rules on their own: the .max window, the address lists, the counters."""

from __future__ import annotations

import ipaddress

import pytest

from aiosock.inetd import Limits
from aiosock.inetd._limits import (
    RATE_WINDOW,
    Counters,
    RateWindow,
    access_allowed,
    client_address,
)


def test_rate_window_allows_max_a_minute() -> None:
    """max starts in a window pass; the next one trips and restarts the count."""
    window = RateWindow(3)
    assert [window.admit(t) for t in (0.0, 1.0, 2.0)] == [True, True, True]
    assert window.admit(3.0) is False
    assert window.admit(4.0) is True


def test_rate_window_opens_again_after_a_minute() -> None:
    """Starts more than a minute apart never trip."""
    window = RateWindow(1)
    assert window.admit(0.0)
    assert window.admit(RATE_WINDOW + 0.1)
    assert window.admit(2 * RATE_WINDOW + 0.2)
    assert window.admit(2 * RATE_WINDOW + 0.3) is False


def net(*texts: str) -> tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]:
    return tuple(ipaddress.ip_network(t) for t in texts)


ACCESS = [
    (Limits(), "10.1.2.3", True),
    (Limits(only_from=net("127.0.0.0/8")), "127.0.0.5", True),
    (Limits(only_from=net("127.0.0.0/8")), "10.0.0.1", False),
    (Limits(only_from=()), "127.0.0.1", False),
    (Limits(no_access=net("10.0.0.0/8")), "10.9.9.9", False),
    (Limits(no_access=net("10.0.0.0/8")), "11.0.0.1", True),
    (
        Limits(only_from=net("10.0.0.0/8"), no_access=net("10.1.0.0/16")),
        "10.1.0.1",
        False,
    ),
    (Limits(only_from=net("10.1.2.3"), no_access=net("10.0.0.0/8")), "10.1.2.3", True),
    (
        Limits(only_from=net("10.0.0.0/8"), no_access=net("10.0.0.0/8")),
        "10.0.0.1",
        False,
    ),
    (Limits(only_from=net("::1")), "::1", True),
    (Limits(only_from=net("127.0.0.1")), "::1", False),
]


@pytest.mark.parametrize(("limits", "address", "allowed"), ACCESS)
def test_access_lists(limits: Limits, address: str, allowed: bool) -> None:
    """only_from and no_access as xinetd reads them: the longer prefix wins."""
    assert access_allowed(limits, ipaddress.ip_address(address)) is allowed


def test_unix_clients_are_never_judged() -> None:
    """Clients without an IP address pass the lists."""
    assert access_allowed(Limits(only_from=()), None)


@pytest.mark.parametrize(
    ("sockaddr", "expected"),
    [
        (("127.0.0.1", 5), "127.0.0.1"),
        (("::ffff:10.0.0.1", 5, 0, 0), "10.0.0.1"),
        (("fe80::1%eth0", 5, 0, 2), "fe80::1"),
        ("/run/x.sock", None),
        (b"\0abstract", None),
        (("not an address", 1), None),
    ],
)
def test_client_address(sockaddr: object, expected: str | None) -> None:
    """The IP of a peer (IPv4-mapped read as IPv4); None for Unix peers."""
    found = client_address(sockaddr)
    assert (None if found is None else str(found)) == expected


def test_counters() -> None:
    """Counters track running servers in all and per source."""
    limits = Limits(instances=2, per_source=1)
    counters = Counters()
    a = ipaddress.ip_address("10.0.0.1")
    counters.add(a)
    assert counters.at_per_source(limits, a)
    assert not counters.at_per_source(limits, ipaddress.ip_address("10.0.0.2"))
    assert not counters.at_instances(limits)
    counters.add(None)
    assert counters.at_instances(limits)
    counters.remove(a)
    counters.remove(None)
    assert counters.running == 0
    assert not counters.at_per_source(limits, a)
