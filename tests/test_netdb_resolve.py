"""resolve, reverse and host_name: on loopback only, on both loops."""

from __future__ import annotations

import ipaddress
import socket
import threading
from pathlib import Path

import pytest

from aiosock import (
    AddressError,
    Endpoint,
    Inet6Address,
    InetAddress,
    Namespace,
    ResolutionError,
    Style,
    netdb,
    parse_endpoint,
)
from aiosock._foundation import _hostnames


def _loopback_names() -> set[str]:
    names: set[str] = set()
    for host in netdb.hosts():
        if host.addresses[0] == ipaddress.IPv4Address("127.0.0.1"):
            names.update((host.name, *host.aliases))
    return names


@pytest.fixture
def private_services(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Point the services and protocols databases at files only these tests know."""
    services = tmp_path / "services"
    services.write_text("aiosock-test 4242/tcp ast\naiosock-dgram 4343/udp\n")
    protocols = tmp_path / "protocols"
    protocols.write_text("aiosock-proto 253 AIOSOCK\n")
    monkeypatch.setitem(netdb.DEFAULT_PATHS, "services", str(services))
    monkeypatch.setitem(netdb.DEFAULT_PATHS, "protocols", str(protocols))
    return tmp_path


async def test_resolve_localhost() -> None:
    """'localhost' resolves to the IPv4 loopback address, typed, without duplicates."""
    addresses = await netdb.resolve("localhost")
    assert InetAddress("127.0.0.1", 0) in addresses
    assert len(set(addresses)) == len(addresses)
    assert all(isinstance(a, InetAddress | Inet6Address) for a in addresses)


async def test_resolve_ipv4_literal_with_port() -> None:
    """An IPv4 literal and port resolve to exactly that address."""
    assert await netdb.resolve("127.0.0.1", 80) == (InetAddress("127.0.0.1", 80),)


async def test_resolve_ipv6_literal(ipv6: None) -> None:
    """An IPv6 literal resolves to an Inet6Address."""
    assert await netdb.resolve("::1", 8080) == (Inet6Address("::1", 8080),)


async def test_resolve_service_name_from_the_system_database() -> None:
    """A service name is looked up in the services database for the style's protocol."""
    http = netdb.service_by_name("http", "tcp")
    if http is None:
        pytest.skip("this machine's services database has no http/tcp")
    addresses = await netdb.resolve("127.0.0.1", "http", style=Style.STREAM)
    assert addresses == (InetAddress("127.0.0.1", http.port),)


async def test_resolve_service_name_through_aiosock_database(
    private_services: Path,
) -> None:
    """Names only aiosock's services file knows resolve: the database is used."""
    assert await netdb.resolve("127.0.0.1", "ast", style=Style.STREAM) == (
        InetAddress("127.0.0.1", 4242),
    )
    assert await netdb.resolve("127.0.0.1", "aiosock-dgram") == (
        InetAddress("127.0.0.1", 4343),
    )
    with pytest.raises(ResolutionError) as info:
        await netdb.resolve("127.0.0.1", "aiosock-test", style=Style.DATAGRAM)
    assert "cannot resolve" in str(info.value)


async def test_service_lookup_runs_off_the_loop(
    private_services: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The services file is read in the executor, never on the event loop's thread."""
    threads: list[int] = []
    original = _hostnames._lookup_port

    def spy(name: str, style: Style | None) -> int | None:
        threads.append(threading.get_ident())
        return original(name, style)

    monkeypatch.setattr(_hostnames, "_lookup_port", spy)
    await netdb.resolve("127.0.0.1", "ast")
    assert threads
    assert threading.get_ident() not in threads


async def test_resolve_namespace_filters_families() -> None:
    """namespace=INET6 on an IPv4 literal finds nothing: a ResolutionError."""
    assert await netdb.resolve("127.0.0.1", namespace=Namespace.INET) == (
        InetAddress("127.0.0.1", 0),
    )
    with pytest.raises(ResolutionError) as info:
        await netdb.resolve("127.0.0.1", namespace=Namespace.INET6)
    assert isinstance(info.value, OSError)
    assert info.value.errno is not None


async def test_resolve_no_host_is_loopback_or_any() -> None:
    """No host means loopback, or the any-address when resolving for binding."""
    loopback = {a.host for a in await netdb.resolve(None, 1)}
    assert loopback & {"127.0.0.1", "::1"}
    passive = {a.host for a in await netdb.resolve("", 1, passive=True)}
    assert passive & {"0.0.0.0", "::"}
    assert {a.host for a in await netdb.resolve("*", 1, passive=True)} == passive


async def test_resolve_rejects_bad_arguments() -> None:
    """The local namespace and bad ports are ValueErrors, before any look-up."""
    with pytest.raises(ValueError, match="expected namespace INET, INET6 or None"):
        await netdb.resolve("localhost", namespace=Namespace.LOCAL)
    with pytest.raises(ValueError, match=r"'port' must be in 0..65535 \(got 70000\)"):
        await netdb.resolve("127.0.0.1", 70000)


@pytest.mark.parametrize(
    ("port", "error", "words"),
    [
        ("70000", ValueError, r"'port' must be in 0..65535 \(got 70000\)"),
        ("65536", ValueError, r"'port' must be in 0..65535 \(got 65536\)"),
        ("99999999999", ValueError, r"'port' must be in 0..65535"),
        ("80 ", ValueError, "expected a port number or a service name, got '80 '"),
        ("", ValueError, "expected a port number or a service name, got ''"),
        (True, TypeError, "'port' must be an int or a service name"),
        (80.0, TypeError, "'port' must be an int or a service name"),
        (b"80", TypeError, "'port' must be an int or a service name"),
    ],
)
async def test_resolve_refuses_ports_the_loops_would_read_apart(
    port: object, error: type[Exception], words: str
) -> None:
    """A port as text is range-checked too; a bool, float or bytes is a TypeError.

    Before: "70000" wrapped to port 4464, True was port 1 on uvloop and an
    OSError on the default loop, "80 " was 80 on uvloop only.
    """
    with pytest.raises(error, match=words):
        await netdb.resolve("127.0.0.1", port)  # type: ignore[arg-type]


async def test_resolve_keeps_an_ipv6_zone_on_both_loops() -> None:
    """An IP literal is not sent to the resolver: uvloop's dropped the zone."""
    assert await netdb.resolve("fe80::1%lo", 80) == (
        Inet6Address("fe80::1", 80, scope_id="lo"),
    )
    assert await netdb.resolve("fe80::1%lo", "http", style=Style.STREAM) == (
        Inet6Address("fe80::1", 80, scope_id="lo"),
    )
    (endpoint,) = await parse_endpoint("tcp://[fe80::1%lo]:http").resolve()
    assert endpoint.address == Inet6Address("fe80::1", 80, scope_id="lo")
    with pytest.raises(AddressError, match="no network interface named 'nosuchif0'"):
        await parse_endpoint("tcp://[fe80::1%nosuchif0]:http").resolve()


async def test_reverse_loopback_names() -> None:
    """127.0.0.1 port 80 reverses to a name of /etc/hosts and the http service."""
    names = _loopback_names()
    if not names:
        pytest.skip("/etc/hosts has no line for 127.0.0.1")
    host, service = await netdb.reverse(InetAddress("127.0.0.1", 80))
    assert host in names
    http = netdb.service_by_port(80, "tcp")
    assert service == (http.name if http else "80")


async def test_reverse_numeric_and_datagram() -> None:
    """Numeric flags give text back; style DATAGRAM looks the port up for UDP."""
    assert await netdb.reverse(
        ("127.0.0.1", 80), numeric_host=True, numeric_service=True
    ) == ("127.0.0.1", "80")
    domain = netdb.service_by_port(53, "udp")
    _host, service = await netdb.reverse(
        ("127.0.0.1", 53), style=Style.DATAGRAM, numeric_host=True
    )
    assert service == (domain.name if domain else "53")


async def test_reverse_ipv6_numeric(ipv6: None) -> None:
    """An IPv6 literal reverses numerically to itself."""
    assert await netdb.reverse("::1", numeric_host=True, numeric_service=True) == (
        "::1",
        "0",
    )
    assert await netdb.reverse(
        Inet6Address("::1", 443), numeric_host=True, numeric_service=True
    ) == ("::1", "443")


async def test_reverse_rejects_non_addresses() -> None:
    """Host names and other types are refused: reverse takes addresses."""
    with pytest.raises(ValueError, match="expected an IP address, got 'localhost'"):
        await netdb.reverse(("localhost", 80))
    with pytest.raises(TypeError, match="expected an InetAddress"):
        await netdb.reverse(80)  # type: ignore[arg-type]


def test_host_name_is_gethostname() -> None:
    """host_name() is the kernel's host name."""
    assert netdb.host_name() == socket.gethostname()


async def test_endpoint_service_names_use_the_database(private_services: Path) -> None:
    """Endpoint.resolve() finds service names in aiosock's services database."""
    resolved = await parse_endpoint("tcp://127.0.0.1:ast").resolve()
    assert resolved == (
        Endpoint(Style.STREAM, Namespace.INET, InetAddress("127.0.0.1", 4242)),
    )
    resolved = await parse_endpoint("udp4://127.0.0.1:aiosock-dgram").resolve()
    assert resolved[0].address == InetAddress("127.0.0.1", 4343)


async def test_endpoint_protocol_names_use_the_database(private_services: Path) -> None:
    """Raw endpoints find protocol names and aliases in the protocols database."""
    for text in ("ip4:aiosock-proto", "ip6:AIOSOCK"):
        (resolved,) = await parse_endpoint(text).resolve()
        assert resolved.protocol == 253
    with pytest.raises(ResolutionError, match="no protocol named 'nope'"):
        await parse_endpoint("ip4:nope").resolve()
