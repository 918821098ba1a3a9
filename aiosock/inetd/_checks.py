"""What ``aiosock inetd --check`` verifies beyond the syntax.

Strategy: the checks a running daemon would otherwise only meet when it starts a
service or at the first connection: the user and group exist (and can be switched
to), the program exists and is executable, a ``python:`` handler imports and can
take what its service passes, each internet line's hosts resolve to addresses of
its protocol (as :func:`~aiosock.inetd._binding.bind_entry` resolves them), no
stream line listens where an earlier one already does (the kernel refuses a
second listener on a port whose address a first one covers: ``*`` covers every
address of its family, and ``tcp46`` on ``*`` IPv4's too), and each socket file
is named once, in a directory that exists. Each failure is a
:class:`~aiosock.ConfigError` naming the file, line and field.
"""

from __future__ import annotations

import ipaddress
import os
from collections.abc import Awaitable, Callable, Iterable, Mapping
from typing import TYPE_CHECKING, Any

import attrs

from .._foundation._addresses import Inet6Address, InetAddress
from .._foundation._concepts import Namespace, Style
from .._foundation._errors import AddressError, ConfigError
from ._binding import planned_addresses
from ._context import resolve_python
from ._spawn import resolve_user, unsafe_program

if TYPE_CHECKING:
    from .._foundation._endpoints import Endpoint
    from ._records import ServiceEntry

__all__ = ["check_addresses", "check_entries"]


def check_entries(
    entries: Iterable[ServiceEntry],
    handlers: Mapping[str, Callable[..., Awaitable[object]]] | None = None,
) -> list[ConfigError]:
    """Return one problem per entry that would fail when started."""
    problems: list[ConfigError] = []
    for entry in entries:

        def problem(reason: str, field: str, entry: ServiceEntry = entry) -> None:
            problems.append(
                ConfigError(reason, file=entry.file, line=entry.line, field=field)
            )

        if entry.is_internal:
            continue
        if entry.is_python:
            try:
                resolve_python(
                    entry.python_target,
                    handlers or {},
                    3 if entry.socket_type is Style.DATAGRAM else 1,
                )
            except LookupError as exc:
                problem(str(exc), "server")
            continue
        try:
            resolve_user(entry.user, entry.group)
        except LookupError as exc:
            problem(str(exc), "user")
        if not os.path.isfile(entry.server):
            problem(f"expected a program at {entry.server}, found none", "server")
        elif not os.access(entry.server, os.X_OK):
            problem(f"expected an executable program, got {entry.server}", "server")
        elif (unsafe := unsafe_program(entry.server)) is not None:
            problem(f"refused to run {entry.server}: {unsafe}", "server")
    return problems


@attrs.frozen
class _Listening:
    """One address a stream line listens on, as the kernel compares them.

    An IPv4-mapped IPv6 address on a dual-stack socket is its IPv4 address;
    ``scope`` is the interface index of a zoned IPv6 address (0: none).
    """

    namespace: Namespace
    ip: ipaddress.IPv4Address | ipaddress.IPv6Address
    port: int
    v6_only: bool
    scope: int
    text: str
    line: int


async def check_addresses(entries: Iterable[ServiceEntry]) -> list[ConfigError]:
    """Resolve each internet line's addresses; find stream listeners that overlap.

    Resolution is the daemon's own, through the running loop; a line whose
    hosts give no address of its protocol is a problem, as it would fail to
    start, and so is a zone naming no interface, or an IPv4-mapped address on
    a v6-only socket (``EINVAL``). Of two stream listeners whose addresses
    overlap on one port, in one line or two, the later is the problem: the
    daemon binds in file order, and the kernel would refuse it
    (``EADDRINUSE``).
    """
    problems: list[ConfigError] = []
    listening: list[_Listening] = []
    socket_files: dict[str, int] = {}
    for entry in entries:

        def problem(reason: str, entry: ServiceEntry = entry) -> None:
            problems.append(
                ConfigError(reason, file=entry.file, line=entry.line, field="service")
            )

        if entry.transport == "unix":
            why = _socket_file_problem(entry, socket_files)
            if why is not None:
                problem(why)
            continue

        try:
            planned = await planned_addresses(entry)
            mine = [
                _listening(endpoint, v6_only, entry) for endpoint, v6_only in planned
            ]
        except (AddressError, OSError, ValueError) as exc:
            problem(str(exc))
            continue
        if entry.socket_type is not Style.STREAM or not entry.port:
            continue
        for m in mine:
            clash = next((other for other in listening if _overlap(m, other)), None)
            if clash is not None:
                whose = (
                    f"{clash.text}, another address of this line"
                    if clash.line == entry.line
                    else f"line {clash.line}'s {clash.text}"
                )
                problem(
                    f"expected an address no earlier listener takes, got "
                    f"{m.text}, which overlaps {whose}"
                )
                break
            listening.append(m)
    return problems


def _socket_file_problem(entry: ServiceEntry, seen: dict[str, int]) -> str | None:
    """Why a Unix-domain line's socket file cannot be made, if it cannot.

    A path two lines name is bound by the first (a live socket file is never
    replaced, whatever its type), and a file cannot be made in a directory
    that does not exist. Abstract names (not files) are left alone.
    """
    path = entry.service
    if not path.startswith("/"):
        return None
    first = seen.setdefault(os.path.normpath(path), entry.line)
    if first != entry.line:
        return (
            f"expected a socket file no earlier line binds, got {path}, which "
            f"line {first} binds"
        )
    directory = os.path.dirname(path) or "/"
    if not os.path.isdir(directory):
        return f"expected the directory of {path} to exist, got none"
    return None


def _listening(endpoint: Endpoint, v6_only: bool, entry: ServiceEntry) -> _Listening:
    """What the kernel compares of one planned listener.

    Raises:
        AddressError: A zone that names no interface.
        ValueError: An IPv4-mapped address on a v6-only socket.
    """
    address = endpoint.address
    assert isinstance(address, InetAddress | Inet6Address)
    assert endpoint.namespace is not None
    sockaddr: tuple[Any, ...] = address.to_sockaddr()  # (checks a zone's name)
    port = address.port
    if isinstance(address, InetAddress):
        ip: ipaddress.IPv4Address | ipaddress.IPv6Address = ipaddress.IPv4Address(
            address.host
        )
        text = f"{ip}:{port}"
        return _Listening(Namespace.INET, ip, port, False, 0, text, entry.line)
    six = ipaddress.IPv6Address(address.host)
    scope = int(sockaddr[3])
    text = f"[{six}%{address.scope_id}]:{port}" if scope else f"[{six}]:{port}"
    four = six.ipv4_mapped
    if four is not None:
        if v6_only:
            raise ValueError(
                f"expected an IPv6 address for {entry.protocol}, got ::ffff:{four},"
                " an IPv4-mapped one, which a v6-only socket cannot take"
            )
        text = f"[::ffff:{four}]:{port}"
        return _Listening(Namespace.INET, four, port, False, 0, text, entry.line)
    return _Listening(Namespace.INET6, six, port, v6_only, scope, text, entry.line)


def _overlap(a: _Listening, b: _Listening) -> bool:
    """Whether two stream listeners cannot both be bound (Linux's rules)."""
    if a.port != b.port:
        return False
    if a.namespace is b.namespace:
        if a.scope and b.scope and a.scope != b.scope:
            return False  # bound to different interfaces
        return a.ip == b.ip or a.ip.is_unspecified or b.ip.is_unspecified
    # An IPv6 wildcard that is not v6-only takes IPv4's addresses too.
    six = a if a.namespace is Namespace.INET6 else b
    return six.ip.is_unspecified and not six.v6_only
