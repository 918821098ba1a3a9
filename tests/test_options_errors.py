"""Option errors: unknown, read-only, bad value, unsupported, inapplicable, refused."""

from __future__ import annotations

import errno
import os
import socket
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from typing import Any

import attrs
import pytest

import aiosock
from aiosock import AiosockError, OptionError, options
from aiosock._foundation import _options, _optiontable
from aiosock.options import Linger


@pytest.fixture
def tcp() -> Iterator[socket.socket]:
    """A fresh, unconnected TCP/IPv4 socket."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        yield sock


@pytest.fixture
def udp() -> Iterator[socket.socket]:
    """A fresh, unbound UDP/IPv4 socket."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        yield sock


def test_option_error_is_a_value_error_and_an_aiosock_error() -> None:
    """OptionError is catchable as AiosockError and as ValueError."""
    assert issubclass(OptionError, AiosockError)
    assert issubclass(OptionError, ValueError)


# --- unknown names --------------------------------------------------------------------

UNKNOWN = [
    ("no_dealy", "did you mean 'no_delay'?"),
    ("reuseaddr", "did you mean"),
    ("SO_REUSEADDR", "did you mean 'reuse_address'?"),
    ("tcp_nodelay", "did you mean 'no_delay'?"),
    ("xyzzy", "got 'xyzzy'"),
]


@pytest.mark.parametrize(("name", "hint"), UNKNOWN)
def test_unknown_name_suggests_close_matches(
    tcp: socket.socket, name: str, hint: str
) -> None:
    """An unknown name is refused with the name and, where one exists, a suggestion."""
    for call in (
        lambda: options.get(tcp, name),
        lambda: options.set(tcp, **{name: True}),
        lambda: options.describe(name),
        lambda: options.validate_options({name: True}),
    ):
        with pytest.raises(OptionError, match="expected a known option name") as info:
            call()
        assert info.value.option == name
        assert hint in str(info.value)
        assert info.value.errno is None


def test_gibberish_gets_no_suggestion(tcp: socket.socket) -> None:
    """A name close to nothing gets no "did you mean"."""
    with pytest.raises(OptionError) as info:
        options.get(tcp, "xyzzy")
    assert "did you mean" not in str(info.value)


def test_name_must_be_a_string(tcp: socket.socket) -> None:
    """A name that is not a str is refused as such."""
    with pytest.raises(OptionError, match="expected an option name as a str, got int"):
        options.get(tcp, 1)  # type: ignore[arg-type]


# --- read-only ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("error", 0),
        ("style", None),
        ("namespace", None),
        ("protocol", 6),
        ("accepting", True),
        ("info", None),
        ("send_low_water", 1),
    ],
)
def test_read_only_options_cannot_be_set(
    tcp: socket.socket, name: str, value: Any
) -> None:
    """Setting a read-only option is refused before any kernel call."""
    with pytest.raises(OptionError, match="got a read-only one") as info:
        options.set(tcp, **{name: value})
    assert info.value.option == name
    with pytest.raises(OptionError, match="read-only"):
        options.validate_options({name: value})


def test_peer_credentials_is_read_only() -> None:
    """peer_credentials can be read on a socket pair but not set."""
    a, b = socket.socketpair()
    with a, b, pytest.raises(OptionError, match="read-only"):
        options.set(a, peer_credentials=None)


# --- bad values -----------------------------------------------------------------------

BAD_VALUES: list[tuple[str, Any, str]] = [
    ("no_delay", 1, "expected a bool, got int 1"),
    ("no_delay", "yes", "expected a bool, got str 'yes'"),
    ("no_delay", None, "expected a bool, got NoneType None"),
    ("ttl", 300, "expected an int in 1..255 or -1, got 300"),
    ("ttl", 0, "expected an int in 1..255 or -1, got 0"),
    ("ttl", True, "expected an int, got bool True"),
    ("ttl", 64.0, "expected an int, got float 64.0"),
    ("keepalive_count", 128, "expected an int in 1..127, got 128"),
    ("keepalive_idle", 0, "expected an int in 1..32767, got 0"),
    ("max_segment", 50, "expected an int in 88..65535 or 0, got 50"),
    ("mark", 2**32, "expected an int in 0..4294967295, got 4294967296"),
    ("mark", -1, "expected an int in 0..4294967295, got -1"),
    ("receive_buffer", 0, "expected an int in 1..2147483647, got 0"),
    ("linger", 5, "expected a Linger or an (enabled, seconds) tuple, got int 5"),
    ("linger", (True, -1), "'seconds' must be in 0..2147483647 (got -1)"),
    ("linger", (1, 5), "'enabled' must be <class 'bool'>"),
    ("receive_timeout", -1, "expected seconds in 0..2.14748e+09, got -1"),
    ("receive_timeout", float("nan"), "got nan"),
    ("receive_timeout", float("inf"), "got inf"),
    ("receive_timeout", "1", "expected a number of seconds, got str '1'"),
    ("user_timeout", -0.5, "expected seconds in 0..2.14748e+06, got -0.5"),
    ("bind_to_device", "x" * 16, "at most 15 bytes without NUL"),
    ("bind_to_device", "a\0b", "without NUL"),
    ("bind_to_device", b"lo", "expected an interface name as a str, got bytes"),
    ("congestion", "", "expected a non-empty algorithm name, got ''"),
    ("multicast_interface", "::1", "expected an IPv4 address, got str '::1'"),
    ("multicast_interface", 0, "expected an IPv4 address, got int 0"),
]


@pytest.mark.parametrize(
    ("name", "value", "message"),
    BAD_VALUES,
    ids=[f"{name}={value!r}" for name, value, _ in BAD_VALUES],
)
def test_bad_values_name_the_option_and_the_expectation(
    name: str, value: Any, message: str
) -> None:
    """A wrong type or range is an OptionError naming the option and what it expects."""
    with pytest.raises(OptionError) as info:
        options.validate_options({name: value})
    assert info.value.option == name
    assert message in info.value.reason
    assert str(info.value).startswith(f"option {name!r}: ")
    assert info.value.errno is None
    kind = (socket.AF_INET, socket.SOCK_DGRAM if "multicast" in name else 1)
    with socket.socket(*kind) as sock, pytest.raises(OptionError, match="expected"):
        options.set(sock, **{name: value})


GOOD_VALUES: list[tuple[str, Any, Any]] = [
    ("linger", (True, 3), Linger(True, 3)),
    ("linger", Linger(False), Linger(False, 0)),
    ("receive_timeout", 2, 2.0),
    ("user_timeout", 1, 1.0),
    ("ttl", -1, -1),
    ("max_segment", 0, 0),
    ("multicast_interface", "127.000.0.1", None),
    ("congestion", "reno", "reno"),
]


@pytest.mark.parametrize(("name", "value", "normalized"), GOOD_VALUES)
def test_values_are_normalized(name: str, value: Any, normalized: Any) -> None:
    """Accepted values come back normalized (tuples become Linger, ints floats)."""
    if normalized is None:
        with pytest.raises(OptionError):  # leading zeros are ambiguous: refused
            options.validate_options({name: value})
        return
    result = options.validate_options({name: value})
    assert result == {name: normalized}
    assert type(result[name]) is type(normalized)


# --- unsupported on this platform -----------------------------------------------------


@pytest.fixture
def no_cork(monkeypatch: pytest.MonkeyPatch) -> None:
    """Pretend this platform has no TCP_CORK."""
    cork = options.describe("cork")
    monkeypatch.setitem(_options._REGISTRY, "cork", (attrs.evolve(cork, number=None),))


@pytest.mark.usefixtures("no_cork")
def test_unsupported_option_is_named(tcp: socket.socket) -> None:
    """An option whose constant the platform lacks is refused, naming the constant."""
    for call in (
        lambda: options.get(tcp, "cork"),
        lambda: options.set(tcp, cork=True),
        lambda: options.validate_options({"cork": True}),
    ):
        with pytest.raises(OptionError, match="expected a platform with TCP_CORK") as e:
            call()
        assert e.value.option == "cork"
    assert options.apply_options(tcp, {"cork": True}, strict=False) == ()


def test_missing_constants_use_the_linux_value_or_none(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A constant Python lacks takes the Linux value on Linux, and is None elsewhere."""
    number = _optiontable._number
    assert number("TCP_NODELAY", 99) == socket.TCP_NODELAY
    assert number("NO_SUCH_CONSTANT", None) is None
    assert number("NO_SUCH_CONSTANT", 30) == (30 if sys.platform == "linux" else None)
    monkeypatch.setattr(_optiontable, "_GENERIC_SOL_SOCKET", False)
    assert number("NO_SUCH_SO_CONSTANT", 17, sol_socket=True) is None
    monkeypatch.setattr(_optiontable, "_LINUX", False)
    assert number("NO_SUCH_CONSTANT", 30) is None


# --- not applicable -------------------------------------------------------------------

INAPPLICABLE = [
    ("udp4", "no_delay", True, "expected a tcp4 or tcp6 socket, got a udp4 socket"),
    ("unix", "reuse_port", True, "expected a tcp4, tcp6, udp4 or udp6 socket"),
    ("tcp4", "pass_credentials", True, "got a tcp4 socket"),
    ("tcp4", "v6_only", True, "expected a tcp6 or udp6 socket, got a tcp4 socket"),
    ("tcp4", "multicast_loop", True, "expected a udp4, ip4, udp6 or ip6 socket"),
    ("unix", "ttl", 5, "got a unix socket"),
]
KIND_ARGS = {
    "tcp4": (socket.AF_INET, socket.SOCK_STREAM),
    "udp4": (socket.AF_INET, socket.SOCK_DGRAM),
    "unix": (socket.AF_UNIX, socket.SOCK_STREAM),
}


@pytest.mark.parametrize(("kind", "name", "value", "message"), INAPPLICABLE)
def test_inapplicable_options_name_the_kinds(
    kind: str, name: str, value: Any, message: str
) -> None:
    """An option for another kind of socket says which kinds it applies to."""
    with socket.socket(*KIND_ARGS[kind]) as sock:
        with pytest.raises(OptionError, match=message) as info:
            options.set(sock, **{name: value})
        assert info.value.option == name
        with pytest.raises(OptionError, match=message):
            options.get(sock, name)


def test_option_for_another_kind_of_family_applies_only_if_generic() -> None:
    """A netlink socket (no aiosock namespace) has the generic SOL_SOCKET options."""
    try:
        sock = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, 0)
    except OSError as exc:  # pragma: no cover - netlink is Linux only
        pytest.skip(f"no netlink socket: {exc}")
    with sock:
        assert options.get(sock, "receive_buffer") > 0
        with pytest.raises(OptionError, match="got an other-family raw socket"):
            options.get(sock, "no_delay")
        values = options.snapshot(sock)
    assert "receive_buffer" in values
    assert "no_delay" not in values
    assert values["namespace"] == socket.AF_NETLINK


# --- kernel refusals ------------------------------------------------------------------


def test_kernel_refusal_keeps_errno(tcp: socket.socket) -> None:
    """A value the kernel refuses raises OptionError with the kernel's errno."""
    with pytest.raises(OptionError, match="the kernel refused TCP_CONGESTION") as info:
        options.set(tcp, congestion="no-such-algo")
    assert info.value.errno == errno.ENOENT
    assert info.value.option == "congestion"
    assert isinstance(info.value.__cause__, OSError)


def test_kernel_refusal_of_send_low_water_raw() -> None:
    """Linux refuses SO_SNDLOWAT writes, which is why send_low_water is read-only."""
    with socket.socket() as sock:
        with pytest.raises(OSError, match="not available") as info:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDLOWAT, 5)
        assert info.value.errno == errno.ENOPROTOOPT
        assert options.describe("send_low_water").read_only


PRIVILEGED = textwrap.dedent(
    """
    import errno, os, socket, sys
    from aiosock import OptionError, options
    if os.geteuid() == 0:
        os.setgid(65534)
        os.setuid(65534)
    refused = []
    for name, value in [("priority", 7), ("mark", 5), ("debug", True),
                        ("transparent", True)]:
        with socket.socket() as sock:
            try:
                options.set(sock, **{name: value})
            except OptionError as exc:
                assert exc.errno in (errno.EPERM, errno.EACCES), (name, exc.errno)
                assert exc.option == name
                refused.append(name)
    print(" ".join(refused))
    """
)


def test_privileged_options_refused_with_eperm() -> None:
    """Without privileges the kernel's EPERM (EACCES) comes through as errno."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    result = subprocess.run(
        [sys.executable, "-c", PRIVILEGED],
        capture_output=True,
        text=True,
        env=env,
        cwd="/",
        timeout=30,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["priority", "mark", "debug", "transparent"]


# --- all or nothing -------------------------------------------------------------------


def test_bad_value_changes_nothing(tcp: socket.socket) -> None:
    """A bad value anywhere in set() leaves every option as it was."""
    before = options.snapshot(tcp)
    for values in (
        {"no_delay": True, "keepalive": True, "ttl": 300},
        {"ttl": 300, "no_delay": True},
        {"no_delay": True, "no_such_option": 1},
        {"keepalive": True, "error": 0},
        {"keepalive": True, "pass_credentials": True},
    ):
        with pytest.raises(OptionError):
            options.set(tcp, **values)
        assert options.get(tcp, "no_delay") is False
        assert options.get(tcp, "keepalive") is False
    after = options.snapshot(tcp)
    del before["info"], after["info"]
    assert after == before


def test_kernel_refusal_rolls_back_earlier_options(tcp: socket.socket) -> None:
    """When the kernel refuses one option, those set before it are put back."""
    before = options.snapshot(tcp)
    with pytest.raises(OptionError) as info:
        options.set(
            tcp,
            no_delay=True,
            keepalive_idle=100,
            receive_buffer=8192,
            linger=Linger(True, 3),
            congestion="no-such-algo",
            cork=True,
        )
    assert info.value.option == "congestion"
    assert info.value.errno == errno.ENOENT
    after = options.snapshot(tcp)
    del before["info"], after["info"]
    assert after == before


def test_set_with_nothing_is_a_no_op(tcp: socket.socket) -> None:
    """set() with no options changes nothing (and still checks the socket)."""
    options.set(tcp)
    closed = socket.socket()
    closed.close()
    with pytest.raises(AiosockError):
        options.set(closed)


def test_a_closed_descriptor_number_is_a_closed_resource() -> None:
    """get() on a number whose descriptor was closed: ClosedResourceError."""
    read_end, write_end = os.pipe()
    os.close(read_end)
    os.close(write_end)
    with pytest.raises(aiosock.ClosedResourceError, match=f"descriptor {read_end}"):
        options.get(read_end, "no_delay")


def test_describe_wants_a_namespace() -> None:
    with pytest.raises(TypeError, match="'namespace' must be a Namespace or None"):
        options.describe("multicast_loop", "INET")  # type: ignore[arg-type]


def test_a_bad_linger_tuple_is_named_plainly() -> None:
    """The message says what was wrong, not attrs' internal objects."""
    with socket.socket() as sock, pytest.raises(OptionError) as info:
        options.set(sock, linger=(1, 5))
    assert "'enabled' must be" in str(info.value)
    assert "Attribute(" not in str(info.value)


def test_view_update_wants_names_as_text() -> None:
    with socket.socket() as sock, pytest.raises(OptionError, match="as a str"):
        options.OptionsView(sock).update({1: True})  # type: ignore[dict-item]
