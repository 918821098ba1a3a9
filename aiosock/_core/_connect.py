"""Outgoing connections: resolution, happy eyeballs, options, local binding.

Strategy: resolve the endpoint, interleave the address families (RFC 8305), and
race connection attempts staggered by ``happy_eyeballs_delay`` on non-blocking
sockets with ``loop.sock_connect`` (both loops have it; uvloop's
``create_connection`` has no happy eyeballs of its own). The first socket to
connect wins; the others are cancelled and closed. The whole thing, resolution
included, runs under one timeout. The connected socket is then handed to the
loop's ``create_connection``/``create_unix_connection`` with ``sock=``.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
from typing import TYPE_CHECKING, Any

from .._foundation._addresses import HostAddress, LocalAddress
from .._foundation._errors import AddressError, translate_os_error
from ._options import Phase, apply_phase, check_applicable, checked_options

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

    from .._foundation._endpoints import Endpoint

__all__ = ["DEFAULT_HAPPY_EYEBALLS_DELAY", "interleave", "open_connected_socket"]

#: Seconds between connection attempts to successive addresses (RFC 8305).
DEFAULT_HAPPY_EYEBALLS_DELAY = 0.25
#: Back-off (seconds) while a Unix-domain listener's backlog is full.
_LOCAL_RETRY_START = 0.002
_LOCAL_RETRY_MAX = 0.1


def interleave(endpoints: Sequence[Endpoint]) -> list[Endpoint]:
    """Alternate address families, keeping the resolver's order within each."""
    first = endpoints[0].namespace if endpoints else None
    same = [e for e in endpoints if e.namespace is first]
    other = [e for e in endpoints if e.namespace is not first]
    result: list[Endpoint] = []
    for i in range(max(len(same), len(other))):
        if i < len(same):
            result.append(same[i])
        if i < len(other):
            result.append(other[i])
    return result


async def _attempt(
    endpoint: Endpoint,
    local: Endpoint | None,
    options: Mapping[str, Any],
    asked: str | None = None,
) -> socket.socket:
    """Connect to ``endpoint``, one of the addresses ``asked`` resolved to.

    ``asked``: the endpoint as the caller wrote it, when it needed resolving;
    an error then names both (``tcp://localhost:1 (tcp://127.0.0.1:1)``).
    """
    namespace, address = endpoint.namespace, endpoint.address
    if namespace is None or address is None or isinstance(address, HostAddress):
        raise AddressError(f"expected a resolved endpoint, got {endpoint}")
    sock = socket.socket(namespace.family, endpoint.style.type)
    target = str(endpoint) if asked is None else f"{asked} ({endpoint})"
    doing = f"connect to {target}"
    try:
        sock.setblocking(False)
        apply_phase(sock, options, Phase.BEFORE_BIND)
        if local is not None and local.address is not None:
            local_address = local.address
            assert not isinstance(local_address, HostAddress)
            # (A failed bind names the local address, not the target.)
            doing = f"bind {local} to connect to {target}"
            sock.bind(local_address.to_sockaddr())
            doing = f"connect to {target}"
        apply_phase(sock, options, Phase.BEFORE_CONNECT)
        if isinstance(address, LocalAddress):
            await _connect_local(sock, address.to_sockaddr())
        else:
            loop = asyncio.get_running_loop()
            await loop.sock_connect(sock, address.to_sockaddr())
        apply_phase(sock, options, Phase.CONNECTED)
    except OSError as exc:
        sock.close()
        raise translate_os_error(exc, doing) from exc
    except BaseException:
        sock.close()
        raise
    return sock


async def _connect_local(sock: socket.socket, sockaddr: str | bytes) -> None:
    """Connect a non-blocking Unix-domain socket, waiting while the backlog is full.

    A Unix-domain connect() never is "in progress": it succeeds or fails at once,
    and ``EAGAIN`` means the listener's backlog is full and nothing was started.
    The socket is writable all the same, so the loops' ``sock_connect`` would
    take it for connected. Retry instead, backing off, as a blocking connect()
    waits (the caller's timeout bounds it).
    """
    delay = _LOCAL_RETRY_START
    while True:
        try:
            sock.connect(sockaddr)
        except (BlockingIOError, InterruptedError):
            await asyncio.sleep(delay)
            delay = min(delay * 2, _LOCAL_RETRY_MAX)
        else:
            return


async def open_connected_socket(
    endpoint: Endpoint,
    *,
    local: Endpoint | None = None,
    options: Mapping[str, Any] | None = None,
    happy_eyeballs_delay: float = DEFAULT_HAPPY_EYEBALLS_DELAY,
    text: str | None = None,
) -> socket.socket:
    """Return a non-blocking socket connected to ``endpoint``.

    ``text``: the endpoint as the caller wrote it, for error messages.

    Raises:
        OSError: Every attempt failed; the first error is raised (its class kept),
            with the others added as notes.
        AddressError: ``local`` is in none of the namespaces ``endpoint`` resolves
            to.
    """
    values = checked_options(options)
    candidates = interleave(await endpoint.resolve())
    attempts: list[tuple[Endpoint, Endpoint | None]] = []
    # A Unix-domain ``local`` names the client's socket too: a file made that
    # way is the caller's to remove, as after bind() in C.
    locals_ = () if local is None else await local.resolve(passive=True)
    for candidate in candidates:
        bind_to = None
        if local is not None:
            bind_to = next(
                (e for e in locals_ if e.namespace is candidate.namespace), None
            )
            if bind_to is None:
                continue
        attempts.append((candidate, bind_to))
    if not attempts:
        raise AddressError(
            f"expected a local address in the namespace of {endpoint}, got {local}"
        )
    check_applicable(values, [endpoint])
    # (An endpoint that needed resolving is named as written, beside the
    # address that failed.)
    asked = (
        (text or str(endpoint)) if isinstance(endpoint.address, HostAddress) else None
    )
    if len(attempts) == 1:
        target, bind_to = attempts[0]
        return await _attempt(target, bind_to, values, asked)
    return await _race(attempts, values, happy_eyeballs_delay, asked)


async def _race(
    attempts: list[tuple[Endpoint, Endpoint | None]],
    options: Mapping[str, Any],
    delay: float,
    asked: str | None = None,
) -> socket.socket:
    loop = asyncio.get_running_loop()
    pending: set[asyncio.Task[socket.socket]] = set()
    errors: list[BaseException] = []
    winner: socket.socket | None = None
    try:
        for target, bind_to in attempts:
            pending.add(loop.create_task(_attempt(target, bind_to, options, asked)))
            done, _ = await asyncio.wait(
                pending, timeout=delay, return_when=asyncio.FIRST_COMPLETED
            )
            winner = _collect(done, pending, errors)
            if winner is not None:
                return winner
        while pending:
            done, _ = await asyncio.wait(pending, return_when=asyncio.FIRST_COMPLETED)
            winner = _collect(done, pending, errors)
            if winner is not None:
                return winner
    finally:
        for task in pending:
            task.cancel()
        for task in pending:
            with contextlib.suppress(BaseException):
                sock = await task
                sock.close()
    first = errors[0]
    for other in errors[1:]:
        first.add_note(f"also: {other}")
    raise first


def _collect(
    done: set[asyncio.Task[socket.socket]],
    pending: set[asyncio.Task[socket.socket]],
    errors: list[BaseException],
) -> socket.socket | None:
    winner: socket.socket | None = None
    for task in done:
        pending.discard(task)
        exc = task.exception()
        if exc is not None:
            errors.append(exc)
        elif winner is None:
            winner = task.result()
        else:
            task.result().close()
    return winner
