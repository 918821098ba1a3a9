"""The database files: paths, caching, re-reading, first-match rules, arguments."""

from __future__ import annotations

import ipaddress
import os
from pathlib import Path

import pytest

from aiosock import netdb


def _write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


def test_paths_default_to_etc() -> None:
    """Each database reads its /etc file unless a path is given."""
    assert netdb.DEFAULT_PATHS == {
        "services": "/etc/services",
        "protocols": "/etc/protocols",
        "networks": "/etc/networks",
        "hosts": "/etc/hosts",
    }


def test_lookups_read_the_given_file(tmp_path: Path) -> None:
    """A path overrides the system file for look-ups and iteration."""
    path = _write(tmp_path / "services", "aiosock-test 4242/tcp ast\n")
    assert netdb.service_by_name("ast", path=path) == netdb.Service(
        "aiosock-test", 4242, "tcp", ("ast",)
    )
    assert netdb.service_by_port(4242, "tcp", path=str(path)).name == "aiosock-test"  # type: ignore[union-attr]
    assert [s.name for s in netdb.services(path=path)] == ["aiosock-test"]


def test_file_is_read_again_when_it_changes(tmp_path: Path) -> None:
    """Editing the file (size, times or inode) is seen by the next look-up."""
    path = _write(tmp_path / "protocols", "one 1\n")
    assert netdb.protocol_by_number(1, path=path).name == "one"  # type: ignore[union-attr]
    _write(path, "uno 1\ntwo 2\n")
    assert netdb.protocol_by_number(1, path=path).name == "uno"  # type: ignore[union-attr]
    replacement = _write(tmp_path / "new", "eins 1\n")
    os.replace(replacement, path)
    assert netdb.protocol_by_number(1, path=path).name == "eins"  # type: ignore[union-attr]
    assert [p.name for p in netdb.protocols(path=path)] == ["eins"]


def test_unchanged_file_is_parsed_once(tmp_path: Path) -> None:
    """While the file is unchanged, look-ups share one parsed copy."""
    path = _write(tmp_path / "networks", "a 10\n")
    first = netdb.load_networks(path)
    assert netdb.load_networks(path) is first
    assert netdb.network_by_name("A", path=path) is first.entries[0]


def test_missing_file_is_an_empty_database(tmp_path: Path) -> None:
    """Without the file, look-ups give None and iterators nothing; load_* raises."""
    path = tmp_path / "missing"
    assert netdb.service_by_name("http", path=path) is None
    assert netdb.network_by_address(0, path=path) is None
    assert list(netdb.hosts(path=path)) == []
    with pytest.raises(FileNotFoundError):
        netdb.load_hosts(path)
    _write(path, "127.0.0.1 here\n")
    assert [h.name for h in netdb.hosts(path=path)] == ["here"]


def test_load_reports_problems(tmp_path: Path) -> None:
    """load_* returns the problems met, so tools can point at bad lines."""
    path = _write(tmp_path / "services", "ok 1/tcp\nbroken\n")
    result = netdb.load_services(path)
    assert [p.line for p in result.problems] == [2]
    assert netdb.service_by_name("broken", path=path) is None


def test_first_match_and_case_rules(tmp_path: Path) -> None:
    """The first entry naming a key wins; only network names ignore case."""
    services = _write(tmp_path / "services", "a 1/tcp b\nb 2/tcp\nb 3/udp\nc 1/udp\n")
    assert netdb.service_by_name("b", path=services).port == 1  # type: ignore[union-attr]
    assert netdb.service_by_name("b", "udp", path=services).port == 3  # type: ignore[union-attr]
    assert netdb.service_by_name("B", path=services) is None
    assert netdb.service_by_port(1, path=services).name == "a"  # type: ignore[union-attr]
    assert netdb.service_by_port(1, "udp", path=services).name == "c"  # type: ignore[union-attr]
    assert netdb.service_by_port(2, "udp", path=services) is None
    protocols = _write(tmp_path / "protocols", "tcp 6 TCP\n")
    assert netdb.protocol_by_name("TCP", path=protocols).name == "tcp"  # type: ignore[union-attr]
    assert netdb.protocol_by_name("Tcp", path=protocols) is None
    networks = _write(tmp_path / "networks", "Loopback 127 LO\n")
    for name in ("loopback", "LOOPBACK", "lo", "Lo"):
        assert netdb.network_by_name(name, path=networks).name == "Loopback"  # type: ignore[union-attr]
    # strcasecmp folds ASCII only.
    unicode_networks = _write(tmp_path / "unicode", "Ünet 10\n")
    assert netdb.network_by_name("ünet", path=unicode_networks) is None
    assert netdb.network_by_name("Ünet", path=unicode_networks) is not None


def test_network_by_address_forms(tmp_path: Path) -> None:
    """A network number may be an int, an IPv4Address, or text as the file has it."""
    path = _write(tmp_path / "networks", "ten 10.1\n")
    entry = netdb.network_by_name("ten", path=path)
    assert entry is not None
    for key in (
        0x0A010000,
        ipaddress.IPv4Address("10.1.0.0"),
        "10.1",
        "10.1.0.0",
        "012.1",
    ):
        assert netdb.network_by_address(key, path=path) is entry
    assert netdb.network_by_address(0x0A01, path=path) is None


@pytest.mark.parametrize(
    ("call", "error", "match"),
    [
        (lambda: netdb.service_by_name(80), TypeError, "'name' must be a str"),  # type: ignore[arg-type]
        (
            lambda: netdb.service_by_name("x", 6),
            TypeError,
            "'protocol' must be a str or None",
        ),  # type: ignore[arg-type]
        (lambda: netdb.service_by_port("80"), TypeError, "'port' must be an int"),  # type: ignore[arg-type]
        (lambda: netdb.service_by_port(True), TypeError, "'port' must be an int"),
        (
            lambda: netdb.service_by_port(70000),
            ValueError,
            r"'port' must be in 0..65535 \(got 70000\)",
        ),
        (lambda: netdb.service_by_port(-1), ValueError, "'port' must be in 0..65535"),
        (lambda: netdb.protocol_by_name(None), TypeError, "'name' must be a str"),  # type: ignore[arg-type]
        (lambda: netdb.protocol_by_number("6"), TypeError, "'number' must be an int"),  # type: ignore[arg-type]
        (lambda: netdb.network_by_name(b"x"), TypeError, "'name' must be a str"),  # type: ignore[arg-type]
        (
            lambda: netdb.network_by_address("x"),
            ValueError,
            "expected a network number",
        ),
        (lambda: netdb.network_by_address(2**32), ValueError, "'address' must be in"),
        (lambda: netdb.network_by_address(1.0), TypeError, "'address' must be an int"),  # type: ignore[arg-type]
    ],
)
def test_lookup_arguments_are_checked(
    call: object, error: type[Exception], match: str
) -> None:
    """Wrong types and out-of-range numbers raise with the attrs-style message."""
    with pytest.raises(error, match=match):
        call()  # type: ignore[operator]


def test_iterators_are_fresh_each_time() -> None:
    """Each call of an iterator function starts at the first entry (setservent)."""
    first = next(netdb.protocols(), None)
    assert next(netdb.protocols(), None) == first


def test_public_names() -> None:
    """aiosock.netdb exports exactly the documented names, each one defined."""
    assert sorted(netdb.__all__) == sorted(
        [
            "DEFAULT_PATHS",
            "Host",
            "Network",
            "ParseResult",
            "Problem",
            "Protocol",
            "Service",
            "host_name",
            "hosts",
            "load_hosts",
            "load_networks",
            "load_protocols",
            "load_services",
            "network_by_address",
            "network_by_name",
            "networks",
            "parse_hosts",
            "parse_networks",
            "parse_protocols",
            "parse_services",
            "protocol_by_name",
            "protocol_by_number",
            "protocols",
            "resolve",
            "reverse",
            "service_by_name",
            "service_by_port",
            "services",
        ]
    )
    for name in netdb.__all__:
        assert getattr(netdb, name) is not None
    assert "netdb" in __import__("aiosock").__all__
