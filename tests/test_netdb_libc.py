"""aiosock.netdb gives the C library's answers, on this machine's files and on any text.

The machine's own files are compared with the ``socket`` module and with the C
functions Python lacks (through ctypes), entry by entry, alias by alias. Tricky
texts are compared with the C library reading them in a private mount namespace
(see ``tests/_libc_netdb.py``); those tests skip where that cannot be set up.
"""

from __future__ import annotations

import ipaddress
import os
import socket
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from aiosock import netdb
from aiosock._foundation import _netdb_parse

from . import _libc_netdb as libc
from .test_netdb_parse import HOSTS, NETWORKS, PROTOCOLS, SERVICES


def _machine(load: Any) -> list[Any]:
    try:
        return list(load())
    except OSError as exc:
        pytest.skip(f"this machine has no readable database file: {exc}")


def _service(entry: netdb.Service | None) -> list[Any] | None:
    if entry is None:
        return None
    return [entry.name, entry.port, entry.protocol, list(entry.aliases)]


def _protocol(entry: netdb.Protocol | None) -> list[Any] | None:
    if entry is None:
        return None
    return [entry.name, entry.number, list(entry.aliases)]


def _network(entry: netdb.Network | None) -> list[Any] | None:
    if entry is None:
        return None
    return [entry.name, entry.number, list(entry.aliases)]


def _listed(value: Any) -> Any:
    """A C answer as JSON shows it (lists, not tuples)."""
    if isinstance(value, tuple | list):
        return [_listed(v) for v in value]
    return value


# --- this machine's files, in this process -----------------------------------


def test_every_service_name_and_alias_matches_getservbyname() -> None:
    """service_by_name equals getservbyname for every name and alias, any protocol."""
    entries = _machine(netdb.load_services)
    assert entries, "expected a populated /etc/services (install netbase)"
    for entry in entries:
        for name in (entry.name, *entry.aliases):
            for protocol in (entry.protocol, None, "tcp", "udp"):
                ours = netdb.service_by_name(name, protocol)
                theirs = libc.servent_tuple(
                    libc.getservbyname(os.fsencode(name), libc._encode(protocol))
                )
                assert _service(ours) == _listed(theirs), (name, protocol)
                if protocol is None:
                    assert socket.getservbyname(name) == ours.port  # type: ignore[union-attr]
                elif ours is not None:
                    assert socket.getservbyname(name, protocol) == ours.port


def test_every_service_port_matches_getservbyport() -> None:
    """service_by_port equals getservbyport for every port, per protocol and any."""
    for entry in _machine(netdb.load_services):
        for protocol in (entry.protocol, None):
            ours = netdb.service_by_port(entry.port, protocol)
            theirs = libc.servent_tuple(
                libc.getservbyport(socket.htons(entry.port), libc._encode(protocol))
            )
            assert _service(ours) == _listed(theirs), (entry.port, protocol)
            if protocol is None:
                assert socket.getservbyport(entry.port) == ours.name  # type: ignore[union-attr]
            else:
                assert socket.getservbyport(entry.port, protocol) == ours.name  # type: ignore[union-attr]


def test_every_protocol_matches_getprotobyname_and_number() -> None:
    """protocol_by_name and protocol_by_number equal the C functions for every entry."""
    entries = _machine(netdb.load_protocols)
    assert entries, "expected a populated /etc/protocols (install netbase)"
    for entry in entries:
        for name in (entry.name, *entry.aliases):
            ours = netdb.protocol_by_name(name)
            theirs = libc.protoent_tuple(libc.getprotobyname(os.fsencode(name)))
            assert _protocol(ours) == _listed(theirs), name
            assert socket.getprotobyname(name) == ours.number  # type: ignore[union-attr]
        ours = netdb.protocol_by_number(entry.number)
        theirs = libc.protoent_tuple(libc.getprotobynumber(entry.number))
        assert _protocol(ours) == _listed(theirs), entry.number


def test_every_network_matches_getnetbyname_and_addr() -> None:
    """network_by_name (any ASCII case) and network_by_address equal the C functions."""
    for entry in _machine(netdb.load_networks):
        for name in (entry.name, *entry.aliases):
            for variant in (name, name.upper(), name.swapcase()):
                ours = netdb.network_by_name(variant)
                theirs = libc.netent_tuple(libc.getnetbyname(os.fsencode(variant)))
                assert _network(ours) == _listed(theirs), variant
        ours = netdb.network_by_address(entry.number)
        theirs = libc.netent_tuple(libc.getnetbyaddr(entry.number, socket.AF_INET))
        assert _network(ours) == _listed(theirs), entry.number
        assert netdb.network_by_address(entry.address) == ours
        assert netdb.network_by_address(str(entry.address)) == ours


@pytest.mark.parametrize("db", ["services", "protocols", "networks"])
def test_iteration_matches_the_get_ent_family(db: str) -> None:
    """services(), protocols() and networks() equal getservent & co., in order."""
    ours: Iterator[Any] = getattr(netdb, db)()
    convert = {"services": _service, "protocols": _protocol, "networks": _network}[db]
    assert [convert(e) for e in ours] == _listed(libc.dump(db))


def test_hosts_iteration_matches_gethostent() -> None:
    """hosts() read as gethostent reads it (IPv4 only, ::1 as 127.0.0.1) is equal."""
    assert _gethostent_view(netdb.load_hosts()) == _listed(libc.dump("hosts"))


def test_hosts_names_resolve_to_their_addresses() -> None:
    """Every IPv4 line of /etc/hosts is among gethostbyname_ex's answers for it."""
    for entry in netdb.hosts():
        address = entry.addresses[0]
        if address.version != 4 or not entry.name:
            continue
        for name in (entry.name, *entry.aliases):
            assert str(address) in socket.gethostbyname_ex(name)[2]


def test_names_not_there_give_none_as_in_c() -> None:
    """A name that is not in a database gives None, where the C library gives NULL."""
    missing = "aiosock-no-such-name"
    assert netdb.service_by_name(missing) is None
    assert not libc.getservbyname(missing.encode(), None)
    assert netdb.service_by_name("http", "no-such-protocol") is None
    assert netdb.protocol_by_name(missing) is None
    assert not libc.getprotobyname(missing.encode())
    assert netdb.protocol_by_number(2**31 - 1) is None
    assert not libc.getprotobynumber(2**31 - 1)
    assert netdb.network_by_name(missing) is None
    assert not libc.getnetbyname(missing.encode())
    assert netdb.network_by_address("203.0.113.0") is None
    assert not libc.getnetbyaddr(0xCB007100, socket.AF_INET)
    with pytest.raises(OSError, match="not found"):
        socket.getservbyname(missing)


def test_every_unlisted_port_gives_none_as_in_c() -> None:
    """Ports not in /etc/services give None, as getservbyport gives NULL."""
    listed = {e.port for e in netdb.services()}
    for port in [p for p in range(1100) if p not in listed][:50]:
        assert netdb.service_by_port(port) is None
        assert not libc.getservbyport(socket.htons(port), None)


# --- the C library's number readers ----------------------------------------

_NUMBER_ATOMS = st.sampled_from(
    [
        " ",
        "\t",
        "0",
        "1",
        "7",
        "8",
        "9",
        "x",
        "X",
        "a",
        "F",
        "g",
        "z",
        "-",
        "+",
        ".",
        "99999999999",
        "0x",
        "ff",
        "255",
        "256",
        "4294967296",
    ]
)
_NUMBER_TEXT = st.lists(_NUMBER_ATOMS, max_size=12).map("".join)


@settings(max_examples=500)
@given(text=_NUMBER_TEXT, base=st.sampled_from([0, 8, 10, 16, 36]))
def test_strtoul_equals_c(text: str, base: int) -> None:
    """The Python strtoul gives C's value and end for any text and base."""
    assert _netdb_parse.strtoul(text, base) == libc.strtoul(text.encode(), base)


@settings(max_examples=500)
@given(text=_NUMBER_TEXT)
def test_inet_network_equals_c(text: str) -> None:
    """The Python inet_network gives C's answer (INADDR_NONE for None)."""
    ours = _netdb_parse.inet_network(text)
    assert (0xFFFFFFFF if ours is None else ours) == libc.c_inet_network(text.encode())


# --- any text, read by the C library in a mount namespace ----------------------


@pytest.fixture(scope="module")
def oracle() -> Iterator[libc.NamespaceOracle]:
    """The C library reading test files bind-mounted over /etc (skips if impossible)."""
    try:
        instance = libc.NamespaceOracle()
    except (libc.OracleUnavailable, OSError) as exc:
        pytest.skip(f"cannot run the C library on test files here: {exc}")
    try:
        yield instance
    finally:
        instance.close()


def _gethostent_view(entries: Any) -> list[Any]:
    """Hosts entries as gethostent (AF_INET) shows them."""
    out = []
    for entry in entries:
        address = entry.addresses[0]
        if address.version == 6:
            if address.ipv4_mapped is not None:
                address = address.ipv4_mapped
            elif address == ipaddress.IPv6Address("::1"):
                address = ipaddress.IPv4Address("127.0.0.1")
            else:
                continue
        out.append([entry.name, [str(address)], list(entry.aliases)])
    return out


_VIEWS = {
    "services": (netdb.parse_services, lambda r: [_service(e) for e in r]),
    "protocols": (netdb.parse_protocols, lambda r: [_protocol(e) for e in r]),
    "networks": (netdb.parse_networks, lambda r: [_network(e) for e in r]),
    "hosts": (netdb.parse_hosts, _gethostent_view),
}

_TABLES = [
    *(("services", text) for text, *_ in SERVICES),
    *(("protocols", text) for text, *_ in PROTOCOLS),
    *(("networks", text) for text, *_ in NETWORKS),
    *(("hosts", text) for text, *_ in HOSTS),
]


def _same_entries(oracle: libc.NamespaceOracle, db: str, text: str) -> None:
    parse, view = _VIEWS[db]
    oracle.write(db, text)
    assert view(parse(text)) == oracle.ask("dump", db=db), (db, text)


@pytest.mark.parametrize(("db", "text"), _TABLES)
def test_table_texts_read_as_by_c(
    oracle: libc.NamespaceOracle, db: str, text: str
) -> None:
    """Each tricky text of the parser tables gives the C library's entries."""
    _same_entries(oracle, db, text)


def _words(text: str) -> list[str]:
    words = set(text.replace("\0", " ").replace("#", " ").split())
    return sorted(w for w in words if "/" not in w)[:6]


def _same_lookups(oracle: libc.NamespaceOracle, db: str, text: str) -> None:
    # aiosock reads its own copy, under a new name each time: a file rewritten
    # twice within one clock tick at the same size would look unchanged.
    path = oracle.copy(db, text)
    if db == "services":
        for name in _words(text):
            for protocol in (None, "tcp", "udp", ""):
                ours = netdb.service_by_name(name, protocol, path=path)
                c = oracle.ask("servbyname", name=name, proto=protocol)
                assert _service(ours) == c, (text, name, protocol)
        for port in {e.port for e in netdb.parse_services(text)} | {0, 80}:
            for protocol in (None, "tcp"):
                ours = netdb.service_by_port(port, protocol, path=path)
                c = oracle.ask("servbyport", port=port, proto=protocol)
                assert _service(ours) == c, (text, port, protocol)
    elif db == "protocols":
        for name in _words(text):
            ours = netdb.protocol_by_name(name, path=path)
            assert _protocol(ours) == oracle.ask("protobyname", name=name), (text, name)
        for number in {e.number for e in netdb.parse_protocols(text)} | {0, 6}:
            ours = netdb.protocol_by_number(number, path=path)
            c = oracle.ask("protobynumber", number=number)
            assert _protocol(ours) == c, (text, number)
    elif db == "networks":
        for name in _words(text):
            for variant in (name, name.swapcase()):
                ours = netdb.network_by_name(variant, path=path)
                c = oracle.ask("netbyname", name=variant)
                assert _network(ours) == c, (text, variant)
        for net in {e.number for e in netdb.parse_networks(text)} | {0x7F000000}:
            ours = netdb.network_by_address(net, path=path)
            assert _network(ours) == oracle.ask("netbyaddr", net=net), (text, net)


@pytest.mark.parametrize(("db", "text"), [t for t in _TABLES if t[0] != "hosts"])
def test_table_texts_look_up_as_in_c(
    oracle: libc.NamespaceOracle, db: str, text: str
) -> None:
    """Look-ups in each tricky text find what the C library finds, or nothing."""
    oracle.write(db, text)
    _same_lookups(oracle, db, text)


_FIRST_MATCH = {
    "services": "a 1/tcp b\nb 2/tcp a\na 3/udp\nc 4/tcp\nc 4/udp\nd 4/tcp x\n",
    "protocols": "p 1 q\nq 2 p\nr 1\nP 3\n",
    "networks": "n 10 m\nM 11 N\nk 10\nLL 12 ll\n",
}


@pytest.mark.parametrize("db", sorted(_FIRST_MATCH))
def test_first_match_rules_equal_c(oracle: libc.NamespaceOracle, db: str) -> None:
    """With duplicate names, aliases and numbers, the first line wins as in C."""
    text = _FIRST_MATCH[db]
    oracle.write(db, text)
    _same_entries(oracle, db, text)
    _same_lookups(oracle, db, text)


_FUZZ_ATOMS = st.sampled_from(
    [
        " ",
        "\t",
        "\n",
        "\n",
        "\r",
        "\v",
        "\f",
        "#",
        "/",
        "0",
        "1",
        "7",
        "8",
        "9",
        "x",
        "X",
        "a",
        "F",
        "-",
        "+",
        ".",
        ":",
        "\0",
        "é",
        "tcp",
        "udp",
        "::1",
        "127.0.0.1",
        "::ffff:1.2.3.4",
        "%",
        "65536",
        "4294967296",
        "4294967295",
        "0x",
        "ff",
        "fe80::1",
    ]
)


@settings(max_examples=300, deadline=None, suppress_health_check=list(HealthCheck))
@given(
    db=st.sampled_from(sorted(_VIEWS)),
    text=st.lists(_FUZZ_ATOMS, max_size=40).map("".join),
)
def test_fuzzed_texts_read_and_look_up_as_by_c(
    oracle: libc.NamespaceOracle, db: str, text: str
) -> None:
    """Any text of blanks, digits, signs and separators reads and looks up as in C."""
    _same_entries(oracle, db, text)
    if db != "hosts":
        _same_lookups(oracle, db, text)
