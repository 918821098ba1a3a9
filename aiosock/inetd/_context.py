"""What the services of one daemon share, and small helpers they use."""

from __future__ import annotations

import concurrent.futures
import importlib
import inspect
import subprocess
from collections.abc import Awaitable, Callable, Mapping
from typing import TYPE_CHECKING, Any

import attrs

from ._binding import DEFAULT_BACKLOG
from ._spawn import resolve_user, spawn

if TYPE_CHECKING:
    import ipaddress

    from ._activation import PassedSocket
    from ._records import ServiceEntry

__all__ = ["Context", "format_peer", "resolve_python", "start_program"]


@attrs.define(eq=False)
class Context:
    """What the services of one daemon share.

    Attributes:
        handlers: ``python:NAME`` handlers given by an embedding application.
        default_rate: The ``.max`` of program lines that give none.
        retry_time: Seconds a service stays disabled past its ``.max``.
        backlog: The ``listen()`` backlog.
        inherited: Sockets passed by a service manager, not yet taken.
        protected_ports: The ports of the internal UDP services.
        broadcasts: The broadcast addresses of the local interfaces.
        spawner: The threads that start programs (fork and exec block for
            milliseconds; the loop goes on meanwhile, and starts run in parallel).
    """

    handlers: Mapping[str, Callable[..., Awaitable[object]]] = attrs.Factory(dict)
    default_rate: int = 256
    retry_time: float = 600.0
    backlog: int = DEFAULT_BACKLOG
    inherited: list[PassedSocket] = attrs.Factory(list)
    protected_ports: set[int] = attrs.Factory(set)
    broadcasts: frozenset[ipaddress.IPv4Address] = frozenset()
    spawner: concurrent.futures.Executor | None = None


def resolve_python(
    target: str,
    handlers: Mapping[str, Callable[..., Awaitable[object]]],
    arguments: int = 1,
) -> Callable[..., Awaitable[object]]:
    """Return the handler a ``python:`` server names.

    ``arguments`` is how many it is called with: 1 for a stream service (the
    stream), 3 for a datagram service (the datagram, the address, the replier).

    Raises:
        LookupError: No such name, module or attribute, or it cannot be called
            with ``arguments`` arguments (the message says which).
    """
    if target in handlers:
        found: Any = handlers[target]
    else:
        module_name, sep, attribute = target.partition(":")
        if not sep:
            raise LookupError(f"no handler named {target!r} was given to Inetd")
        try:
            found = importlib.import_module(module_name)
        except ImportError as exc:
            raise LookupError(f"cannot import {module_name!r}: {exc}") from exc
        for part in attribute.split("."):
            try:
                found = getattr(found, part)
            except AttributeError:
                raise LookupError(
                    f"module {module_name!r} has no {attribute!r}"
                ) from None
    if not callable(found):
        raise LookupError(f"expected a callable at {target!r}, got {type(found)}")
    _check_shape(target, found, arguments)
    handler: Callable[..., Awaitable[object]] = found
    return handler


def _check_shape(target: str, handler: Any, arguments: int) -> None:
    """Refuse a handler that cannot be called as the service would call it.

    Only what is certain is refused: a signature that cannot take
    ``arguments`` positional arguments, and a class whose instances cannot be
    awaited. A handler whose signature Python cannot tell (some built-ins) passes.
    """
    taking = "the stream" if arguments == 1 else "(data, address, sock)"
    if isinstance(handler, type) and not hasattr(handler, "__await__"):
        raise LookupError(
            f"expected an async function taking {taking}, got the class {target}"
        )
    try:
        signature = inspect.signature(handler)
    except (TypeError, ValueError):
        return
    try:
        signature.bind(*range(arguments))
    except TypeError as exc:
        bare = signature.replace(
            parameters=[
                p.replace(annotation=p.empty) for p in signature.parameters.values()
            ],
            return_annotation=signature.empty,
        )
        raise LookupError(
            f"expected a handler taking {taking}, got {target}{bare} ({exc})"
        ) from None


def start_program(
    entry: ServiceEntry, fd: int, listen_fds: bool
) -> subprocess.Popen[bytes]:
    """Look the user up and start the program (in a spawning thread)."""
    run_as = resolve_user(entry.user, entry.group)
    return spawn(entry, fd, run_as, listen_fds=listen_fds)


def format_peer(sockaddr: Any) -> str:
    """Return a peer address for the log: ``1.2.3.4:5``, ``[::1]:5``, or a path.

    An unnamed Unix-domain peer (``None`` or empty) is ``unix``.
    """
    if sockaddr is None:
        return "unix"
    if isinstance(sockaddr, tuple) and len(sockaddr) >= 2:
        host = str(sockaddr[0])
        return f"[{host}]:{sockaddr[1]}" if ":" in host else f"{host}:{sockaddr[1]}"
    if isinstance(sockaddr, bytes):
        sockaddr = sockaddr.decode("utf-8", "replace")
    return str(sockaddr) or "unix"
