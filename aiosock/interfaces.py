"""Network interfaces: names and indexes, flags, MTU and addresses.

This module is a facade: it only re-exports names from private modules.
:func:`index` and :func:`name` are the C library's ``if_nametoindex`` and
``if_indextoname``; :func:`list` shows what ``ip addr`` shows.
"""

from ._foundation._errors import InterfaceError
from ._foundation._interfaces import (
    Interface,
    InterfaceAddress,
    InterfaceFlag,
    get,
    index,
    name,
)
from ._foundation._interfaces import list_interfaces as list

__all__ = [
    "Interface",
    "InterfaceAddress",
    "InterfaceError",
    "InterfaceFlag",
    "get",
    "index",
    "list",
    "name",
]
