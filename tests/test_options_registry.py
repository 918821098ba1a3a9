"""The options registry, its codecs and records, and the public names."""

from __future__ import annotations

import re
import socket
import struct
import sys

import attrs
import pytest
from hypothesis import given
from hypothesis import strategies as st

import aiosock
from aiosock import Namespace, OptionError, Style, options
from aiosock._foundation._optioncodecs import (
    CredentialsCodec,
    IntCodec,
    MillisecondsCodec,
    NameCodec,
    TimevalCodec,
)
from aiosock._foundation._tcpinfo import TCP_INFO_SIZE, decode_tcp_info
from aiosock.options import Credentials, Linger, Option, TcpInfo, TcpState

#: Every option the issue asks for, by level.
REQUIRED = {
    "SOL_SOCKET": [
        "debug",
        "reuse_address",
        "reuse_port",
        "keepalive",
        "dont_route",
        "linger",
        "broadcast",
        "oob_inline",
        "send_buffer",
        "receive_buffer",
        "receive_low_water",
        "send_low_water",
        "receive_timeout",
        "send_timeout",
        "priority",
        "mark",
        "bind_to_device",
        "pass_credentials",
        "error",
        "style",
        "namespace",
        "protocol",
        "accepting",
        "peer_credentials",
    ],
    "IPPROTO_TCP": [
        "no_delay",
        "cork",
        "keepalive_idle",
        "keepalive_interval",
        "keepalive_count",
        "user_timeout",
        "max_segment",
        "quick_ack",
        "fast_open",
        "defer_accept",
        "not_sent_low_water",
        "congestion",
        "info",
    ],
    "IPPROTO_IP": [
        "ttl",
        "tos",
        "multicast_ttl",
        "multicast_loop",
        "multicast_interface",
        "transparent",
        "bind_address_no_port",
    ],
    "IPPROTO_IPV6": [
        "v6_only",
        "unicast_hops",
        "multicast_hops",
        "multicast_loop",
        "traffic_class",
    ],
}
READ_ONLY = {
    "error",
    "style",
    "namespace",
    "protocol",
    "accepting",
    "peer_credentials",
    "info",
}


@pytest.mark.parametrize("level", list(REQUIRED))
def test_registry_covers_the_required_options(level: str) -> None:
    """Every option the chapter's table needs is registered at its level."""
    registered = {row.name for row in options.registry() if row.level_name == level}
    assert set(REQUIRED[level]) <= registered


@pytest.mark.parametrize("row", options.registry(), ids=lambda row: row.c_name)
def test_registry_rows_are_well_formed(row: Option) -> None:
    """Each row has a snake_case name, its level's number, a C name and a summary."""
    assert re.fullmatch(r"[a-z][a-z0-9_]*", row.name)
    assert row.level == getattr(socket, row.level_name)
    prefix = {"SOL_SOCKET": "SO_", "IPPROTO_TCP": "TCP_", "IPPROTO_IP": "IP_"}
    assert row.c_name.startswith(prefix.get(row.level_name, "IPV6_"))
    assert row.summary
    assert row.summary[0].islower()
    python_number = getattr(socket, row.c_name, None)
    if python_number is not None:
        assert row.number == python_number
    if sys.platform == "linux":
        assert row.supported
    assert (row.name in READ_ONLY) <= row.read_only
    assert row.type_name


def test_names_are_unique_per_namespace() -> None:
    """A name has at most one row for any kind of socket."""
    rows = options.registry()
    for namespace in Namespace:
        for style in Style:
            seen = [r.name for r in rows if r.applies_to(namespace, style)]
            assert len(seen) == len(set(seen)), (namespace, style)
    assert len(options.names()) == len(set(options.names()))


def test_rows_sharing_a_name_share_a_type() -> None:
    """multicast_loop means IP_ or IPV6_MULTICAST_LOOP, both a bool."""
    rows = [r for r in options.registry() if r.name == "multicast_loop"]
    assert [r.c_name for r in rows] == ["IP_MULTICAST_LOOP", "IPV6_MULTICAST_LOOP"]
    assert {r.type_name for r in rows} == {"bool"}


def test_linux_constants_python_may_lack() -> None:
    """Constants missing from the socket module take their stable Linux values."""
    if sys.platform != "linux":
        pytest.skip("Linux values")
    expected = {
        "peer_credentials": 17,
        "not_sent_low_water": 25,
        "bind_address_no_port": 24,
        "transparent": 19,
        "freebind": 15,
        "fast_open_connect": 30,
        "mark": 36,
    }
    for name, number in expected.items():
        assert options.describe(name).number == number


def test_describe() -> None:
    """describe() gives the row, per namespace for a name with several."""
    row = options.describe("reuse_address")
    assert (row.level_name, row.c_name, row.type_name) == (
        "SOL_SOCKET",
        "SO_REUSEADDR",
        "bool",
    )
    assert row.kinds is None
    assert row.applies_to_text == "any"
    assert options.describe("no_delay").applies_to_text == "tcp4, tcp6"
    assert options.describe("multicast_loop").c_name == "IP_MULTICAST_LOOP"
    six = options.describe("multicast_loop", Namespace.INET6)
    assert six.c_name == "IPV6_MULTICAST_LOOP"
    assert options.describe("no_delay", Namespace.INET6).c_name == "TCP_NODELAY"
    with pytest.raises(OptionError, match="expected a namespace it applies to"):
        options.describe("no_delay", Namespace.LOCAL)


TYPE_NAMES = [
    ("no_delay", "bool"),
    ("ttl", "int (-1 or 1..255)"),
    ("max_segment", "int (0 or 88..65535) bytes"),
    ("receive_buffer", "int (1 or more) bytes"),
    ("mark", "int (0..2**32-1)"),
    ("linger", "Linger"),
    ("receive_timeout", "float (seconds, 0 = none)"),
    ("user_timeout", "float (seconds, to the millisecond)"),
    ("bind_to_device", "str (interface name)"),
    ("congestion", "str (algorithm name)"),
    ("multicast_interface", "str (IPv4 address)"),
    ("style", "Style"),
    ("namespace", "Namespace"),
    ("peer_credentials", "Credentials | None"),
    ("info", "TcpInfo"),
    ("error", "int (errno)"),
]


@pytest.mark.parametrize(("name", "type_name"), TYPE_NAMES)
def test_type_names_for_the_docs(name: str, type_name: str) -> None:
    """Each option shows its Python type and range as the docs table does."""
    assert options.describe(name).type_name == type_name


# --- codecs and records ---------------------------------------------------------------


def test_linger_validates_its_fields() -> None:
    """Linger is a frozen value with checked fields."""
    assert Linger(True, 5) == Linger(enabled=True, seconds=5)
    with pytest.raises(TypeError):
        Linger(1, 5)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="'seconds' must be in"):
        Linger(True, -1)
    with pytest.raises(TypeError, match="'seconds' must be an int"):
        Linger(True, 1.5)  # type: ignore[arg-type]
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        Linger(True, 1).seconds = 2  # type: ignore[misc]


def test_credentials_validates_its_fields() -> None:
    """Credentials is a frozen (pid, uid, gid) with checked ranges."""
    assert Credentials(1, 2, 3).gid == 3
    assert aiosock.Credentials is Credentials
    with pytest.raises(ValueError, match=r"'uid' must be in 0\.\.4294967295"):
        Credentials(1, -1, 0)
    with pytest.raises(TypeError, match="'pid' must be an int"):
        Credentials("1", 0, 0)  # type: ignore[arg-type]


def test_credentials_codec() -> None:
    """struct ucred decodes to Credentials, and the no-peer answer to None."""
    codec = CredentialsCodec()
    assert codec.decode(struct.pack("=iII", 42, 1000, 100)) == Credentials(
        42, 1000, 100
    )
    assert codec.decode(struct.pack("=iII", 0, 2**32 - 1, 2**32 - 1)) is None


@pytest.mark.parametrize("seconds", [0.0, 0.000001, 1.5, 59.999999, 86400.25])
def test_timeval_codec_round_trips(seconds: float) -> None:
    """Seconds survive struct timeval to the microsecond."""
    codec = TimevalCodec()
    assert codec.decode(codec.encode(codec.check(seconds))) == pytest.approx(
        seconds, abs=1e-6
    )


def test_milliseconds_codec() -> None:
    """Seconds become whole milliseconds and come back as seconds."""
    codec = MillisecondsCodec()
    assert codec.encode(1.5) == 1500
    assert codec.encode(0.0016) == 2  # to the nearest
    # 0 is "no timeout" to the kernel: only 0 encodes to it.
    assert codec.encode(0.0004) == 1
    assert codec.encode(0.0) == 0
    assert codec.decode(2500) == 2.5


def test_name_codec_decodes_up_to_the_nul() -> None:
    """A NUL-terminated C name decodes to the text before the NUL."""
    codec = NameCodec(16, "interface name")
    assert codec.decode(b"lo\0garbage\0\0") == "lo"
    assert codec.decode(b"") == ""
    assert codec.encode("eth0") == b"eth0"


def test_int_codec_restores_doubled_buffers() -> None:
    """A doubled buffer size restores to the value that was set."""
    assert IntCodec(1, doubled=True).restore(131072) == 65536
    assert IntCodec(1).restore(64) == 64


def _tcp_info_bytes(size: int = TCP_INFO_SIZE, **fields: int) -> bytes:
    raw = bytearray(size)
    offsets = {
        "state": (0, "B"),
        "rtt": (68, "I"),
        "cwnd": (80, "I"),
        "snd_wnd": (228, "I"),
    }
    offsets |= {"retransmits": (2, "B"), "bytes_acked": (120, "Q")}
    for name, value in fields.items():
        offset, code = offsets[name]
        struct.pack_into("=" + code, raw, offset, value)
    return bytes(raw)


def test_tcp_info_decodes_fields_at_their_offsets() -> None:
    """decode_tcp_info reads each field at its offset in struct tcp_info."""
    raw = _tcp_info_bytes(
        state=1, rtt=1234, cwnd=10, retransmits=2, bytes_acked=2**40, snd_wnd=65535
    )
    info = decode_tcp_info(raw)
    assert info.state is TcpState.ESTABLISHED
    assert (info.rtt, info.cwnd, info.retransmits) == (1234, 10, 2)
    assert info.bytes_acked == 2**40
    assert info.snd_wnd == 65535
    assert str(info).startswith("state=ESTABLISHED rtt=1234us")


def test_tcp_info_window_scales() -> None:
    """The two 4-bit window scales share byte 6 (low bits first on little endian)."""
    raw = bytearray(_tcp_info_bytes())
    raw[6] = 0x97
    info = decode_tcp_info(bytes(raw))
    low_first = sys.byteorder == "little"
    assert (info.snd_wscale, info.rcv_wscale) == ((7, 9) if low_first else (9, 7))


def test_tcp_info_from_an_older_kernel() -> None:
    """Fields a shorter (older) tcp_info lacks are None; the core ones are ints."""
    info = decode_tcp_info(_tcp_info_bytes(size=104, state=10, cwnd=3))
    assert info.state is TcpState.LISTEN
    assert info.cwnd == 3
    assert info.pacing_rate is None
    assert info.snd_wnd is None
    with pytest.raises(ValueError, match="expected at least 104 bytes"):
        decode_tcp_info(bytes(100))


def test_tcp_info_unknown_state_stays_an_int() -> None:
    """A state this enum does not know is kept as the kernel's number."""
    info = decode_tcp_info(_tcp_info_bytes(state=99))
    assert info.state == 99
    assert not isinstance(info.state, TcpState)
    assert "state=99" in str(info)
    assert isinstance(info, TcpInfo)


# --- public names ---------------------------------------------------------------------


def test_public_names_of_aiosock_options() -> None:
    """aiosock.options re-exports exactly its documented names."""
    assert set(options.__all__) == {
        "Credentials",
        "Linger",
        "Option",
        "OptionsView",
        "Phase",
        "SocketLike",
        "TcpInfo",
        "TcpState",
        "apply_options",
        "describe",
        "get",
        "names",
        "registry",
        "set",
        "snapshot",
        "validate_options",
    }
    for name in options.__all__:
        assert hasattr(options, name)
    assert "Credentials" in aiosock.__all__


# --- every input either validates or raises OptionError --------------------------

ANY_VALUE = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.sampled_from([10**400, -(10**400), "\ud800", "lo\udcff", "a" * 15]),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(),
    st.binary(max_size=20),
    st.tuples(st.booleans(), st.integers()),
    st.tuples(st.integers(), st.floats()),
    st.tuples(st.text(), st.none(), st.booleans()),
)
WRITABLE = [row.name for row in options.registry() if not row.read_only]


@given(name=st.sampled_from(WRITABLE), value=ANY_VALUE)
def test_any_value_validates_or_raises_option_error(name: str, value: object) -> None:
    """validate_options() either accepts a value (which then encodes) or refuses it."""
    failure: OptionError | None = None
    try:
        checked = options.validate_options({name: value})[name]
    except OptionError as exc:
        failure = exc
    if failure is None:
        raw = options.describe(name).codec.encode(checked)
        assert isinstance(raw, int | bytes)
    else:
        assert failure.option == name
        assert failure.reason.startswith("expected")
