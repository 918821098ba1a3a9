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


def check_seconds(
    name: str, value: object, *, none_ok: bool = False, positive: bool = False
) -> None:
    """Refuse ``value`` unless it is a number of seconds (``int`` or ``float``).

    Args:
        name: The argument's name, for the error.
        value: What was given.
        none_ok: ``None`` is accepted too.
        positive: 0 is refused too (else only negative numbers and NaN are).

    Raises:
        ValueError: ``value`` is not such a number (a ``bool`` is not).
    """
    if value is None and none_ok:
        return
    if (
        isinstance(value, int | float)
        and not isinstance(value, bool)
        and (value > 0 if positive else value >= 0)  # (False for NaN)
    ):
        return
    what = (
        "a positive number of seconds" if positive else "a number of seconds, 0 or more"
    )
    allowed = " or None" if none_ok else ""
    raise ValueError(f"{name!r} must be {what}{allowed} (got {value!r})")


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
