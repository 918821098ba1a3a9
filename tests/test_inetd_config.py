"""The inetd.conf parser: openbsd-inetd's format, aiosock's extensions, problems."""

from __future__ import annotations

import ipaddress
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from aiosock import ConfigError, Style
from aiosock.inetd import (
    DEFAULT_CONFIG,
    InetdConfig,
    Limits,
    ServiceEntry,
    load_inetd_conf,
    parse_inetd_conf,
)
from aiosock.inetd._load import netdb_lookup

SERVICES = {"echo": 7, "discard": 9, "daytime": 13, "chargen": 19, "time": 37}
ALIASES = {"ttytst": "chargen", "sink": "discard", "www": "http"}


def fake_lookup(key: str | int, transport: str) -> tuple[str, int] | None:
    """A services database of a few entries, the same for tcp and udp."""
    table = {**SERVICES, "http": 80, "ftp": 21}
    if isinstance(key, int):
        names = [name for name, port in table.items() if port == key]
        return (names[0], key) if names else None
    name = ALIASES.get(key, key)
    return (name, table[name]) if name in table else None


def parse(text: str) -> InetdConfig:
    return parse_inetd_conf(text, filename="t.conf", lookup=fake_lookup)


def one(text: str) -> ServiceEntry:
    config = parse(text)
    assert not config.problems, [str(p) for p in config.problems]
    assert len(config.entries) == 1
    return config.entries[0]


# text -> the fields the one entry must have
GOOD: list[tuple[str, dict[str, Any]]] = [
    (
        "echo stream tcp nowait root internal\n",
        {
            "service": "echo",
            "socket_type": Style.STREAM,
            "protocol": "tcp",
            "hosts": ("*",),
            "wait": False,
            "max_rate": None,
            "user": "root",
            "group": None,
            "server": "internal",
            "argv": (),
            "port": 7,
            "builtin": "echo",
        },
    ),
    ("echo\tdgram\tudp\twait\troot\tinternal", {"builtin": "echo", "wait": False}),
    ("ttytst stream tcp nowait root internal", {"builtin": "chargen", "port": 19}),
    ("19 stream tcp nowait root internal", {"builtin": "chargen", "port": 19}),
    ("17007 stream tcp nowait root internal echo", {"builtin": "echo", "port": 17007}),
    ("0 stream tcp nowait root internal echo", {"port": 0}),
    ("time stream tcp4 nowait root internal", {"protocol": "tcp4"}),
    ("time dgram udp6 wait root internal", {"protocol": "udp6"}),
    ("time stream tcp46 nowait root internal", {"protocol": "tcp46"}),
    ("time dgram udp46 wait root internal", {"protocol": "udp46"}),
    (
        "127.0.0.1:echo stream tcp nowait root internal",
        {"hosts": ("127.0.0.1",), "service": "echo"},
    ),
    ("[::1]:echo stream tcp nowait root internal", {"hosts": ("::1",)}),
    ("::1:echo stream tcp nowait root internal", {"hosts": ("::1",)}),
    ("*:echo stream tcp nowait root internal", {"hosts": ("*",)}),
    (":echo stream tcp nowait root internal", {"hosts": ("*",)}),
    (
        "127.0.0.1,[::1],localhost:echo stream tcp nowait root internal",
        {"hosts": ("127.0.0.1", "::1", "localhost")},
    ),
    ("[fe80::1%lo]:echo stream tcp nowait root internal", {"hosts": ("fe80::1%lo",)}),
    ("127.0.0.1:\necho stream tcp nowait root internal", {"hosts": ("127.0.0.1",)}),
    ("127.0.0.1: echo stream tcp nowait root internal", {"hosts": ("127.0.0.1",)}),
    (
        "[::1]:\n*:\necho stream tcp nowait root internal",
        {"hosts": ("*",)},
    ),
    (
        "ftp stream tcp nowait root /usr/sbin/tcpd in.ftpd -l -a",
        {"server": "/usr/sbin/tcpd", "argv": ("in.ftpd", "-l", "-a"), "port": 21},
    ),
    ("http stream tcp nowait root /bin/cat", {"argv": ("cat",)}),
    ("www stream tcp nowait root /bin/cat", {"port": 80, "service": "www"}),
    ("http stream tcp nowait.10 root /bin/cat", {"max_rate": 10}),
    ("http stream tcp wait.400 root /bin/cat", {"max_rate": 400, "wait": True}),
    ("http stream tcp nowait www-data.adm /bin/cat", {"user": "www-data"}),
    ("http stream tcp nowait nobody:nogroup /bin/cat", {"group": "nogroup"}),
    ("http stream tcp nowait a.b:staff /bin/cat", {"user": "a.b", "group": "staff"}),
    (
        "http stream tcp nowait root /bin/cat\n  cat -u\n\tx",
        {"argv": ("cat", "-u", "x")},
    ),
    ("http stream tcp\n nowait root\n /bin/cat", {"argv": ("cat",)}),
    (
        "http stream tcp,rcvbuf=16384,sndbuf=64k nowait root /bin/cat",
        {"receive_buffer": 16384, "send_buffer": 65536, "protocol": "tcp"},
    ),
    ("http stream tcp,sndbuf=1m nowait root /bin/cat", {"send_buffer": 1 << 20}),
    (
        "/run/echo.sock stream unix nowait root internal echo",
        {"hosts": (), "port": None, "service": "/run/echo.sock", "builtin": "echo"},
    ),
    ("/tmp/a:b.sock stream unix nowait root /bin/cat", {"service": "/tmp/a:b.sock"}),
    ("/tmp/a dgram unix wait root /bin/cat", {"socket_type": Style.DATAGRAM}),
    ("/tmp/a seqpacket unix nowait root /bin/cat", {"socket_type": Style.SEQPACKET}),
    (
        "http stream tcp nowait root python:pkg.mod:handler x",
        {"server": "python:pkg.mod:handler", "argv": ("x",)},
    ),
    ("http stream tcp nowait root python:handler", {"argv": ()}),
    ("http stream tcp nowait root /bin/cat\r\n", {"argv": ("cat",)}),
    ("# comment\n\n#<off># echo stream\necho stream tcp nowait root internal", {}),
    (
        "#aiosock: instances=5 per_source=2\n"
        "#aiosock: only_from=127.0.0.0/8,::1 no_access=127.0.0.2\n"
        "http stream tcp nowait root /bin/cat",
        {
            "limits": Limits(
                instances=5,
                per_source=2,
                only_from=(
                    ipaddress.ip_network("127.0.0.0/8"),
                    ipaddress.ip_network("::1"),
                ),
                no_access=(ipaddress.ip_network("127.0.0.2"),),
            )
        },
    ),
    (
        "#aiosock: instances=UNLIMITED only_from=\n"
        "http stream tcp nowait root /bin/cat",
        {"limits": Limits(instances=None, only_from=())},
    ),
    (
        "#aiosock: no_access=[::1],10.1.2.3/8\nhttp stream tcp nowait root /bin/cat",
        {
            "limits": Limits(
                no_access=(
                    ipaddress.ip_network("::1"),
                    ipaddress.ip_network("10.0.0.0/8"),
                )
            )
        },
    ),
]


@pytest.mark.parametrize(("text", "expected"), GOOD)
def test_good_lines(text: str, expected: dict[str, Any]) -> None:
    """Each line of the openbsd-inetd format (and the extensions) reads as shown."""
    entry = one(text)
    for name, value in expected.items():
        assert getattr(entry, name) == value, name


# text -> [(line, field, words in the reason)] ; no entry loads
BAD: list[tuple[str, list[tuple[int, str | None, str]]]] = [
    ("echo stream tcp", [(1, "wait", "expected 6 fields")]),
    ("echo", [(1, "socket type", "got 1")]),
    ("echo stream tcp nowait root", [(1, "server", "got 5")]),
    ("echo sock tcp nowait root internal", [(1, "socket type", "got 'sock'")]),
    ("echo raw tcp wait root /x", [(1, "socket type", "no raw")]),
    ("echo stream sctp nowait root internal", [(1, "protocol", "got 'sctp'")]),
    ("echo stream udp nowait root internal", [(1, "protocol", "expected tcp or unix")]),
    ("echo dgram tcp wait root internal", [(1, "protocol", "expected udp or unix")]),
    ("x seqpacket tcp nowait root /bin/cat", [(1, "protocol", "expected unix")]),
    ("x/1 stream rpc/tcp nowait root /x", [(1, "protocol", "non-RPC")]),
    ("echo stream tcp,foo=1 nowait root internal", [(1, "protocol", "sndbuf")]),
    ("echo stream tcp,rcvbuf=x nowait root internal", [(1, "protocol", "size")]),
    ("echo stream tcp,rcvbuf=0 nowait root internal", [(1, "protocol", "size")]),
    ("echo stream tcp maybe root internal", [(1, "wait", "got 'maybe'")]),
    ("echo stream tcp nowait.0 root internal", [(1, "wait", "positive rate")]),
    ("echo stream tcp nowait.x root internal", [(1, "wait", "positive rate")]),
    ("echo stream tcp nowait :grp internal", [(1, "user", "user name")]),
    ("echo stream tcp nowait root: internal", [(1, "user", "group after")]),
    ("echo stream tcp nowait root cat", [(1, "server", "absolute path")]),
    ("echo stream tcp nowait root python:", [(1, "server", "python:package")]),
    ("echo stream tcp nowait root python:a:b:c", [(1, "server", "python:package")]),
    ("echo stream tcp nowait root python:1x", [(1, "server", "python:package")]),
    ("nosuch stream tcp nowait root internal", [(1, "service", "nosuch/tcp")]),
    ("http stream tcp nowait root internal", [(1, "service", "got 'http'")]),
    ("7 stream tcp nowait root internal bogus", [(1, "arguments", "got 'bogus'")]),
    ("70000 stream tcp nowait root internal echo", [(1, "service", "0..65535")]),
    ("bad host:echo stream tcp nowait root internal", [(1, "socket type", "")]),
    ("bad!:echo stream tcp nowait root internal", [(1, "service", "host name")]),
    ("[1.2.3.4]:echo stream tcp nowait root internal", [(1, "service", "IPv6")]),
    ("[fe80::1%]:echo stream tcp nowait root internal", [(1, "service", "zone")]),
    (",:echo stream tcp nowait root internal", [(1, "service", "host before")]),
    ("/tmp/x stream unix nowait root internal", [(1, "service", "internal")]),
    ("/tmp/x seqpacket unix nowait root internal", [(1, "socket type", "stream")]),
    ("/x seqpacket unix nowait root python:m:f", [(1, "socket type", "python")]),
    ("/" + "x" * 120 + " stream unix nowait root /bin/cat", [(1, "service", "108")]),
    (
        "echo stream tcp nowait root internal\necho stream tcp nowait root internal",
        [(2, "service", "repeat of line 1")],
    ),
    # The same port by name and by number: the second could never be bound.
    (
        "echo stream tcp nowait root internal\n7 stream tcp nowait root /bin/cat",
        [(2, "service", "got port 7 of line 1 again ('7')")],
    ),
    ("#aiosock: instances=5", [(1, None, "got the end of the file")]),
    ("#aiosock: instances=5\n\necho stream tcp nowait root internal", [(1, None, "")]),
    (
        "#aiosock: instances=5\n#x\necho stream tcp nowait root internal",
        [(1, None, "")],
    ),
    ("#aiosock: instances=5\n127.0.0.1:", [(1, None, "host: line")]),
    # A wait program takes the socket: the daemon never sees its clients.
    (
        "#aiosock: only_from=127.0.0.2\nhttp stream tcp wait root /bin/cat",
        [(2, "wait", "only_from cannot apply to a wait program")],
    ),
    (
        "#aiosock: no_access=10.0.0.0/8\nhttp dgram udp wait root /bin/cat",
        [(2, "wait", "no_access cannot apply to a wait program")],
    ),
    (
        "#aiosock: per_source=1\n/tmp/x.sock stream unix wait root /bin/cat",
        [(2, "wait", "per_source cannot apply")],
    ),
    (
        "#aiosock: only_from= per_source=2\nhttp dgram udp wait root /bin/cat",
        [(2, "wait", "only_from and per_source cannot apply")],
    ),
]


@pytest.mark.parametrize(("text", "problems"), BAD)
def test_bad_lines(text: str, problems: list[tuple[int, str | None, str]]) -> None:
    """Each bad entry is one problem naming file, line and field; it is skipped."""
    config = parse(text)
    got = [(p.line, p.field) for p in config.problems]
    assert got == [(line, field) for line, field, _ in problems]
    for problem, (_, _, words) in zip(config.problems, problems, strict=True):
        assert isinstance(problem, ConfigError)
        assert problem.file == "t.conf"
        assert words in problem.reason
        assert str(problem).startswith(f"t.conf:{problem.line}: ")
    # No entry loads from a line with a problem.
    assert not {e.line for e in config.entries} & {p.line for p in config.problems}


EXTENSION_BAD: list[tuple[str, str | None, str]] = [
    ("frobs=1", "frobs", "expected one of instances"),
    ("instances", None, "key=value"),
    ("instances=0", "instances", "positive number"),
    ("per_source=-1", "per_source", "positive number"),
    ("only_from=example.com", "only_from", "address or network"),
    ("no_access=1.2.3.4/33", "no_access", "address or network"),
    ("instances=1 instances=2", "instances", "once"),
]


@pytest.mark.parametrize(("words", "field", "reason"), EXTENSION_BAD)
def test_bad_extension_skips_the_service(
    words: str, field: str | None, reason: str
) -> None:
    """A bad #aiosock: line is reported, and the service below it does not load."""
    config = parse(f"#aiosock: {words}\nhttp stream tcp nowait root /bin/cat\n")
    assert config.entries == ()
    assert [(p.line, p.field) for p in config.problems] == [(1, field), (2, None)]
    assert reason in config.problems[0].reason
    assert "line 1 above" in config.problems[1].reason


def test_limits_the_daemon_applies_load_on_wait_lines() -> None:
    """instances on a wait program, and every limit on in-process wait lines, load.

    Only a wait program takes the socket; internal services and python: handlers
    see each client in the daemon.
    """
    config = parse(
        "#aiosock: instances=1\n"
        "http stream tcp wait root /bin/cat\n"
        "#aiosock: only_from=127.0.0.1 no_access=127.0.0.2 per_source=1\n"
        "ftp dgram udp wait root python:m:f\n"
        "#aiosock: only_from=127.0.0.1 per_source=1\n"
        "echo dgram udp wait root internal\n"
    )
    assert not config.problems, [str(p) for p in config.problems]
    assert [entry.unenforceable_limits for entry in config.entries] == [()] * 3


def test_bad_line_does_not_stop_the_rest() -> None:
    """A bad line is skipped and the lines around it load, as the system inetds do."""
    config = parse(
        "echo stream tcp nowait root internal\n"
        "garbage here\n"
        "daytime stream tcp nowait root internal\n"
    )
    assert [e.builtin for e in config.entries] == ["echo", "daytime"]
    assert [(p.line, p.field) for p in config.problems] == [(2, "protocol")]


def test_default_host_applies_to_following_lines() -> None:
    """A host: line sets the address of the lines after it, until the next one."""
    config = parse(
        "echo stream tcp nowait root internal\n"
        "127.0.0.1:\n"
        "discard stream tcp nowait root internal\n"
        "[::1]:chargen stream tcp nowait root internal\n"
        "*:\n"
        "time stream tcp nowait root internal\n"
    )
    assert [e.hosts for e in config.entries] == [
        ("*",),
        ("127.0.0.1",),
        ("::1",),
        ("*",),
    ]


def test_entries_keep_line_and_file() -> None:
    """Entries remember where they came from (not part of their equality)."""
    config = parse("\n\necho stream tcp nowait root internal\n")
    entry = config.entries[0]
    assert (entry.line, entry.file) == (3, "t.conf")
    assert entry == one("echo stream tcp nowait root internal")


def test_without_lookup_names_stay_unresolved() -> None:
    """Without a services look-up, names keep port None and builtins go by name."""
    config = parse_inetd_conf(
        "echo stream tcp nowait root internal\nhttp stream tcp nowait root /bin/x\n"
    )
    assert not config.problems
    assert [(e.port, e.builtin) for e in config.entries] == [
        (None, "echo"),
        (None, None),
    ]


def test_real_services_database() -> None:
    """The loader's look-up reads the system's services database."""
    if netdb_lookup("echo", "tcp") is None:
        pytest.skip("no echo in this machine's services database")
    assert netdb_lookup("ttytst", "udp") == ("chargen", 19)
    assert netdb_lookup(37, "tcp") == ("time", 37)
    assert netdb_lookup("no-such-service", "tcp") is None


def test_default_config_parses() -> None:
    """The embedded default configuration has no problems and every builtin."""
    config = parse_inetd_conf(DEFAULT_CONFIG, lookup=netdb_lookup)
    assert not config.problems
    assert {e.builtin for e in config.entries} == {
        "echo",
        "discard",
        "chargen",
        "daytime",
        "time",
    }
    assert {e.socket_type for e in config.entries} == {Style.STREAM, Style.DATAGRAM}
    assert all(e.hosts == ("127.0.0.1", "::1") for e in config.entries)


def test_load_reads_a_file(tmp_path: Path) -> None:
    """load_inetd_conf names the file in entries and problems."""
    path = tmp_path / "inetd.conf"
    path.write_text("echo stream tcp nowait root internal\nbad\n")
    config = load_inetd_conf(path)
    assert config.file == str(path)
    assert config.entries[0].file == str(path)
    assert str(config.problems[0]).startswith(f"{path}:2: ")


def test_load_missing_file() -> None:
    """An unreadable file is a ConfigError naming it."""
    with pytest.raises(ConfigError, match="cannot read") as info:
        load_inetd_conf("/nonexistent/inetd.conf")
    assert info.value.file == "/nonexistent/inetd.conf"
    assert info.value.line is None


def test_system_example_file_parses() -> None:
    """Debian's /etc/inetd.conf (all comments and #:LABEL: lines) loads cleanly."""
    path = Path("/etc/inetd.conf")
    if not path.exists():
        pytest.skip("no /etc/inetd.conf here")
    config = load_inetd_conf(path)
    assert not config.problems


def _check(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "aiosock", "inetd", "--check", *args],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )


def test_cli_check_good_file(tmp_path: Path) -> None:
    """aiosock inetd --check exits 0 on a good file and counts its services."""
    path = tmp_path / "good.conf"
    path.write_text("echo stream tcp nowait root internal\n")
    result = _check("--config", str(path))
    assert result.returncode == 0, result.stderr
    assert "1 services, 0 problems" in result.stdout


def test_cli_check_bad_file(tmp_path: Path) -> None:
    """--check prints every problem with file, line and field and exits 1."""
    path = tmp_path / "bad.conf"
    path.write_text("echo stream tcp nowait root internal\nx stream tcp\n")
    result = _check("--config", str(path))
    assert result.returncode == 1
    assert f"{path}:2: expected 6 fields" in result.stderr
    assert "(field 'wait')" in result.stderr


def test_cli_check_refuses_address_limits_on_a_wait_program(tmp_path: Path) -> None:
    """--check fails a wait program line with only_from: it could not be applied."""
    path = tmp_path / "wait.conf"
    path.write_text(
        "127.0.0.1:\n"
        "#aiosock: only_from=127.0.0.2\n"
        "21307 stream tcp wait nobody /bin/cat cat\n"
        "#aiosock: only_from=127.0.0.2\n"
        "21308 stream tcp nowait nobody /bin/cat cat\n"
    )
    result = _check("--config", str(path))
    assert result.returncode == 1
    assert f"{path}:3: refused: only_from cannot apply to a wait program" in (
        result.stderr
    )
    assert "(field 'wait')" in result.stderr
    assert f"{path}:5:" not in result.stderr
    assert "1 services, 1 problem" in result.stdout


def test_cli_check_missing_file() -> None:
    """--check on a file that cannot be read exits 1 naming it."""
    result = _check("--config", "/nonexistent/inetd.conf")
    assert result.returncode == 1
    assert "/nonexistent/inetd.conf" in result.stderr


def test_cli_check_default() -> None:
    """--check with no --config checks the embedded default."""
    result = _check()
    assert result.returncode == 0, result.stderr
    assert "<default>: 10 services, 0 problems" in result.stdout


# -- properties ------------------------------------------------------------------

_WORDS = st.sampled_from(
    [
        "echo",
        "stream",
        "dgram",
        "tcp",
        "udp6",
        "unix",
        "nowait",
        "wait.5",
        "root",
        "internal",
        "/bin/cat",
        "127.0.0.1:",
        "[::1]:x",
        "python:m:f",
        "#aiosock:",
        "only_from=::1",
        "instances=2",
        "#",
        ":",
        ",",
        "tcp,rcvbuf=1k",
    ]
)
_LINE = st.one_of(
    st.lists(_WORDS, max_size=9).map(" ".join),
    st.text(max_size=40),
)


@settings(max_examples=150, deadline=None)
@given(st.lists(_LINE, max_size=8).map("\n".join))
def test_never_crashes(text: str) -> None:
    """Every input parses: entries plus problems, never an exception."""
    config = parse(text)
    assert isinstance(config, InetdConfig)
    for problem in config.problems:
        assert isinstance(problem, ConfigError)
        assert problem.file == "t.conf"
        assert problem.line is not None
        assert 1 <= problem.line <= text.count("\n") + 1
    for entry in config.entries:
        assert entry.protocol in {
            "tcp",
            "tcp4",
            "tcp6",
            "tcp46",
            "udp",
            "udp4",
            "udp6",
            "udp46",
            "unix",
        }


@settings(max_examples=100, deadline=None)
@given(st.text(max_size=200))
def test_arbitrary_text_never_crashes(text: str) -> None:
    """Arbitrary text never raises from the parser."""
    parse(text)
    parse_inetd_conf(text)


@settings(max_examples=50, deadline=None)
@given(
    st.sampled_from(sorted(SERVICES)),
    st.sampled_from(["tcp", "tcp4", "tcp6", "udp", "udp46"]),
    st.booleans(),
)
def test_internal_lines_round_trip(name: str, protocol: str, wait: bool) -> None:
    """Every builtin on every protocol loads, with the port from the database."""
    style = "stream" if protocol.startswith("tcp") else "dgram"
    flag = "wait" if wait else "nowait"
    entry = one(f"{name} {style} {protocol} {flag} root internal")
    assert (entry.builtin, entry.port, entry.protocol) == (
        name,
        SERVICES[name],
        protocol,
    )


def test_cli_check_finds_what_would_fail_at_run_time(tmp_path: Path) -> None:
    """--check also reports unknown users, missing programs and bad handlers."""
    path = tmp_path / "runtime.conf"
    path.write_text(
        "echo stream tcp nowait root internal\n"
        "1234 stream tcp nowait nosuchuser /bin/cat cat\n"
        "1235 stream tcp nowait root /nonexistent/program x\n"
        "1236 stream tcp nowait root python:nosuch.module:handler\n"
    )
    result = _check("--config", str(path))
    assert result.returncode == 1
    assert f"{path}:2: unknown user 'nosuchuser' (field 'user')" in result.stderr
    assert f"{path}:3: expected a program at /nonexistent/program" in result.stderr
    assert f"{path}:4: cannot import 'nosuch.module'" in result.stderr
    assert "4 services, 3 problems" in result.stdout


def test_cli_check_refuses_handlers_of_the_wrong_shape(tmp_path: Path) -> None:
    """A python: handler that cannot take what the service passes is a problem.

    A stream service calls it with the stream, a datagram service with
    (data, address, sock): a handler taking one argument cannot serve a dgram
    line, and a class whose instances cannot be awaited serves neither.
    """
    path = tmp_path / "shapes.conf"
    path.write_text(
        "1240 stream tcp nowait root python:tests.inetd_handlers:upper\n"
        "1241 dgram udp nowait root python:tests.inetd_handlers:reverse\n"
        "1242 stream tcp nowait root python:tests.inetd_handlers:no_arguments\n"
        "1243 dgram udp nowait root python:tests.inetd_handlers:upper\n"
        "1244 stream tcp nowait root python:tests.inetd_handlers:reverse\n"
        "1245 stream tcp nowait root python:tests.inetd_handlers:NotAwaitable\n"
    )
    result = _check("--config", str(path))
    assert result.returncode == 1
    assert f"{path}:3: expected a handler taking the stream, got " in result.stderr
    assert "no_arguments() (too many positional arguments)" in result.stderr
    assert (
        f"{path}:4: expected a handler taking (data, address, sock), got "
        "tests.inetd_handlers:upper(stream) (too many positional arguments)"
    ) in result.stderr
    assert (
        f"{path}:5: expected a handler taking the stream, got "
        "tests.inetd_handlers:reverse(data, address, sock) (missing a required"
    ) in result.stderr
    assert (
        f"{path}:6: expected an async function taking the stream, got the class "
        "tests.inetd_handlers:NotAwaitable"
    ) in result.stderr
    assert "6 services, 4 problems" in result.stdout


def test_cli_check_finds_lines_that_cannot_listen(tmp_path: Path) -> None:
    """--check resolves each line's addresses and finds overlapping listeners.

    Each problem reported here is a line the daemon fails to start, with
    EADDRINUSE or "got none"; the other lines start (checked by hand: a test
    may not listen on every address). --check binds nothing: any ports do.
    """
    path = tmp_path / "listen.conf"
    ports = [1301, 1302, 1303, 1304, 1305]
    path.write_text(
        f"127.0.0.1:{ports[0]} stream tcp nowait root internal echo\n"
        f"*:{ports[0]} stream tcp nowait root internal daytime\n"
        f"127.0.0.1:{ports[1]} stream tcp46 nowait root internal echo\n"
        f"*:{ports[2]} stream tcp6 nowait root internal echo\n"
        f"127.0.0.1:{ports[2]} stream tcp4 nowait root internal echo\n"
        f"*:{ports[3]} stream tcp46 nowait root internal echo\n"
        f"127.0.0.1:{ports[3]} stream tcp4 nowait root internal daytime\n"
        f"*:{ports[4]} dgram udp nowait root internal echo\n"
        f"127.0.0.1:{ports[4]} dgram udp nowait root internal daytime\n"
    )
    result = _check("--config", str(path))
    assert result.returncode == 1
    assert (
        f"{path}:2: expected an address no earlier listener takes, got "
        f"0.0.0.0:{ports[0]}, which overlaps line 1's 127.0.0.1:{ports[0]}"
    ) in result.stderr
    assert (
        f"{path}:3: expected an address of tcp46 for 127.0.0.1, got none"
    ) in result.stderr
    assert (
        f"{path}:7: expected an address no earlier listener takes, got "
        f"127.0.0.1:{ports[3]}, which overlaps line 6's [::]:{ports[3]}"
    ) in result.stderr
    assert "9 services, 3 problems" in result.stdout


def test_cli_check_knows_mapped_addresses_zones_and_one_line_twice(
    tmp_path: Path,
) -> None:
    """The kernel's other refusals: --check reports each, binding nothing.

    An IPv4-mapped address on a dual-stack socket is its IPv4 address (EADDRINUSE
    beside the same IPv4 address), on a v6-only one it is EINVAL; a line naming
    one address twice binds it twice; a zone must name an interface; a name
    IDNA cannot encode resolves to nothing (it raised a traceback).
    """
    lo = socket.if_nametoindex("lo")
    path = tmp_path / "kernel.conf"
    path.write_text(
        "::ffff:127.0.0.1:1311 stream tcp46 nowait root internal echo\n"
        "127.0.0.1:1311 stream tcp4 nowait root internal daytime\n"
        "::ffff:127.0.0.1:1312 stream tcp6 nowait root internal echo\n"
        "localhost,127.0.0.1:1313 stream tcp4 nowait root internal echo\n"
        "fe80::1%nosuchif:1314 stream tcp6 nowait root internal echo\n"
        "fe80::1%lo:1315 stream tcp6 nowait root internal echo\n"
        f"fe80::1%{lo}:1315 stream tcp6 nowait root internal daytime\n"
        "a..b:1316 stream tcp nowait root internal echo\n"
        "::ffff:127.0.0.1:1317 stream tcp46 nowait root internal echo\n"
        "[::]:1317 stream tcp6 nowait root internal daytime\n"
    )
    result = _check("--config", str(path))
    assert result.returncode == 1
    expected = [
        f"{path}:2: expected an address no earlier listener takes, got "
        "127.0.0.1:1311, which overlaps line 1's [::ffff:127.0.0.1]:1311",
        f"{path}:3: expected an IPv6 address for tcp6, got ::ffff:127.0.0.1, an "
        "IPv4-mapped one, which a v6-only socket cannot take",
        f"{path}:4: expected an address no earlier listener takes, got "
        "127.0.0.1:1313, which overlaps 127.0.0.1:1313, another address of "
        "this line",
        f"{path}:5: no network interface named 'nosuchif'",
        f"{path}:7: expected an address no earlier listener takes, got "
        f"[fe80::1%{lo}]:1315, which overlaps line 6's [fe80::1%lo]:1315",
        f"{path}:8: expected an address of tcp for a..b, got none",
    ]
    for text in expected:
        assert text in result.stderr
    # A v6-only wildcard leaves IPv4 (and so a mapped address) alone.
    assert f"{path}:10:" not in result.stderr
    assert "10 services, 6 problems" in result.stdout


def test_cli_check_finds_socket_files_that_cannot_be_made(tmp_path: Path) -> None:
    """One socket file named twice, or in no directory: the daemon fails both."""
    path = tmp_path / "files.conf"
    sock = tmp_path / "x.sock"
    path.write_text(
        f"{sock} stream unix nowait root internal echo\n"
        f"{sock} dgram unix wait root internal echo\n"
        f"{tmp_path}/nodir/y.sock stream unix nowait root internal echo\n"
        "@aiosock-check-abstract stream unix nowait root internal echo\n"
        "@aiosock-check-abstract dgram unix wait root internal echo\n"
    )
    result = _check("--config", str(path))
    assert result.returncode == 1
    assert (
        f"{path}:2: expected a socket file no earlier line binds, got {sock}, "
        "which line 1 binds"
    ) in result.stderr
    assert (
        f"{path}:3: expected the directory of {tmp_path}/nodir/y.sock to exist, "
        "got none"
    ) in result.stderr
    # An abstract name is per socket type: a stream and a dgram line may share one.
    assert "5 services, 2 problems" in result.stdout
