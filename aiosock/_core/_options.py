"""Options at creation: ``options={...}`` of the core's functions, in the right order.

Strategy: the registry (``aiosock.options``) validates values and knows each
option's phase. This module adds the core's defaults and applies the phases
around ``bind``/``listen``/``connect``. A mapping shared by endpoints of several
kinds (a server on TCP and on a Unix path) is checked once up front, so a typo
always fails, and then applied where it fits (``strict=False``).
"""

from __future__ import annotations

import socket
from typing import TYPE_CHECKING, Any

from .._foundation._concepts import Namespace, Style
from .._foundation._errors import OptionError
from .._foundation._options import apply_options, validate_options
from .._foundation._optiontable import Phase

if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping

    from .._foundation._endpoints import Endpoint

__all__ = [
    "Phase",
    "accepted_options",
    "apply_accepted",
    "apply_phase",
    "check_applicable",
    "checked_options",
    "listener_defaults",
    "wants_no_delay",
]


def checked_options(options: Mapping[str, Any] | None) -> dict[str, Any]:
    """Validate ``options`` before any socket is made (typos fail first)."""
    return validate_options(options)


#: Options of a listening (or binding) socket only, never set on the sockets
#: it accepts: the rest are. (Linux gives an accepted Unix-domain socket none
#: of its listener's options, and an accepted TCP socket not all: not
#: ``SO_PRIORITY``.)
LISTENER_ONLY: frozenset[str] = frozenset(
    {
        "reuse_address",
        "reuse_port",
        "bind_to_device",
        "transparent",
        "freebind",
        "bind_address_no_port",
        "v6_only",
        "fast_open",
        "fast_open_connect",
        "defer_accept",
        "max_segment",
    }
)


def check_applicable(
    options: Mapping[str, Any] | None, endpoints: Iterable[Endpoint]
) -> None:
    """Refuse an option that applies to none of the sockets a call makes.

    One ``options`` mapping may serve endpoints of several kinds (a TCP and a
    Unix endpoint of one server): each option is set where it applies and
    skipped elsewhere. But one that applies nowhere (``no_delay`` for a Unix
    server) would be a silent no-op: an :class:`~aiosock.OptionError`, as
    :func:`aiosock.options.set` raises for that kind of socket.

    ``endpoints`` are judged as written, before resolution: one whose family
    the resolver picks (``tcp://name``) may become either, so an IPv6 option
    there is not refused because a name happens to resolve to IPv4 only.

    Raises:
        OptionError: An option applies to none of ``endpoints``' kinds.
    """
    if not options:
        return
    kinds: set[tuple[Namespace | None, Style]] = set()
    for endpoint in endpoints:
        if endpoint.namespace is None:
            kinds.add((Namespace.INET, endpoint.style))
            kinds.add((Namespace.INET6, endpoint.style))
        else:
            kinds.add((endpoint.namespace, endpoint.style))
    if not kinds:
        return
    for name, value in options.items():
        refusal: OptionError | None = None
        for namespace, style in sorted(kinds, key=repr):
            try:
                validate_options({name: value}, namespace=namespace, style=style)
            except OptionError as exc:
                refusal = exc
            else:
                break
        else:
            assert refusal is not None
            raise refusal


def accepted_options(options: Mapping[str, Any] | None) -> dict[str, Any]:
    """The checked options a server sets on each socket it accepts.

    All but :data:`LISTENER_ONLY`. Empty when there are none, so a server
    given only listener options does nothing more per connection.
    """
    values = checked_options(options)
    return {name: v for name, v in values.items() if name not in LISTENER_ONLY}


def apply_accepted(sock: socket.socket, options: Mapping[str, Any]) -> None:
    """Set :func:`accepted_options` on an accepted socket, where they apply."""
    if options:
        apply_options(sock, options, strict=False)


def listener_defaults(family: int, options: Mapping[str, Any]) -> dict[str, Any]:
    """Add the defaults of a listening socket under the user's options.

    ``SO_REUSEADDR`` on internet sockets (as asyncio's ``create_server`` does) and
    ``IPV6_V6ONLY`` on IPv6 ones, so that IPv4 and IPv6 can share a port.
    """
    values: dict[str, Any] = {}
    if family in (socket.AF_INET, socket.AF_INET6):
        values["reuse_address"] = True
    if family == socket.AF_INET6:
        values["v6_only"] = True
    values.update(options)
    return values


def wants_no_delay(options: Mapping[str, Any] | None) -> bool:
    """Whether TCP connections get ``TCP_NODELAY``: yes, unless ``options`` say no.

    asyncio's and uvloop's own TCP transports turn Nagle's algorithm off, so
    aiosock's do on both loops too; ``{"no_delay": False}`` keeps it on.
    """
    return bool(checked_options(options).get("no_delay", True))


def apply_phase(sock: socket.socket, options: Mapping[str, Any], phase: Phase) -> None:
    """Set the options of ``phase`` that apply to this kind of socket."""
    if options:
        apply_options(sock, options, phase=phase, strict=False)
