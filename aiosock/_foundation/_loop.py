"""Event-loop selection: the default asyncio loop or uvloop.

Strategy: aiosock never sets a global event-loop policy and never creates a loop
behind the user's back. :func:`run` builds a loop with a *loop factory* (as
``asyncio.Runner`` takes one) and runs one coroutine on it; everything else in
aiosock uses whatever loop is running. This is the only module that imports
uvloop, and only when it is asked for.
"""

from __future__ import annotations

import asyncio
import functools
import os
import sys
from collections.abc import Callable, Coroutine
from typing import Any, Literal, TypeVar

__all__ = [
    "LOOP_ENV",
    "LoopName",
    "current_loop_name",
    "loop_factory",
    "run",
    "uvloop_available",
]

T = TypeVar("T")

LoopName = Literal["auto", "asyncio", "uvloop"]
LOOP_NAMES: tuple[LoopName, ...] = ("auto", "asyncio", "uvloop")

#: The environment variable that sets the default loop (``auto`` when unset).
LOOP_ENV = "AIOSOCK_LOOP"


def uvloop_available() -> bool:
    """Return whether uvloop can be imported here."""
    try:
        import uvloop  # noqa: F401
    except ImportError:
        return False
    return True


def _check_name(name: str, where: str) -> LoopName:
    for known in LOOP_NAMES:
        if name == known:
            return known
    choices = ", ".join(repr(n) for n in LOOP_NAMES)
    raise ValueError(f"{where}: expected one of {choices}, got {name!r}")


def default_loop_name() -> LoopName:
    """Return the loop named by ``AIOSOCK_LOOP``, or ``"auto"`` when it is unset.

    Raises:
        ValueError: The variable names no known loop.
    """
    value = os.environ.get(LOOP_ENV, "").strip().lower()
    if not value:
        return "auto"
    return _check_name(value, f"environment variable {LOOP_ENV}")


def loop_factory(loop: str | None = None) -> Callable[[], asyncio.AbstractEventLoop]:
    """Return a callable that creates a new event loop of the named kind.

    Args:
        loop: ``"asyncio"``, ``"uvloop"``, ``"auto"`` (uvloop where it imports,
            else asyncio), or ``None`` for the ``AIOSOCK_LOOP`` default.

    Returns:
        A zero-argument loop factory, suitable for ``asyncio.Runner``.

    Raises:
        ValueError: ``loop`` is not a known name.
        RuntimeError: ``"uvloop"`` was asked for but uvloop is not installed,
            or fails to import (the message says which).
    """
    name = default_loop_name() if loop is None else _check_name(loop, "loop")
    if name == "asyncio":
        return asyncio.new_event_loop
    try:
        import uvloop
    except ImportError as exc:
        if name == "auto":
            return asyncio.new_event_loop
        missing = getattr(exc, "name", None) == "uvloop"
        raise RuntimeError(
            "loop 'uvloop' was asked for but uvloop is not installed "
            "(pip install uvloop, or use loop='asyncio')"
            if missing
            else f"loop 'uvloop' was asked for but uvloop failed to import: {exc}"
        ) from exc
    factory: Callable[[], asyncio.AbstractEventLoop] = uvloop.new_event_loop
    return factory


def run(
    coro: Coroutine[Any, Any, T], *, loop: str | None = None, debug: bool | None = None
) -> T:
    """Run a coroutine on a new event loop and return its result, like ``asyncio.run``.

    Args:
        coro: The coroutine to run.
        loop: ``"asyncio"``, ``"uvloop"`` or ``"auto"``; ``None`` (the default)
            takes ``AIOSOCK_LOOP``, and ``"auto"`` when that is unset.
        debug: Run the loop in debug mode (``None`` leaves asyncio's default).

    Returns:
        What ``coro`` returned.

    Raises:
        ValueError: ``loop`` is not a known name.
        RuntimeError: uvloop was asked for but is missing, or a loop is already
            running in this thread.
    """
    # Fail before running anything, and close the coroutine so that a mistake here
    # does not also warn "coroutine ... was never awaited".
    try:
        _check_no_running_loop()
        factory = loop_factory(loop)
    except BaseException:
        coro.close()
        raise
    with asyncio.Runner(debug=debug, loop_factory=factory) as runner:
        return runner.run(coro)


def _check_no_running_loop() -> None:
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return
    raise RuntimeError(
        "aiosock.run() cannot be called from a running event loop; "
        "await the coroutine instead"
    )


def current_loop_name(loop: asyncio.AbstractEventLoop | None = None) -> str:
    """Return ``"uvloop"`` or ``"asyncio"`` for a loop (the running one by default).

    The test is by the loop's module, so it needs no import of uvloop.
    """
    if loop is None:
        loop = asyncio.get_running_loop()
    return "uvloop" if type(loop).__module__.startswith("uvloop") else "asyncio"


#: Whether ``asyncio.get_running_loop()`` makes a system call. Python 3.11 checks
#: the running loop's process id against ``getpid()`` on every call (glibc does
#: not cache it), so ``asyncio.Future()``, which asks for the running loop, costs
#: a system call; 3.12 keeps the running loop in the thread state and does not.
RUNNING_LOOP_CALLS_GETPID: bool = sys.version_info < (3, 12)


def future_factory(
    loop: asyncio.AbstractEventLoop,
) -> Callable[[], asyncio.Future[Any]]:
    """Return the cheapest way to make futures of ``loop``, called while it runs.

    Both loops' own ``create_future`` build ``asyncio.Future(loop=loop)``; on
    uvloop the keyword argument alone costs about 800 machine instructions per
    future (callgrind), more than the future itself. ``asyncio.Future()`` takes
    the running loop instead, which is the same loop for code running on it,
    except on Python 3.11, where finding the running loop is a ``getpid()``
    system call (see :data:`RUNNING_LOOP_CALLS_GETPID`): there the loop is
    bound in a ``functools.partial``, which skips ``create_future``'s own call
    and costs no system call. A loop class that makes its futures some other
    way keeps its own method. :func:`makes_asyncio_futures` tells which it is.
    """
    create_future = type(loop).create_future
    if create_future is asyncio.BaseEventLoop.create_future or (
        type(loop).__module__.startswith("uvloop") and type(loop).__name__ == "Loop"
    ):
        if RUNNING_LOOP_CALLS_GETPID:
            # One per loop, shared by its streams (a partial and its keyword
            # dict are some 300 bytes: too much for every idle connection).
            return per_loop(
                _bound_factories,
                loop,
                lambda: functools.partial(asyncio.Future, loop=loop),
            )
        return asyncio.Future
    return loop.create_future


_FutureFactory = Callable[[], asyncio.Future[Any]]
_bound_factories: dict[asyncio.AbstractEventLoop, _FutureFactory] = {}


def per_loop(
    cache: dict[asyncio.AbstractEventLoop, T],
    loop: asyncio.AbstractEventLoop,
    make: Callable[[], T],
) -> T:
    """Return ``cache``'s object for ``loop``, made by ``make()`` the first time.

    Making one forgets the objects of loops that have closed since.
    """
    value = cache.get(loop)
    if value is None:
        for old in [k for k in cache if k.is_closed()]:
            del cache[old]
        value = cache[loop] = make()
    return value


def makes_asyncio_futures(factory: Callable[[], asyncio.Future[Any]]) -> bool:
    """Whether ``factory`` (from :func:`future_factory`) makes ``asyncio.Future``."""
    return factory is asyncio.Future or (
        isinstance(factory, functools.partial) and factory.func is asyncio.Future
    )
