"""``aiosock options ENDPOINT``: the options of a fresh socket of an endpoint's kind.

The socket is made, read with :func:`aiosock.options.snapshot` and closed; it is
never bound or connected, so what is shown is this platform's defaults for that
kind of socket. A ``tcp://`` or ``udp://`` endpoint whose namespace is not fixed
by its address uses the IPv4 namespace.
"""

from __future__ import annotations

import argparse
import enum
import json
import socket
import sys
from typing import Any

import attrs

from .._foundation._concepts import Namespace, Style
from .._foundation._endpoints import Endpoint, parse_endpoint
from .._foundation._errors import AddressError, OptionError
from .._foundation._options import describe, snapshot
from .._foundation._optiontable import kind_name

__all__ = ["register"]


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the ``options`` subcommand to the ``aiosock`` command line."""
    parser = subparsers.add_parser(
        "options",
        help="show the socket options of a fresh socket of an endpoint's kind",
        description="Make an unbound, unconnected socket of ENDPOINT's kind and "
        "show every option this platform supports for it, with its value.",
    )
    parser.add_argument(
        "endpoint",
        metavar="ENDPOINT",
        help="an endpoint such as tcp://127.0.0.1:0, udp6://[::1]:0, unix:x.sock, "
        "unixpacket:@name or ip4:icmp (raw sockets need CAP_NET_RAW)",
    )
    parser.add_argument(
        "--json", action="store_true", help="print a JSON object instead of a table"
    )
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Show the options of a fresh socket of ``args.endpoint``'s kind."""
    try:
        endpoint = parse_endpoint(args.endpoint)
        protocol = _protocol_number(endpoint)
    except AddressError as exc:
        return _fail(str(exc), 2)
    namespace = endpoint.namespace or Namespace.INET
    kind = kind_name(namespace, endpoint.style)
    try:
        sock = socket.socket(namespace.family, endpoint.style.type, protocol)
    except PermissionError as exc:
        return _fail(
            f"not permitted to create a socket of kind {kind} ({exc.strerror}); "
            "raw sockets need root or CAP_NET_RAW",
            1,
        )
    except OSError as exc:
        return _fail(f"cannot create a socket of kind {kind}: {exc.strerror}", 1)
    with sock:
        try:
            values = snapshot(sock)
        except OptionError as exc:
            return _fail(str(exc), 1)
    if args.json:
        print(json.dumps(values, default=_json_value, indent=2))
    else:
        _print_table(values, namespace)
    return 0


def _fail(message: str, status: int) -> int:
    print(f"aiosock options: error: {message}", file=sys.stderr)
    return status


def _protocol_number(endpoint: Endpoint) -> int:
    protocol = endpoint.protocol
    if isinstance(protocol, int):
        return protocol
    try:
        return socket.getprotobyname(protocol)
    except OSError:
        raise AddressError(
            f"expected a protocol name from the protocols database, got {protocol!r}"
        ) from None


def _print_table(values: dict[str, Any], namespace: Namespace) -> None:
    rows = [("name", "level", "value")]
    for name, value in values.items():
        rows.append((name, describe(name, namespace).level_name, format_value(value)))
    widths = [max(len(row[i]) for row in rows) for i in range(2)]
    for name, level, text in rows:
        print(f"{name:<{widths[0]}}  {level:<{widths[1]}}  {text}")


def format_value(value: object) -> str:
    """Render an option's value for the table: enums by name, records briefly."""
    if isinstance(value, enum.Enum):
        return f"{type(value).__name__}.{value.name}"
    if isinstance(value, str):
        return repr(value)
    return str(value)


def _json_value(value: object) -> object:
    if isinstance(value, Style | Namespace):
        return value.name
    if attrs.has(type(value)):
        return attrs.asdict(value)  # type: ignore[arg-type]
    raise TypeError(f"expected a JSON-serializable option value, got {value!r}")
