"""Endpoints: a communication style plus an address, and their text grammar.

Strategy: :func:`parse_endpoint` is a small hand-written scanner over the scheme
table below (names follow Go's ``net`` package). It is pure (text in, frozen attrs
value out) and reports every problem as an :class:`AddressError` carrying the text,
the 0-based position and what was expected. ``str(endpoint)`` prints the canonical
form, which parses back to an equal value. Resolution (host and service names) is
the one asynchronous step and lives in ``_resolve``; :meth:`Endpoint.resolve` defers
to it lazily so that this module never imports asyncio.
"""

from __future__ import annotations

import ipaddress
import os
import re
from typing import TYPE_CHECKING, Any

import attrs

from ._addresses import (
    Address,
    HostAddress,
    Inet6Address,
    InetAddress,
    LocalAddress,
    _check_zone,
)
from ._concepts import Namespace, Style
from ._errors import AddressError

if TYPE_CHECKING:
    from collections.abc import Iterable

__all__ = ["SCHEMES", "Endpoint", "EndpointLike", "as_endpoint", "parse_endpoint"]

#: scheme -> (style, namespace or None for "either internet namespace")
SCHEMES: dict[str, tuple[Style, Namespace | None]] = {
    "tcp": (Style.STREAM, None),
    "tcp4": (Style.STREAM, Namespace.INET),
    "tcp6": (Style.STREAM, Namespace.INET6),
    "udp": (Style.DATAGRAM, None),
    "udp4": (Style.DATAGRAM, Namespace.INET),
    "udp6": (Style.DATAGRAM, Namespace.INET6),
    "unix": (Style.STREAM, Namespace.LOCAL),
    "unixgram": (Style.DATAGRAM, Namespace.LOCAL),
    "unixpacket": (Style.SEQPACKET, Namespace.LOCAL),
    "ip4": (Style.RAW, Namespace.INET),
    "ip6": (Style.RAW, Namespace.INET6),
}
_INET_SCHEMES = {"tcp", "tcp4", "tcp6", "udp", "udp4", "udp6"}
_LOCAL_SCHEMES = {"unix", "unixgram", "unixpacket"}
_EXPECTED_SCHEMES = (
    "a scheme (tcp, tcp4, tcp6, udp, udp4, udp6, unix, unixgram, unixpacket, ip4, ip6)"
)
_SCHEME_RE = re.compile(r"[A-Za-z][A-Za-z0-9]*")
_PROTO_RE = re.compile(r"[A-Za-z][A-Za-z0-9._+-]*\Z")
_LOCAL_SCHEME = {
    Style.STREAM: "unix",
    Style.DATAGRAM: "unixgram",
    Style.SEQPACKET: "unixpacket",
}


def _check_protocol(value: object) -> int | str:
    if isinstance(value, bool):
        raise AddressError(
            f"'protocol' must be an int or a protocol name (got {value!r})"
        )
    if isinstance(value, int):
        if not 0 <= value <= 255:
            raise AddressError(f"'protocol' must be in 0..255 (got {value})")
        return value
    if isinstance(value, str):
        if value.isdigit():
            return _check_protocol(int(value))
        if not _PROTO_RE.match(value):
            raise AddressError(f"expected a protocol number or name, got {value!r}")
        return value
    raise AddressError(f"'protocol' must be an int or a protocol name (got {value!r})")


@attrs.frozen
class Endpoint:
    """Where to connect, bind or listen: a style, a namespace and an address.

    Build one with :func:`parse_endpoint` (``parse_endpoint("tcp://127.0.0.1:80")``)
    or directly. ``namespace`` is ``None`` while a host name (or the any-address of a
    ``tcp``/``udp`` endpoint) still has to be resolved; ``address`` is ``None`` for a
    raw endpoint, whose ``protocol`` says what it carries.

    Attributes:
        style: The communication style.
        namespace: The namespace, or ``None`` until resolution picks one.
        address: The address, or ``None`` for raw sockets.
        protocol: The protocol number or name (raw sockets; 0 elsewhere).
    """

    style: Style = attrs.field(validator=attrs.validators.instance_of(Style))
    namespace: Namespace | None = attrs.field(
        validator=attrs.validators.optional(attrs.validators.instance_of(Namespace))
    )
    address: Address | None
    protocol: int | str = attrs.field(default=0, converter=_check_protocol)

    def __attrs_post_init__(self) -> None:
        address, namespace, style = self.address, self.namespace, self.style
        if style is Style.RAW:
            if address is not None:
                raise AddressError("a raw endpoint has no address, only a protocol")
            if namespace not in (Namespace.INET, Namespace.INET6):
                raise AddressError(
                    f"a raw endpoint needs namespace INET or INET6 (got {namespace})"
                )
            return
        if self.protocol != 0:
            raise AddressError(
                f"'protocol' is only for raw endpoints (got {self.protocol!r})"
            )
        if isinstance(address, HostAddress):
            if namespace is Namespace.LOCAL or style is Style.SEQPACKET:
                raise AddressError(
                    "a host address needs an internet endpoint, "
                    f"not {style.name.lower()} in {namespace}"
                )
            literal = address.literal_namespace
            if literal is not None:
                if namespace not in (None, literal):
                    raise AddressError(
                        f"address {address} is in namespace {literal.name}, "
                        f"not {namespace.name}"
                    )
                # An IP literal fixes the namespace, as parsing the text would.
                object.__setattr__(self, "namespace", literal)
            return
        if not isinstance(address, InetAddress | Inet6Address | LocalAddress):
            raise AddressError(f"expected an address object, got {address!r}")
        if address.namespace is not namespace:
            raise AddressError(
                f"address {address} is in namespace {address.namespace.name}, "
                f"not {namespace.name if namespace else None}"
            )
        if namespace is not Namespace.LOCAL and style is Style.SEQPACKET:
            raise AddressError(
                "sequenced packets are supported in the local namespace only"
            )

    @property
    def scheme(self) -> str:
        """The scheme of the canonical text form (``tcp``, ``unixgram``, ...)."""
        if self.style is Style.RAW:
            return "ip4" if self.namespace is Namespace.INET else "ip6"
        if self.namespace is Namespace.LOCAL:
            return _LOCAL_SCHEME[self.style]
        base = "tcp" if self.style is Style.STREAM else "udp"
        if isinstance(self.address, HostAddress) and self.namespace is not None:
            return base + ("4" if self.namespace is Namespace.INET else "6")
        return base

    @property
    def is_resolved(self) -> bool:
        """Whether the endpoint is concrete (no host, service or protocol names)."""
        if self.style is Style.RAW:
            return isinstance(self.protocol, int)
        return not isinstance(self.address, HostAddress)

    async def resolve(self, *, passive: bool = False) -> tuple[Endpoint, ...]:
        """Return the concrete endpoints this one stands for.

        Host names go through the running loop's ``getaddrinfo``; service and
        protocol names through the services and protocols databases. A concrete
        endpoint resolves to itself.

        Args:
            passive: Resolve for binding (``AI_PASSIVE``): an empty host then means
                every interface rather than the loopback interface.

        Returns:
            A non-empty tuple of resolved endpoints, in the resolver's order.

        Raises:
            ResolutionError: The name resolved to nothing usable.
        """
        from ._resolve import resolve_endpoint

        return await resolve_endpoint(self, passive=passive)

    def __str__(self) -> str:
        if self.style is Style.RAW:
            return f"{self.scheme}:{self.protocol}"
        if self.namespace is Namespace.LOCAL:
            return f"{self.scheme}:{self.address}"
        address = self.address
        if isinstance(address, HostAddress) and address.is_any:
            return f"{self.scheme}://:{address.port}"
        return f"{self.scheme}://{address}"


def _fail(text: str, position: int, expected: str) -> AddressError:
    got = repr(text[position]) if position < len(text) else "the end"
    return AddressError(f"expected {expected}, got {got}", text=text, position=position)


def parse_endpoint(text: str) -> Endpoint:
    """Parse an endpoint string such as ``tcp://127.0.0.1:8080`` or ``unix:@name``.

    The grammar (see the "Socket addresses" page of the docs) is
    ``tcp|tcp4|tcp6|udp|udp4|udp6://HOST:PORT`` with ``HOST`` an IPv4 literal,
    ``[IPv6%zone]``, a host name, empty or ``*``, and ``PORT`` a number or service
    name; ``unix|unixgram|unixpacket:PATH`` or ``:@NAME`` for an abstract name; and
    ``ip4|ip6:PROTOCOL`` for raw sockets.

    Args:
        text: The endpoint text.

    Returns:
        The endpoint; ``str()`` of it gives back its canonical form.

    Raises:
        AddressError: The text is malformed; the error names the text, the
            position and what was expected there.
    """
    if not isinstance(text, str):
        raise AddressError(
            f"expected endpoint text as a str, got {type(text).__name__}"
        )
    match = _SCHEME_RE.match(text)
    if match is None:
        raise _fail(text, 0, _EXPECTED_SCHEMES)
    scheme = match.group().lower()
    pos = match.end()
    if scheme not in SCHEMES:
        raise AddressError(
            f"expected {_EXPECTED_SCHEMES}, got {match.group()!r}",
            text=text,
            position=0,
        )
    if pos >= len(text) or text[pos] != ":":
        raise _fail(text, pos, "':' after the scheme")
    pos += 1
    style, namespace = SCHEMES[scheme]
    if scheme in _LOCAL_SCHEMES:
        return _parse_local(text, pos, style)
    if scheme in ("ip4", "ip6"):
        return _parse_raw(text, pos, namespace)
    if not text.startswith("//", pos):
        raise _fail(text, pos, f"'//' after '{scheme}:'")
    return _parse_inet(text, pos + 2, style, namespace)


def _parse_local(text: str, pos: int, style: Style) -> Endpoint:
    if text.startswith("//", pos):
        pos += 2
    rest = text[pos:]
    if not rest:
        raise _fail(text, pos, "a socket file path or '@' and an abstract name")
    try:
        if rest.startswith("@"):
            if len(rest) == 1:
                raise _fail(text, pos + 1, "an abstract name after '@'")
            address = LocalAddress.abstract(rest[1:])
        else:
            address = LocalAddress(rest)
    except AddressError as exc:
        if exc.text is not None:
            raise
        raise AddressError(exc.reason, text=text, position=pos) from None
    return Endpoint(style, Namespace.LOCAL, address)


def _parse_raw(text: str, pos: int, namespace: Namespace | None) -> Endpoint:
    rest = text[pos:]
    if not rest:
        raise _fail(text, pos, "a protocol name or number")
    try:
        protocol = _check_protocol(rest)
    except AddressError as exc:
        raise AddressError(exc.reason, text=text, position=pos) from None
    return Endpoint(Style.RAW, namespace, None, protocol)


def _parse_inet(
    text: str, pos: int, style: Style, namespace: Namespace | None
) -> Endpoint:
    host_start = pos
    if text.startswith("[", pos):
        close = text.find("]", pos)
        if close < 0:
            raise _fail(text, len(text), "']' to close the IPv6 address")
        host, zone = _parse_ipv6(text, pos + 1, close)
        pos = close + 1
        if namespace is Namespace.INET:
            raise AddressError(
                "expected an IPv4 address or host name for tcp4/udp4, "
                "got an IPv6 address",
                text=text,
                position=host_start,
            )
        colon = pos
    else:
        colon = text.rfind(":", pos)
        if colon < 0:
            raise _fail(text, len(text), "':' and a port")
        host = text[pos:colon]
        zone = None
        if ":" in host:
            raise AddressError(
                "expected '[' and ']' around an IPv6 address", text=text, position=pos
            )
        if "/" in host or "?" in host or "#" in host or "@" in host:
            bad = min(i for i, c in enumerate(host) if c in "/?#@")
            raise _fail(text, pos + bad, "a host name or IP address")
    if colon >= len(text) or text[colon] != ":":
        raise _fail(text, colon, "':' and a port")
    port_text = text[colon + 1 :]
    port = _parse_port(text, colon + 1, port_text)
    return _inet_endpoint(text, host_start, style, namespace, host, zone, port)


def _parse_ipv6(text: str, start: int, close: int) -> tuple[str, int | str | None]:
    inner = text[start:close]
    addr, sep, zone_text = inner.partition("%")
    try:
        host = ipaddress.IPv6Address(addr).compressed
    except ValueError:
        raise AddressError(
            f"expected an IPv6 address inside '[...]', got {addr!r}",
            text=text,
            position=start,
        ) from None
    if not sep:
        return host, None
    try:
        zone = _check_zone(zone_text)
    except AddressError as exc:
        raise AddressError(
            exc.reason, text=text, position=start + len(addr) + 1
        ) from None
    return host, zone


def _parse_port(text: str, pos: int, port_text: str) -> int | str:
    if not port_text:
        raise _fail(text, pos, "a port number or service name")
    if port_text.isdigit() and port_text.isascii():
        port = int(port_text)
        if port > 65535:
            raise AddressError(
                f"port must be in 0..65535 (got {port})", text=text, position=pos
            )
        return port
    try:
        return HostAddress("", port_text).port
    except AddressError:
        raise _fail(text, pos, "a port number or service name") from None


def _inet_endpoint(
    text: str,
    pos: int,
    style: Style,
    namespace: Namespace | None,
    host: str,
    zone: int | str | None,
    port: int | str,
) -> Endpoint:
    if zone is not None or ":" in host:
        if isinstance(port, int):
            return Endpoint(
                style, Namespace.INET6, Inet6Address(host, port, 0, zone or 0)
            )
        full = host if zone is None else f"{host}%{zone}"
        return Endpoint(style, Namespace.INET6, HostAddress(full, port))
    if host in ("", "*"):
        if namespace is Namespace.INET and isinstance(port, int):
            return Endpoint(style, namespace, InetAddress("0.0.0.0", port))
        if namespace is Namespace.INET6 and isinstance(port, int):
            return Endpoint(style, namespace, Inet6Address("::", port))
        return Endpoint(style, namespace, HostAddress("", port))
    try:
        ipv4 = str(ipaddress.IPv4Address(host))
    except ValueError:
        ipv4 = None
    if ipv4 is not None:
        if namespace is Namespace.INET6:
            raise AddressError(
                "expected an IPv6 address in '[...]' or a host name for tcp6/udp6, "
                "got an IPv4 address",
                text=text,
                position=pos,
            )
        if isinstance(port, int):
            return Endpoint(style, Namespace.INET, InetAddress(ipv4, port))
        return Endpoint(style, Namespace.INET, HostAddress(ipv4, port))
    try:
        address = HostAddress(host, port)
    except AddressError:
        raise _fail(text, pos, "a host name or IP address") from None
    return Endpoint(style, namespace, address)


EndpointLike = (
    str
    | Endpoint
    | InetAddress
    | Inet6Address
    | LocalAddress
    | HostAddress
    | tuple[Any, ...]
    | os.PathLike[str]
)


def as_endpoint(value: EndpointLike, style: Style = Style.STREAM) -> Endpoint:
    """Turn anything aiosock accepts as an endpoint into an :class:`Endpoint`.

    Args:
        value: Endpoint text, an :class:`Endpoint`, an address object, a
            ``(host, port)`` tuple (internet namespace) or a path-like object
            (local namespace, a socket file).
        style: The style to give to addresses and tuples, which carry none.

    Returns:
        The endpoint.

    Raises:
        AddressError: The value is malformed, or an endpoint text of another style
            was given where ``style`` is required.
    """
    if isinstance(value, Endpoint):
        endpoint = value
    elif isinstance(value, str):
        endpoint = parse_endpoint(value)
    elif isinstance(value, HostAddress):
        endpoint = Endpoint(style, None, value)
    elif isinstance(value, InetAddress | Inet6Address | LocalAddress):
        endpoint = Endpoint(style, value.namespace, value)
    elif isinstance(value, tuple):
        if len(value) != 2:
            raise AddressError(f"expected a (host, port) tuple, got {value!r}")
        host, port = value
        endpoint = _tuple_endpoint(host, port, style)
    elif isinstance(value, os.PathLike):
        endpoint = Endpoint(style, Namespace.LOCAL, LocalAddress(value))
    else:
        raise AddressError(
            "expected an endpoint string, Endpoint, address or (host, port) tuple, "
            f"got {type(value).__name__}"
        )
    if endpoint.style is not style:
        raise AddressError(
            f"expected a {style.name.lower()} endpoint, got {str(endpoint)!r} "
            f"({endpoint.style.name.lower()})"
        )
    return endpoint


def _tuple_endpoint(host: object, port: object, style: Style) -> Endpoint:
    if host is None:
        host = ""
    address = HostAddress(host, port)
    text = f"tcp://{address}"
    parsed = parse_endpoint(text)
    return Endpoint(style, parsed.namespace, parsed.address)


def endpoints_of(values: Iterable[EndpointLike], style: Style) -> list[Endpoint]:
    """Return :func:`as_endpoint` of each value."""
    return [as_endpoint(v, style) for v in values]
