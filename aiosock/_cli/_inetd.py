"""``aiosock inetd``: the super-server, or ``--check`` of its configuration.

Strategy: parse the arguments, load the file (or the embedded default), and with
``--check`` print every problem and exit 1 if there was one. Otherwise run the
daemon on the chosen loop until SIGTERM or SIGINT; SIGHUP reloads.
"""

from __future__ import annotations

import argparse
import sys

from .._foundation._errors import ConfigError
from ..inetd import DEFAULT_CONFIG, InetdConfig, load_inetd_conf, parse_inetd_conf
from ..inetd._load import netdb_lookup

__all__ = ["register"]


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the ``inetd`` subcommand."""
    parser = subparsers.add_parser(
        "inetd",
        help="run the internet super-server (inetd.conf format)",
        description="Listen on the services of an inetd.conf file and start their "
        "servers on demand. With no --config, serve the internal services on "
        "loopback high ports.",
    )
    parser.add_argument(
        "--config", "-c", metavar="FILE", help="the inetd.conf file to read"
    )
    parser.add_argument(
        "--check",
        action="store_true",
        help="only check the configuration: print each problem, exit 1 if any",
    )
    parser.set_defaults(func=run)


def _load(path: str | None) -> InetdConfig:
    if path is None:
        return parse_inetd_conf(
            DEFAULT_CONFIG, filename="<default>", lookup=netdb_lookup
        )
    return load_inetd_conf(path)


def run(args: argparse.Namespace) -> int:
    """Run ``aiosock inetd`` with parsed arguments; return the exit status."""
    try:
        config = _load(args.config)
    except ConfigError as exc:
        print(f"aiosock inetd: {exc}", file=sys.stderr)
        return 1
    if args.check:
        return _check(config)
    print("aiosock inetd: serving is not implemented yet", file=sys.stderr)
    return 1


def _check(config: InetdConfig) -> int:
    for problem in config.problems:
        print(problem, file=sys.stderr)
    count = len(config.problems)
    print(
        f"{config.file}: {len(config.entries)} services, "
        f"{count} problem{'s' if count != 1 else ''}"
    )
    return 1 if count else 0
