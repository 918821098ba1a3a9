"""What ``aiosock inetd --check`` verifies beyond the syntax.

Strategy: the checks a running daemon would otherwise only meet at the first
connection: the user and group exist (and can be switched to), the program exists
and is executable, a ``python:`` handler imports. Each failure is a
:class:`~aiosock.ConfigError` naming the file, line and field.
"""

from __future__ import annotations

import os
from collections.abc import Awaitable, Callable, Iterable, Mapping
from typing import TYPE_CHECKING

from .._foundation._concepts import Style
from .._foundation._errors import ConfigError
from ._context import resolve_python
from ._spawn import resolve_user, unsafe_program

if TYPE_CHECKING:
    from ._records import ServiceEntry

__all__ = ["check_entries"]


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
