"""``aiosock connect``."""

from ._netcat import register_connect as register

__all__ = ["register"]
