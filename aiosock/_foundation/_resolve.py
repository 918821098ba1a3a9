"""Endpoint resolution: host, service and protocol names to concrete endpoints.

Strategy: everything that may block (DNS, NSS) goes through the running loop's
``getaddrinfo`` (the executor on the default loop, libuv's pool on uvloop). Service
and protocol names are looked up in aiosock's services and protocols databases
first (``_hostnames``; a service name they lack is left to ``getaddrinfo``). The
result keeps the resolver's order, without duplicates; an empty result is a
:class:`ResolutionError`, never an empty tuple.
"""

from __future__ import annotations

import asyncio
import socket
from typing import TYPE_CHECKING

from ._addresses import HostAddress, from_sockaddr
from ._concepts import Namespace, Style
from ._errors import ResolutionError
from ._hostnames import ip_literal, protocol_number, service_port

if TYPE_CHECKING:
    from ._endpoints import Endpoint

__all__ = ["resolve_endpoint"]

_PROTO_FOR_STYLE = {
    Style.STREAM: socket.IPPROTO_TCP,
    Style.DATAGRAM: socket.IPPROTO_UDP,
}


async def resolve_endpoint(
    endpoint: Endpoint, *, passive: bool = False
) -> tuple[Endpoint, ...]:
    """Return the concrete endpoints for ``endpoint`` (itself when already concrete).

    Raises:
        ResolutionError: The names resolved to nothing usable.
    """
    from ._endpoints import Endpoint

    if endpoint.style is Style.RAW:
        if isinstance(endpoint.protocol, int):
            return (endpoint,)
        number = await protocol_number(endpoint.protocol, text=str(endpoint))
        return (Endpoint(Style.RAW, endpoint.namespace, None, number),)
    address = endpoint.address
    if not isinstance(address, HostAddress):
        return (endpoint,)
    family = endpoint.namespace.family if endpoint.namespace else socket.AF_UNSPEC
    host: str | None = address.host or None
    flags = socket.AI_PASSIVE if passive and host is None else 0
    port = await service_port(address.port, endpoint.style)
    if host is not None and isinstance(port, int):
        literal = ip_literal(host, port, family)
        if literal is not None:
            return (Endpoint(endpoint.style, literal.namespace, literal),)
    loop = asyncio.get_running_loop()
    try:
        infos = await loop.getaddrinfo(
            host,
            port,
            family=family,
            type=endpoint.style.type,
            proto=_PROTO_FOR_STYLE.get(endpoint.style, 0),
            flags=flags,
        )
    except socket.gaierror as exc:
        raise ResolutionError(
            f"cannot resolve {address}: {exc.strerror}",
            text=str(endpoint),
            errno_=exc.errno,
        ) from exc
    seen: dict[Endpoint, None] = {}
    for family_, _type, _proto, _canon, sockaddr in infos:
        concrete = from_sockaddr(family_, sockaddr)
        seen.setdefault(
            Endpoint(endpoint.style, Namespace.from_family(family_), concrete), None
        )
    if not seen:
        raise ResolutionError(f"{address} resolved to no address", text=str(endpoint))
    return tuple(seen)
