"""The records of an inetd configuration: services, limits, the whole file.

These are frozen attrs values: the parser makes them, the daemon compares them on
reload (an entry whose value is unchanged keeps its listener) and never changes them.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterator
from typing import TYPE_CHECKING, TypeAlias

import attrs

from .._foundation._concepts import Namespace, Style

if TYPE_CHECKING:
    from .._foundation._errors import ConfigError

__all__ = [
    "BUILTINS",
    "PROTOCOLS",
    "IPNetwork",
    "InetdConfig",
    "Limits",
    "ServiceEntry",
]

IPNetwork: TypeAlias = ipaddress.IPv4Network | ipaddress.IPv6Network

#: The internal services, by official service name.
BUILTINS: frozenset[str] = frozenset({"echo", "discard", "chargen", "daytime", "time"})

#: Protocol field -> (transport, ((namespace, v6_only), ...)).
#: ``tcp``/``udp`` mean both families on two sockets (Debian's openbsd-inetd since
#: 0.20221205); ``tcp46``/``udp46`` one IPv6 socket that also takes IPv4 (mapped).
PROTOCOLS: dict[str, tuple[str, tuple[tuple[Namespace, bool], ...]]] = {
    "tcp": ("tcp", ((Namespace.INET, False), (Namespace.INET6, True))),
    "tcp4": ("tcp", ((Namespace.INET, False),)),
    "tcp6": ("tcp", ((Namespace.INET6, True),)),
    "tcp46": ("tcp", ((Namespace.INET6, False),)),
    "udp": ("udp", ((Namespace.INET, False), (Namespace.INET6, True))),
    "udp4": ("udp", ((Namespace.INET, False),)),
    "udp6": ("udp", ((Namespace.INET6, True),)),
    "udp46": ("udp", ((Namespace.INET6, False),)),
    "unix": ("unix", ((Namespace.LOCAL, False),)),
}


@attrs.frozen
class Limits:
    """Per-service limits, from the ``#aiosock:`` extension lines (xinetd's names).

    Attributes:
        instances: At most this many servers (children or in-process handlers) of
            the service at once; ``None`` for no limit.
        per_source: At most this many at once for one client address.
        only_from: Clients allowed (networks); ``None`` allows every client and
            an empty tuple none.
        no_access: Clients refused. When a client matches both lists, the more
            specific network (the longer prefix) decides; a tie refuses.
    """

    instances: int | None = None
    per_source: int | None = None
    only_from: tuple[IPNetwork, ...] | None = None
    no_access: tuple[IPNetwork, ...] = ()

    @property
    def filters_addresses(self) -> bool:
        """Whether either address list is set."""
        return self.only_from is not None or bool(self.no_access)


@attrs.frozen
class ServiceEntry:
    """One service line of an inetd configuration file.

    Attributes:
        service: The service field as written after any ``host:`` prefix: a
            service name, a port number, or (protocol ``unix``) a path.
        socket_type: The socket type field as a :class:`~aiosock.Style`.
        protocol: The protocol field, without ``,sndbuf=``/``,rcvbuf=`` options
            (``"tcp"``, ``"udp6"``, ``"tcp46"``, ``"unix"``, ...).
        hosts: The addresses to listen on (``"*"`` for every address; IPv6
            literals without brackets); empty for ``unix``.
        wait: ``True`` for ``wait`` (the server takes the socket), ``False`` for
            ``nowait`` (one server per connection or datagram).
        max_rate: The ``.max`` suffix: at most this many servers a minute, or
            ``None`` for the daemon's default.
        user: The user the server runs as.
        group: The group, when given as ``user.group`` or ``user:group``.
        server: The server program's path, ``"internal"``, or
            ``"python:module:function"``.
        argv: The server's arguments, starting with ``argv[0]`` (the program's
            base name when the line gives none; empty for internal services).
        port: The port the service field names (from the services database when
            it is a name); ``None`` for ``unix``, or when no look-up was given.
        builtin: The internal service's name (``"echo"`` ...), else ``None``.
        limits: The ``#aiosock:`` limits of the line.
        send_buffer: Debian's ``,sndbuf=`` option, in bytes.
        receive_buffer: Debian's ``,rcvbuf=`` option, in bytes.
        line: The 1-based line the entry starts on.
        file: The file's name.
    """

    service: str
    socket_type: Style
    protocol: str
    hosts: tuple[str, ...]
    wait: bool
    max_rate: int | None
    user: str
    group: str | None
    server: str
    argv: tuple[str, ...]
    port: int | None = None
    builtin: str | None = None
    limits: Limits = Limits()
    send_buffer: int | None = None
    receive_buffer: int | None = None
    line: int = attrs.field(default=0, eq=False)
    file: str = attrs.field(default="<string>", eq=False)

    @property
    def transport(self) -> str:
        """``"tcp"``, ``"udp"`` or ``"unix"``."""
        return PROTOCOLS[self.protocol][0]

    @property
    def families(self) -> tuple[tuple[Namespace, bool], ...]:
        """The (namespace, v6_only) pairs a listener is made for."""
        return PROTOCOLS[self.protocol][1]

    @property
    def is_internal(self) -> bool:
        """Whether the server is one of the built-in services."""
        return self.builtin is not None

    @property
    def is_python(self) -> bool:
        """Whether the server is an in-process ``python:`` handler."""
        return self.server.startswith("python:")

    @property
    def unenforceable_limits(self) -> tuple[str, ...]:
        """The limits set on the line that the daemon cannot apply, by name.

        A ``wait`` program takes the socket itself: a stream server accepts its
        clients and a datagram server reads every datagram, so the daemon never
        sees who they are and cannot apply ``only_from``, ``no_access`` or
        ``per_source``. Such a line is refused rather than run without them.
        """
        if not self.wait or self.is_internal or self.is_python:
            return ()
        limits = self.limits
        names = []
        if limits.only_from is not None:
            names.append("only_from")
        if limits.no_access:
            names.append("no_access")
        if limits.per_source is not None:
            names.append("per_source")
        return tuple(names)

    @property
    def python_target(self) -> str:
        """What follows ``python:`` in the server field."""
        return self.server.removeprefix("python:")

    @property
    def name(self) -> str:
        """The name logs give the service, ``service/protocol`` (``echo/tcp``).

        An internal service on a port number is named after the service it is, and
        a line on port 0 (any port) after what it runs (``argv[0]``, else the
        ``python:`` target).
        """
        base = self.service
        if self.builtin is not None and base.isdecimal():
            base = self.builtin
        elif self.port == 0:
            base = self.argv[0] if self.argv else self.python_target
        return f"{base}/{self.protocol}"

    @property
    def key(self) -> tuple[object, ...]:
        """The identity of the listening side, kept across a reload when equal.

        Port 0 (any port) identifies nothing, so such lines are also told apart
        by what they serve.
        """
        key: tuple[object, ...] = (
            self.service,
            self.socket_type,
            self.protocol,
            self.hosts,
            self.port,
            self.send_buffer,
            self.receive_buffer,
        )
        if self.port == 0:
            key += (self.builtin, self.server, self.argv)
        return key


@attrs.frozen
class InetdConfig:
    """A parsed configuration: the entries that loaded and the problems met.

    Attributes:
        entries: The service entries, in file order.
        problems: One :class:`~aiosock.ConfigError` per problem (each names the
            file, the line and the field); the lines they concern were skipped.
        file: The file's name (``"<string>"`` for text).
    """

    entries: tuple[ServiceEntry, ...] = ()
    problems: tuple[ConfigError, ...] = attrs.field(default=(), eq=False)
    file: str = attrs.field(default="<string>", eq=False)

    def __iter__(self) -> Iterator[ServiceEntry]:
        return iter(self.entries)

    def __len__(self) -> int:
        return len(self.entries)
