"""The endpoint grammar: every scheme, every error, canonical forms, resolution."""

from __future__ import annotations

import asyncio
import ipaddress
import os
import socket
from pathlib import Path, PurePosixPath

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from aiosock import (
    AddressError,
    AiosockError,
    Endpoint,
    HostAddress,
    Inet6Address,
    InetAddress,
    LocalAddress,
    Namespace,
    ResolutionError,
    Style,
    as_endpoint,
    parse_endpoint,
)
from aiosock._foundation._addresses import SUN_PATH_MAX

STREAM, DATAGRAM, SEQPACKET, RAW = (
    Style.STREAM,
    Style.DATAGRAM,
    Style.SEQPACKET,
    Style.RAW,
)
INET, INET6, LOCAL = Namespace.INET, Namespace.INET6, Namespace.LOCAL

# --- valid text: (text, canonical str, the endpoint) -------------------------

VALID: list[tuple[str, str, Endpoint]] = [
    # tcp, both families
    (
        "tcp://127.0.0.1:8080",
        "tcp://127.0.0.1:8080",
        Endpoint(STREAM, INET, InetAddress("127.0.0.1", 8080)),
    ),
    (
        "tcp://[::1]:8080",
        "tcp://[::1]:8080",
        Endpoint(STREAM, INET6, Inet6Address("::1", 8080)),
    ),
    (
        "tcp://[fe80::1%eth0]:80",
        "tcp://[fe80::1%eth0]:80",
        Endpoint(STREAM, INET6, Inet6Address("fe80::1", 80, scope_id="eth0")),
    ),
    (
        "tcp://[fe80::1%2]:80",
        "tcp://[fe80::1%2]:80",
        Endpoint(STREAM, INET6, Inet6Address("fe80::1", 80, scope_id=2)),
    ),
    (
        "tcp://[FE80:0::1%0]:80",
        "tcp://[fe80::1]:80",
        Endpoint(STREAM, INET6, Inet6Address("fe80::1", 80)),
    ),
    (
        "tcp://[::FFFF:7f00:1]:80",
        "tcp://[::ffff:127.0.0.1]:80",
        Endpoint(STREAM, INET6, Inet6Address("::ffff:127.0.0.1", 80)),
    ),
    (
        "tcp://localhost:http",
        "tcp://localhost:http",
        Endpoint(STREAM, None, HostAddress("localhost", "http")),
    ),
    (
        "tcp://LocalHost:80",
        "tcp://localhost:80",
        Endpoint(STREAM, None, HostAddress("localhost", 80)),
    ),
    ("tcp://:8080", "tcp://:8080", Endpoint(STREAM, None, HostAddress("", 8080))),
    ("tcp://*:8080", "tcp://:8080", Endpoint(STREAM, None, HostAddress("", 8080))),
    (
        "tcp://127.0.0.1:http",
        "tcp4://127.0.0.1:http",
        Endpoint(STREAM, INET, HostAddress("127.0.0.1", "http")),
    ),
    (
        "tcp://[::1]:http",
        "tcp6://[::1]:http",
        Endpoint(STREAM, INET6, HostAddress("::1", "http")),
    ),
    (
        "tcp://[fe80::1%lo]:http",
        "tcp6://[fe80::1%lo]:http",
        Endpoint(STREAM, INET6, HostAddress("fe80::1%lo", "http")),
    ),
    (
        "tcp://127.0.0.1:00080",
        "tcp://127.0.0.1:80",
        Endpoint(STREAM, INET, InetAddress("127.0.0.1", 80)),
    ),
    (
        "TCP://127.0.0.1:0",
        "tcp://127.0.0.1:0",
        Endpoint(STREAM, INET, InetAddress("127.0.0.1", 0)),
    ),
    (
        "tcp://host.example.:65535",
        "tcp://host.example.:65535",
        Endpoint(STREAM, None, HostAddress("host.example.", 65535)),
    ),
    # tcp4 / tcp6
    (
        "tcp4://127.0.0.1:80",
        "tcp://127.0.0.1:80",
        Endpoint(STREAM, INET, InetAddress("127.0.0.1", 80)),
    ),
    (
        "tcp4://:80",
        "tcp://0.0.0.0:80",
        Endpoint(STREAM, INET, InetAddress("0.0.0.0", 80)),
    ),
    ("tcp4://*:http", "tcp4://:http", Endpoint(STREAM, INET, HostAddress("", "http"))),
    (
        "tcp4://localhost:80",
        "tcp4://localhost:80",
        Endpoint(STREAM, INET, HostAddress("localhost", 80)),
    ),
    (
        "tcp6://[::1]:80",
        "tcp://[::1]:80",
        Endpoint(STREAM, INET6, Inet6Address("::1", 80)),
    ),
    ("tcp6://:80", "tcp://[::]:80", Endpoint(STREAM, INET6, Inet6Address("::", 80))),
    (
        "tcp6://localhost:http",
        "tcp6://localhost:http",
        Endpoint(STREAM, INET6, HostAddress("localhost", "http")),
    ),
    # udp, udp4, udp6
    (
        "udp://127.0.0.1:53",
        "udp://127.0.0.1:53",
        Endpoint(DATAGRAM, INET, InetAddress("127.0.0.1", 53)),
    ),
    (
        "udp://[::1]:53",
        "udp://[::1]:53",
        Endpoint(DATAGRAM, INET6, Inet6Address("::1", 53)),
    ),
    (
        "udp://localhost:domain",
        "udp://localhost:domain",
        Endpoint(DATAGRAM, None, HostAddress("localhost", "domain")),
    ),
    ("udp://:0", "udp://:0", Endpoint(DATAGRAM, None, HostAddress("", 0))),
    (
        "udp4://*:53",
        "udp://0.0.0.0:53",
        Endpoint(DATAGRAM, INET, InetAddress("0.0.0.0", 53)),
    ),
    (
        "udp6://[::1]:53",
        "udp://[::1]:53",
        Endpoint(DATAGRAM, INET6, Inet6Address("::1", 53)),
    ),
    (
        "udp6://:domain",
        "udp6://:domain",
        Endpoint(DATAGRAM, INET6, HostAddress("", "domain")),
    ),
    # unix, unixgram, unixpacket
    (
        "unix:/run/app.sock",
        "unix:/run/app.sock",
        Endpoint(STREAM, LOCAL, LocalAddress("/run/app.sock")),
    ),
    (
        "unix:relative.sock",
        "unix:relative.sock",
        Endpoint(STREAM, LOCAL, LocalAddress("relative.sock")),
    ),
    (
        "unix:///run/app.sock",
        "unix:/run/app.sock",
        Endpoint(STREAM, LOCAL, LocalAddress("/run/app.sock")),
    ),
    (
        "unix://relative.sock",
        "unix:relative.sock",
        Endpoint(STREAM, LOCAL, LocalAddress("relative.sock")),
    ),
    (
        "unix:////double",
        "unix:////double",
        Endpoint(STREAM, LOCAL, LocalAddress("//double")),
    ),
    (
        "unix:@name",
        "unix:@name",
        Endpoint(STREAM, LOCAL, LocalAddress.abstract("name")),
    ),
    (
        "unix://@name",
        "unix:@name",
        Endpoint(STREAM, LOCAL, LocalAddress.abstract("name")),
    ),
    ("unix:./@name", "unix:./@name", Endpoint(STREAM, LOCAL, LocalAddress("./@name"))),
    (
        "unix:/tmp/a b:c",
        "unix:/tmp/a b:c",
        Endpoint(STREAM, LOCAL, LocalAddress("/tmp/a b:c")),
    ),
    (
        "unixgram:/run/log",
        "unixgram:/run/log",
        Endpoint(DATAGRAM, LOCAL, LocalAddress("/run/log")),
    ),
    (
        "unixgram:@log",
        "unixgram:@log",
        Endpoint(DATAGRAM, LOCAL, LocalAddress.abstract("log")),
    ),
    (
        "unixpacket:/run/seq",
        "unixpacket:/run/seq",
        Endpoint(SEQPACKET, LOCAL, LocalAddress("/run/seq")),
    ),
    (
        "unixpacket:@seq",
        "unixpacket:@seq",
        Endpoint(SEQPACKET, LOCAL, LocalAddress.abstract("seq")),
    ),
    ("UNIXGRAM:x", "unixgram:x", Endpoint(DATAGRAM, LOCAL, LocalAddress("x"))),
    # ip4, ip6
    ("ip4:icmp", "ip4:icmp", Endpoint(RAW, INET, None, "icmp")),
    ("ip4:1", "ip4:1", Endpoint(RAW, INET, None, 1)),
    ("ip4:0", "ip4:0", Endpoint(RAW, INET, None, 0)),
    ("ip4:255", "ip4:255", Endpoint(RAW, INET, None, 255)),
    ("ip6:58", "ip6:58", Endpoint(RAW, INET6, None, 58)),
    ("ip6:ipv6-icmp", "ip6:ipv6-icmp", Endpoint(RAW, INET6, None, "ipv6-icmp")),
    ("IP6:058", "ip6:58", Endpoint(RAW, INET6, None, 58)),
]


@pytest.mark.parametrize(("text", "canonical", "expected"), VALID)
def test_parse_valid(text: str, canonical: str, expected: Endpoint) -> None:
    """Each documented form parses to the expected endpoint and canonical text."""
    endpoint = parse_endpoint(text)
    assert endpoint == expected
    assert str(endpoint) == canonical


@pytest.mark.parametrize(("text", "canonical", "expected"), VALID)
def test_canonical_round_trip(text: str, canonical: str, expected: Endpoint) -> None:
    """The canonical form parses back to an equal endpoint and prints unchanged."""
    again = parse_endpoint(canonical)
    assert again == expected
    assert str(again) == canonical


def test_every_scheme_is_covered() -> None:
    """The valid table exercises every scheme of the grammar."""
    from aiosock._foundation._endpoints import SCHEMES

    seen = {text.split(":", 1)[0].lower() for text, _, _ in VALID}
    assert seen == set(SCHEMES)


@pytest.mark.parametrize(
    ("text", "style", "namespace"),
    [
        ("tcp://127.0.0.1:1", STREAM, INET),
        ("udp://[::1]:1", DATAGRAM, INET6),
        ("unix:/x", STREAM, LOCAL),
        ("unixgram:/x", DATAGRAM, LOCAL),
        ("unixpacket:/x", SEQPACKET, LOCAL),
        ("ip4:1", RAW, INET),
        ("ip6:1", RAW, INET6),
    ],
)
def test_style_and_namespace(text: str, style: Style, namespace: Namespace) -> None:
    """Each scheme sets the style and namespace it stands for."""
    endpoint = parse_endpoint(text)
    assert (endpoint.style, endpoint.namespace) == (style, namespace)


# --- errors: (text, position, phrase) ----------------------------------------

SCHEMES_PHRASE = "expected a scheme (tcp, tcp4, tcp6, udp, udp4, udp6, unix"

ERRORS: list[tuple[str, int, str]] = [
    # scheme
    ("", 0, SCHEMES_PHRASE),
    (" tcp://a:1", 0, SCHEMES_PHRASE),
    ("foo://x:1", 0, "got 'foo'"),
    ("http://x:80", 0, "got 'http'"),
    ("tcp5://x:1", 0, "got 'tcp5'"),
    ("localhost:8080", 0, "did you mean 'tcp://localhost:8080'?"),
    ("127.0.0.1:80", 0, "did you mean 'tcp://127.0.0.1:80'?"),
    ("[::1]:80", 0, "did you mean 'tcp://[::1]:80'?"),
    ("/run/app.sock", 0, "did you mean 'unix:/run/app.sock'?"),
    ("./app.sock", 0, "did you mean 'unix:./app.sock'?"),
    ("localhost:http", 0, "got 'localhost'"),
    ("ip:icmp", 0, "got 'ip' (did you mean ip4 or ip6?)"),
    ("raw:1", 0, "(did you mean ip4 or ip6?)"),
    ("https://example.org:443", 0, "TLS is the ssl= argument, not a scheme"),
    ("file:///run/app.sock", 0, "(did you mean unix?)"),
    ("tcp", 3, "expected ':' after the scheme, got the end"),
    ("tcp;//a:1", 3, "expected ':' after the scheme, got ';'"),
    ("tcp:", 4, "expected '//' after 'tcp:'"),
    ("tcp:/a:1", 4, "expected '//' after 'tcp:', got '/'"),
    ("udp:127.0.0.1:53", 4, "expected '//' after 'udp:'"),
    # hosts
    ("tcp://a b:80", 7, "expected a host name or IP address, got 'a b'"),
    ("tcp://user@host:80", 10, "expected a host name or IP address"),
    ("tcp://é:80", 6, "expected a host name or IP address"),
    ("tcp://a*:80", 7, "expected a host name or IP address"),
    ("tcp://-host:80", 6, "expected a host name or IP address, got '-host'"),
    ("tcp://a..b:80", 6, "each label of a host name must be 1 to 63 characters"),
    ("tcp://" + "a" * 64 + ":80", 6, "1 to 63 characters"),
    ("tcp://1.2.3:80", 6, "expected an IPv4 address such as '127.0.0.1', got '1.2.3'"),
    ("tcp://127.1:80", 6, "expected an IPv4 address"),
    ("tcp://256.1.1.1:80", 6, "expected an IPv4 address"),
    ("tcp://host", 10, "expected ':' and a port, got the end"),
    ("tcp://*", 7, "expected ':' and a port, got the end"),
    ("tcp://localhost;80", 15, "expected ':' and a port, got ';'"),
    ("tcp://localhost 80", 15, "expected ':' and a port, got ' '"),
    ("tcp6://127.0.0.1:80", 7, "for tcp6/udp6, got an IPv4 address"),
    ("udp6://127.0.0.1:80", 7, "for tcp6/udp6, got an IPv4 address"),
    ("tcp4://[::1]:80", 7, "for tcp4/udp4, got an IPv6 address"),
    ("udp4://[fe80::1%lo]:1", 7, "for tcp4/udp4, got an IPv6 address"),
    # IPv6 literals and zones
    ("tcp://::1:80", 6, "expected '[' and ']' around an IPv6 address"),
    ("tcp://::1", 6, "expected '[' and ']' around an IPv6 address"),
    ("tcp://fe80::1%lo:80", 6, "expected '[' and ']' around an IPv6 address"),
    ("tcp://[::1:80", 13, "expected ']' to close the IPv6 address, got the end"),
    ("tcp://[::1]", 11, "expected ':' and a port after ']', got the end"),
    ("tcp://[::1]x80", 11, "expected ':' and a port after ']', got 'x'"),
    ("tcp://[1.2.3.4]:80", 7, "expected an IPv6 address inside '[...]', got '1.2.3.4'"),
    ("tcp://[]:80", 7, "expected an IPv6 address inside '[...]', got ''"),
    ("tcp://[::g]:80", 7, "expected an IPv6 address inside '[...]'"),
    ("tcp://[fe80::1%]:80", 15, "expected a zone"),
    ("tcp://[fe80::1%eth0%1]:80", 15, "expected a zone"),
    ("tcp://[fe80::1%" + "a" * 16 + "]:80", 15, "expected a zone"),
    ("tcp://[fe80::1%4294967296]:80", 15, "expected a zone"),
    ("tcp://[fe80::1%²]:80", 15, "expected a zone"),
    # ports and service names
    ("tcp://host:", 11, "expected a port number or service name, got the end"),
    ("tcp://host:65536", 11, "expected a port in 0..65535, got 65536"),
    ("tcp://[::1]:99999", 12, "expected a port in 0..65535, got 99999"),
    ("tcp://host:-1", 11, "expected a port number or service name, got '-1'"),
    ("tcp://host:8 0", 11, "got '8 0'"),
    ("tcp://host:80 ", 11, "got '80 '"),
    ("tcp://host:80/", 11, "got '80/'"),
    ("tcp://host:80:90", 11, "got '80:90'"),
    ("tcp://[::1]:80:90", 12, "got '80:90'"),
    ("tcp://host:²", 11, "expected a port number or service name, got '²'"),
    ("tcp://host:٣", 11, "expected a port number or service name, got '٣'"),
    ("tcp://host:+80", 11, "expected a port number or service name"),
    ("tcp://host:ht tp", 11, "expected a port number or service name"),
    # local paths and abstract names
    ("unix:", 5, "expected a socket file path or '@' and an abstract name"),
    ("unix://", 7, "expected a socket file path or '@' and an abstract name"),
    ("unixgram:", 9, "expected a socket file path"),
    ("unixpacket:", 11, "expected a socket file path"),
    ("unix:@", 6, "expected an abstract name after '@', got the end"),
    ("unix:/tmp/a\0b", 11, "expected a path without NUL bytes"),
    (
        "unix:/" + "a" * (SUN_PATH_MAX - 1),
        5,
        "local path must be at most 107 bytes, as sun_path holds 108 with the "
        "terminating NUL (got 108)",
    ),
    (
        "unixgram:/" + "a" * (SUN_PATH_MAX - 1),
        9,
        "local path must be at most 107 bytes",
    ),
    (
        "unixpacket:/" + "a" * (SUN_PATH_MAX - 1),
        11,
        "local path must be at most 107 bytes",
    ),
    (
        "unix:@" + "a" * SUN_PATH_MAX,
        5,
        "abstract name must be at most 107 bytes, as sun_path holds 108 with its "
        "leading NUL (got 108)",
    ),
    ("unix:/tmp/\ud800", 5, "local path must be encodable"),
    # raw protocols
    ("ip4:", 4, "expected a protocol name or number, got the end"),
    ("ip4:256", 4, "expected a protocol number in 0..255, got 256"),
    ("ip4:-1", 4, "expected a protocol number or name, got '-1'"),
    ("ip4:icmp ", 4, "expected a protocol number or name"),
    ("ip6:²", 4, "expected a protocol number or name, got '²'"),
    ("ip4://icmp", 4, "expected a protocol number or name"),
]


@pytest.mark.parametrize(("text", "position", "phrase"), ERRORS)
def test_parse_errors(text: str, position: int, phrase: str) -> None:
    """Malformed text raises AddressError with the text, position and expectation."""
    with pytest.raises(AddressError) as info:
        parse_endpoint(text)
    error = info.value
    assert error.text == text
    assert error.position == position
    assert phrase in error.reason
    assert f"at position {position} in {text!r}" in str(error)


def test_no_tcp_hint_for_name_and_word() -> None:
    """'name:word' gets no tcp:// hint: it is more likely a misspelt scheme."""
    with pytest.raises(AddressError) as info:
        parse_endpoint("localhost:http")
    assert "did you mean" not in str(info.value)


def test_address_error_is_a_value_error() -> None:
    """AddressError is both the aiosock root error and a ValueError."""
    with pytest.raises(ValueError, match="expected"):
        parse_endpoint("nope")
    with pytest.raises(AiosockError):
        parse_endpoint("nope")


@pytest.mark.parametrize("value", [b"tcp://127.0.0.1:80", None, 80])
def test_parse_requires_str(value: object) -> None:
    """Only str is endpoint text; other types are an AddressError naming the type."""
    with pytest.raises(AddressError, match="expected endpoint text as a str, got"):
        parse_endpoint(value)  # type: ignore[arg-type]


# --- Endpoint built directly -------------------------------------------------


@pytest.mark.parametrize(
    ("built", "parsed"),
    [
        (Endpoint(STREAM, None, HostAddress("127.0.0.1", 80)), "tcp://127.0.0.1:80"),
        (Endpoint(STREAM, None, HostAddress("::1", 80)), "tcp://[::1]:80"),
        (Endpoint(DATAGRAM, INET, HostAddress("", 53)), "udp4://:53"),
        (Endpoint(DATAGRAM, INET6, HostAddress("*", 53)), "udp6://:53"),
        (
            Endpoint(STREAM, None, HostAddress("127.0.0.1", "http")),
            "tcp://127.0.0.1:http",
        ),
        (Endpoint(STREAM, None, InetAddress("127.0.0.1", 80)), "tcp://127.0.0.1:80"),
        (Endpoint(STREAM, INET, HostAddress("localhost", 80)), "tcp4://localhost:80"),
    ],
)
def test_endpoint_normalises_like_the_parser(built: Endpoint, parsed: str) -> None:
    """An endpoint built directly equals the one parsed from its text."""
    assert built == parse_endpoint(parsed)
    assert parse_endpoint(str(built)) == built


@pytest.mark.parametrize(
    ("args", "phrase"),
    [
        ((RAW, INET, InetAddress("127.0.0.1", 1)), "raw endpoint has no address"),
        ((RAW, LOCAL, None), "needs namespace INET or INET6"),
        ((RAW, None, None), "needs namespace INET or INET6"),
        ((STREAM, INET, None), "expected an address object, got None"),
        ((STREAM, INET, InetAddress("1.2.3.4", 1), 6), "only for raw"),
        ((STREAM, INET6, InetAddress("1.2.3.4", 1)), "namespace INET, not INET6"),
        ((STREAM, INET, LocalAddress("/x")), "namespace LOCAL, not INET"),
        ((STREAM, LOCAL, HostAddress("localhost", 1)), "needs an internet"),
        ((SEQPACKET, None, HostAddress("localhost", 1)), "needs an internet"),
        ((SEQPACKET, INET, InetAddress("1.2.3.4", 1)), "local namespace only"),
        ((STREAM, INET, HostAddress("::1", "http")), "namespace INET6, not INET"),
        ((RAW, INET, None, 256), r"'protocol' must be in 0..255"),
        ((RAW, INET, None, "bad name"), "expected a protocol number or name"),
        ((RAW, INET, None, True), "'protocol' must be an int"),
        (("stream", INET, None), "must be <enum 'Style'>"),
        ((STREAM, "inet", InetAddress("1.2.3.4", 1)), "must be <enum 'Namespace'>"),
    ],
)
def test_endpoint_rejects(args: tuple[object, ...], phrase: str) -> None:
    """Inconsistent fields are rejected when an endpoint is built."""
    with pytest.raises((AddressError, TypeError), match=phrase):
        Endpoint(*args)  # type: ignore[arg-type]


def test_endpoint_is_resolved() -> None:
    """Only endpoints without host, service or protocol names are resolved."""
    assert parse_endpoint("tcp://127.0.0.1:80").is_resolved
    assert parse_endpoint("unix:@x").is_resolved
    assert parse_endpoint("ip4:1").is_resolved
    assert not parse_endpoint("tcp://localhost:80").is_resolved
    assert not parse_endpoint("tcp://127.0.0.1:http").is_resolved
    assert not parse_endpoint("tcp://:80").is_resolved
    assert not parse_endpoint("ip4:icmp").is_resolved


def test_unnamed_local_endpoint_prints_empty_path() -> None:
    """An unnamed local endpoint (a socketpair peer) prints as 'unix:'."""
    assert str(Endpoint(STREAM, LOCAL, LocalAddress(""))) == "unix:"


# --- as_endpoint -------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "style", "expected"),
    [
        ("tcp://127.0.0.1:80", STREAM, "tcp://127.0.0.1:80"),
        ("udp://[::1]:53", DATAGRAM, "udp://[::1]:53"),
        (parse_endpoint("unix:@x"), STREAM, "unix:@x"),
        (InetAddress("127.0.0.1", 80), STREAM, "tcp://127.0.0.1:80"),
        (Inet6Address("::1", 53), DATAGRAM, "udp://[::1]:53"),
        (LocalAddress("/run/a.sock"), SEQPACKET, "unixpacket:/run/a.sock"),
        (LocalAddress.abstract("log"), DATAGRAM, "unixgram:@log"),
        (HostAddress("localhost", "http"), STREAM, "tcp://localhost:http"),
        (("127.0.0.1", 80), STREAM, "tcp://127.0.0.1:80"),
        (("::1", 80), DATAGRAM, "udp://[::1]:80"),
        (("fe80::1%lo", 80), STREAM, "tcp://[fe80::1%lo]:80"),
        (("localhost", "http"), STREAM, "tcp://localhost:http"),
        (("localhost", "8080"), STREAM, "tcp://localhost:8080"),
        (("", 0), STREAM, "tcp://:0"),
        ((None, 0), DATAGRAM, "udp://:0"),
        (Path("/run/a.sock"), STREAM, "unix:/run/a.sock"),
        (PurePosixPath("rel.sock"), DATAGRAM, "unixgram:rel.sock"),
    ],
)
def test_as_endpoint_accepts(value: object, style: Style, expected: str) -> None:
    """as_endpoint takes text, endpoints, addresses, (host, port) and paths."""
    endpoint = as_endpoint(value, style)  # type: ignore[arg-type]
    assert endpoint == parse_endpoint(expected)
    assert endpoint.style is style


def test_as_endpoint_defaults_to_stream() -> None:
    """Without a style, as_endpoint builds stream endpoints."""
    assert as_endpoint(("127.0.0.1", 1)).style is STREAM


def test_as_endpoint_returns_endpoint_itself() -> None:
    """An Endpoint of the right style is returned as is."""
    endpoint = parse_endpoint("tcp://127.0.0.1:1")
    assert as_endpoint(endpoint) is endpoint


@pytest.mark.parametrize(
    ("value", "style", "phrase"),
    [
        (
            "udp://127.0.0.1:53",
            STREAM,
            "expected a stream endpoint, got 'udp://127.0.0.1:53'",
        ),
        ("tcp://127.0.0.1:53", DATAGRAM, "expected a datagram endpoint"),
        ("unix:/x", SEQPACKET, "expected a seqpacket endpoint"),
        ("tcp://127.0.0.1", STREAM, "expected ':' and a port"),
        (("127.0.0.1",), STREAM, "expected a (host, port) tuple"),
        (("127.0.0.1", 1, 2), STREAM, "expected a (host, port) tuple"),
        (("127.0.0.1", 70000), STREAM, "'port' must be in 0..65535 (got 70000)"),
        (("127.0.0.1", True), STREAM, "'port' must be an int"),
        ((1, 80), STREAM, "'host' must be a str"),
        (("a b", 80), STREAM, "expected a host name or IP address"),
        (("localhost", 80), SEQPACKET, "needs an internet endpoint"),
        (("localhost", 80), RAW, "raw endpoint has no address"),
        (b"tcp://127.0.0.1:80", STREAM, "got bytes"),
        (80, STREAM, "got int"),
        (None, STREAM, "got NoneType"),
        (Path("/" + "a" * (SUN_PATH_MAX - 1)), STREAM, "at most 107 bytes"),
        (InetAddress("127.0.0.1", 1), SEQPACKET, "local namespace only"),
    ],
)
def test_as_endpoint_rejects(value: object, style: Style, phrase: str) -> None:
    """as_endpoint raises AddressError for malformed values and wrong styles."""
    with pytest.raises(AddressError) as info:
        as_endpoint(value, style)  # type: ignore[arg-type]
    assert phrase in str(info.value)


# --- Hypothesis: generated endpoints round trip ------------------------------

ports = st.integers(0, 65535)
services = st.from_regex(r"[A-Za-z][A-Za-z0-9._+/-]{0,14}", fullmatch=True)
ipv4s = st.ip_addresses(v=4).map(str)
ipv6s = st.ip_addresses(v=6).map(lambda a: a.compressed)
zones = st.one_of(
    st.just(0),
    st.integers(1, 2**32 - 1),
    st.from_regex(r"[A-Za-z_.:-][A-Za-z0-9_.:-]{0,14}", fullmatch=True),
)
_label = st.from_regex(r"[a-z0-9_]([a-z0-9_-]{0,20}[a-z0-9_])?", fullmatch=True)
_top = st.from_regex(r"[a-z_]([a-z0-9_-]{0,10}[a-z0-9_])?", fullmatch=True)
hostnames = st.builds(
    lambda labels, top, dot: ".".join([*labels, top]) + dot,
    st.lists(_label, max_size=4),
    _top,
    st.sampled_from(["", "."]),
)
_fs_chars = st.characters(exclude_categories=["Cs"], exclude_characters="\0")


def _fits(text: str) -> bool:
    """Whether a path, or an abstract name after its NUL, fits sun_path."""
    if text.startswith("\0"):
        return len(os.fsencode(text)) <= SUN_PATH_MAX
    return len(os.fsencode(text)) < SUN_PATH_MAX


paths = st.one_of(
    st.text(_fs_chars, min_size=1, max_size=60),
    st.builds(lambda p: "/" + p, st.text(_fs_chars, max_size=60)),
    st.builds(lambda p: "//" + p, st.text(_fs_chars, max_size=60)),
    st.sampled_from(["@x", "./@x", "a:b", "/tmp/a b", "//", "/", ".", "-"]),
).filter(_fits)
abstract_names = st.text(
    st.characters(exclude_categories=["Cs"]), min_size=1, max_size=50
).filter(lambda n: _fits("\0" + n))
protocols = st.one_of(
    st.integers(0, 255), st.from_regex(r"[A-Za-z][A-Za-z0-9._+-]{0,12}", fullmatch=True)
)
inet_styles = st.sampled_from([STREAM, DATAGRAM])


@st.composite
def inet_endpoints(draw: st.DrawFn) -> Endpoint:
    """Internet endpoints: literals with zones, names, any-address, services."""
    style = draw(inet_styles)
    port = draw(st.one_of(ports, services))
    kind = draw(st.sampled_from(["v4", "v6", "name", "any"]))
    if kind == "v4":
        return Endpoint(
            style, draw(st.sampled_from([None, INET])), HostAddress(draw(ipv4s), port)
        )
    if kind == "v6":
        host, zone = draw(ipv6s), draw(zones)
        text = host if zone == 0 else f"{host}%{zone}"
        if isinstance(port, int) and draw(st.booleans()):
            address = Inet6Address(host, port, 0, zone)
            return Endpoint(style, draw(st.sampled_from([None, INET6])), address)
        return Endpoint(
            style, draw(st.sampled_from([None, INET6])), HostAddress(text, port)
        )
    namespace = draw(st.sampled_from([None, INET, INET6]))
    host = draw(hostnames) if kind == "name" else draw(st.sampled_from(["", "*"]))
    return Endpoint(style, namespace, HostAddress(host, port))


@st.composite
def local_endpoints(draw: st.DrawFn) -> Endpoint:
    """Local endpoints of every style: files and abstract names."""
    style = draw(st.sampled_from([STREAM, DATAGRAM, SEQPACKET]))
    if draw(st.booleans()):
        address = LocalAddress.abstract(draw(abstract_names))
    else:
        address = LocalAddress(draw(paths))
    return Endpoint(style, LOCAL, address)


raw_endpoints = st.builds(
    lambda ns, proto: Endpoint(RAW, ns, None, proto),
    st.sampled_from([INET, INET6]),
    protocols,
)
endpoints = st.one_of(inet_endpoints(), local_endpoints(), raw_endpoints)


@given(endpoints)
@example(Endpoint(STREAM, LOCAL, LocalAddress("//x")))
@example(Endpoint(DATAGRAM, INET, HostAddress("", 53)))
@example(Endpoint(STREAM, None, HostAddress("fe80::1%0", 80)))
def test_generated_endpoints_round_trip(endpoint: Endpoint) -> None:
    """parse_endpoint(str(e)) == e for generated endpoints of every scheme."""
    text = str(endpoint)
    again = parse_endpoint(text)
    assert again == endpoint
    assert str(again) == text


# --- Hypothesis: arbitrary text parses or raises AddressError ----------------

FRAGMENTS = [
    "tcp", "tcp4", "tcp6", "udp", "udp4", "udp6", "unix", "unixgram", "unixpacket",
    "ip4", "ip6", "TCP", "://", ":", "//", "/", "[", "]", "%", "@", "*", ".", "-", "_",
    "::", "::1", "127.0.0.1", "fe80::1", "1.2.3", "lo", "eth0", "0", "80", "65535",
    "65536", "4294967296", "http", "domain", "localhost", "icmp", "a" * 64, " ", "\0",
    "²", "٣", "é", "\ud800", "\udcff", "#", "?", "+",
]  # fmt: skip
grammar_texts = st.lists(st.sampled_from(FRAGMENTS), max_size=12).map("".join)


@st.composite
def mutated_texts(draw: st.DrawFn) -> str:
    """Valid endpoint text with a few characters inserted, deleted or replaced."""
    text = str(draw(endpoints))
    for _ in range(draw(st.integers(1, 3))):
        i = draw(st.integers(0, len(text)))
        op = draw(st.sampled_from(["insert", "delete", "replace"]))
        char = draw(st.one_of(st.sampled_from(":/[]%@.*0a\0 "), st.characters()))
        if op == "insert":
            text = text[:i] + char + text[i:]
        elif op == "delete":
            text = text[:i] + text[i + 1 :]
        else:
            text = text[:i] + char + text[i + 1 :]
    return text


any_text = st.one_of(st.text(), grammar_texts, mutated_texts())


def _parse_or_address_error(text: str) -> Endpoint | AddressError:
    try:
        return parse_endpoint(text)
    except AddressError as exc:
        return exc


@given(any_text)
def test_any_text_parses_or_raises_address_error(text: str) -> None:
    """Any text either parses (and round trips) or raises AddressError, nothing else."""
    result = _parse_or_address_error(text)
    if isinstance(result, Endpoint):
        assert parse_endpoint(str(result)) == result


@given(any_text)
@example("")
@example("tcp://[::1")
def test_error_positions_are_within_the_text(text: str) -> None:
    """Every AddressError from parse_endpoint names the text and a position in it."""
    result = _parse_or_address_error(text)
    if isinstance(result, AddressError):
        assert result.text == text
        assert result.position is not None
        assert 0 <= result.position <= len(text)
        assert result.reason.startswith(("expected", "each", "a ", "local", "abstract"))


# --- resolution (loopback only) ----------------------------------------------

TIMEOUT = 10


def _is_loopback(endpoint: Endpoint) -> bool:
    address = endpoint.address
    assert isinstance(address, InetAddress | Inet6Address)
    return ipaddress.ip_address(address.host).is_loopback


async def test_resolve_localhost() -> None:
    """tcp://localhost:80 resolves through getaddrinfo to loopback endpoints."""
    async with asyncio.timeout(TIMEOUT):
        resolved = await parse_endpoint("tcp://localhost:80").resolve()
    assert Endpoint(STREAM, INET, InetAddress("127.0.0.1", 80)) in resolved
    for endpoint in resolved:
        assert endpoint.is_resolved
        assert endpoint.style is STREAM
        assert _is_loopback(endpoint)
        assert endpoint.address.port == 80  # type: ignore[union-attr]
    assert len(set(resolved)) == len(resolved)


needs_services = pytest.mark.skipif(
    not Path("/etc/services").exists(), reason="no services database (/etc/services)"
)


@needs_services
async def test_resolve_service_name() -> None:
    """A service name is looked up in the services database (http is 80/tcp)."""
    async with asyncio.timeout(TIMEOUT):
        resolved = await parse_endpoint("tcp://127.0.0.1:http").resolve()
    assert resolved == (parse_endpoint("tcp://127.0.0.1:80"),)


@needs_services
async def test_resolve_udp_service_name() -> None:
    """A datagram endpoint resolves its service in the udp column (domain is 53)."""
    async with asyncio.timeout(TIMEOUT):
        resolved = await parse_endpoint("udp://127.0.0.1:domain").resolve()
    assert resolved == (parse_endpoint("udp://127.0.0.1:53"),)


async def test_resolve_udp_localhost() -> None:
    """udp://localhost:53 resolves to datagram endpoints on loopback."""
    async with asyncio.timeout(TIMEOUT):
        resolved = await parse_endpoint("udp://localhost:53").resolve()
    assert Endpoint(DATAGRAM, INET, InetAddress("127.0.0.1", 53)) in resolved
    assert all(e.style is DATAGRAM and _is_loopback(e) for e in resolved)


async def test_resolve_any_address_passive() -> None:
    """tcp://:0 resolved for binding gives the wildcard address of each family."""
    async with asyncio.timeout(TIMEOUT):
        resolved = await parse_endpoint("tcp://:0").resolve(passive=True)
    wildcards = {
        Endpoint(STREAM, INET, InetAddress("0.0.0.0", 0)),
        Endpoint(STREAM, INET6, Inet6Address("::", 0)),
    }
    assert resolved
    assert set(resolved) <= wildcards


async def test_resolve_any_address_not_passive() -> None:
    """tcp://:0 resolved for connecting gives the loopback address of each family."""
    async with asyncio.timeout(TIMEOUT):
        resolved = await parse_endpoint("tcp://:0").resolve()
    assert resolved
    assert all(_is_loopback(e) for e in resolved)


async def test_resolve_tcp4_keeps_its_family() -> None:
    """A forced namespace limits resolution to that family."""
    async with asyncio.timeout(TIMEOUT):
        resolved = await parse_endpoint("tcp4://localhost:80").resolve()
    assert resolved == (parse_endpoint("tcp://127.0.0.1:80"),)


@pytest.mark.parametrize(
    "text",
    [
        "unix:/run/app.sock",
        "unixgram:@log",
        "tcp://127.0.0.1:80",
        "udp://[::1]:1",
        "ip6:58",
    ],
)
async def test_resolve_concrete_is_itself(text: str) -> None:
    """A concrete endpoint resolves to itself, with no look-up."""
    endpoint = parse_endpoint(text)
    assert await endpoint.resolve() == (endpoint,)


@pytest.mark.skipif(not Path("/etc/protocols").exists(), reason="no /etc/protocols")
@pytest.mark.parametrize(("text", "number"), [("ip4:icmp", 1), ("ip6:ipv6-icmp", 58)])
async def test_resolve_protocol_name(text: str, number: int) -> None:
    """A raw endpoint's protocol name resolves to its number."""
    async with asyncio.timeout(TIMEOUT):
        resolved = await parse_endpoint(text).resolve()
    assert len(resolved) == 1
    assert resolved[0].protocol == number
    assert resolved[0].is_resolved
    assert resolved[0].namespace is parse_endpoint(text).namespace


async def test_resolve_unknown_protocol() -> None:
    """An unknown protocol name is a ResolutionError naming it."""
    with pytest.raises(ResolutionError, match="no protocol named 'nosuchproto'"):
        await parse_endpoint("ip4:nosuchproto").resolve()


async def test_resolve_unknown_service() -> None:
    """An unknown service name fails locally with a ResolutionError."""
    with pytest.raises(ResolutionError) as info:
        async with asyncio.timeout(TIMEOUT):
            await parse_endpoint("tcp://127.0.0.1:nosuchservice").resolve()
    assert info.value.text == "tcp4://127.0.0.1:nosuchservice"
    assert "nosuchservice" in str(info.value)


async def test_resolve_unknown_host() -> None:
    """A name under .invalid (RFC 6761) never resolves: a ResolutionError, not ()."""
    # Not in /etc/hosts, so the system resolver may ask its DNS server, which
    # answers NXDOMAIN at once; a host with no DNS at all only makes it slow.
    try:
        async with asyncio.timeout(TIMEOUT):
            await parse_endpoint("tcp://nonexistent.invalid:80").resolve()
    except ResolutionError as exc:
        error = exc
    except TimeoutError:
        pytest.skip(f"the system resolver gave no answer within {TIMEOUT} s")
    else:
        pytest.fail("nonexistent.invalid resolved")
    assert isinstance(error, OSError)
    assert isinstance(error, AddressError)
    assert error.errno in (socket.EAI_NONAME, getattr(socket, "EAI_NODATA", None))
    assert "nonexistent.invalid" in str(error)
