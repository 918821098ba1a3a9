"""Reading inetd.conf files: the parser fed by the services database.

This is the thin I/O shell around the pure :func:`parse_inetd_conf`.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

from .._foundation._errors import ConfigError
from .._foundation._netdb import service_by_name, service_by_port
from ._config import parse_inetd_conf

if TYPE_CHECKING:
    from ._records import InetdConfig

__all__ = ["load_inetd_conf", "netdb_lookup"]


def netdb_lookup(key: str | int, transport: str) -> tuple[str, int] | None:
    """Look a service name or port up in the services database.

    Args:
        key: A service name (or alias), or a port number.
        transport: ``"tcp"`` or ``"udp"``.

    Returns:
        ``(official name, port)``, or ``None`` when the database has no entry.
    """
    if isinstance(key, int):
        found = service_by_port(key, transport)
    else:
        found = service_by_name(key, transport)
    return None if found is None else (found.name, found.port)


def load_inetd_conf(path: str | os.PathLike[str]) -> InetdConfig:
    """Read and parse an inetd.conf file, resolving names through the database.

    Args:
        path: The file to read.

    Returns:
        The parsed configuration, with its problems.

    Raises:
        ConfigError: The file cannot be read (naming the file and the reason).
    """
    name = os.fspath(path)
    try:
        with open(name, "rb") as file:
            data = file.read()
    except OSError as exc:
        reason = f"cannot read the file: {exc.strerror or exc}"
        raise ConfigError(reason, file=name) from exc
    text = data.decode("utf-8", "surrogateescape")
    return parse_inetd_conf(text, filename=name, lookup=netdb_lookup)
