"""Error reports and ``--timeout`` messages shared by ``aiosock connect``/``listen``."""

from __future__ import annotations

import sys

from .._foundation._errors import ResolutionError

__all__ = ["connect_timed_out", "fail", "no_peer"]


def fail(action: str, endpoint: str, exc: BaseException) -> int:
    """Print ``aiosock: ACTION ENDPOINT: what went wrong`` and return exit status 1.

    ``endpoint`` is the text as the user typed it. A resolution error leaves out
    the endpoint it carries (the canonical form, which may spell the scheme
    differently, ``tcp4://`` for ``tcp://``), since the line names it already.
    """
    if isinstance(exc, ResolutionError):
        detail = exc.reason
    else:
        detail = str(exc) or type(exc).__name__
    print(f"aiosock: {action} {endpoint}: {detail}", file=sys.stderr)
    return 1


def _seconds(timeout: float | None) -> str:
    return "?" if timeout is None else f"{timeout:g}"


def connect_timed_out(timeout: float | None) -> TimeoutError:
    """The error for a connection (or socket) not set up within ``--timeout``."""
    return TimeoutError(f"timed out after {_seconds(timeout)} s connecting")


def no_peer(timeout: float | None, what: str = "peer") -> TimeoutError:
    """The error for ``listen`` when no ``what`` came within ``--timeout``."""
    return TimeoutError(f"no {what} within {_seconds(timeout)} s")
