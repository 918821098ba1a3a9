"""``aiosock listen``."""

from ._netcat import register_listen as register

__all__ = ["register"]
