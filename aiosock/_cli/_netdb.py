"""``aiosock netdb DATABASE [KEY]`` and ``aiosock resolve HOST [SERVICE]``.

``netdb`` works like ``getent``: the whole database without a key, else the
entries the key names, in the same layout (``--json`` for scripts, ``--check`` to
list the lines the C library skips or misreads). Exit status 0 when something was
found, 2 when the key matched nothing, 1 when the file cannot be read. ``resolve``
runs :func:`aiosock.netdb.resolve` (or :func:`~aiosock.netdb.reverse`) on the
loop chosen with ``--loop``.
"""

from __future__ import annotations

import argparse
import ipaddress
import json
import socket
import string
import sys
from collections.abc import Callable, Sequence
from typing import Any

import attrs

from .._foundation._concepts import Namespace, Style
from .._foundation._errors import AddressError
from .._foundation._hostnames import resolve, reverse
from .._foundation._loop import run as run_loop
from .._foundation._netdb import (
    DEFAULT_PATHS,
    load_hosts,
    load_networks,
    load_protocols,
    load_services,
    network_by_address,
    network_by_name,
    protocol_by_name,
    protocol_by_number,
    service_by_name,
    service_by_port,
)
from .._foundation._netdb_records import (
    Host,
    Network,
    ParseResult,
    Protocol,
    Service,
)

__all__ = ["register"]

_LOADERS: dict[str, Callable[[str], ParseResult[Any]]] = {
    "services": load_services,
    "protocols": load_protocols,
    "networks": load_networks,
    "hosts": load_hosts,
}


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the ``netdb`` and ``resolve`` subcommands to the command line."""
    parser = subparsers.add_parser(
        "netdb",
        help="look up the services, protocols, networks or hosts database",
        description="Show a database as the C library reads it, like getent: every "
        "entry, or those KEY names (a name, or a number or address).",
    )
    parser.add_argument(
        "database",
        choices=tuple(_LOADERS),
        metavar="DATABASE",
        help="services, protocols, networks or hosts",
    )
    parser.add_argument(
        "key",
        nargs="?",
        metavar="KEY",
        help="a name; or a port (services, also NAME/PROTOCOL or PORT/PROTOCOL), "
        "protocol number, network number such as 127 or 10.1, or host address",
    )
    parser.add_argument("--protocol", help="services only: entries for this protocol")
    parser.add_argument("--file", help="read this file instead of the system's")
    parser.add_argument("--json", action="store_true", help="print JSON")
    parser.add_argument(
        "--check",
        action="store_true",
        help="list the lines the C library skips or misreads (status 1 if any)",
    )
    parser.set_defaults(func=run_netdb, late_positionals=("key",))
    resolver = subparsers.add_parser(
        "resolve",
        help="resolve a host name (and service) without blocking",
        description="Resolve HOST (and SERVICE) to socket addresses through the "
        "event loop's getaddrinfo, or with --reverse find the names of an address.",
    )
    resolver.add_argument("host", metavar="HOST")
    resolver.add_argument("service", nargs="?", metavar="SERVICE")
    family = resolver.add_mutually_exclusive_group()
    family.add_argument(
        "-4",
        dest="namespace",
        action="store_const",
        const=Namespace.INET,
        help="IPv4 only",
    )
    family.add_argument(
        "-6",
        dest="namespace",
        action="store_const",
        const=Namespace.INET6,
        help="IPv6 only",
    )
    resolver.add_argument(
        "--udp", action="store_true", help="look the service up for UDP rather than TCP"
    )
    resolver.add_argument(
        "--reverse",
        action="store_true",
        help="HOST is an address: print its host and service names",
    )
    resolver.add_argument("--json", action="store_true", help="print JSON")
    resolver.set_defaults(func=run_resolve, late_positionals=("service",))


def _fail(command: str, message: str, status: int) -> int:
    print(f"aiosock {command}: error: {message}", file=sys.stderr)
    return status


def run_netdb(args: argparse.Namespace) -> int:
    """Show the entries of ``args.database`` that ``args.key`` names (or all)."""
    path = args.file if args.file is not None else DEFAULT_PATHS[args.database]
    try:
        result = _LOADERS[args.database](path)
    except OSError as exc:
        return _fail("netdb", f"cannot read {path}: {exc.strerror or exc}", 1)
    if args.check:
        for problem in result.problems:
            what = "skipped" if problem.skipped else "kept"
            print(f"{path}:{problem.line}: {problem.reason} [{what}]")
        return 1 if result.problems else 0
    try:
        entries = _select(args, path, result.entries)
    except ValueError as exc:
        return _fail("netdb", str(exc), 2)
    if args.json:
        print(json.dumps([_jsonable(e) for e in entries], indent=2))
    else:
        for entry in entries:
            print(_row(entry))
    return 0 if entries else 2


def _select(args: argparse.Namespace, path: str, entries: Sequence[Any]) -> list[Any]:
    key: str | None = args.key
    protocol: str | None = args.protocol
    if args.database == "services":
        if key is None:
            return [e for e in entries if protocol is None or e.protocol == protocol]
        key, slash, proto = key.partition("/")
        if slash and not proto:
            return []  # "http/": a protocol named "", as getent reads it
        protocol = proto or protocol
        if key.isdecimal() and key.isascii():
            found = service_by_port(int(key), protocol, path=path)
        else:
            found = service_by_name(key, protocol, path=path)
        return [] if found is None else [found]
    if key is None:
        return list(entries)
    if args.database == "protocols":
        if key.isdecimal() and key.isascii():
            protocol_entry = protocol_by_number(int(key), path=path)
        else:
            protocol_entry = protocol_by_name(key, path=path)
        return [] if protocol_entry is None else [protocol_entry]
    if args.database == "networks":
        if key[:1].isdigit():
            network = network_by_address(key, path=path)
        else:
            network = network_by_name(key, path=path)
        return [] if network is None else [network]
    return [e for e in entries if _host_matches(e, key)]


#: ASCII letters only: the C library ignores the case of host names that way.
_ASCII_LOWER = str.maketrans(string.ascii_uppercase, string.ascii_lowercase)


def _host_matches(host: Host, key: str) -> bool:
    """Whether ``host`` is the one ``key`` names, as getent takes a key.

    An address may be written in any form ``inet_aton`` takes (``127.1``); a
    name matches ignoring the case of ASCII letters only.
    """
    address: ipaddress.IPv4Address | ipaddress.IPv6Address
    try:
        address = ipaddress.ip_address(key)
    except ValueError:
        try:
            address = ipaddress.IPv4Address(socket.inet_aton(key))
        except (OSError, ValueError):
            folded = key.translate(_ASCII_LOWER)
            names = (host.name, *host.aliases)
            return any(n.translate(_ASCII_LOWER) == folded for n in names)
    return address in host.addresses


def _row(entry: Service | Protocol | Network | Host) -> str:
    if isinstance(entry, Service):
        head = f"{entry.name:<21} {entry.port}/{entry.protocol}"
    elif isinstance(entry, Protocol):
        head = f"{entry.name:<21} {entry.number}"
    elif isinstance(entry, Network):
        head = f"{entry.name:<21} {entry.address}"
    else:
        head = f"{entry.addresses[0]!s:<15} {entry.name}"
    return " ".join((head, *entry.aliases))


def _jsonable(entry: Any) -> dict[str, Any]:
    def convert(_inst: Any, _field: Any, value: Any) -> Any:
        if isinstance(value, ipaddress.IPv4Address | ipaddress.IPv6Address):
            return str(value)
        return value

    data: dict[str, Any] = attrs.asdict(entry, value_serializer=convert)
    return data


def _port_number(service: str, style: Style) -> int:
    """A port given as a number or a service name, for ``--reverse``."""
    if service.isdecimal() and service.isascii():
        return int(service)
    entry = service_by_name(service, "udp" if style is Style.DATAGRAM else "tcp")
    if entry is None:
        raise ValueError(f"expected a port number or a service name, got {service!r}")
    return entry.port


def run_resolve(args: argparse.Namespace) -> int:
    """Resolve ``args.host`` (and service), or reverse-resolve an address."""
    style = Style.DATAGRAM if args.udp else Style.STREAM
    try:
        if args.reverse:
            port = _port_number(args.service, style) if args.service else 0
            host, service = run_loop(
                reverse((args.host, port), style=style), loop=args.loop
            )
            if args.json:
                print(json.dumps({"host": host, "service": service}))
            else:
                print(host, service)
            return 0
        addresses = run_loop(
            resolve(args.host, args.service, namespace=args.namespace, style=style),
            loop=args.loop,
        )
    except (AddressError, ValueError) as exc:
        return _fail("resolve", str(exc), 2)
    if args.json:
        print(
            json.dumps(
                [
                    {"namespace": a.namespace.name, "host": a.host, "port": a.port}
                    for a in addresses
                ]
            )
        )
    else:
        for address in addresses:
            print(address)
    return 0
