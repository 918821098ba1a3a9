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
import os
import sys
from collections.abc import Sequence
from typing import Any

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


def _parse(parser: argparse.ArgumentParser, argv: Sequence[str] | None) -> Any:
    """Parse the command line; an optional positional may follow the options.

    argparse (before Python 3.12) gives an optional positional nothing once an
    option came first (``netdb services --protocol tcp http`` left ``http``
    unrecognized). A subcommand names such positionals in its
    ``late_positionals`` default, and what is left over fills them in order.
    """
    args, extras = parser.parse_known_args(argv)
    # After "--" what follows is positional, whatever it looks like.
    positional = extras[:1] == ["--"]
    if positional:
        del extras[0]
    for name in getattr(args, "late_positionals", ()):
        if not extras or getattr(args, name) is not None:
            continue
        if positional or not extras[0].startswith("-"):
            setattr(args, name, extras.pop(0))
    if extras:
        parser.error(f"unrecognized arguments: {' '.join(extras)}")
    return args


def _open_standard_streams() -> None:
    """Open a closed standard descriptor (0, 1 or 2) on ``/dev/null``.

    A program started with one closed (``<&-``) would otherwise make its first
    socket on that number, and write its output into it (uvloop aborts the
    process when it meets a socket there).
    """
    for fd, name, mode in ((0, "stdin", "r"), (1, "stdout", "w"), (2, "stderr", "w")):
        try:
            os.fstat(fd)
        except OSError:
            opened = os.open(os.devnull, os.O_RDWR)
            if opened != fd:  # (the lowest free number: fd itself)
                os.dup2(opened, fd)
                os.close(opened)
            if getattr(sys, name) is None:  # (Python's stream for a closed fd)
                setattr(sys, name, open(fd, mode, closefd=False))  # noqa: SIM115


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``aiosock`` command and return its exit status."""
    _open_standard_streams()
    parser = build_parser()
    args = _parse(parser, argv)
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
        sys.stdout.flush()
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        # The reader went away (``aiosock netdb services | head``): stop
        # quietly, as a C program killed by SIGPIPE does, and let nothing
        # flush into the closed pipe at exit.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
        return 141
    return status
