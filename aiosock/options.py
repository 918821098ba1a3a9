"""Socket options by name, typed and validated: the manual's "Socket Options".

This module is a public facade: it only re-exports names from private modules.

Example::

    from aiosock import options

    options.set(sock, no_delay=True, keepalive=True, keepalive_idle=60)
    options.get(sock, "receive_buffer")
    options.snapshot(sock)
"""

from ._foundation._credentials import Credentials
from ._foundation._optioncodecs import Linger
from ._foundation._options import (
    SocketLike,
    apply_options,
    describe,
    get,
    names,
    registry,
    set,
    snapshot,
    validate_options,
)
from ._foundation._optionsview import OptionsView
from ._foundation._optiontable import Option, Phase
from ._foundation._tcpinfo import TcpInfo, TcpState

__all__ = [
    "Credentials",
    "Linger",
    "Option",
    "OptionsView",
    "Phase",
    "SocketLike",
    "TcpInfo",
    "TcpState",
    "apply_options",
    "describe",
    "get",
    "names",
    "registry",
    "set",
    "snapshot",
    "validate_options",
]
