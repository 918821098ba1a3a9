"""The pure parsers of the services, protocols, networks and hosts files."""

from __future__ import annotations

import ipaddress
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from aiosock import ConfigError
from aiosock._foundation._netdb_parse import (
    c_lines,
    inet_network,
    network_number,
    strtoul,
)
from aiosock.netdb import (
    Host,
    Network,
    ParseResult,
    Problem,
    Protocol,
    Service,
    parse_hosts,
    parse_networks,
    parse_protocols,
    parse_services,
)

IP = ipaddress.ip_address

# text -> (entries, [(line, skipped, words in the reason)])
SERVICES: list[tuple[str, list[Service], list[tuple[int, bool, str]]]] = [
    ("", [], []),
    ("\n\n   \n\t\n", [], []),
    ("# only a comment\n  # indented comment\n", [], []),
    ("http 80/tcp\n", [Service("http", 80, "tcp")], []),
    (
        "http\t80/tcp\twww www-http\n",
        [Service("http", 80, "tcp", ("www", "www-http"))],
        [],
    ),
    (
        "http 80/tcp www # WorldWideWeb HTTP\n",
        [Service("http", 80, "tcp", ("www",))],
        [],
    ),
    ("http 80/tcp www#comment\n", [Service("http", 80, "tcp", ("www",))], []),
    ("   http 80/tcp\n", [Service("http", 80, "tcp")], []),
    ("http 80/tcp\r\n", [Service("http", 80, "tcp")], []),
    ("http\v80/tcp\fx\n", [Service("http", 80, "tcp", ("x",))], []),
    ("http 80/tcp", [Service("http", 80, "tcp")], []),
    ("http 0x50/tcp\n", [Service("http", 80, "tcp")], []),
    ("http 0120/tcp\n", [Service("http", 80, "tcp")], []),
    ("http +80/tcp\n", [Service("http", 80, "tcp")], []),
    ("http 80///tcp\n", [Service("http", 80, "tcp")], []),
    ("a 1/tcp\na 2/tcp\n", [Service("a", 1, "tcp"), Service("a", 2, "tcp")], []),
    ("bad\n", [], [(1, True, "expected a port number after 'bad'")]),
    ("bad line\n", [], [(1, True, "got 'line'")]),
    ("x 80 tcp\n", [], [(1, True, "expected '/' and a protocol")]),
    ("x 80x/tcp\n", [], [(1, True, "got 'x/tcp'")]),
    ("x 0x/tcp\n", [], [(1, True, "got 'x/tcp'")]),
    ("x -1/tcp\n", [], [(1, True, "expected a port in 0..65535, got '-1'")]),
    ("x 4294967296/tcp\n", [], [(1, True, "in 0..65535")]),
    ("x 4294967295/tcp\n", [Service("x", 65535, "tcp")], [(1, False, "as 65535")]),
    ("x 70000/tcp\n", [Service("x", 4464, "tcp")], [(1, False, "reads it as 4464")]),
    ("x 80\n", [Service("x", 80, "")], [(1, False, "no protocol")]),
    ("x 80/\n", [Service("x", 80, "")], [(1, False, "expected a protocol")]),
    ("x#y 80/tcp\n", [], [(1, True, "expected a port number after 'x'")]),
    ("  x 80/tcp", [Service("x", 80, "tcpcp")], [(1, False, "'x 80/tcpcp'")]),
    ("  x 80/tcp\0junk\n", [Service("x", 80, "tcpcp")], [(1, False, "NUL byte")]),
    ("x 80/tcp\0 y\n", [Service("x", 80, "tcp")], [(1, False, "no NUL byte")]),
    ("x 80/tcp # \0\n", [Service("x", 80, "tcp")], []),
    ("\0x 80/tcp\n", [], []),
    (
        "ok 1/udp\nbad\nok2 2/udp\n",
        [Service("ok", 1, "udp"), Service("ok2", 2, "udp")],
        [(2, True, "port number")],
    ),
    ("x 80/tcp\u2003y\n", [Service("x", 80, "tcp\u2003y")], []),
]


def _check(result: ParseResult[Any], entries: list[Any], problems: list[Any]) -> None:
    assert list(result.entries) == entries
    assert len(result.problems) == len(problems), result.problems
    for problem, (line, skipped, words) in zip(result.problems, problems, strict=True):
        assert (problem.line, problem.skipped) == (line, skipped)
        assert words in problem.reason


@pytest.mark.parametrize(("text", "entries", "problems"), SERVICES)
def test_parse_services(text: str, entries: list[Service], problems: list[Any]) -> None:
    """Each services line reads as the C library reads it; bad lines are reported."""
    _check(parse_services(text), entries, problems)


PROTOCOLS: list[tuple[str, list[Protocol], list[tuple[int, bool, str]]]] = [
    ("ip 0 IP # internet protocol\n", [Protocol("ip", 0, ("IP",))], []),
    ("tcp\t6\tTCP\n", [Protocol("tcp", 6, ("TCP",))], []),
    ("mptcp 262 MPTCP\n", [Protocol("mptcp", 262, ("MPTCP",))], []),
    ("a 010\n", [Protocol("a", 10)], []),
    ("a +5\n", [Protocol("a", 5)], []),
    ("a -0\n", [Protocol("a", 0)], []),
    ("a\n", [], [(1, True, "expected a protocol number after 'a'")]),
    ("a b\n", [], [(1, True, "got 'b'")]),
    ("a 6x\n", [], [(1, True, "expected a space after the protocol number")]),
    ("a 0x6\n", [], [(1, True, "got 'x6'")]),
    ("a -1\n", [], [(1, True, "in 0..2147483647, got '-1'")]),
    ("a 4294967296\n", [], [(1, True, "in 0..2147483647")]),
    ("a 4294967295\n", [Protocol("a", -1)], [(1, False, "reads it as -1")]),
    ("a 2147483648\n", [Protocol("a", -(2**31))], [(1, False, "as -2147483648")]),
    ("a 1\na 2\n", [Protocol("a", 1), Protocol("a", 2)], []),
]


@pytest.mark.parametrize(("text", "entries", "problems"), PROTOCOLS)
def test_parse_protocols(
    text: str, entries: list[Protocol], problems: list[Any]
) -> None:
    """Each protocols line reads as the C library reads it; bad lines are reported."""
    _check(parse_protocols(text), entries, problems)


NETWORKS: list[tuple[str, list[Network], list[tuple[int, bool, str]]]] = [
    ("loopback 127.0.0.0\n", [Network("loopback", "127.0.0.0")], []),
    ("loopback 127\n", [Network("loopback", "127.0.0.0")], []),
    ("ten 10.1\n", [Network("ten", "10.1.0.0")], []),
    ("n 10.1.2\n", [Network("n", "10.1.2.0")], []),
    ("n 0x7f\n", [Network("n", "127.0.0.0")], []),
    ("n 012.1\n", [Network("n", "10.1.0.0")], []),
    (
        "link-local 169.254.0.0 ll LL\n",
        [Network("link-local", "169.254.0.0", ("ll", "LL"))],
        [],
    ),
    ("n 1.2.3.4 # comment\n", [Network("n", "1.2.3.4")], []),
    ("n 1..2\n", [Network("n", 0xFFFFFFFF)], [(1, False, "as 255.255.255.255")]),
    ("n 256\n", [Network("n", 0xFFFFFFFF)], [(1, False, "got '256'")]),
    ("n 08\n", [Network("n", 0xFFFFFFFF)], [(1, False, "got '08'")]),
    ("n 1.2.3.4.5\n", [Network("n", 0xFFFFFFFF)], [(1, False, "network number")]),
    ("n\n", [Network("n", 0xFFFFFFFF)], [(1, False, "got the end of the line")]),
]


@pytest.mark.parametrize(("text", "entries", "problems"), NETWORKS)
def test_parse_networks(text: str, entries: list[Network], problems: list[Any]) -> None:
    """Short network numbers are the high parts, as the C library pads them."""
    _check(parse_networks(text), entries, problems)


HOSTS: list[tuple[str, list[Host], list[tuple[int, bool, str]]]] = [
    ("127.0.0.1 localhost\n", [Host("localhost", [IP("127.0.0.1")])], []),
    (
        "::1\tlocalhost ip6-localhost ip6-loopback\n",
        [Host("localhost", [IP("::1")], ("ip6-localhost", "ip6-loopback"))],
        [],
    ),
    ("::ffff:1.2.3.4 m\n", [Host("m", [IP("::ffff:1.2.3.4")])], []),
    (
        "10.0.0.1 a.example A # comment\n",
        [Host("a.example", [IP("10.0.0.1")], ("A",))],
        [],
    ),
    ("127.0.0.1\n", [Host("", [IP("127.0.0.1")])], [(1, False, "empty name")]),
    ("fe80::1%eth0 x\n", [], [(1, True, "got 'fe80::1%eth0'")]),
    ("01.2.3.4 x\n", [], [(1, True, "got '01.2.3.4'")]),
    ("1.2.3 x\n", [], [(1, True, "expected an IPv4 or IPv6 address")]),
    ("localhost 127.0.0.1\n", [], [(1, True, "got 'localhost'")]),
]


@pytest.mark.parametrize(("text", "entries", "problems"), HOSTS)
def test_parse_hosts(text: str, entries: list[Host], problems: list[Any]) -> None:
    """Each hosts line is one entry with one address; bad addresses are skipped."""
    _check(parse_hosts(text), entries, problems)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("127", 127),
        ("10.1", 0x0A01),
        ("1.2.3.4", 0x01020304),
        ("0x7f", 0x7F),
        ("X7f", 0x7F),
        ("010", 8),
        ("0", 0),
        ("1.2.3.4 ", 0x01020304),
        ("", None),
        ("0x", None),
        ("08", None),
        ("256", None),
        ("1.", None),
        ("1.2.3.4.5", None),
        ("1 2", None),
        ("4294967296", 0),  # 32-bit wrap-around, as in C
    ],
)
def test_inet_network(text: str, expected: int | None) -> None:
    """inet_network reads parts as low bytes, octal and hex included."""
    assert inet_network(text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [("127", 0x7F000000), ("10.1", 0x0A010000), ("10.1.2", 0x0A010200), ("1..", None)],
)
def test_network_number_pads_short_numbers(text: str, expected: int | None) -> None:
    """The networks file's number is padded with .0 parts before inet_network."""
    assert network_number(text) == expected


@pytest.mark.parametrize(
    ("text", "base", "expected"),
    [
        ("80", 0, (80, 2)),
        ("  80x", 0, (80, 4)),
        ("0x50", 0, (80, 4)),
        ("0X50", 16, (80, 4)),
        ("0x", 0, (0, 1)),
        ("0xg", 16, (0, 1)),
        ("017", 0, (15, 3)),
        ("09", 0, (0, 1)),
        ("-1", 10, (2**64 - 1, 2)),
        ("-0", 10, (0, 2)),
        ("+7", 10, (7, 2)),
        ("- 7", 10, (0, 0)),
        ("", 10, (0, 0)),
        ("x", 0, (0, 0)),
        ("99999999999999999999999", 10, (2**64 - 1, 23)),
        ("-99999999999999999999999", 10, (2**64 - 1, 24)),
        ("z", 36, (35, 1)),
    ],
)
def test_strtoul(text: str, base: int, expected: tuple[int, int]) -> None:
    """strtoul follows C: prefixes, signs, wrap-around and overflow to ULONG_MAX."""
    assert strtoul(text, base) == expected


def test_c_lines_split_at_newlines_only() -> None:
    """Only \\n ends a line: \\r, \\v, \\f and Unicode separators are blanks."""
    lines = list(c_lines("a\rb\u2028c\nd"))
    assert [(n, seen) for n, _w, seen, _m in lines] == [(1, "a\rb\u2028c"), (2, "d")]


def test_parse_rejects_bytes() -> None:
    """Parsers take text; bytes are a TypeError naming the type."""
    with pytest.raises(TypeError, match="got bytes"):
        parse_services(b"http 80/tcp")  # type: ignore[arg-type]


def test_parse_result_iterates_entries() -> None:
    """A ParseResult iterates over, and counts, its entries."""
    result = parse_protocols("a 1\nb 2\nbad\n")
    assert [p.name for p in result] == ["a", "b"]
    assert len(result) == 2


def test_problem_to_error_and_str() -> None:
    """A problem renders its line and becomes a ConfigError naming the file."""
    problem = parse_services("\nbad\n").problems[0]
    assert str(problem).startswith("line 2: expected a port number")
    assert str(problem).endswith("(skipped: 'bad')")
    error = problem.to_error("/etc/services")
    assert isinstance(error, ConfigError)
    assert (error.file, error.line) == ("/etc/services", 2)
    assert str(error).startswith("/etc/services:2: expected a port number")


@pytest.mark.parametrize(
    ("make", "error", "match"),
    [
        (
            lambda: Service("a b", 1, "tcp"),
            ValueError,
            "'name' must be a non-empty word",
        ),
        (lambda: Service("", 1, "tcp"), ValueError, "'name' must be"),
        (lambda: Service("a#", 1, "tcp"), ValueError, "'name' must be"),
        (lambda: Service(1, 1, "tcp"), TypeError, "'name' must be a str"),
        (lambda: Service("a", 70000, "tcp"), ValueError, r"'port' must be in 0..65535"),
        (lambda: Service("a", True, "tcp"), TypeError, "'port' must be an int"),
        (lambda: Service("a", 1, "/tcp"), ValueError, "must not start with '/'"),
        (lambda: Service("a", 1, "tcp", "alias"), TypeError, "not a str"),
        (lambda: Service("a", 1, "tcp", ("x y",)), ValueError, "'alias' must be"),
        (lambda: Protocol("a", 2**31), ValueError, "'number' must be in"),
        (lambda: Network("a", "1.2.3"), ValueError, "'address' must be an IPv4"),
        (lambda: Network("a", True), TypeError, "'address' must be"),
        (lambda: Host("a", []), ValueError, "at least one address"),
        (lambda: Host("a", ["fe80::1%eth0"]), ValueError, "expected an IPv4 or IPv6"),
        (lambda: Host("a", "127.0.0.1"), TypeError, "not a str"),
        (lambda: Host("", [IP("::1")], ("x",)), ValueError, "without a name"),
    ],
)
def test_records_validate(make: Any, error: type[Exception], match: str) -> None:
    """Records reject values that would not survive a trip through the file."""
    with pytest.raises(error, match=match):
        make()


def test_network_number_property() -> None:
    """Network.number is netent.n_net: the address as an int in host order."""
    assert Network("loopback", "127.0.0.0").number == 0x7F000000
    assert Network("x", 0x0A010000).address == ipaddress.IPv4Address("10.1.0.0")


# --- properties -------------------------------------------------------------

_ATOMS = st.sampled_from(
    [
        " ",
        "\t",
        "\n",
        "\r",
        "\v",
        "\f",
        "#",
        "/",
        "0",
        "1",
        "9",
        "x",
        "a",
        "-",
        "+",
        ".",
        ":",
        "\0",
        "é",
        "tcp",
        "::1",
        "127.0.0.1",
        "%",
        "65536",
        "4294967296",
    ]
)
TEXTS = st.one_of(st.text(), st.lists(_ATOMS, max_size=40).map("".join))
PARSERS = [parse_services, parse_protocols, parse_networks, parse_hosts]


@pytest.mark.parametrize("parse", PARSERS, ids=lambda f: f.__name__)
@given(text=TEXTS)
def test_any_text_parses_or_reports(parse: Any, text: str) -> None:
    """Every text gives entries and problems, never an exception; no line is lost."""
    result = parse(text)
    content_lines = [n for n, *_ in c_lines(text)]
    skipped = [p.line for p in result.problems if p.skipped]
    assert len(result.entries) + len(skipped) == len(content_lines)
    assert {p.line for p in result.problems} <= set(content_lines)
    for problem in result.problems:
        assert problem.reason.startswith("expected ")


_WORD = st.text(
    st.characters(blacklist_characters=" \t\n\v\f\r#\0", blacklist_categories=["Cs"]),
    min_size=1,
    max_size=8,
)
_ALIASES = st.lists(_WORD, max_size=3).map(tuple)
_SERVICE = st.builds(
    Service,
    _WORD,
    st.integers(0, 65535),
    _WORD.filter(lambda w: not w.startswith("/")),
    _ALIASES,
)
_PROTOCOL = st.builds(Protocol, _WORD, st.integers(0, 2**31 - 1), _ALIASES)
_NETWORK = st.builds(Network, _WORD, st.integers(0, 2**32 - 2), _ALIASES)
_HOST = st.builds(
    Host,
    _WORD,
    st.one_of(st.ip_addresses(v=4), st.ip_addresses(v=6)).map(lambda a: (a,)),
    _ALIASES,
)


@pytest.mark.parametrize(
    ("records", "parse"),
    [
        (_SERVICE, parse_services),
        (_PROTOCOL, parse_protocols),
        (_NETWORK, parse_networks),
        (_HOST, parse_hosts),
    ],
    ids=["services", "protocols", "networks", "hosts"],
)
@given(data=st.data())
def test_round_trip(records: Any, parse: Any, data: st.DataObject) -> None:
    """Records printed one per line parse back to equal records, with no problems."""
    entries = data.draw(st.lists(records, max_size=6))
    text = "".join(f"{entry}\n" for entry in entries)
    result = parse(text)
    assert list(result.entries) == entries
    assert result.problems == ()


def test_problem_is_a_value() -> None:
    """Problems compare by value, so parsing the same text twice gives equal results."""
    text = "bad\nx 70000/tcp\n"
    assert parse_services(text) == parse_services(text)
    assert parse_services(text).problems[0] == Problem(
        1, "bad", parse_services(text).problems[0].reason
    )


def test_leading_blanks_quirk_repeats_bytes_not_characters() -> None:
    """glibc's memmove quirk repeats the last bytes (UTF-8), as the C library reads."""
    from aiosock._foundation._netdb_parse import c_lines

    assert [seen for _, _, seen, _ in c_lines(" é")] == ["é\udca9"]
    assert [seen for _, _, seen, _ in c_lines("  foo 80/tcp")] == ["foo 80/tcpcp"]


def test_a_negative_protocol_number_is_written_as_the_library_reads_it() -> None:
    """-1 is written 4294967295, which reads back as -1 ("-1" is skipped)."""
    entry = Protocol("x", -1)
    assert str(entry) == "x\t4294967295"
    assert parse_protocols(f"{entry}\n").entries == (entry,)
