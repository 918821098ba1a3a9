"""``aiosock options ENDPOINT``: a fresh socket's options as a table or JSON."""

from __future__ import annotations

import json
import socket
import subprocess
import sys

import pytest

from aiosock._cli import main
from aiosock._cli._options import format_value
from aiosock.options import Linger, TcpState


def table(out: str) -> dict[str, tuple[str, str]]:
    """Parse the table: name -> (level, value)."""
    lines = out.splitlines()
    assert lines[0].split() == ["name", "level", "value"]
    rows = {}
    for line in lines[1:]:
        name, level, value = line.split(maxsplit=2)
        rows[name] = (level, value)
    return rows


@pytest.mark.parametrize(
    ("endpoint", "present", "absent"),
    [
        (
            "tcp://127.0.0.1:0",
            {"no_delay", "ttl", "info"},
            {"v6_only", "pass_credentials"},
        ),
        ("tcp://localhost:http", {"no_delay", "ttl"}, {"v6_only"}),
        ("udp4://127.0.0.1:53", {"multicast_ttl", "broadcast"}, {"no_delay"}),
        ("unix:/tmp/x.sock", {"pass_credentials", "peer_credentials"}, {"ttl"}),
        ("unixgram:@name", {"pass_credentials"}, {"no_delay"}),
        ("unixpacket:x.sock", {"peer_credentials"}, {"reuse_port"}),
    ],
)
def test_table_per_kind(
    capsys: pytest.CaptureFixture[str],
    endpoint: str,
    present: set[str],
    absent: set[str],
) -> None:
    """The table lists the options of the endpoint's kind of socket, with levels."""
    assert main(["options", endpoint]) == 0
    rows = table(capsys.readouterr().out)
    assert present <= set(rows)
    assert not absent & set(rows)
    assert rows["reuse_address"] == ("SOL_SOCKET", "False")
    assert rows["linger"][1] == "Linger(enabled=False, seconds=0)"


def test_table_values_for_tcp(capsys: pytest.CaptureFixture[str]) -> None:
    """Values are those of a fresh socket, shown by name for enums and records."""
    assert main(["options", "tcp4://127.0.0.1:0"]) == 0
    rows = table(capsys.readouterr().out)
    assert rows["style"] == ("SOL_SOCKET", "Style.STREAM")
    assert rows["namespace"] == ("SOL_SOCKET", "Namespace.INET")
    assert rows["no_delay"] == ("IPPROTO_TCP", "False")
    assert rows["info"][1].startswith("state=CLOSE ")
    with socket.socket() as sock:
        ttl = sock.getsockopt(socket.IPPROTO_IP, socket.IP_TTL)
    assert rows["ttl"] == ("IPPROTO_IP", str(ttl))
    assert rows["bind_to_device"][1] == "''"


def test_table_for_tcp6(capsys: pytest.CaptureFixture[str], ipv6: None) -> None:
    """An IPv6 endpoint gives an IPv6 socket and its IPPROTO_IPV6 options."""
    assert main(["options", "tcp://[::1]:0"]) == 0
    rows = table(capsys.readouterr().out)
    assert rows["v6_only"][0] == "IPPROTO_IPV6"
    assert rows["namespace"][1] == "Namespace.INET6"
    assert "ttl" not in rows


def test_udp6_multicast_loop_level(
    capsys: pytest.CaptureFixture[str], ipv6: None
) -> None:
    """A name with one constant per namespace shows the level used for this socket."""
    assert main(["options", "udp6://[::1]:0"]) == 0
    assert table(capsys.readouterr().out)["multicast_loop"][0] == "IPPROTO_IPV6"


def test_json_output(capsys: pytest.CaptureFixture[str]) -> None:
    """--json prints one object, records as objects and enums by name."""
    assert main(["options", "--json", "tcp://127.0.0.1:0"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["no_delay"] is False
    assert data["linger"] == {"enabled": False, "seconds": 0}
    assert data["style"] == "STREAM"
    assert data["namespace"] == "INET"
    assert data["info"]["state"] == TcpState.CLOSE
    assert "error" not in data


def test_raw_endpoint(capsys: pytest.CaptureFixture[str]) -> None:
    """A raw endpoint works with privileges and fails clearly (status 1) without."""
    status = main(["options", "ip4:icmp"])
    captured = capsys.readouterr()
    if status == 0:
        rows = table(captured.out)
        assert rows["style"][1] == "Style.RAW"
        assert rows["protocol"][1] == "1"
    else:
        assert status == 1
        assert "raw sockets need root or CAP_NET_RAW" in captured.err


def test_permission_error_is_reported(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A socket the user may not create gives exit status 1 and a message."""

    def refuse(*args: object, **kwargs: object) -> socket.socket:
        raise PermissionError(1, "Operation not permitted")

    monkeypatch.setattr(socket, "socket", refuse)
    assert main(["options", "ip6:58"]) == 1
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err == (
        "aiosock options: error: not permitted to create a socket of kind ip6 "
        "(Operation not permitted); raw sockets need root or CAP_NET_RAW\n"
    )


def test_other_socket_errors_are_reported(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A socket the kernel cannot make (no IPv6) gives exit status 1 and a message."""

    def refuse(*args: object, **kwargs: object) -> socket.socket:
        raise OSError(97, "Address family not supported by protocol")

    monkeypatch.setattr(socket, "socket", refuse)
    assert main(["options", "tcp6://[::1]:0"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("aiosock options: error: cannot create a socket of kind tcp6")


@pytest.mark.parametrize(
    ("endpoint", "message"),
    [
        ("bogus", "expected a scheme"),
        ("tcp://127.0.0.1", "expected ':' and a port"),
        (
            "ip4:no-such-protocol",
            "expected a protocol name from the protocols database",
        ),
    ],
)
def test_bad_endpoints(
    capsys: pytest.CaptureFixture[str], endpoint: str, message: str
) -> None:
    """A malformed endpoint gives exit status 2 and the parser's message."""
    assert main(["options", endpoint]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.startswith("aiosock options: error: ")
    assert message in captured.err


def test_help_lists_the_subcommand(capsys: pytest.CaptureFixture[str]) -> None:
    """aiosock --help lists the options subcommand."""
    with pytest.raises(SystemExit):
        main(["--help"])
    assert "options" in capsys.readouterr().out


def test_format_value() -> None:
    """Table values: enums by class and name, strings quoted, the rest as str()."""
    assert format_value(TcpState.LISTEN) == "TcpState.LISTEN"
    assert format_value("bbr") == "'bbr'"
    assert format_value(Linger(True, 2)) == "Linger(enabled=True, seconds=2)"
    assert format_value(1.5) == "1.5"
    assert format_value(None) == "None"


def test_command_line_entry_point() -> None:
    """python -m aiosock options runs the same command in a fresh process."""
    result = subprocess.run(
        [sys.executable, "-m", "aiosock", "options", "unixgram:@x"],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert table(result.stdout)["style"] == ("SOL_SOCKET", "Style.DATAGRAM")
