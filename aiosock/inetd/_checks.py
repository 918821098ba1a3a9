"""What ``aiosock inetd --check`` verifies beyond the syntax.

Strategy: the checks a running daemon would otherwise only meet when it starts a
service or at the first connection: the user and group exist (and can be switched
to), the program exists and is executable, a ``python:`` handler imports and can
take what its service passes, each internet line's hosts resolve to addresses of
its protocol (as :func:`~aiosock.inetd._binding.bind_entry` resolves them), and no
stream line listens where an earlier one already does (the kernel refuses a
second listener on a port whose address a first one covers: ``*`` covers every
address of its family, and ``tcp46`` on ``*`` IPv4's too). Each failure is a
:class:`~aiosock.ConfigError` naming the file, line and field.
"""

from __future__ import annotations

import os
from collections.abc import Awaitable, Callable, Iterable, Mapping
from typing import TYPE_CHECKING

from .._foundation._addresses import Inet6Address, InetAddress
from .._foundation._concepts import Namespace, Style
from .._foundation._errors import AddressError, ConfigError
from ._binding import planned_addresses
from ._context import resolve_python
from ._spawn import resolve_user, unsafe_program

if TYPE_CHECKING:
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


# One address a stream line listens on: (namespace, host, port, v6_only).
_Listening = tuple[Namespace, str, int, bool]


async def check_addresses(entries: Iterable[ServiceEntry]) -> list[ConfigError]:
    """Resolve each internet line's addresses; find stream lines that overlap.

    Resolution is the daemon's own, through the running loop; a line whose
    hosts give no address of its protocol is a problem, as it would fail to
    start. Of two stream lines whose addresses overlap on one port, the later
    one is the problem: the daemon binds in file order, and the kernel would
    refuse it (``EADDRINUSE``).
    """
    problems: list[ConfigError] = []
    listening: list[tuple[_Listening, ServiceEntry]] = []
    for entry in entries:
        if entry.transport == "unix":
            continue
        try:
            planned = await planned_addresses(entry)
        except (AddressError, OSError) as exc:
            problems.append(
                ConfigError(str(exc), file=entry.file, line=entry.line, field="service")
            )
            continue
        if entry.socket_type is not Style.STREAM or not entry.port:
            continue
        mine: list[_Listening] = []
        for endpoint, v6_only in planned:
            address = endpoint.address
            assert isinstance(address, InetAddress | Inet6Address)
            assert endpoint.namespace is not None
            mine.append((endpoint.namespace, address.host, address.port, v6_only))
        clash = next(
            (
                (m, theirs, other)
                for m in mine
                for theirs, other in listening
                if _overlap(m, theirs)
            ),
            None,
        )
        if clash is not None:
            m, theirs, other = clash
            problems.append(
                ConfigError(
                    f"expected an address no earlier line listens on, got "
                    f"{_text(m)}, which overlaps line {other.line}'s "
                    f"{_text(theirs)}",
                    file=entry.file,
                    line=entry.line,
                    field="service",
                )
            )
            continue
        listening.extend((m, entry) for m in mine)
    return problems


_ANY = {Namespace.INET: "0.0.0.0", Namespace.INET6: "::"}


def _overlap(a: _Listening, b: _Listening) -> bool:
    """Whether two stream listeners cannot both be bound (Linux's rules)."""
    if a[2] != b[2]:
        return False
    if a[0] is b[0]:
        return a[1] == b[1] or _ANY[a[0]] in (a[1], b[1])
    # An IPv6 wildcard that is not v6-only takes IPv4's addresses too.
    six = a if a[0] is Namespace.INET6 else b
    return six[1] == "::" and not six[3]


def _text(listening: _Listening) -> str:
    namespace, host, port, _v6_only = listening
    return f"[{host}]:{port}" if namespace is Namespace.INET6 else f"{host}:{port}"
