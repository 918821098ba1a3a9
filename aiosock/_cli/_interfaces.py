"""``aiosock interfaces [NAME]``: the network interfaces, as ``ip addr`` shows them.

The default layout is ``ip addr``'s (one block per interface); ``--brief`` gives
one row per interface, and ``--json`` a list of objects for scripts.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from .._foundation._errors import InterfaceError
from .._foundation._interfaces import Interface, get, list_interfaces

__all__ = ["register"]


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the ``interfaces`` subcommand to the ``aiosock`` command line."""
    parser = subparsers.add_parser(
        "interfaces",
        help="list the network interfaces with their flags, MTU and addresses",
        description="List the network interfaces (or the one called NAME) with "
        "their index, flags, MTU, hardware address and IP addresses, like ip addr.",
    )
    parser.add_argument("name", nargs="?", metavar="NAME", help="one interface only")
    layout = parser.add_mutually_exclusive_group()
    layout.add_argument("--brief", action="store_true", help="one row per interface")
    layout.add_argument("--json", action="store_true", help="print JSON")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Print the interfaces in the chosen layout."""
    try:
        found = [get(args.name)] if args.name else list_interfaces()
    except InterfaceError as exc:
        print(f"aiosock interfaces: error: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:
        print(f"aiosock interfaces: error: {exc.strerror or exc}", file=sys.stderr)
        return 1
    if args.json:
        print(json.dumps([_jsonable(i) for i in found], indent=2))
    elif args.brief:
        _print_brief(found)
    else:
        for interface in found:
            print(_block(interface))
    return 0


def _flag_names(interface: Interface) -> list[str]:
    return [flag.name for flag in interface.flags if flag.name]


def _block(interface: Interface) -> str:
    flags = ",".join(_flag_names(interface))
    mtu = "" if interface.mtu is None else f" mtu {interface.mtu}"
    lines = [
        f"{interface.index}: {interface.name}: <{flags}>{mtu} "
        f"state {interface.state.upper()}"
    ]
    if interface.hardware_address is not None:
        lines.append(f"    link {interface.hardware_address}")
    for address in interface.addresses:
        family = "inet" if address.address.version == 4 else "inet6"
        text = f"    {family} {address}"
        if address.peer is not None:
            text = f"    {family} {address.address} peer {address.peer}/"
            text += str(address.prefix_length)
        if address.broadcast is not None:
            text += f" brd {address.broadcast}"
        text += f" scope {address.scope_name}"
        if address.label:
            text += f" {address.label}"
        lines.append(text)
    return "\n".join(lines)


def _print_brief(found: list[Interface]) -> None:
    rows = [("INDEX", "NAME", "STATE", "MTU", "ADDRESSES")]
    for interface in found:
        rows.append(
            (
                str(interface.index),
                interface.name,
                interface.state.upper(),
                "" if interface.mtu is None else str(interface.mtu),
                " ".join(str(a) for a in interface.addresses),
            )
        )
    widths = [max(len(row[i]) for row in rows) for i in range(4)]
    for row in rows:
        cells = [cell.ljust(width) for cell, width in zip(row, widths, strict=False)]
        print("  ".join([*cells, row[4]]).rstrip())


def _jsonable(interface: Interface) -> dict[str, Any]:
    return {
        "index": interface.index,
        "name": interface.name,
        "flags": _flag_names(interface),
        "mtu": interface.mtu,
        "hardware_address": interface.hardware_address,
        "state": interface.state,
        "addresses": [
            {
                "address": str(a.address),
                "prefix_length": a.prefix_length,
                "scope": a.scope_name,
                "broadcast": None if a.broadcast is None else str(a.broadcast),
                "peer": None if a.peer is None else str(a.peer),
                "label": a.label,
            }
            for a in interface.addresses
        ],
    }
