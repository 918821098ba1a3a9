"""Options at creation: the bridge from ``options={...}`` to the options registry.

Strategy: the registry (``aiosock.options``) validates every value and knows which
options must be set before ``bind``; this module only orders the calls for the
socket-making code of the core.
"""

from __future__ import annotations

import socket
from typing import TYPE_CHECKING, Any

from .._foundation._errors import OptionError

if TYPE_CHECKING:
    from collections.abc import Mapping

__all__ = ["apply_options", "split_options"]

# Until the registry lands: the options the core itself sets by default.
_BASIC: dict[str, tuple[int, int]] = {
    "reuse_address": (socket.SOL_SOCKET, socket.SO_REUSEADDR),
    "reuse_port": (socket.SOL_SOCKET, socket.SO_REUSEPORT),
    "v6_only": (socket.IPPROTO_IPV6, socket.IPV6_V6ONLY),
    "no_delay": (socket.IPPROTO_TCP, socket.TCP_NODELAY),
    "keepalive": (socket.SOL_SOCKET, socket.SO_KEEPALIVE),
}
_BEFORE_BIND = {"reuse_address", "reuse_port", "v6_only"}


def split_options(
    values: Mapping[str, Any],
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Split options into those to set before ``bind`` and those after."""
    for name in values:
        if name not in _BASIC:
            raise OptionError(name, "expected a known option name")
    before = {k: v for k, v in values.items() if k in _BEFORE_BIND}
    after = {k: v for k, v in values.items() if k not in _BEFORE_BIND}
    return before, after


def apply_options(sock: socket.socket, values: Mapping[str, Any]) -> None:
    """Set ``values`` on ``sock`` in order."""
    for name, value in values.items():
        level, number = _BASIC[name]
        if sock.family == socket.AF_UNIX and level != socket.SOL_SOCKET:
            continue
        sock.setsockopt(level, number, int(bool(value)))
