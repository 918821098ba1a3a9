"""Argument checks shared by the APIs: sizes and durations, named in their errors."""

from __future__ import annotations

__all__ = ["check_count", "check_handler", "check_seconds"]


def check_count(name: str, value: object, *, minimum: int) -> int:
    """Return ``value`` if it is an ``int`` (not a ``bool``) of at least ``minimum``.

    Raises:
        TypeError: ``value`` is not an ``int``, or is a ``bool``.
        ValueError: ``value`` is less than ``minimum``.
    """
    if not isinstance(value, int) or isinstance(value, bool):
        raise TypeError(f"{name!r} must be an int (got {value!r})")
    if value < minimum:
        raise ValueError(f"{name!r} must be at least {minimum} (got {value})")
    return value


def check_seconds(name: str, value: object) -> float:
    """Return ``value`` if it is a number of seconds (``int`` or ``float``, 0 or more).

    Raises:
        TypeError: ``value`` is not a number, or is a ``bool``.
        ValueError: ``value`` is negative or NaN.
    """
    if not isinstance(value, int | float) or isinstance(value, bool):
        raise TypeError(f"{name!r} must be a number of seconds (got {value!r})")
    if not value >= 0:  # (NaN too)
        raise ValueError(f"{name!r} must be 0 or more seconds (got {value!r})")
    return float(value)


def check_handler(handler: object) -> None:
    """Refuse a handler that cannot be called (checked when a server starts).

    Raises:
        TypeError: ``handler`` is not callable.
    """
    if not callable(handler):
        raise TypeError(
            f"'handler' must be an async callable (got {handler!r}, which cannot"
            " be called)"
        )
