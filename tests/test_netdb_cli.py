"""The ``aiosock netdb`` and ``aiosock resolve`` commands."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from aiosock._cli import main


def _run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    status = main(["--loop", "asyncio", *argv])
    out, err = capsys.readouterr()
    return status, out, err


@pytest.fixture
def files(tmp_path: Path) -> dict[str, str]:
    """Small database files with known entries."""
    texts = {
        "services": "http 80/tcp www\nhttp 80/udp\nssh 22/tcp\nbad\n",
        "protocols": "tcp 6 TCP\nudp 17 UDP\n",
        "networks": "loopback 127\nlink-local 169.254 ll\n",
        "hosts": "127.0.0.1 localhost lh\n::1 localhost ip6-localhost\n",
    }
    paths = {}
    for name, text in texts.items():
        path = tmp_path / name
        path.write_text(text)
        paths[name] = str(path)
    return paths


def test_whole_database_like_getent(
    capsys: pytest.CaptureFixture[str], files: dict[str, str]
) -> None:
    """Without a key every entry is printed in getent's layout."""
    status, out, _ = _run(capsys, "netdb", "services", "--file", files["services"])
    assert status == 0
    assert out.splitlines() == [
        f"{'http':<21} 80/tcp www",
        f"{'http':<21} 80/udp",
        f"{'ssh':<21} 22/tcp",
    ]


@pytest.mark.parametrize(
    ("database", "key", "expected"),
    [
        ("services", "www", "http                  80/tcp www"),
        ("services", "http/udp", "http                  80/udp"),
        ("services", "22", "ssh                   22/tcp"),
        ("services", "80/udp", "http                  80/udp"),
        ("protocols", "UDP", "udp                   17 UDP"),
        ("protocols", "6", "tcp                   6 TCP"),
        ("networks", "LL", "link-local            169.254.0.0 ll"),
        ("networks", "127", "loopback              127.0.0.0"),
        ("hosts", "LH", "127.0.0.1       localhost lh"),
        ("hosts", "::1", "::1             localhost ip6-localhost"),
    ],
)
def test_key_lookups(
    capsys: pytest.CaptureFixture[str],
    files: dict[str, str],
    database: str,
    key: str,
    expected: str,
) -> None:
    """A key is a name, or a number or address, as getent takes it."""
    status, out, _ = _run(capsys, "netdb", database, key, "--file", files[database])
    assert (status, out) == (0, expected + "\n")


def test_missing_key_exits_2(
    capsys: pytest.CaptureFixture[str], files: dict[str, str]
) -> None:
    """A key that matches nothing prints nothing and exits 2, as getent does."""
    status, out, _ = _run(
        capsys, "netdb", "protocols", "nope", "--file", files["protocols"]
    )
    assert (status, out) == (2, "")


def test_json_output(capsys: pytest.CaptureFixture[str], files: dict[str, str]) -> None:
    """--json prints the entries as objects, addresses as text."""
    status, out, _ = _run(
        capsys, "netdb", "hosts", "localhost", "--json", "--file", files["hosts"]
    )
    assert status == 0
    assert json.loads(out) == [
        {"name": "localhost", "addresses": ["127.0.0.1"], "aliases": ["lh"]},
        {"name": "localhost", "addresses": ["::1"], "aliases": ["ip6-localhost"]},
    ]


def test_check_lists_problems(
    capsys: pytest.CaptureFixture[str], files: dict[str, str]
) -> None:
    """--check names the file and line of each problem and exits 1."""
    status, out, _ = _run(
        capsys, "netdb", "services", "--check", "--file", files["services"]
    )
    assert status == 1
    assert out.startswith(f"{files['services']}:4: expected a port number after 'bad'")
    assert out.rstrip().endswith("[skipped]")
    status, out, _ = _run(
        capsys, "netdb", "protocols", "--check", "--file", files["protocols"]
    )
    assert (status, out) == (0, "")


def test_unreadable_file_exits_1(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """A file that cannot be read is an error naming it, status 1."""
    path = tmp_path / "nothing"
    status, _, err = _run(capsys, "netdb", "networks", "--file", str(path))
    assert status == 1
    assert f"cannot read {path}" in err


def test_bad_network_key_exits_2(
    capsys: pytest.CaptureFixture[str], files: dict[str, str]
) -> None:
    """A key that is no network number is reported, status 2."""
    status, _, err = _run(
        capsys, "netdb", "networks", "1..2", "--file", files["networks"]
    )
    assert status == 2
    assert "expected a network number" in err


def test_resolve_command(capsys: pytest.CaptureFixture[str]) -> None:
    """aiosock resolve prints one address per line, or JSON."""
    status, out, _ = _run(capsys, "resolve", "127.0.0.1", "8080")
    assert (status, out) == (0, "127.0.0.1:8080\n")
    status, out, _ = _run(capsys, "resolve", "--json", "-4", "localhost", "8080")
    assert status == 0
    assert {"namespace": "INET", "host": "127.0.0.1", "port": 8080} in json.loads(out)


def test_resolve_reverse_command(capsys: pytest.CaptureFixture[str]) -> None:
    """aiosock resolve --reverse prints the host and service names of an address."""
    status, out, _ = _run(capsys, "resolve", "--reverse", "127.0.0.1", "80")
    assert status == 0
    host, service = out.split()
    assert host
    assert service


def test_resolve_failure_exits_2(capsys: pytest.CaptureFixture[str]) -> None:
    """A name that resolves to nothing is an error, status 2 (no network used)."""
    status, _, err = _run(capsys, "resolve", "-6", "127.0.0.1")
    assert status == 2
    assert "aiosock resolve: error:" in err


def test_key_after_the_options(
    capsys: pytest.CaptureFixture[str], files: dict[str, str]
) -> None:
    """KEY (and SERVICE) may follow the options, as with getent and netcat."""
    status, out, _ = _run(
        capsys,
        "netdb",
        "services",
        "--file",
        files["services"],
        "--protocol",
        "tcp",
        "http",
    )
    assert (status, out) == (0, "http                  80/tcp www\n")
    status, out, _ = _run(capsys, "resolve", "127.0.0.1", "--udp", "8080")
    assert (status, out) == (0, "127.0.0.1:8080\n")
    with pytest.raises(SystemExit) as info:
        _run(capsys, "netdb", "services", "--json", "http", "extra")
    assert info.value.code == 2
    assert "unrecognized arguments: extra" in capsys.readouterr().err


def test_service_with_an_empty_protocol_is_not_found(
    capsys: pytest.CaptureFixture[str], files: dict[str, str]
) -> None:
    """'http/' names the protocol "": nothing, as getent finds nothing."""
    status, out, _ = _run(
        capsys, "netdb", "services", "http/", "--file", files["services"]
    )
    assert (status, out) == (2, "")


def test_empty_file_option_is_that_file(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """--file '' is a file that cannot be read, not the system's database."""
    status, out, err = _run(capsys, "netdb", "services", "--file", "")
    assert (status, out) == (1, "")
    assert "aiosock netdb: error: cannot read" in err


def test_resolve_reverse_takes_a_service_name(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """--reverse 127.0.0.1 http: the port from the services database."""
    status, numeric, _ = _run(capsys, "resolve", "--reverse", "127.0.0.1", "80")
    assert status == 0
    status, named, _ = _run(capsys, "resolve", "--reverse", "127.0.0.1", "http")
    assert (status, named) == (0, numeric)
    status, _, err = _run(capsys, "resolve", "--reverse", "127.0.0.1", "no-such-svc")
    assert status == 2
    assert "expected a port number or a service name, got 'no-such-svc'" in err


def test_host_keys_as_getent_takes_them(
    capsys: pytest.CaptureFixture[str], files: dict[str, str]
) -> None:
    """An address in a short form (127.1); names folded in ASCII only."""
    status, out, _ = _run(capsys, "netdb", "hosts", "127.1", "--file", files["hosts"])
    assert (status, out) == (0, "127.0.0.1       localhost lh\n")
    status, out, _ = _run(capsys, "netdb", "hosts", "LH", "--file", files["hosts"])
    assert (status, out) == (0, "127.0.0.1       localhost lh\n")
    # A Kelvin sign is not a K to the C library (Python's lower() made it one).
    path = files["hosts"]
    with open(path, "a") as extra:
        extra.write("127.0.0.5 key\n")
    status, out, _ = _run(capsys, "netdb", "hosts", "\u212aey", "--file", path)
    assert (status, out) == (2, "")


def test_key_after_a_double_dash(
    capsys: pytest.CaptureFixture[str], files: dict[str, str]
) -> None:
    """'--' ends the options: what follows is KEY, even after options."""
    status, out, _ = _run(
        capsys, "netdb", "services", "--file", files["services"], "--", "ssh"
    )
    assert (status, out) == (0, "ssh                   22/tcp\n")
    with pytest.raises(SystemExit) as info:
        _run(capsys, "netdb", "services", "--bogus")
    assert info.value.code == 2
    assert "unrecognized arguments: --bogus" in capsys.readouterr().err
