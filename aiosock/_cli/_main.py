"""The ``aiosock`` command: global options and subcommand dispatch.

Strategy: argparse from the standard library (no dependency for a handful of
subcommands). Each subcommand lives in its own module under ``aiosock._cli`` and
exposes ``register(subparsers)``, which adds its parser and sets ``func`` to a
callable taking the parsed namespace and returning an exit status. Subcommands
that need a loop run through :func:`aiosock.run` with the global ``--loop``.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys
from collections.abc import Sequence

from .._foundation._loop import LOOP_NAMES, default_loop_name
from .._version import __version__

# Subcommand modules, in the order ``--help`` lists them.
SUBCOMMANDS: tuple[str, ...] = (
    "inetd",
    "connect",
    "listen",
    "interfaces",
    "netdb",
    "options",
)


def build_parser() -> argparse.ArgumentParser:
    """Return the parser for the whole ``aiosock`` command line."""
    parser = argparse.ArgumentParser(
        prog="aiosock",
        description="aiosock: async sockets for asyncio, and an inetd.",
    )
    parser.add_argument("--version", action="version", version=f"aiosock {__version__}")
    parser.add_argument(
        "--loop",
        choices=LOOP_NAMES,
        default=None,
        help="event loop to run on (default: $AIOSOCK_LOOP, else auto = uvloop "
        "where installed)",
    )
    parser.add_argument(
        "-v", "--verbose", action="count", default=0, help="log more (repeatable)"
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in SUBCOMMANDS:
        try:
            module = importlib.import_module(f"._{name}", __package__)
        except ModuleNotFoundError as exc:
            if exc.name != f"{__package__}._{name}":
                raise
            continue
        module.register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``aiosock`` command and return its exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.loop is None:
        try:
            args.loop = default_loop_name()
        except ValueError as exc:
            parser.error(str(exc))
    level = logging.WARNING - 10 * min(args.verbose, 2)
    logging.basicConfig(
        level=level, format="%(asctime)s %(name)s %(levelname)s %(message)s"
    )
    func = getattr(args, "func", None)
    if func is None:
        parser.print_help(sys.stderr)
        return 2
    try:
        status: int = func(args)
    except KeyboardInterrupt:
        return 130
    return status
