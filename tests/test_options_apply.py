"""Options at creation: validate_options() and apply_options() phase by phase."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from typing import Any

import pytest

from aiosock import Namespace, OptionError, Style, options
from aiosock.options import Linger, Phase


@pytest.fixture
def tcp() -> Iterator[socket.socket]:
    """A fresh, unconnected TCP/IPv4 socket."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        yield sock


# --- validate_options -----------------------------------------------------------------


def test_validate_options_is_pure_and_normalizes() -> None:
    """validate_options() returns a new dict, in order, with normalized values."""
    given = {"linger": (True, 0), "no_delay": True, "receive_timeout": 3}
    result = options.validate_options(given)
    assert result == {
        "linger": Linger(True, 0),
        "no_delay": True,
        "receive_timeout": 3.0,
    }
    assert list(result) == list(given)
    assert result is not given
    assert given["linger"] == (True, 0)


@pytest.mark.parametrize("empty", [None, {}])
def test_validate_options_of_nothing(empty: dict[str, Any] | None) -> None:
    """No options validate to an empty dict."""
    assert options.validate_options(empty) == {}


def test_validate_options_wants_a_mapping() -> None:
    """A list of pairs is not an options mapping."""
    with pytest.raises(TypeError, match="expected a mapping of option names"):
        options.validate_options([("no_delay", True)])  # type: ignore[arg-type]


def test_validate_options_checks_applicability_when_told_the_kind() -> None:
    """Given a namespace and style, an option for another kind is refused."""
    with pytest.raises(OptionError, match="got a unixgram socket"):
        options.validate_options(
            {"no_delay": True}, namespace=Namespace.LOCAL, style=Style.DATAGRAM
        )
    assert options.validate_options({"no_delay": True}) == {"no_delay": True}


def test_validate_options_accepts_a_name_of_several_namespaces() -> None:
    """multicast_loop validates for IPv4 and IPv6 sockets alike."""
    for namespace in (Namespace.INET, Namespace.INET6):
        result = options.validate_options(
            {"multicast_loop": False}, namespace=namespace, style=Style.DATAGRAM
        )
        assert result == {"multicast_loop": False}


# --- apply_options --------------------------------------------------------------------

MIXED = {
    "no_delay": True,  # CONNECTED
    "defer_accept": 5,  # BEFORE_CONNECT
    "reuse_address": True,  # BEFORE_BIND
    "receive_buffer": 32768,  # BEFORE_BIND
    "keepalive": True,  # CONNECTED
}


@pytest.mark.parametrize(
    ("phase", "applied"),
    [
        (Phase.BEFORE_BIND, ("reuse_address", "receive_buffer")),
        (Phase.BEFORE_CONNECT, ("defer_accept",)),
        (Phase.CONNECTED, ("no_delay", "keepalive")),
    ],
)
def test_apply_options_sets_one_phase(
    tcp: socket.socket, phase: Phase, applied: tuple[str, ...]
) -> None:
    """Each phase sets its own options, in mapping order, and leaves the rest."""
    before = options.snapshot(tcp)
    assert options.apply_options(tcp, MIXED, phase=phase) == applied
    after = options.snapshot(tcp)
    changed = {name for name in after if name != "info" and after[name] != before[name]}
    assert changed == set(applied)


def test_apply_options_all_phases_in_order(tcp: socket.socket) -> None:
    """Without a phase every option is set, earliest phase first."""
    applied = options.apply_options(tcp, MIXED)
    assert applied == (
        "reuse_address",
        "receive_buffer",
        "defer_accept",
        "no_delay",
        "keepalive",
    )
    assert options.get(tcp, "reuse_address") is True
    assert options.get(tcp, "no_delay") is True


def test_apply_options_checks_every_phase_first(tcp: socket.socket) -> None:
    """A bad value in a later phase stops an earlier phase from setting anything."""
    bad = {"reuse_address": True, "no_delay": "yes"}
    with pytest.raises(OptionError, match="'no_delay'"):
        options.apply_options(tcp, bad, phase=Phase.BEFORE_BIND)
    assert options.get(tcp, "reuse_address") is False


def test_apply_options_strict_refuses_inapplicable() -> None:
    """strict (the default) refuses an option for another kind and sets nothing."""
    with socket.socket(socket.AF_UNIX) as sock:
        with pytest.raises(OptionError, match="got a unix socket"):
            options.apply_options(sock, {"receive_buffer": 8192, "no_delay": True})
        assert options.get(sock, "receive_buffer") != 16384


def test_apply_options_lenient_skips_inapplicable() -> None:
    """strict=False skips options that do not apply, for mappings shared by kinds."""
    with socket.socket(socket.AF_UNIX) as sock:
        applied = options.apply_options(
            sock, {"no_delay": True, "receive_buffer": 8192}, strict=False
        )
        assert applied == ("receive_buffer",)
        assert options.get(sock, "receive_buffer") == 16384


def test_apply_options_lenient_still_checks_names_and_values() -> None:
    """strict=False does not excuse an unknown name or a bad value."""
    with socket.socket() as sock:
        with pytest.raises(OptionError, match="known option"):
            options.apply_options(sock, {"no_dealy": True}, strict=False)
        with pytest.raises(OptionError, match="expected a bool"):
            options.apply_options(sock, {"no_delay": 1}, strict=False)


@pytest.mark.parametrize("empty", [None, {}])
def test_apply_options_of_nothing(tcp: socket.socket, empty: Any) -> None:
    """No options apply nothing."""
    assert options.apply_options(tcp, empty, phase=Phase.BEFORE_BIND) == ()


def test_reuse_address_before_bind_takes_a_time_wait_port() -> None:
    """reuse_address applied before bind lets a server rebind a TIME_WAIT port."""
    with socket.socket() as listener:
        # Linux lets a port in TIME_WAIT be rebound when both sockets asked.
        options.apply_options(
            listener, {"reuse_address": True}, phase=Phase.BEFORE_BIND
        )
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        address = listener.getsockname()
        client = socket.create_connection(address)
        server, _ = listener.accept()
        server.close()  # the server closes first: its end goes to TIME_WAIT
        client.close()
    with socket.socket() as plain, pytest.raises(OSError, match="in use"):
        plain.bind(address)
    with socket.socket() as again:
        options.apply_options(again, {"reuse_address": True}, phase=Phase.BEFORE_BIND)
        again.bind(address)
        again.listen()


def test_reuse_port_before_bind_shares_a_port() -> None:
    """Two sockets with reuse_port set before bind share one loopback port."""
    with socket.socket() as a, socket.socket() as b:
        for sock in (a, b):
            options.apply_options(sock, {"reuse_port": True}, phase=Phase.BEFORE_BIND)
        a.bind(("127.0.0.1", 0))
        b.bind(a.getsockname())
        assert a.getsockname() == b.getsockname()


def test_defer_accept_applies_to_the_listener() -> None:
    """Phase BEFORE_CONNECT options set after bind stick through listen()."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        options.apply_options(
            listener,
            {"defer_accept": 3, "fast_open": 4},
            phase=Phase.BEFORE_CONNECT,
        )
        listener.listen()
        assert options.get(listener, "defer_accept") >= 3
        assert options.get(listener, "fast_open") == 4
        assert options.get(listener, "accepting") is True


PHASES = [
    ("reuse_address", Phase.BEFORE_BIND),
    ("reuse_port", Phase.BEFORE_BIND),
    ("v6_only", Phase.BEFORE_BIND),
    ("bind_to_device", Phase.BEFORE_BIND),
    ("transparent", Phase.BEFORE_BIND),
    ("freebind", Phase.BEFORE_BIND),
    ("bind_address_no_port", Phase.BEFORE_BIND),
    ("receive_buffer", Phase.BEFORE_BIND),
    ("send_buffer", Phase.BEFORE_BIND),
    ("defer_accept", Phase.BEFORE_CONNECT),
    ("fast_open", Phase.BEFORE_CONNECT),
    ("fast_open_connect", Phase.BEFORE_CONNECT),
    ("max_segment", Phase.BEFORE_CONNECT),
    ("no_delay", Phase.CONNECTED),
    ("keepalive", Phase.CONNECTED),
    ("linger", Phase.CONNECTED),
]


@pytest.mark.parametrize(("name", "phase"), PHASES)
def test_option_phases(name: str, phase: Phase) -> None:
    """Options that must precede bind, listen or connect are in those phases."""
    assert options.describe(name).phase is phase


def test_phase_labels() -> None:
    """Each phase names what its options must precede, for the docs table."""
    assert Phase.BEFORE_BIND.label == "bind"
    assert Phase.BEFORE_CONNECT.label == "listen, connect"
    assert Phase.CONNECTED.label == ""
    assert [p.value for p in Phase] == sorted(p.value for p in Phase)
