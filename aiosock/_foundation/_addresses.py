"""Socket addresses: typed, validated, frozen values (the manual's "Socket Addresses").

Strategy: one attrs class per namespace. Each validates in its fields, converts to
and from the tuples/strings the ``socket`` module uses (``to_sockaddr`` and
:func:`from_sockaddr`), and prints itself in the endpoint grammar. Host names and
service names are not addresses: an endpoint that still holds them carries a
:class:`HostAddress` until it is resolved. This module is pure: no I/O, no asyncio.
The one system call it makes is ``if_nametoindex`` when an IPv6 zone given by name
is turned into a ``sockaddr``.
"""

from __future__ import annotations

import ipaddress
import os
import re
import socket
from typing import Any, TypeAlias

import attrs

from ._concepts import Namespace
from ._errors import AddressError

__all__ = [
    "ABSTRACT_NAME_MAX",
    "LOCAL_PATH_MAX",
    "SUN_PATH_MAX",
    "Address",
    "ConcreteAddress",
    "HostAddress",
    "Inet6Address",
    "InetAddress",
    "LocalAddress",
    "from_sockaddr",
]

#: Bytes available in ``struct sockaddr_un``'s ``sun_path`` on Linux.
SUN_PATH_MAX = 108
#: The longest file path, in bytes: ``sun_path`` less the terminating NUL that
#: Python's ``socket`` module writes after it (it refuses a path of 108 bytes).
LOCAL_PATH_MAX = SUN_PATH_MAX - 1
#: The longest abstract name, in bytes after its leading NUL: the NUL takes the
#: first byte of ``sun_path`` and the name has no terminator.
ABSTRACT_NAME_MAX = SUN_PATH_MAX - 1

_SERVICE_RE = re.compile(r"[A-Za-z][A-Za-z0-9._+/-]*\Z")
_HOSTNAME_RE = re.compile(
    r"(?:[A-Za-z0-9_](?:[A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?)"
    r"(?:\.[A-Za-z0-9_](?:[A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?)*\.?\Z"
)
_ZONE_RE = re.compile(r"[A-Za-z0-9_.:-]{1,15}\Z")
_DIGITS_RE = re.compile(r"[0-9]+\Z")


def is_decimal(text: str) -> bool:
    """Return whether ``text`` is a non-empty run of ASCII digits.

    ``str.isdigit`` also accepts other scripts' digits and superscripts, which
    ``int()`` then reads or rejects; the grammar allows ASCII digits only.
    """
    return _DIGITS_RE.match(text) is not None


def _check_port(value: object, name: str = "port") -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise AddressError(f"{name!r} must be an int in 0..65535 (got {value!r})")
    if not 0 <= value <= 65535:
        raise AddressError(f"{name!r} must be in 0..65535 (got {value})")
    return value


def _from_ip(value: object) -> object:
    """Accept ``ipaddress`` objects wherever an IP literal is taken."""
    if isinstance(value, ipaddress.IPv4Address | ipaddress.IPv6Address):
        return str(value)
    return value


def _ipv4(value: object) -> str:
    value = _from_ip(value)
    if not isinstance(value, str):
        raise AddressError(f"'host' must be an IPv4 address string (got {value!r})")
    try:
        return str(ipaddress.IPv4Address(value))
    except ValueError:
        raise AddressError(
            f"expected an IPv4 address such as '127.0.0.1', got {value!r}"
        ) from None


def ipv6_text(text: str) -> str:
    """Return an IPv6 literal in canonical form; ``ValueError`` if it is not one.

    The canonical form is the compressed one, except that an IPv4-mapped address
    keeps its dotted tail (``::ffff:127.0.0.1``), as the kernel, ``inet_ntop`` and
    Python 3.13+ print it.
    """
    address = ipaddress.IPv6Address(text)
    mapped = address.ipv4_mapped
    return address.compressed if mapped is None else f"::ffff:{mapped}"


def _ipv6(value: object) -> str:
    if not isinstance(value, str) or "%" in value:
        raise AddressError(f"'host' must be an IPv6 address string (got {value!r})")
    try:
        return ipv6_text(value)
    except ValueError:
        raise AddressError(
            f"expected an IPv6 address such as '::1', got {value!r}"
        ) from None


def _check_zone(value: object) -> int | str:
    if isinstance(value, bool):
        raise AddressError(
            f"'scope_id' must be an int or an interface name (got {value!r})"
        )
    if isinstance(value, int):
        if not 0 <= value <= 0xFFFFFFFF:
            raise AddressError(f"'scope_id' must be in 0..4294967295 (got {value})")
        return value
    if isinstance(value, str):
        if is_decimal(value):
            return _check_zone(int(value))
        if not _ZONE_RE.match(value):
            raise AddressError(
                f"'scope_id' must be an interface name of 1 to 15 characters "
                f"(got {value!r})"
            )
        return value
    raise AddressError(
        f"'scope_id' must be an int or an interface name (got {value!r})"
    )


def _check_flowinfo(value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise AddressError(f"'flowinfo' must be an int (got {value!r})")
    if not 0 <= value <= 0xFFFFF:
        raise AddressError(f"'flowinfo' must be in 0..1048575 (got {value})")
    return value


@attrs.frozen
class InetAddress:
    """An IPv4 socket address (``struct sockaddr_in``).

    The host may be given as a string or an ``ipaddress.IPv4Address``, as the
    hosts of :class:`Inet6Address` and :class:`HostAddress` may be ``ipaddress``
    objects too; they are stored as strings.

    Attributes:
        host: The address in dotted-quad form; stored canonically.
        port: The port, 0..65535 (0 asks the kernel to choose when binding).
    """

    host: str = attrs.field(converter=_ipv4)
    port: int = attrs.field(validator=lambda _s, _a, v: _check_port(v))

    @property
    def namespace(self) -> Namespace:
        """Always :attr:`Namespace.INET`."""
        return Namespace.INET

    def to_sockaddr(self) -> tuple[str, int]:
        """Return the ``(host, port)`` pair the ``socket`` module takes."""
        return (self.host, self.port)

    def __str__(self) -> str:
        return f"{self.host}:{self.port}"


def _split_zone(host: object) -> tuple[object, object]:
    host = _from_ip(host)
    if isinstance(host, str) and "%" in host:
        addr, _, zone = host.partition("%")
        return addr, zone
    return host, None


@attrs.frozen(init=False)
class Inet6Address:
    """An IPv6 socket address (``struct sockaddr_in6``).

    A zone (``scope_id``) may be an interface index or an interface name such as
    ``"eth0"``; a name is kept as given (so ``str()`` shows it) and converted to an
    index by :meth:`to_sockaddr`. ``Inet6Address("fe80::1%eth0", 80)`` is accepted
    and means the same as ``Inet6Address("fe80::1", 80, scope_id="eth0")``.

    Attributes:
        host: The address without its zone, stored in compressed form
            (an IPv4-mapped address keeps its dotted tail: ``::ffff:127.0.0.1``).
        port: The port, 0..65535.
        flowinfo: The flow label, 0..1048575.
        scope_id: The zone: an interface index or an interface name.
    """

    host: str = attrs.field(converter=_ipv6)
    port: int = attrs.field(validator=lambda _s, _a, v: _check_port(v))
    flowinfo: int = attrs.field(default=0, converter=_check_flowinfo)
    scope_id: int | str = attrs.field(default=0, converter=_check_zone)

    def __init__(
        self,
        host: str | ipaddress.IPv6Address,
        port: int,
        flowinfo: int = 0,
        scope_id: int | str = 0,
    ) -> None:
        addr, zone = _split_zone(host)
        if zone is not None:
            # (Each side normalized first: "%2" and 2, "%02" and "2" agree.)
            if scope_id != 0 and _check_zone(scope_id) != _check_zone(zone):
                raise AddressError(
                    f"the zone in 'host' ({zone!r}) and 'scope_id' "
                    f"({scope_id!r}) differ"
                )
            scope_id = zone  # type: ignore[assignment]
        self.__attrs_init__(addr, port, flowinfo, scope_id)

    @property
    def namespace(self) -> Namespace:
        """Always :attr:`Namespace.INET6`."""
        return Namespace.INET6

    def scope_index(self) -> int:
        """Return the zone as an interface index, converting a name.

        Raises:
            AddressError: The zone names an interface this host does not have.
        """
        if isinstance(self.scope_id, int):
            return self.scope_id
        try:
            return socket.if_nametoindex(self.scope_id)
        except OSError:
            raise AddressError(
                f"no network interface named {self.scope_id!r} for the zone of "
                f"{self.host!r}"
            ) from None

    def to_sockaddr(self) -> tuple[str, int, int, int]:
        """Return the ``(host, port, flowinfo, scope_id)`` tuple ``socket`` takes.

        Raises:
            AddressError: The zone names an interface this host does not have.
        """
        return (self.host, self.port, self.flowinfo, self.scope_index())

    def __str__(self) -> str:
        zone = f"%{self.scope_id}" if self.scope_id != 0 else ""
        return f"[{self.host}{zone}]:{self.port}"


def _local_path(value: object) -> str:
    if isinstance(value, bytes):
        value = os.fsdecode(value)
    elif isinstance(value, os.PathLike):
        value = os.fspath(value)
        if isinstance(value, bytes):
            value = os.fsdecode(value)
    if not isinstance(value, str):
        raise AddressError(f"'path' must be a str, bytes or path (got {value!r})")
    if value.startswith("@"):
        value = "./" + value
    what = "abstract name" if value.startswith("\0") else "local path"
    try:
        encoded = os.fsencode(value)
    except UnicodeEncodeError as exc:
        raise AddressError(
            f"{what} must be encodable in the file system encoding "
            f"(got {value[exc.start : exc.end]!r} at offset {exc.start})"
        ) from None
    if value.startswith("\0") and len(encoded) - 1 > ABSTRACT_NAME_MAX:
        raise AddressError(
            f"abstract name must be at most {ABSTRACT_NAME_MAX} bytes, as sun_path "
            f"holds {SUN_PATH_MAX} with its leading NUL (got {len(encoded) - 1})"
        )
    if not value.startswith("\0") and len(encoded) > LOCAL_PATH_MAX:
        raise AddressError(
            f"local path must be at most {LOCAL_PATH_MAX} bytes, as sun_path "
            f"holds {SUN_PATH_MAX} with the terminating NUL (got {len(encoded)})"
        )
    if not value.startswith("\0") and "\0" in value:
        raise AddressError(f"local path must not contain NUL bytes (got {value!r})")
    return value


@attrs.frozen
class LocalAddress:
    r"""A local-namespace (Unix-domain) socket address (``struct sockaddr_un``).

    ``LocalAddress("/run/app.sock")`` names a socket file;
    ``LocalAddress.abstract("name")`` names a Linux abstract socket (stored with the
    leading NUL byte the kernel uses); ``LocalAddress("")`` is the address of an
    unnamed socket (as ``socketpair()`` makes). A relative path that begins with
    ``@`` is stored as ``./@…`` so that it cannot be read as an abstract name.

    Attributes:
        path: The file path, or ``"\\0" + name`` for an abstract name.
    """

    path: str = attrs.field(converter=_local_path)

    @classmethod
    def abstract(cls, name: str | bytes) -> LocalAddress:
        """Return the address of the abstract socket ``name`` (Linux only)."""
        if isinstance(name, bytes):
            name = os.fsdecode(name)
        if not isinstance(name, str):
            raise AddressError(f"'name' must be a str or bytes (got {name!r})")
        return cls("\0" + name)

    @property
    def namespace(self) -> Namespace:
        """Always :attr:`Namespace.LOCAL`."""
        return Namespace.LOCAL

    @property
    def is_abstract(self) -> bool:
        """Whether this is an abstract name rather than a file."""
        return self.path.startswith("\0")

    @property
    def is_unnamed(self) -> bool:
        """Whether this is the empty address of an unnamed socket."""
        return self.path == ""

    @property
    def name(self) -> str:
        """The abstract name without its NUL byte, or the file path."""
        return self.path[1:] if self.is_abstract else self.path

    def to_sockaddr(self) -> str | bytes:
        """Return the address as the ``socket`` module takes it.

        A file path is a ``str``; an abstract name is ``bytes`` beginning with NUL.
        """
        return os.fsencode(self.path) if self.is_abstract else self.path

    def __str__(self) -> str:
        if self.is_abstract:
            return "@" + self.path[1:]
        return self.path


def _host_name(value: str) -> str:
    if len(value) > 253:
        raise AddressError(
            f"a host name must be at most 253 characters (got {len(value)})"
        )
    for label in value.removesuffix(".").split("."):
        if not 1 <= len(label) <= 63:
            raise AddressError(
                f"each label of a host name must be 1 to 63 characters, got {value!r}"
            )
    if not _HOSTNAME_RE.match(value):
        raise AddressError(f"expected a host name or IP address, got {value!r}")
    return value


def _host_text(value: object) -> str:
    value = _from_ip(value)
    if not isinstance(value, str):
        raise AddressError(f"'host' must be a str (got {value!r})")
    if value in ("", "*"):
        return ""
    try:
        return str(ipaddress.IPv4Address(value))
    except ValueError:
        pass
    addr, zone = _split_zone(value)
    try:
        text = ipv6_text(addr)  # type: ignore[arg-type]
    except ValueError:
        _host_name(value)
        if value.rstrip(".").rpartition(".")[2].isdigit():
            # RFC 1123: a top-level label is never all digits, so this is a
            # malformed IPv4 address (such as '300.1.1.1' or '127.1').
            raise AddressError(
                f"expected an IPv4 address such as '127.0.0.1', got {value!r}"
            ) from None
        return value.lower()
    return text if zone is None else f"{text}%{_check_zone(zone)}"


def _service(value: object) -> int | str:
    if isinstance(value, str):
        if is_decimal(value):
            return _check_port(int(value))
        if not _SERVICE_RE.match(value):
            raise AddressError(f"expected a port number or service name, got {value!r}")
        return value
    return _check_port(value)


@attrs.frozen
class HostAddress:
    """An internet address not yet resolved: a host name and/or a service name.

    Endpoints such as ``tcp://localhost:http`` or ``tcp://:8080`` carry one until
    :meth:`aiosock.Endpoint.resolve` turns them into concrete addresses.

    Attributes:
        host: A host name (lower-cased), an IP literal, or ``""`` for every
            interface (``*`` is accepted and stored as ``""``).
        port: A port number or a service name from the services database.
    """

    host: str = attrs.field(converter=_host_text)
    port: int | str = attrs.field(converter=_service)

    @property
    def namespace(self) -> None:
        """Always ``None``: the namespace is known only after resolution."""
        return None

    @property
    def literal_namespace(self) -> Namespace | None:
        """The namespace of ``host`` when it is an IP literal, else ``None``."""
        if ":" in self.host:
            return Namespace.INET6
        try:
            ipaddress.IPv4Address(self.host)
        except ValueError:
            return None
        return Namespace.INET

    @property
    def is_any(self) -> bool:
        """Whether the host means every interface."""
        return self.host == ""

    def __str__(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{host}:{self.port}"


ConcreteAddress: TypeAlias = InetAddress | Inet6Address | LocalAddress
Address: TypeAlias = InetAddress | Inet6Address | LocalAddress | HostAddress


def _reported_path(path: str) -> LocalAddress:
    """A file path of all 108 bytes of ``sun_path``, as the kernel reports it.

    A program that binds without Python's ``socket`` module can use every byte
    (with no terminating NUL); its address is still read, though aiosock cannot
    bind or connect to it.
    """
    if "\0" in path:
        raise AddressError(f"local path must not contain NUL bytes (got {path!r})")
    address = LocalAddress("")
    object.__setattr__(address, "path", path)
    return address


def from_sockaddr(family: int, sockaddr: Any) -> ConcreteAddress:
    """Build a typed address from a ``(family, sockaddr)`` pair as ``socket`` gives it.

    Args:
        family: ``socket.AF_UNIX``, ``AF_INET`` or ``AF_INET6``.
        sockaddr: What ``getsockname()``, ``getpeername()``, ``accept()`` or
            ``recvfrom()`` returned: a tuple for the internet namespaces; a ``str``
            (file or unnamed) or ``bytes`` (abstract or autobound) for the local one,
            or ``None`` (what ``recvfrom()`` gives for an unnamed local sender).

    Returns:
        The matching :class:`InetAddress`, :class:`Inet6Address` or
        :class:`LocalAddress`.

    Raises:
        AddressError: The family is not supported or the value does not fit it.
    """
    if family == socket.AF_INET:
        if not (isinstance(sockaddr, tuple) and len(sockaddr) == 2):
            raise AddressError(
                f"expected an AF_INET (host, port) tuple, got {sockaddr!r}"
            )
        return InetAddress(*sockaddr)
    if family == socket.AF_INET6:
        if not (isinstance(sockaddr, tuple) and len(sockaddr) in (2, 4)):
            raise AddressError(
                f"expected an AF_INET6 (host, port, flowinfo, scope_id) tuple, "
                f"got {sockaddr!r}"
            )
        host, port, *rest = sockaddr
        flowinfo, scope_id = rest if rest else (0, 0)
        # Python appends "%zone" to link-local hosts; scope_id already holds it.
        host, _zone = _split_zone(host)
        return Inet6Address(host, port, flowinfo, scope_id)  # type: ignore[arg-type]
    if family == socket.AF_UNIX:
        if sockaddr is None:
            return LocalAddress("")
        if isinstance(sockaddr, str) and len(os.fsencode(sockaddr)) == SUN_PATH_MAX:
            return _reported_path(sockaddr)
        if isinstance(sockaddr, bytes | str):
            return LocalAddress(sockaddr)
        raise AddressError(
            f"expected an AF_UNIX str or bytes address, got {sockaddr!r}"
        )
    raise AddressError(f"expected family AF_UNIX, AF_INET or AF_INET6, got {family!r}")
