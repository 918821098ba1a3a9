"""The chapter's two basic concepts: namespaces and communication styles."""

from __future__ import annotations

import enum
import socket

__all__ = ["Namespace", "Style"]


class Namespace(enum.Enum):
    """A socket namespace (the manual's ``PF_*`` / ``AF_*`` families).

    Each member's value is the ``socket.AF_*`` constant it stands for.
    """

    LOCAL = socket.AF_UNIX
    INET = socket.AF_INET
    INET6 = socket.AF_INET6

    @property
    def family(self) -> socket.AddressFamily:
        """The ``socket.AddressFamily`` for this namespace."""
        return socket.AddressFamily(self.value)

    @classmethod
    def from_family(cls, family: int) -> Namespace:
        """Return the namespace of an ``AF_*`` constant.

        Raises:
            ValueError: ``family`` is not one aiosock supports.
        """
        try:
            return cls(family)
        except ValueError:
            raise ValueError(
                f"expected one of AF_UNIX, AF_INET, AF_INET6, got family {family!r}"
            ) from None


class Style(enum.Enum):
    """A communication style (the manual's ``SOCK_*`` types).

    Each member's value is the ``socket.SOCK_*`` constant it stands for.
    """

    STREAM = socket.SOCK_STREAM
    DATAGRAM = socket.SOCK_DGRAM
    SEQPACKET = socket.SOCK_SEQPACKET
    RAW = socket.SOCK_RAW

    @property
    def type(self) -> socket.SocketKind:
        """The ``socket.SocketKind`` for this style."""
        return socket.SocketKind(self.value)

    @classmethod
    def from_type(cls, type_: int) -> Style:
        """Return the style of a ``SOCK_*`` constant, ignoring flags.

        Raises:
            ValueError: ``type_`` is not one aiosock supports.
        """
        base = type_ & ~(
            getattr(socket, "SOCK_NONBLOCK", 0) | getattr(socket, "SOCK_CLOEXEC", 0)
        )
        try:
            return cls(base)
        except ValueError:
            raise ValueError(
                "expected one of SOCK_STREAM, SOCK_DGRAM, SOCK_SEQPACKET, SOCK_RAW, "
                f"got type {type_!r}"
            ) from None
