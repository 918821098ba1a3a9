"""``aiosock inetd``: the super-server, or ``--check`` of its configuration.

Strategy: parse the arguments, then either check the file (print every problem,
exit 1 if there is one) or run :func:`aiosock.inetd._runner.run_inetd` on the
chosen loop in the foreground until SIGTERM or SIGINT. The daemon logs to stderr
(or syslog with ``--syslog``): a line per service it listens for, ``ready: ...``
when every service was tried, and a line per connection.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import logging.handlers
import os
import sys

from .._foundation._errors import ConfigError
from .._foundation._loop import LOOP_NAMES, run
from ..inetd import DEFAULT_CONFIG, InetdConfig, load_inetd_conf, parse_inetd_conf
from ..inetd._checks import check_addresses, check_entries
from ..inetd._load import netdb_lookup
from ..inetd._runner import run_inetd
from ._args import positive, seconds

__all__ = ["register"]

_SYSLOG = "/dev/log"


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the ``inetd`` subcommand."""
    parser = subparsers.add_parser(
        "inetd",
        help="run the internet super-server (inetd.conf format)",
        description="Listen on the services of an inetd.conf file and start their "
        "servers on demand. With no --config, serve the internal services on "
        "loopback high ports. SIGHUP reloads the file; SIGTERM and SIGINT stop.",
    )
    parser.add_argument(
        "--config", "-c", metavar="FILE", help="the inetd.conf file to read"
    )
    parser.add_argument(
        "--loop",
        choices=LOOP_NAMES,
        default=argparse.SUPPRESS,
        help="the event loop (also accepted before 'inetd')",
    )
    parser.add_argument(
        "--check",
        action="store_true",
        help="only check the configuration: print each problem, exit 1 if any",
    )
    parser.add_argument(
        "--foreground",
        action="store_true",
        default=True,
        help="stay in the foreground (the default: aiosock inetd never forks "
        "itself into the background; let the service manager supervise it)",
    )
    parser.add_argument(
        "--rate",
        "-R",
        type=positive,
        default=256,
        metavar="N",
        help="the .max of program lines that give none: servers a minute "
        "(default 256, as openbsd-inetd)",
    )
    parser.add_argument(
        "--retry-time",
        type=seconds,
        default=600.0,
        metavar="SECONDS",
        help="how long a service past its .max stays disabled, and how often a "
        "service that cannot bind is tried again (default 600)",
    )
    parser.add_argument(
        "--backlog",
        "-q",
        type=positive,
        default=511,
        metavar="N",
        help="the listen() backlog of stream services (default 511)",
    )
    parser.add_argument(
        "--grace",
        type=seconds,
        default=0.0,
        metavar="SECONDS",
        help="at SIGTERM, how long in-process handlers may finish (default 0)",
    )
    parser.add_argument(
        "-v",
        "--verbose",
        dest="inetd_verbose",
        action="count",
        default=0,
        help="log more; -vv also logs each datagram an internal service does not "
        "answer (also accepted before 'inetd', where the counts add up)",
    )
    parser.add_argument(
        "--quiet",
        action="store_true",
        help="no log line per connection",
    )
    parser.add_argument(
        "--syslog",
        action="store_true",
        help="log to syslog (facility daemon) instead of stderr",
    )
    parser.set_defaults(func=run_command)


def _load(path: str | None) -> InetdConfig:
    if path is None:
        return parse_inetd_conf(
            DEFAULT_CONFIG, filename="<default>", lookup=netdb_lookup
        )
    return load_inetd_conf(path)


def _setup_logging(args: argparse.Namespace) -> None:
    base = logging.getLogger("aiosock.inetd")
    verbose = getattr(args, "verbose", 0) + getattr(args, "inetd_verbose", 0)
    base.setLevel(logging.DEBUG if verbose > 1 else logging.INFO)
    if args.quiet:
        logging.getLogger("aiosock.inetd.connections").setLevel(logging.WARNING)
    handler: logging.Handler
    if args.syslog and not os.path.exists(_SYSLOG):
        print(
            f"aiosock inetd: --syslog: no {_SYSLOG} here, logging to stderr",
            file=sys.stderr,
        )
    if args.syslog and os.path.exists(_SYSLOG):
        handler = logging.handlers.SysLogHandler(
            _SYSLOG, facility=logging.handlers.SysLogHandler.LOG_DAEMON
        )
        handler.setFormatter(
            logging.Formatter("aiosock-inetd[%(process)d]: %(message)s")
        )
        base.addHandler(handler)
        base.propagate = False
        return
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("aiosock inetd: %(message)s"))
    base.addHandler(handler)
    base.propagate = False


def run_command(args: argparse.Namespace) -> int:
    """Run ``aiosock inetd`` with parsed arguments; return the exit status."""
    try:
        config = _load(args.config)
    except ConfigError as exc:
        print(f"aiosock inetd: {exc}", file=sys.stderr)
        return 1
    if args.check:
        return _check(config)
    _setup_logging(args)
    if args.config is None:
        print(
            "aiosock inetd: no --config: serving the internal services on "
            "loopback (echo 17007, discard 17009, daytime 17013, chargen 17019, "
            "time 17037; TCP and UDP, 127.0.0.1 and ::1)",
            file=sys.stderr,
            flush=True,
        )
    source = None if args.config is None else args.config
    return run(
        run_inetd(
            source,
            rate=args.rate,
            retry_time=args.retry_time,
            backlog=args.backlog,
            grace=args.grace,
        ),
        loop=args.loop,
    )


def _check(config: InetdConfig) -> int:
    problems = [
        *config.problems,
        *check_entries(config.entries),
        *asyncio.run(check_addresses(config.entries)),
    ]
    problems.sort(key=lambda problem: problem.line or 0)
    for problem in problems:
        print(problem, file=sys.stderr)
    count = len(problems)
    print(
        f"{config.file}: {len(config.entries)} services, "
        f"{count} problem{'s' if count != 1 else ''}"
    )
    return 1 if count else 0
