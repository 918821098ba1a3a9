"""Look-ups in the services, protocols, networks and hosts databases.

Strategy: each database file is parsed once by the pure parsers of
``_netdb_parse`` (which read it exactly as the GNU C library does) and indexed
with the C library's first-match rules: the first entry whose name or alias
matches wins (case-sensitively, except network names, which the C library
compares ignoring ASCII case). Before each look-up one ``stat`` compares the
file's device, inode, size, modification and change times with those of the
parsed copy, and the file is read again when any differs. A file that is missing
or unreadable is an empty database, as it is to the C library. The files are
local and small (a few milliseconds to parse), so the look-ups are synchronous;
the ``async`` helpers in ``_hostnames`` call them through the executor.
"""

from __future__ import annotations

import ipaddress
import os
import threading
from collections.abc import Callable, Hashable, Iterator
from typing import Any, Generic, TypeAlias, TypeVar

import attrs

from ._netdb_parse import (
    network_number,
    parse_hosts,
    parse_networks,
    parse_protocols,
    parse_services,
)
from ._netdb_records import Host, Network, ParseResult, Protocol, Service

__all__ = [
    "DEFAULT_PATHS",
    "PathLike",
    "hosts",
    "load_hosts",
    "load_networks",
    "load_protocols",
    "load_services",
    "network_by_address",
    "network_by_name",
    "networks",
    "protocol_by_name",
    "protocol_by_number",
    "protocols",
    "service_by_name",
    "service_by_port",
    "services",
]

#: The files each database is read from unless a ``path`` is given.
DEFAULT_PATHS: dict[str, str] = {
    "services": "/etc/services",
    "protocols": "/etc/protocols",
    "networks": "/etc/networks",
    "hosts": "/etc/hosts",
}

PathLike: TypeAlias = str | os.PathLike[str]
T = TypeVar("T")
_Index: TypeAlias = dict[Hashable, Any]
_ASCII_LOWER = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ", "abcdefghijklmnopqrstuvwxyz")


@attrs.frozen
class _Snapshot(Generic[T]):
    signature: tuple[int, ...] | None
    result: ParseResult[T]
    index: _Index
    error: OSError | None = None


def _signature(st: os.stat_result) -> tuple[int, ...]:
    return (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns)


class _Database(Generic[T]):
    """One database: its parser, its index builder, and a parsed copy per path."""

    def __init__(
        self,
        name: str,
        parse: Callable[[str], ParseResult[T]],
        build_index: Callable[[tuple[T, ...]], _Index],
    ) -> None:
        self.name = name
        self._parse = parse
        self._build_index = build_index
        self._snapshots: dict[str, _Snapshot[T]] = {}
        self._lock = threading.Lock()

    def snapshot(self, path: PathLike | None) -> _Snapshot[T]:
        """Return the parsed copy of the file at ``path``, re-reading it if changed."""
        key = DEFAULT_PATHS[self.name] if path is None else os.fspath(path)
        try:
            signature: tuple[int, ...] | None = _signature(os.stat(key))
        except OSError:
            signature = None
        cached = self._snapshots.get(key)
        if cached is not None and cached.signature == signature:
            return cached
        with self._lock:
            cached = self._snapshots.get(key)
            if cached is None or cached.signature != signature:
                cached = self._snapshots[key] = self._read(key)
            return cached

    def _read(self, path: str) -> _Snapshot[T]:
        try:
            with open(path, "rb") as file:
                signature = _signature(os.fstat(file.fileno()))
                data = file.read()
        except OSError as exc:
            return _Snapshot(None, ParseResult(), {}, exc)
        result = self._parse(data.decode("utf-8", "surrogateescape"))
        return _Snapshot(signature, result, self._build_index(result.entries))

    def load(self, path: PathLike | None) -> ParseResult[T]:
        snapshot = self.snapshot(path)
        if snapshot.error is not None:
            raise snapshot.error
        return snapshot.result


def _first(index: _Index, key: Hashable, entry: object) -> None:
    index.setdefault(key, entry)


def _service_index(entries: tuple[Service, ...]) -> _Index:
    index: _Index = {}
    for entry in entries:
        for name in (entry.name, *entry.aliases):
            _first(index, ("name", name, entry.protocol), entry)
            _first(index, ("name", name, None), entry)
        _first(index, ("port", entry.port, entry.protocol), entry)
        _first(index, ("port", entry.port, None), entry)
    return index


def _protocol_index(entries: tuple[Protocol, ...]) -> _Index:
    index: _Index = {}
    for entry in entries:
        for name in (entry.name, *entry.aliases):
            _first(index, ("name", name), entry)
        _first(index, ("number", entry.number), entry)
    return index


def _network_index(entries: tuple[Network, ...]) -> _Index:
    index: _Index = {}
    for entry in entries:
        for name in (entry.name, *entry.aliases):
            _first(index, ("name", name.translate(_ASCII_LOWER)), entry)
        _first(index, ("number", entry.number), entry)
    return index


_SERVICES = _Database("services", parse_services, _service_index)
_PROTOCOLS = _Database("protocols", parse_protocols, _protocol_index)
_NETWORKS = _Database("networks", parse_networks, _network_index)
_HOSTS = _Database("hosts", parse_hosts, lambda _entries: {})


def _check_str(what: str, value: object, *, optional: bool = False) -> None:
    if optional and value is None:
        return
    if not isinstance(value, str):
        kind = "a str or None" if optional else "a str"
        raise TypeError(f"{what!r} must be {kind} (got {value!r})")


def _check_int(what: str, value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{what!r} must be an int (got {value!r})")
    return value


def service_by_name(
    name: str, protocol: str | None = None, *, path: PathLike | None = None
) -> Service | None:
    """Return the first service called ``name`` (``getservbyname``).

    Args:
        name: The service's official name or one of its aliases (case matters).
        protocol: Only entries for this protocol (``"tcp"``, ``"udp"``, ...);
            ``None`` for any.
        path: The services file (default ``/etc/services``).

    Returns:
        The first matching entry in file order, or ``None``.

    Raises:
        TypeError: ``name`` or ``protocol`` is not a ``str``.
    """
    _check_str("name", name)
    _check_str("protocol", protocol, optional=True)
    found: Service | None = _SERVICES.snapshot(path).index.get(("name", name, protocol))
    return found


def service_by_port(
    port: int, protocol: str | None = None, *, path: PathLike | None = None
) -> Service | None:
    """Return the first service on ``port`` (``getservbyport``).

    Args:
        port: The port number in host byte order, 0..65535.
        protocol: Only entries for this protocol; ``None`` for any.
        path: The services file (default ``/etc/services``).

    Returns:
        The first matching entry in file order, or ``None``.

    Raises:
        TypeError: ``port`` is not an int or ``protocol`` not a ``str``.
        ValueError: ``port`` is outside 0..65535.
    """
    if not 0 <= _check_int("port", port) <= 65535:
        raise ValueError(f"'port' must be in 0..65535 (got {port})")
    _check_str("protocol", protocol, optional=True)
    found: Service | None = _SERVICES.snapshot(path).index.get(("port", port, protocol))
    return found


def protocol_by_name(name: str, *, path: PathLike | None = None) -> Protocol | None:
    """Return the first protocol called ``name`` (``getprotobyname``).

    Args:
        name: The official name or an alias (case matters: ``"TCP"`` is an alias
            in the usual file, ``"Tcp"`` is nothing).
        path: The protocols file (default ``/etc/protocols``).

    Returns:
        The first matching entry in file order, or ``None``.

    Raises:
        TypeError: ``name`` is not a ``str``.
    """
    _check_str("name", name)
    found: Protocol | None = _PROTOCOLS.snapshot(path).index.get(("name", name))
    return found


def protocol_by_number(number: int, *, path: PathLike | None = None) -> Protocol | None:
    """Return the first protocol numbered ``number`` (``getprotobynumber``).

    Args:
        number: The protocol number, such as ``6`` for TCP.
        path: The protocols file (default ``/etc/protocols``).

    Returns:
        The first matching entry in file order, or ``None``.

    Raises:
        TypeError: ``number`` is not an int.
    """
    _check_int("number", number)
    found: Protocol | None = _PROTOCOLS.snapshot(path).index.get(("number", number))
    return found


def network_by_name(name: str, *, path: PathLike | None = None) -> Network | None:
    """Return the first network called ``name`` (``getnetbyname``).

    Names are compared ignoring ASCII case, as the C library compares them.

    Args:
        name: The official name or an alias.
        path: The networks file (default ``/etc/networks``).

    Returns:
        The first matching entry in file order, or ``None``.

    Raises:
        TypeError: ``name`` is not a ``str``.
    """
    _check_str("name", name)
    key = ("name", name.translate(_ASCII_LOWER))
    found: Network | None = _NETWORKS.snapshot(path).index.get(key)
    return found


def network_by_address(
    address: int | str | ipaddress.IPv4Address, *, path: PathLike | None = None
) -> Network | None:
    """Return the first network with this number (``getnetbyaddr`` for ``AF_INET``).

    Args:
        address: The network number: an :class:`ipaddress.IPv4Address`, an int in
            host byte order (``netent.n_net``), or text read as the networks file
            reads it (``"127"`` and ``"127.0.0.0"`` are the same network).
        path: The networks file (default ``/etc/networks``).

    Returns:
        The first matching entry in file order, or ``None``.

    Raises:
        TypeError: ``address`` is none of the types above.
        ValueError: ``address`` is not a network number.
    """
    if isinstance(address, ipaddress.IPv4Address):
        number: int | None = int(address)
    elif isinstance(address, str):
        number = network_number(address)
        if number is None:
            raise ValueError(
                f"expected a network number such as '10.1' or '127.0.0.0', "
                f"got {address!r}"
            )
    else:
        number = _check_int("address", address)
        if not 0 <= number <= 0xFFFFFFFF:
            raise ValueError(f"'address' must be in 0..4294967295 (got {number})")
    found: Network | None = _NETWORKS.snapshot(path).index.get(("number", number))
    return found


def services(*, path: PathLike | None = None) -> Iterator[Service]:
    """Iterate over the services database in file order (``getservent``)."""
    return iter(_SERVICES.snapshot(path).result.entries)


def protocols(*, path: PathLike | None = None) -> Iterator[Protocol]:
    """Iterate over the protocols database in file order (``getprotoent``)."""
    return iter(_PROTOCOLS.snapshot(path).result.entries)


def networks(*, path: PathLike | None = None) -> Iterator[Network]:
    """Iterate over the networks database in file order (``getnetent``)."""
    return iter(_NETWORKS.snapshot(path).result.entries)


def hosts(*, path: PathLike | None = None) -> Iterator[Host]:
    """Iterate over the hosts database in file order, one entry per line.

    Each line is read as ``getaddrinfo`` reads it, IPv6 lines included (the C
    library's ``gethostent`` shows only IPv4 and turns ``::1`` into
    ``127.0.0.1``).
    """
    return iter(_HOSTS.snapshot(path).result.entries)


def load_services(path: PathLike | None = None) -> ParseResult[Service]:
    """Return the parsed services file, problems included.

    Raises:
        OSError: The file cannot be read.
    """
    return _SERVICES.load(path)


def load_protocols(path: PathLike | None = None) -> ParseResult[Protocol]:
    """Return the parsed protocols file, problems included.

    Raises:
        OSError: The file cannot be read.
    """
    return _PROTOCOLS.load(path)


def load_networks(path: PathLike | None = None) -> ParseResult[Network]:
    """Return the parsed networks file, problems included.

    Raises:
        OSError: The file cannot be read.
    """
    return _NETWORKS.load(path)


def load_hosts(path: PathLike | None = None) -> ParseResult[Host]:
    """Return the parsed hosts file, problems included.

    Raises:
        OSError: The file cannot be read.
    """
    return _HOSTS.load(path)
