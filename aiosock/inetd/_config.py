"""The inetd.conf parser: text in, :class:`InetdConfig` out, no I/O.

Strategy: read the file as openbsd-inetd's ``getconfigent`` does, in two passes.
The first joins physical lines into entries: ``#`` in column 1 starts a comment, a
line that starts with a blank continues the entry above it, an empty line ends it.
The second reads each entry's fields in order (``[host:]service``, socket type,
protocol, ``wait|nowait[.max]``, ``user[.group|:group]``, server, argv) and either
makes a :class:`ServiceEntry` or reports one :class:`~aiosock.ConfigError` naming
the file, line and field, and skips the entry: the rest of the file still loads.

Service names are looked up through a ``lookup`` callable given by the caller (the
loader passes the services database), so that this module stays pure.

The extension lines ``#aiosock: key=value ...`` (a comment to every classic
parser) set xinetd-style limits for the service line right below them.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable, Iterator

import attrs

from .._foundation._concepts import Style
from .._foundation._errors import ConfigError
from ._records import BUILTINS, PROTOCOLS, InetdConfig, IPNetwork, Limits, ServiceEntry

__all__ = [
    "EXTENSION_PREFIX",
    "ServiceLookup",
    "parse_inetd_conf",
    "unenforceable_reason",
]

#: ``lookup(name_or_port, "tcp"|"udp")`` -> ``(official name, port)`` or ``None``.
ServiceLookup = Callable[[str | int, str], tuple[str, int] | None]

#: The prefix of the limits lines (column 1).
EXTENSION_PREFIX = "#aiosock:"

FIELDS = ("service", "socket type", "protocol", "wait", "user", "server")
_SOCKET_TYPES = {
    "stream": Style.STREAM,
    "dgram": Style.DATAGRAM,
    "seqpacket": Style.SEQPACKET,
    "raw": Style.RAW,
}
# Which transports each socket type may use.
_TRANSPORTS = {
    Style.STREAM: ("tcp", "unix"),
    Style.DATAGRAM: ("udp", "unix"),
    Style.SEQPACKET: ("unix",),
    Style.RAW: (),
}
_SUN_PATH_MAX = 108
_HOST_NAME = re.compile(r"[A-Za-z0-9_](?:[A-Za-z0-9_.-]*[A-Za-z0-9_])?\.?")
_PYTHON_TARGET = re.compile(
    r"(?:[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)*:)?"
    r"[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)*"
)
_LIMIT_KEYS = ("instances", "per_source", "only_from", "no_access")


class _Skip(Exception):
    """Raised inside the parser to skip the current entry with a problem."""

    def __init__(self, reason: str, field: str | None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.field = field


@attrs.frozen
class _Item:
    """A logical line: an entry's fields, or an extension line's text."""

    line: int
    fields: tuple[str, ...] = ()
    extension: str | None = None
    comment: bool = False


def _items(text: str) -> Iterator[_Item]:
    """Join physical lines into entries, as openbsd-inetd's ``skip`` does."""
    current: list[str] = []
    start = 0
    for number, raw in enumerate(text.split("\n"), 1):
        line = raw.removesuffix("\r")
        continues = line[:1] in (" ", "\t")
        if current and continues and line.strip():
            current.extend(line.split())
            continue
        if current:
            yield _Item(start, tuple(current))
            current = []
        if line.startswith(EXTENSION_PREFIX):
            yield _Item(number, extension=line[len(EXTENSION_PREFIX) :])
        elif line.startswith("#") or not line.strip():
            yield _Item(number, comment=True)
        else:
            current = line.split()
            start = number
    if current:
        yield _Item(start, tuple(current))


def parse_inetd_conf(
    text: str, *, filename: str = "<string>", lookup: ServiceLookup | None = None
) -> InetdConfig:
    """Parse the text of an inetd.conf file.

    Args:
        text: The file's contents.
        filename: The name to put in problems and entries.
        lookup: Resolves service names to ports and official names (the services
            database); without it, named services keep ``port=None`` and only
            literal built-in names are recognised.

    Returns:
        The entries that parsed and one problem per line that did not (those
        lines are skipped, as openbsd-inetd and xinetd skip them).
    """
    parser = _Parser(filename, lookup)
    for item in _items(text):
        parser.feed(item)
    parser.finish()
    return InetdConfig(tuple(parser.entries), tuple(parser.problems), filename)


class _Parser:
    def __init__(self, filename: str, lookup: ServiceLookup | None) -> None:
        self.filename = filename
        self.lookup = lookup
        self.entries: list[ServiceEntry] = []
        self.problems: list[ConfigError] = []
        self.default_hosts: tuple[str, ...] = ("*",)
        self.pending: dict[str, object] = {}
        self.pending_line: int | None = None
        self.pending_bad = False
        self.seen: dict[tuple[object, ...], int] = {}
        self.seen_ports: dict[tuple[object, ...], int] = {}

    def problem(self, line: int, reason: str, field: str | None = None) -> None:
        self.problems.append(
            ConfigError(reason, file=self.filename, line=line, field=field)
        )

    def feed(self, item: _Item) -> None:
        if item.extension is not None:
            self.extension(item.line, item.extension)
            return
        if item.comment:
            self.drop_pending("a comment or an empty line")
            return
        try:
            entry = self.entry(item.line, list(item.fields))
        except _Skip as skip:
            self.problem(item.line, skip.reason, skip.field)
            entry = None
        finally:
            self.pending, self.pending_line, self.pending_bad = {}, None, False
        if entry is None:
            return
        first = self.seen.setdefault(entry.key, item.line)
        if first != item.line:
            self.problem(
                item.line,
                f"expected a new service, got a repeat of line {first}",
                "service",
            )
            return
        if entry.port:
            # The same port spelt another way ("echo" and "7"): the second
            # could never be bound.
            where = (entry.socket_type, entry.protocol, entry.hosts, entry.port)
            first = self.seen_ports.setdefault(where, item.line)
            if first != item.line:
                self.problem(
                    item.line,
                    f"expected a new port, got port {entry.port} of line {first}"
                    f" again ({entry.service!r})",
                    "service",
                )
                return
        self.entries.append(entry)

    def finish(self) -> None:
        self.drop_pending("the end of the file")

    def drop_pending(self, what: str) -> None:
        if self.pending_line is not None:
            self.problem(
                self.pending_line,
                f"expected a service line after the {EXTENSION_PREFIX} line, "
                f"got {what}",
            )
        self.pending, self.pending_line, self.pending_bad = {}, None, False

    # -- the extension lines ---------------------------------------------------

    def extension(self, line: int, text: str) -> None:
        if self.pending_line is None:
            self.pending_line = line
        for word in text.split():
            key, sep, value = word.partition("=")
            try:
                if not sep:
                    raise _Skip(f"expected key=value, got {word!r}", None)
                if key not in _LIMIT_KEYS:
                    known = ", ".join(_LIMIT_KEYS)
                    raise _Skip(f"expected one of {known}, got {key!r}", key)
                if key in self.pending:
                    raise _Skip(f"expected {key} once, got it again", key)
                self.pending[key] = _limit_value(key, value)
            except _Skip as skip:
                self.problem(line, skip.reason, skip.field)
                self.pending_bad = True

    def limits(self) -> Limits:
        if self.pending_bad:
            raise _Skip(
                f"skipped: the {EXTENSION_PREFIX} line {self.pending_line} above "
                "has a problem",
                None,
            )
        return Limits(**self.pending)  # type: ignore[arg-type]

    # -- the service lines -----------------------------------------------------

    def entry(self, line: int, fields: list[str]) -> ServiceEntry | None:
        protocol_text = fields[2].split(",")[0] if len(fields) > 2 else ""
        first = fields[0]
        hosts = self.default_hosts
        if protocol_text == "unix":
            hosts = ()
        elif ":" in first:
            cut = first.rindex(":")
            host_text, service = first[:cut], first[cut + 1 :]
            hosts = _hosts(host_text or "*")
            if not service:
                if len(fields) == 1:
                    self.drop_pending("a host: line")
                    self.default_hosts = hosts
                    return None
                # openbsd-inetd reads "host: service ..." as "host:service ...".
                fields = fields[1:]
                service = fields[0]
            fields[0] = service
        if len(fields) < len(FIELDS):
            missing = FIELDS[len(fields)]
            raise _Skip(
                f"expected {len(FIELDS)} fields at least ({', '.join(FIELDS)}), "
                f"got {len(fields)}",
                missing,
            )
        service, type_text, protocol_field, wait_text, user_text, server = fields[:6]
        argv = tuple(fields[6:])
        style = _SOCKET_TYPES.get(type_text)
        if style is None:
            raise _Skip(
                f"expected stream, dgram, seqpacket or raw, got {type_text!r}",
                "socket type",
            )
        protocol, send_buffer, receive_buffer = _protocol(protocol_field, style)
        wait, max_rate = _wait(wait_text)
        user, group = _user(user_text)
        internal = _server(server, style)
        port: int | None = None
        official = service
        if protocol == "unix":
            _check_path(service)
        else:
            port, official = self.port(service, PROTOCOLS[protocol][0])
        builtin: str | None = None
        if internal:
            builtin = argv[0] if argv else official
            if builtin not in BUILTINS:
                names = ", ".join(sorted(BUILTINS))
                raise _Skip(
                    f"expected an internal service ({names}), got {builtin!r}",
                    "arguments" if argv else "service",
                )
            # Internal services never wait (openbsd-inetd's biltins table).
            argv, wait = (), False
        elif not argv and not server.startswith("python:"):
            argv = (server.rsplit("/", 1)[-1],)
        entry = ServiceEntry(
            service=service,
            socket_type=style,
            protocol=protocol,
            hosts=hosts,
            wait=wait,
            max_rate=max_rate,
            user=user,
            group=group,
            server=server,
            argv=argv,
            port=port,
            builtin=builtin,
            limits=self.limits(),
            send_buffer=send_buffer,
            receive_buffer=receive_buffer,
            line=line,
            file=self.filename,
        )
        if unenforceable := entry.unenforceable_limits:
            raise _Skip(unenforceable_reason(unenforceable), "wait")
        return entry

    def port(self, service: str, transport: str) -> tuple[int | None, str]:
        """Return the port and the official name of an internet service field."""
        if not service:
            raise _Skip("expected a service name or port, got nothing", "service")
        if service.isascii() and service.isdecimal():
            port = int(service)
            if port > 65535:
                raise _Skip(f"expected a port in 0..65535, got {service}", "service")
            found = self.lookup(port, transport) if self.lookup else None
            return port, found[0] if found else service
        if self.lookup is None:
            return None, service
        found = self.lookup(service, transport)
        if found is None:
            raise _Skip(
                f"expected a service in the services database, got "
                f"{service}/{transport}",
                "service",
            )
        return found[1], found[0]


def _hosts(text: str) -> tuple[str, ...]:
    """Read the host part of ``host:service``: addresses, names or ``*``."""
    hosts: list[str] = []
    for part in text.split(","):
        if not part:
            continue
        host = part
        if host.startswith("[") and host.endswith("]"):
            host = host[1:-1]
            _check_ipv6(host, part)
        elif ":" in host:
            _check_ipv6(host, part)
        elif host != "*" and not _is_ipv4(host) and not _HOST_NAME.fullmatch(host):
            raise _Skip(
                f"expected an address, a host name or '*', got {part!r}", "service"
            )
        hosts.append(host)
    if not hosts:
        raise _Skip(f"expected a host before ':', got {text!r}", "service")
    return tuple(hosts)


def _is_ipv4(text: str) -> bool:
    try:
        ipaddress.IPv4Address(text)
    except ValueError:
        return False
    return True


def _check_ipv6(host: str, part: str) -> None:
    address, _, zone = host.partition("%")
    try:
        ipaddress.IPv6Address(address)
    except ValueError:
        raise _Skip(f"expected an IPv6 address, got {part!r}", "service") from None
    if "%" in host and not zone:
        raise _Skip(f"expected a zone after '%', got {part!r}", "service")


def _check_path(path: str) -> None:
    if not path:
        raise _Skip("expected a socket path, got nothing", "service")
    if "\0" in path or len(path.encode("utf-8", "surrogateescape")) >= _SUN_PATH_MAX:
        raise _Skip(
            f"expected a socket path shorter than {_SUN_PATH_MAX} bytes, got {path!r}",
            "service",
        )


def _protocol(text: str, style: Style) -> tuple[str, int | None, int | None]:
    """Read ``proto[,sndbuf=size][,rcvbuf=size]`` (Debian's buffer options)."""
    name, *options = text.split(",")
    if style is Style.RAW:
        raise _Skip(
            "expected stream, dgram or seqpacket: aiosock inetd serves no raw "
            "sockets (they have no ports to dispatch on), got raw",
            "socket type",
        )
    if name.startswith("rpc/"):
        raise _Skip(f"expected a non-RPC protocol, got {name!r}", "protocol")
    if name not in PROTOCOLS:
        known = ", ".join(PROTOCOLS)
        raise _Skip(f"expected one of {known}, got {name!r}", "protocol")
    transport = PROTOCOLS[name][0]
    if transport not in _TRANSPORTS[style]:
        allowed = " or ".join(_TRANSPORTS[style]) or "nothing"
        raise _Skip(
            f"expected {allowed} for socket type {style.name.lower()}, got {name!r}",
            "protocol",
        )
    sizes: dict[str, int] = {}
    for option in options:
        key, sep, value = option.partition("=")
        if key not in ("sndbuf", "rcvbuf") or not sep:
            raise _Skip(
                f"expected sndbuf=SIZE or rcvbuf=SIZE, got {option!r}", "protocol"
            )
        sizes[key] = _size(value, key)
    return name, sizes.get("sndbuf"), sizes.get("rcvbuf")


def _size(text: str, key: str) -> int:
    factor = 1
    if text[-1:] in ("k", "K"):
        factor, text = 1024, text[:-1]
    elif text[-1:] in ("m", "M"):
        factor, text = 1024 * 1024, text[:-1]
    if not (text.isascii() and text.isdecimal()) or not 0 < int(text) * factor < 2**31:
        raise _Skip(f"expected a size such as 65536, 64k or 1m for {key}", "protocol")
    return int(text) * factor


def _wait(text: str) -> tuple[bool, int | None]:
    base, dot, rest = text.partition(".")
    if base not in ("wait", "nowait"):
        raise _Skip(f"expected wait or nowait, got {base!r}", "wait")
    if not dot:
        return base == "wait", None
    if not (rest.isascii() and rest.isdecimal()) or int(rest) < 1:
        raise _Skip(f"expected a positive rate after '{base}.', got {rest!r}", "wait")
    return base == "wait", int(rest)


def _user(text: str) -> tuple[str, str | None]:
    # openbsd-inetd splits at the first '.', else ':'; aiosock prefers ':' when
    # there is one, so that user names with dots can take a group.
    sep = ":" if ":" in text else "."
    user, found, group = text.partition(sep)
    if not user:
        raise _Skip(f"expected a user name, got {text!r}", "user")
    if found and not group:
        raise _Skip(f"expected a group after {sep!r}, got {text!r}", "user")
    return user, group if found else None


def _server(server: str, style: Style) -> bool:
    """Check the server field; return whether it is ``internal``."""
    if server == "internal":
        if style not in (Style.STREAM, Style.DATAGRAM):
            raise _Skip(
                f"expected stream or dgram for an internal service, got "
                f"{style.name.lower()}",
                "socket type",
            )
        return True
    if server.startswith("python:"):
        target = server.removeprefix("python:")
        if not _PYTHON_TARGET.fullmatch(target):
            raise _Skip(
                f"expected python:package.module:function, got {server!r}", "server"
            )
        if style not in (Style.STREAM, Style.DATAGRAM):
            raise _Skip(
                "expected stream or dgram for a python: server, got "
                f"{style.name.lower()}",
                "socket type",
            )
        return False
    if not server.startswith("/"):
        raise _Skip(
            f"expected an absolute path, 'internal' or python:..., got {server!r}",
            "server",
        )
    return False


def unenforceable_reason(names: tuple[str, ...]) -> str:
    """Why a ``wait`` program line with address or per-source limits is refused."""
    return (
        f"refused: {' and '.join(names)} cannot apply to a wait program (it "
        "takes the socket and the daemon never sees its clients); use nowait, "
        "or filter in the server or a firewall"
    )


def _limit_value(key: str, value: str) -> object:
    if key in ("instances", "per_source"):
        if value.upper() == "UNLIMITED":
            return None
        if not (value.isascii() and value.isdecimal()) or int(value) < 1:
            raise _Skip(
                f"expected a positive number or UNLIMITED for {key}, got {value!r}",
                key,
            )
        return int(value)
    networks: list[IPNetwork] = []
    for part in value.split(","):
        if not part:
            continue
        text = part[1:-1] if part.startswith("[") and part.endswith("]") else part
        try:
            networks.append(ipaddress.ip_network(text, strict=False))
        except ValueError:
            raise _Skip(
                f"expected an address or network (127.0.0.1, ::1, 10.0.0.0/8) in "
                f"{key}, got {part!r}",
                key,
            ) from None
    return tuple(networks)
