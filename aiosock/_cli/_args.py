"""Argument types shared by the subcommands: refused values name what was wrong."""

from __future__ import annotations

import argparse

__all__ = ["positive", "seconds"]


def positive(text: str) -> int:
    """An integer of at least 1."""
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive number, got {text}")
    return value


def seconds(text: str) -> float:
    """A number of seconds, 0 or more (not NaN)."""
    value = float(text)
    if not value >= 0:
        raise argparse.ArgumentTypeError(f"expected seconds >= 0, got {text}")
    return value
