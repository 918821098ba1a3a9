"""Database entries and parse results: the values the netdb parsers produce.

Strategy: one frozen attrs class per database (``struct servent``, ``protoent``,
``netent``, ``hostent``), validated so that ``str(entry)`` is always a line that
parses back to an equal entry. :class:`Problem` and :class:`ParseResult` are the
reporting pattern every aiosock parser of a line-oriented file shares: a parser
never raises on a bad line; it skips the line, as the C library does, and says so.
This module is pure: no I/O, no asyncio.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable, Iterator
from typing import Generic, TypeAlias, TypeVar

import attrs

from ._errors import ConfigError

__all__ = [
    "Host",
    "IPAddress",
    "Network",
    "ParseResult",
    "Problem",
    "Protocol",
    "Service",
]

IPAddress: TypeAlias = ipaddress.IPv4Address | ipaddress.IPv6Address

# The C library splits fields at isspace() in the "C" locale: exactly these six.
_FIELD_RE = re.compile(r"[^ \t\n\v\f\r#\0]+\Z")

T = TypeVar("T")


def _check_field(what: str, value: object, *, empty: bool = False) -> None:
    if not isinstance(value, str):
        raise TypeError(f"{what!r} must be a str (got {value!r})")
    if value == "" and empty:
        return
    if not _FIELD_RE.match(value):
        raise ValueError(
            f"{what!r} must be a non-empty word without spaces, '#' or NUL "
            f"(got {value!r})"
        )


def _name(_inst: object, attribute: attrs.Attribute[str], value: str) -> None:
    _check_field(attribute.name, value)


def _aliases(value: Iterable[str]) -> tuple[str, ...]:
    if isinstance(value, str):
        raise TypeError(f"'aliases' must be a sequence of str, not a str ({value!r})")
    aliases = tuple(value)
    for alias in aliases:
        _check_field("alias", alias)
    return aliases


def _int_in(what: str, value: object, low: int, high: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{what!r} must be an int (got {value!r})")
    if not low <= value <= high:
        raise ValueError(f"{what!r} must be in {low}..{high} (got {value})")
    return value


def _port(value: object) -> int:
    return _int_in("port", value, 0, 65535)


def _number(value: object) -> int:
    return _int_in("number", value, -(2**31), 2**31 - 1)


def _line(*fields: str) -> str:
    return "\t".join(field for field in fields if field)


@attrs.frozen
class Service:
    """An entry of the services database (``struct servent``, ``/etc/services``).

    Attributes:
        name: The official name, such as ``"http"``.
        port: The port number, 0..65535, in host byte order.
        protocol: The protocol, such as ``"tcp"`` or ``"udp"`` (the C library also
            accepts a line without one; the protocol is then ``""``).
        aliases: Other names for the service, in file order.
    """

    name: str = attrs.field(validator=_name)
    port: int = attrs.field(converter=_port)
    protocol: str = attrs.field()
    aliases: tuple[str, ...] = attrs.field(default=(), converter=_aliases)

    @protocol.validator
    def _check_protocol(self, _attribute: object, value: str) -> None:
        _check_field("protocol", value, empty=True)
        if value.startswith("/"):
            raise ValueError(f"'protocol' must not start with '/' (got {value!r})")

    def __str__(self) -> str:
        return _line(self.name, f"{self.port}/{self.protocol}", *self.aliases)


@attrs.frozen
class Protocol:
    """An entry of the protocols database (``struct protoent``, ``/etc/protocols``).

    Attributes:
        name: The official name, such as ``"tcp"``.
        number: The protocol number as the IP header carries it (``6`` for TCP;
            Linux also lists numbers above 255 that only the kernel uses).
        aliases: Other names, in file order.
    """

    name: str = attrs.field(validator=_name)
    number: int = attrs.field(converter=_number)
    aliases: tuple[str, ...] = attrs.field(default=(), converter=_aliases)

    def __str__(self) -> str:
        # (A negative number is written as the C library reads it back: -1 is
        # 4294967295 in the file, which it skips when written "-1".)
        return _line(self.name, str(self.number % 2**32), *self.aliases)


def _ipv4(value: object) -> ipaddress.IPv4Address:
    if isinstance(value, bool):
        raise TypeError(f"'address' must be an IPv4 address or an int (got {value!r})")
    try:
        return ipaddress.IPv4Address(value)
    except (ValueError, TypeError):
        raise ValueError(
            f"'address' must be an IPv4 address or an int in 0..4294967295 "
            f"(got {value!r})"
        ) from None


@attrs.frozen
class Network:
    """An entry of the networks database (``struct netent``, ``/etc/networks``).

    Attributes:
        name: The official name, such as ``"loopback"``.
        address: The network number as an IPv4 address, with the C library's
            reading of short numbers: ``127`` in the file means ``127.0.0.0``.
        aliases: Other names, in file order.
    """

    name: str = attrs.field(validator=_name)
    address: ipaddress.IPv4Address = attrs.field(converter=_ipv4)
    aliases: tuple[str, ...] = attrs.field(default=(), converter=_aliases)

    @property
    def number(self) -> int:
        """The network number as an int in host byte order (``netent.n_net``)."""
        return int(self.address)

    def __str__(self) -> str:
        return _line(self.name, str(self.address), *self.aliases)


def _ip(value: object) -> IPAddress:
    if isinstance(value, ipaddress.IPv4Address | ipaddress.IPv6Address):
        return value
    if isinstance(value, str) and "%" not in value:
        try:
            return ipaddress.ip_address(value)
        except ValueError:
            pass
    raise ValueError(f"expected an IPv4 or IPv6 address, got {value!r}")


def _addresses(value: object) -> tuple[IPAddress, ...]:
    if isinstance(value, str):
        raise TypeError(
            f"'addresses' must be a sequence of addresses, not a str ({value!r})"
        )
    addresses = tuple(_ip(v) for v in value)  # type: ignore[attr-defined]
    if not addresses:
        raise ValueError("'addresses' must hold at least one address (got none)")
    return addresses


@attrs.frozen
class Host:
    """An entry of the hosts database (``struct hostent``, ``/etc/hosts``).

    Each line of the file is one entry with one address; :func:`parse_hosts` never
    merges lines (``getaddrinfo`` collects the addresses of every line that names a
    host).

    Attributes:
        name: The canonical name (``""`` for a line that holds only an address,
            which the C library keeps).
        addresses: The addresses, as :mod:`ipaddress` objects.
        aliases: Other names, in file order.
    """

    name: str = attrs.field()
    addresses: tuple[IPAddress, ...] = attrs.field(converter=_addresses)
    aliases: tuple[str, ...] = attrs.field(default=(), converter=_aliases)

    @name.validator
    def _check_name(self, _attribute: object, value: str) -> None:
        _check_field("name", value, empty=True)

    def __attrs_post_init__(self) -> None:
        if self.name == "" and self.aliases:
            raise ValueError("a host without a name cannot have aliases")

    def __str__(self) -> str:
        lines = [_line(str(a), self.name, *self.aliases) for a in self.addresses]
        return "\n".join(lines)


@attrs.frozen
class Problem:
    """A line that a parser skipped, or kept but read in a way worth knowing.

    Attributes:
        line: The 1-based line number.
        text: The line as written, without its newline.
        reason: What was wrong, in lower case ("expected X, got Y").
        skipped: ``True`` when the line gave no entry (the C library skips it
            too); ``False`` when the entry was kept, read as the C library reads it.
    """

    line: int
    text: str
    reason: str
    skipped: bool = True

    def to_error(self, file: str = "<string>") -> ConfigError:
        """Return this problem as a :class:`~aiosock.ConfigError` naming ``file``."""
        return ConfigError(self.reason, file=file, line=self.line)

    def __str__(self) -> str:
        what = "skipped" if self.skipped else "kept"
        return f"line {self.line}: {self.reason} ({what}: {self.text!r})"


@attrs.frozen
class ParseResult(Generic[T]):
    """What a line-oriented parser returns: the entries, and the problems it met.

    Iterating over a result iterates over its entries.

    Attributes:
        entries: The entries, in file order, duplicates included (look-ups take
            the first match, as the C library does).
        problems: One :class:`Problem` per line that was skipped or read in a
            surprising way, in file order.
    """

    entries: tuple[T, ...] = ()
    problems: tuple[Problem, ...] = ()

    def __iter__(self) -> Iterator[T]:
        return iter(self.entries)

    def __len__(self) -> int:
        return len(self.entries)
