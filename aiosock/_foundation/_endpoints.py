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
    ipv6_text,
    is_decimal,
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
        if is_decimal(value):
            return _check_protocol(int(value))
        if not _PROTO_RE.match(value):
            raise AddressError(f"expected a protocol number or name, got {value!r}")
        return value
    raise AddressError(f"'protocol' must be an int or a protocol name (got {value!r})")


@attrs.frozen(repr=False)
class Endpoint:
    """Where to connect, bind or listen: a style, a namespace and an address.

    Build one with :func:`parse_endpoint` (``parse_endpoint("tcp://127.0.0.1:80")``)
    or directly. ``namespace`` is ``None`` while a host name (or the any-address of a
    ``tcp``/``udp`` endpoint) still has to be resolved; ``address`` is ``None`` for a
    raw endpoint, whose ``protocol`` says what it carries.

    Values are normalised as the parser would make them, so that equal endpoints
    compare equal however they were built: a :class:`HostAddress` holding an IP
    literal and a port number becomes the concrete address (and fixes the
    namespace), the any-address with a port number in a fixed namespace becomes
    ``0.0.0.0`` or ``::``, and ``namespace=None`` next to a concrete address takes
    the address's namespace.

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
            address, namespace = self._normalise_host(address)
            object.__setattr__(self, "address", address)
            object.__setattr__(self, "namespace", namespace)
            if isinstance(address, HostAddress):
                return
        if not isinstance(address, InetAddress | Inet6Address | LocalAddress):
            raise AddressError(f"expected an address object, got {address!r}")
        if namespace is None:
            namespace = address.namespace
            object.__setattr__(self, "namespace", namespace)
        if address.namespace is not namespace:
            raise AddressError(
                f"address {address} is in namespace {address.namespace.name}, "
                f"not {namespace.name if namespace else None}"
            )
        if namespace is not Namespace.LOCAL and style is Style.SEQPACKET:
            raise AddressError(
                "sequenced packets are supported in the local namespace only"
            )

    def _normalise_host(self, address: HostAddress) -> tuple[Address, Namespace | None]:
        namespace, style = self.namespace, self.style
        if namespace is Namespace.LOCAL or style is Style.SEQPACKET:
            where = namespace.name if namespace else "no namespace"
            raise AddressError(
                "a host address needs an internet endpoint, "
                f"not {style.name.lower()} in {where}"
            )
        literal = address.literal_namespace
        if literal is not None:
            if namespace not in (None, literal):
                raise AddressError(
                    f"address {address} is in namespace {literal.name}, "
                    f"not {namespace.name}"
                )
            # An IP literal fixes the namespace, as parsing the text would.
            namespace = literal
        if not isinstance(address.port, int) or namespace is None:
            return address, namespace
        if address.is_any:
            host = "0.0.0.0" if namespace is Namespace.INET else "::"
        elif literal is not None:
            host = address.host
        else:
            return address, namespace
        if namespace is Namespace.INET:
            return InetAddress(host, address.port), namespace
        return Inet6Address(host, address.port), namespace

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

    def __repr__(self) -> str:
        return f"Endpoint({str(self)!r})"

    def __str__(self) -> str:
        if self.style is Style.RAW:
            return f"{self.scheme}:{self.protocol}"
        if self.namespace is Namespace.LOCAL:
            path = str(self.address)
            # "unix://x" means "unix:x", so a path that starts with "//" keeps
            # its slashes behind an explicit "//".
            sep = "//" if path.startswith("//") else ""
            return f"{self.scheme}:{sep}{path}"
        address = self.address
        if isinstance(address, HostAddress) and address.is_any:
            return f"{self.scheme}://:{address.port}"
        return f"{self.scheme}://{address}"


def _fail(text: str, position: int, expected: str) -> AddressError:
    got = repr(text[position]) if position < len(text) else "the end"
    return AddressError(f"expected {expected}, got {got}", text=text, position=position)


# Schemes people reach for that the grammar spells differently.
_TLS = "did you mean tcp? TLS is the ssl= argument, not a scheme"
_SCHEME_HINTS = {
    "ip": "did you mean ip4 or ip6?",
    "raw": "did you mean ip4 or ip6?",
    "icmp": "did you mean ip4:icmp?",
    "http": "did you mean tcp?",
    "https": _TLS,
    "ssl": _TLS,
    "tls": _TLS,
    "file": "did you mean unix?",
    "local": "did you mean unix?",
    "dgram": "did you mean udp or unixgram?",
    "seqpacket": "did you mean unixpacket?",
}


def _suggest(text: str, scheme: str) -> str:
    """Return a hint for a wrong or missing scheme, or ``""``."""
    if scheme in _SCHEME_HINTS:
        return f" ({_SCHEME_HINTS[scheme]})"
    if text.startswith(("/", ".")):
        return f" (did you mean {'unix:' + text!r}?)"
    try:
        endpoint = parse_endpoint("tcp://" + text)
    except AddressError:
        return ""
    address = endpoint.address
    if isinstance(address, HostAddress) and not isinstance(address.port, int):
        return ""  # "name:word" is more likely a wrong scheme than a host and port
    return f" (did you mean {'tcp://' + text!r}?)"


def parse_endpoint(text: str) -> Endpoint:
    """Parse an endpoint string such as ``tcp://127.0.0.1:8080`` or ``unix:@name``.

    The grammar (see the "Socket addresses" page of the docs) is
    ``tcp|tcp4|tcp6|udp|udp4|udp6://HOST:PORT`` with ``HOST`` an IPv4 literal,
    ``[IPv6%zone]``, a host name, empty or ``*``, and ``PORT`` a number or service
    name; ``unix|unixgram|unixpacket:PATH`` or ``:@NAME`` for an abstract name; and
    ``ip4|ip6:PROTOCOL`` for raw sockets. Scheme names are case-insensitive.

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
    scheme = match.group().lower() if match else ""
    if scheme not in SCHEMES:
        got = repr(match.group()) if match else repr(text[:1]) if text else "the end"
        raise AddressError(
            f"expected {_EXPECTED_SCHEMES}, got {got}{_suggest(text, scheme)}",
            text=text,
            position=0,
        )
    pos = len(scheme)
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
    abstract = rest.startswith("@")
    if abstract and len(rest) == 1:
        raise _fail(text, pos + 1, "an abstract name after '@'")
    if not abstract and "\0" in rest:
        raise _fail(text, pos + rest.index("\0"), "a path without NUL bytes")
    try:
        address = LocalAddress.abstract(rest[1:]) if abstract else LocalAddress(rest)
    except AddressError as exc:
        raise AddressError(exc.reason, text=text, position=pos) from None
    return Endpoint(style, Namespace.LOCAL, address)


def _parse_raw(text: str, pos: int, namespace: Namespace | None) -> Endpoint:
    rest = text[pos:]
    if not rest:
        raise _fail(text, pos, "a protocol name or number")
    if is_decimal(rest) and int(rest) > 255:
        raise AddressError(
            f"expected a protocol number in 0..255, got {int(rest)}",
            text=text,
            position=pos,
        )
    try:
        protocol = _check_protocol(rest)
    except AddressError as exc:
        raise AddressError(exc.reason, text=text, position=pos) from None
    return Endpoint(Style.RAW, namespace, None, protocol)


def _is_ipv6(text: str) -> bool:
    try:
        ipaddress.IPv6Address(text.partition("%")[0])
    except ValueError:
        return False
    return True


def _parse_inet(
    text: str, pos: int, style: Style, namespace: Namespace | None
) -> Endpoint:
    host_start = pos
    zone: int | str | None = None
    if text.startswith("[", pos):
        close = text.find("]", pos)
        if close < 0:
            raise _fail(text, len(text), "']' to close the IPv6 address")
        host, zone = _parse_ipv6(text, pos + 1, close)
        if namespace is Namespace.INET:
            raise AddressError(
                "expected an IPv4 address or host name for tcp4/udp4, "
                "got an IPv6 address",
                text=text,
                position=host_start,
            )
        colon = close + 1
        if colon >= len(text) or text[colon] != ":":
            raise _fail(text, colon, "':' and a port after ']'")
    else:
        colon = text.find(":", pos)
        last = text.rfind(":", pos)
        if _is_ipv6(text[pos:]) or (last > colon and _is_ipv6(text[pos:last])):
            raise AddressError(
                "expected '[' and ']' around an IPv6 address (as in 'tcp://[::1]:80')",
                text=text,
                position=pos,
            )
        if colon < 0:
            # Point at what stands where the ':' should be ("host 80", "host;80").
            chars = range(pos, len(text))
            bad = next((i for i in chars if not _host_char(text[i], "*")), None)
            raise _fail(text, len(text) if bad is None else bad, "':' and a port")
        host = text[pos:colon]
        _check_host(text, pos, host, namespace)
    port = _parse_port(text, colon + 1)
    if zone is not None:
        host = f"{host}%{zone}"
    try:
        address = HostAddress(host, port)
    except AddressError as exc:  # pragma: no cover - the host was checked above
        raise AddressError(exc.reason, text=text, position=host_start) from None
    return Endpoint(style, namespace, address)


def _host_char(char: str, also: str = "") -> bool:
    return char.isascii() and (char.isalnum() or char in "._-" + also)


def _check_host(text: str, pos: int, host: str, namespace: Namespace | None) -> None:
    """Check an unbracketed host (name, IPv4 literal, empty or ``*``)."""
    if host in ("", "*"):
        return
    for i, char in enumerate(host):
        if not _host_char(char):
            raise AddressError(
                f"expected a host name or IP address, got {host!r}",
                text=text,
                position=pos + i,
            )
    try:
        address = HostAddress(host, 0)
    except AddressError as exc:
        raise AddressError(exc.reason, text=text, position=pos) from None
    if namespace is Namespace.INET6 and address.literal_namespace is Namespace.INET:
        raise AddressError(
            "expected an IPv6 address in '[...]' or a host name for tcp6/udp6, "
            "got an IPv4 address",
            text=text,
            position=pos,
        )


def _parse_ipv6(text: str, start: int, close: int) -> tuple[str, int | str | None]:
    inner = text[start:close]
    addr, sep, zone_text = inner.partition("%")
    try:
        host = ipv6_text(addr)
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
    except AddressError:
        raise AddressError(
            "expected a zone (an interface name of 1 to 15 characters or an "
            f"index) after '%', got {zone_text!r}",
            text=text,
            position=start + len(addr) + 1,
        ) from None
    return host, zone


def _parse_port(text: str, pos: int) -> int | str:
    port_text = text[pos:]
    if not port_text:
        raise _fail(text, pos, "a port number or service name")
    if is_decimal(port_text):
        port = int(port_text)
        if port > 65535:
            raise AddressError(
                f"expected a port in 0..65535, got {port}", text=text, position=pos
            )
        return port
    try:
        return HostAddress("", port_text).port
    except AddressError:
        raise AddressError(
            f"expected a port number or service name, got {port_text!r}",
            text=text,
            position=pos,
        ) from None


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
    return Endpoint(style, None, HostAddress(host, port))


def endpoints_of(values: Iterable[EndpointLike], style: Style) -> list[Endpoint]:
    """Return :func:`as_endpoint` of each value."""
    return [as_endpoint(v, style) for v in values]
