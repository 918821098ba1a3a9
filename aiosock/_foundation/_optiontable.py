"""The registry of socket options: one :class:`Option` descriptor per row.

Strategy: a plain table, in the order the docs list it. Each row names the Python
option, its C level and constant, a codec, whether it is read-only, the kinds of
socket it applies to (``None`` for every socket) and the phase of a socket's life
by which it must be set. Numbers come from the ``socket`` module; where the running
Python lacks a constant the Linux value is used, on Linux only, for constants
whose ABI is the same on every architecture (the ``IPPROTO_*`` levels) or on the
architectures that use the generic ``SOL_SOCKET`` numbers. Anything else is left
``None`` and the option is reported as unsupported. Pure: no sockets are touched.
"""

from __future__ import annotations

import enum
import platform
import socket
import sys

import attrs

from ._concepts import Namespace, Style
from ._optioncodecs import (
    BoolCodec,
    Codec,
    CredentialsCodec,
    IntCodec,
    IPv4AddressCodec,
    LingerCodec,
    MillisecondsCodec,
    NameCodec,
    NamespaceCodec,
    StyleCodec,
    TcpInfoCodec,
    TimevalCodec,
)

__all__ = ["OPTIONS", "Kind", "Option", "Phase", "kind_name"]

Kind = tuple[Namespace, Style]

_LINUX = sys.platform.startswith("linux")
# Architectures whose SOL_SOCKET numbers are those of asm-generic/socket.h.
_GENERIC_SOL_SOCKET = _LINUX and platform.machine() in {
    "x86_64",
    "i386",
    "i486",
    "i586",
    "i686",
    "aarch64",
    "arm64",
    "armv6l",
    "armv7l",
    "armv8l",
    "riscv64",
    "s390x",
    "loongarch64",
}


class Phase(enum.Enum):
    """When, in a new socket's life, an option has to be set to take effect.

    :func:`~aiosock.options.apply_options` applies one phase at a time, in this
    order: after ``socket()`` (``BEFORE_BIND``), after ``bind()`` and before
    ``listen()`` or ``connect()`` (``BEFORE_CONNECT``), and once connected or
    listening, or on each accepted socket (``CONNECTED``).
    """

    BEFORE_BIND = 1
    BEFORE_CONNECT = 2
    CONNECTED = 3

    @property
    def label(self) -> str:
        """What the option must precede, as the docs say it."""
        return _PHASE_LABELS[self]


_PHASE_LABELS = {
    Phase.BEFORE_BIND: "bind",
    Phase.BEFORE_CONNECT: "listen, connect",
    Phase.CONNECTED: "",
}

# The endpoint scheme of each kind of socket, as the docs and messages name it.
_KIND_NAMES: dict[Kind, str] = {
    (Namespace.INET, Style.STREAM): "tcp4",
    (Namespace.INET6, Style.STREAM): "tcp6",
    (Namespace.INET, Style.DATAGRAM): "udp4",
    (Namespace.INET6, Style.DATAGRAM): "udp6",
    (Namespace.INET, Style.RAW): "ip4",
    (Namespace.INET6, Style.RAW): "ip6",
    (Namespace.LOCAL, Style.STREAM): "unix",
    (Namespace.LOCAL, Style.DATAGRAM): "unixgram",
    (Namespace.LOCAL, Style.SEQPACKET): "unixpacket",
}


def kind_name(namespace: Namespace | None, style: Style | None) -> str:
    """Name a kind of socket by its endpoint scheme (``tcp4``, ``unixgram``...).

    Args:
        namespace: The socket's namespace, ``None`` for a family aiosock lacks.
        style: The socket's style, ``None`` for a type aiosock lacks.

    Returns:
        The scheme, or a description of a socket aiosock has no scheme for.
    """
    if namespace is not None and style is not None:
        known = _KIND_NAMES.get((namespace, style))
        if known is not None:
            return known
    ns = namespace.name.lower() if namespace else "other-family"
    st = style.name.lower() if style else "other-type"
    return f"{ns} {st}"


def _kinds(
    namespaces: tuple[Namespace, ...], styles: tuple[Style, ...]
) -> frozenset[Kind]:
    return frozenset(
        (ns, st) for ns in namespaces for st in styles if (ns, st) in _KIND_NAMES
    )


_ALL_STYLES = (Style.STREAM, Style.DATAGRAM, Style.SEQPACKET, Style.RAW)
_IP_NAMESPACES = (Namespace.INET, Namespace.INET6)
TCP = _kinds(_IP_NAMESPACES, (Style.STREAM,))
PORTS = _kinds(_IP_NAMESPACES, (Style.STREAM, Style.DATAGRAM))
LOCAL = _kinds((Namespace.LOCAL,), _ALL_STYLES)
INET = _kinds((Namespace.INET,), _ALL_STYLES)
INET6 = _kinds((Namespace.INET6,), _ALL_STYLES)
MULTICAST4 = _kinds((Namespace.INET,), (Style.DATAGRAM, Style.RAW))
MULTICAST6 = _kinds((Namespace.INET6,), (Style.DATAGRAM, Style.RAW))
# IPV6_V6ONLY needs a socket without a port yet: raw IPv6 sockets have one.
PORTS6 = _kinds((Namespace.INET6,), (Style.STREAM, Style.DATAGRAM))
# IPPROTO_IP options an IPv6 socket also takes (Linux refuses them on raw IPv6).
INET_BIND = INET | PORTS


def _number(c_name: str, linux: int | None, *, sol_socket: bool = False) -> int | None:
    value = getattr(socket, c_name, None)
    if isinstance(value, int):
        return value
    if linux is None or not _LINUX or (sol_socket and not _GENERIC_SOL_SOCKET):
        return None
    return linux


@attrs.frozen
class Option:
    """One socket option, as :func:`~aiosock.options.describe` describes it.

    Attributes:
        name: The Python name (``reuse_address``).
        level: The C level's number (``socket.SOL_SOCKET``...).
        level_name: The C level (``SOL_SOCKET``, ``IPPROTO_TCP``...).
        c_name: The C constant (``SO_REUSEADDR``).
        number: The constant's value on this platform, ``None`` where it lacks it.
        codec: How values cross ``setsockopt`` (its ``type_name`` is the type).
        summary: One line on what the option does.
        read_only: Whether the option can only be read.
        kinds: The ``(namespace, style)`` pairs of the sockets it applies to, or
            ``None`` for every socket.
        phase: By when, in a new socket's life, it has to be set.
        listed: Whether :func:`~aiosock.options.snapshot` reads it (``False`` for
            ``error``, since reading it clears the pending error).
    """

    name: str
    level: int
    level_name: str
    c_name: str
    number: int | None
    codec: Codec
    summary: str
    read_only: bool = False
    kinds: frozenset[Kind] | None = None
    phase: Phase = Phase.CONNECTED
    listed: bool = True

    @property
    def supported(self) -> bool:
        """Whether this platform has the option at all."""
        return self.number is not None

    @property
    def type_name(self) -> str:
        """The Python type of the option's value, as the docs show it."""
        return self.codec.type_name

    @property
    def applies_to_text(self) -> str:
        """The kinds of socket it applies to, by scheme (``tcp4, tcp6``)."""
        if self.kinds is None:
            return "any"
        return ", ".join(
            name for kind, name in _KIND_NAMES.items() if kind in self.kinds
        )

    def applies_to(self, namespace: Namespace | None, style: Style | None) -> bool:
        """Whether the option applies to a socket of this namespace and style.

        Args:
            namespace: The socket's namespace (``None``: one aiosock does not name).
            style: The socket's style (``None``: one aiosock does not name).

        Returns:
            ``True`` for every socket when ``kinds`` is ``None``.
        """
        if self.kinds is None:
            return True
        if namespace is None or style is None:
            return False
        return (namespace, style) in self.kinds


_DEFAULT_KINDS: dict[str, frozenset[Kind] | None] = {
    "SOL_SOCKET": None,
    "IPPROTO_TCP": TCP,
    "IPPROTO_IP": INET,
    "IPPROTO_IPV6": INET6,
}
_UNSET: frozenset[Kind] = frozenset()


def _option(
    level_name: str,
    name: str,
    c_name: str,
    linux: int,
    codec: Codec,
    summary: str,
    *,
    read_only: bool = False,
    kinds: frozenset[Kind] | None = _UNSET,
    phase: Phase = Phase.CONNECTED,
    listed: bool = True,
) -> Option:
    sol_socket = level_name == "SOL_SOCKET"
    return Option(
        name=name,
        level=int(getattr(socket, level_name)),
        level_name=level_name,
        c_name=c_name,
        number=_number(c_name, linux, sol_socket=sol_socket),
        codec=codec,
        summary=summary,
        read_only=read_only,
        kinds=_DEFAULT_KINDS[level_name] if kinds is _UNSET else kinds,
        phase=phase,
        listed=listed,
    )


_BOOL = BoolCodec()
_BYTES = IntCodec(1, 2**31 - 1, unit="bytes")
_BUFFER = IntCodec(1, 2**31 - 1, doubled=True, unit="bytes")
_HOPS = IntCodec(-1, 255)
_TCP_SECONDS = IntCodec(1, 32767, unit="seconds")
_BEFORE_BIND = Phase.BEFORE_BIND
_BEFORE_CONNECT = Phase.BEFORE_CONNECT
_SO, _TCP, _IP, _IP6 = "SOL_SOCKET", "IPPROTO_TCP", "IPPROTO_IP", "IPPROTO_IPV6"

#: Every option aiosock knows, in the order the docs list them. A name may appear
#: once per namespace (``multicast_loop`` is ``IP_MULTICAST_LOOP`` on an IPv4
#: socket and ``IPV6_MULTICAST_LOOP`` on an IPv6 one).
OPTIONS: tuple[Option, ...] = (
    # SOL_SOCKET
    _option(_SO, "debug", "SO_DEBUG", 1, _BOOL,
            "record debugging information in the protocol (needs CAP_NET_ADMIN)"),
    _option(_SO, "reuse_address", "SO_REUSEADDR", 2, _BOOL,
            "let bind() reuse a local address still in TIME_WAIT",
            phase=_BEFORE_BIND),
    _option(_SO, "reuse_port", "SO_REUSEPORT", 15, _BOOL,
            "let several sockets bind one address and port; the kernel spreads "
            "connections or datagrams among them",
            kinds=PORTS, phase=_BEFORE_BIND),
    _option(_SO, "keepalive", "SO_KEEPALIVE", 9, _BOOL,
            "send keepalive probes on an idle connection"),
    _option(_SO, "dont_route", "SO_DONTROUTE", 5, _BOOL,
            "send to directly connected hosts only, bypassing the routing table",
            phase=_BEFORE_CONNECT),
    _option(_SO, "linger", "SO_LINGER", 13, LingerCodec(),
            "what close() does with unsent data: wait up to seconds, or reset "
            "the connection when enabled with 0 seconds"),
    _option(_SO, "broadcast", "SO_BROADCAST", 6, _BOOL,
            "allow sending datagrams to a broadcast address"),
    _option(_SO, "oob_inline", "SO_OOBINLINE", 10, _BOOL,
            "receive out-of-band data in the normal data stream"),
    _option(_SO, "send_buffer", "SO_SNDBUF", 7, _BUFFER,
            "send buffer size; the kernel doubles the value set (for its "
            "bookkeeping) and reports the doubled size",
            phase=_BEFORE_BIND),
    _option(_SO, "receive_buffer", "SO_RCVBUF", 8, _BUFFER,
            "receive buffer size; doubled like send_buffer, and set before "
            "listen() or connect() for the TCP window scale to match",
            phase=_BEFORE_BIND),
    _option(_SO, "receive_low_water", "SO_RCVLOWAT", 18, _BYTES,
            "bytes to wait for before a receive returns or the socket counts "
            "as readable"),
    _option(_SO, "send_low_water", "SO_SNDLOWAT", 19, _BYTES,
            "free send-buffer space before the socket counts as writable "
            "(fixed at 1 on Linux, hence read-only there)",
            read_only=_LINUX),
    _option(_SO, "receive_timeout", "SO_RCVTIMEO", 20, TimevalCodec(),
            "how long a blocking receive waits (0 = for ever); rounded up to "
            "the kernel's clock tick"),
    _option(_SO, "send_timeout", "SO_SNDTIMEO", 21, TimevalCodec(),
            "how long a blocking send waits (0 = for ever); rounded up to the "
            "kernel's clock tick"),
    _option(_SO, "priority", "SO_PRIORITY", 12, IntCodec(0, 2**31 - 1),
            "queueing priority of outgoing packets (above 6 needs CAP_NET_ADMIN)",
            phase=_BEFORE_CONNECT),
    _option(_SO, "mark", "SO_MARK", 36, IntCodec(0, 2**32 - 1, unsigned=True),
            "firewall mark for routing and filtering (needs CAP_NET_ADMIN)",
            phase=_BEFORE_CONNECT),
    _option(_SO, "bind_to_device", "SO_BINDTODEVICE", 25,
            NameCodec(16, "interface name"),
            "send and receive through this interface only ('' unbinds)",
            phase=_BEFORE_BIND),
    _option(_SO, "pass_credentials", "SO_PASSCRED", 16, _BOOL,
            "receive the sender's credentials (SCM_CREDENTIALS) with each message",
            kinds=LOCAL),
    _option(_SO, "error", "SO_ERROR", 4, IntCodec(label="int (errno)"),
            "the pending socket error as an errno, 0 for none; reading it clears "
            "it, so snapshot() leaves it out",
            read_only=True, listed=False),
    _option(_SO, "style", "SO_TYPE", 3, StyleCodec(),
            "the communication style", read_only=True),
    _option(_SO, "namespace", "SO_DOMAIN", 39, NamespaceCodec(),
            "the namespace", read_only=True),
    _option(_SO, "protocol", "SO_PROTOCOL", 38, IntCodec(label="int"),
            "the protocol number", read_only=True),
    _option(_SO, "accepting", "SO_ACCEPTCONN", 30, _BOOL,
            "whether the socket is listening", read_only=True),
    _option(_SO, "peer_credentials", "SO_PEERCRED", 17, CredentialsCodec(),
            "the credentials of the process that connected (or made the socket "
            "pair); None when there is no peer",
            read_only=True, kinds=LOCAL),
    # IPPROTO_TCP
    _option(_TCP, "no_delay", "TCP_NODELAY", 1, _BOOL,
            "send small segments at once (turn Nagle's algorithm off)"),
    _option(_TCP, "cork", "TCP_CORK", 3, _BOOL,
            "hold partial segments back until uncorked (at most 200 ms)"),
    _option(_TCP, "keepalive_idle", "TCP_KEEPIDLE", 4, _TCP_SECONDS,
            "idle time before the first keepalive probe"),
    _option(_TCP, "keepalive_interval", "TCP_KEEPINTVL", 5, _TCP_SECONDS,
            "time between keepalive probes"),
    _option(_TCP, "keepalive_count", "TCP_KEEPCNT", 6, IntCodec(1, 127),
            "unanswered keepalive probes before the connection is dropped"),
    _option(_TCP, "user_timeout", "TCP_USER_TIMEOUT", 18, MillisecondsCodec(),
            "how long sent data may stay unacknowledged before the connection "
            "is dropped (0 = the system's default)"),
    _option(_TCP, "max_segment", "TCP_MAXSEG", 2,
            IntCodec(88, 65535, special=(0,), unit="bytes"),
            "maximum segment size of outgoing segments (0 = from the route)",
            phase=_BEFORE_CONNECT),
    _option(_TCP, "quick_ack", "TCP_QUICKACK", 12, _BOOL,
            "acknowledge at once instead of delaying; not permanent, the kernel "
            "may turn it back off"),
    _option(_TCP, "fast_open", "TCP_FASTOPEN", 23, IntCodec(0),
            "queue length of TCP Fast Open requests on a listener (0 = off)",
            phase=_BEFORE_CONNECT),
    _option(_TCP, "fast_open_connect", "TCP_FASTOPEN_CONNECT", 30, _BOOL,
            "send the first data with the SYN when connecting (TCP Fast Open)",
            phase=_BEFORE_CONNECT),
    _option(_TCP, "defer_accept", "TCP_DEFER_ACCEPT", 9,
            IntCodec(0, unit="seconds"),
            "wait up to this long for data before accept() returns a "
            "connection; rounded up to a retransmission boundary",
            phase=_BEFORE_CONNECT),
    _option(_TCP, "not_sent_low_water", "TCP_NOTSENT_LOWAT", 25,
            IntCodec(0, 2**32 - 1, unsigned=True, unit="bytes"),
            "unsent bytes above which the socket stops counting as writable "
            "(0 = the system's default)"),
    _option(_TCP, "congestion", "TCP_CONGESTION", 13,
            NameCodec(16, "algorithm name", allow_empty=False),
            "the congestion-control algorithm (reno, cubic, bbr...)",
            phase=_BEFORE_CONNECT),
    _option(_TCP, "info", "TCP_INFO", 11, TcpInfoCodec(),
            "the kernel's view of the connection: state, round-trip time, "
            "congestion window, retransmissions...",
            read_only=True),
    # IPPROTO_IP
    _option(_IP, "ttl", "IP_TTL", 2, IntCodec(1, 255, special=(-1,)),
            "time to live of outgoing packets (-1 = the system's default)",
            phase=_BEFORE_CONNECT),
    _option(_IP, "tos", "IP_TOS", 1, IntCodec(0, 255),
            "type-of-service byte (DSCP and ECN) of outgoing packets",
            phase=_BEFORE_CONNECT),
    _option(_IP, "multicast_ttl", "IP_MULTICAST_TTL", 33,
            IntCodec(0, 255, special=(-1,)),
            "time to live of outgoing multicast datagrams (-1 = 1)",
            kinds=MULTICAST4),
    _option(_IP, "multicast_loop", "IP_MULTICAST_LOOP", 34, _BOOL,
            "deliver multicast datagrams sent to this host's own members too",
            kinds=MULTICAST4),
    _option(_IP, "multicast_interface", "IP_MULTICAST_IF", 32, IPv4AddressCodec(),
            "local address of the interface for outgoing multicast "
            "('0.0.0.0' = chosen by route)",
            kinds=MULTICAST4),
    _option(_IP, "transparent", "IP_TRANSPARENT", 19, _BOOL,
            "bind to and accept traffic for non-local addresses, for transparent "
            "proxies (needs CAP_NET_ADMIN)",
            kinds=INET_BIND, phase=_BEFORE_BIND),
    _option(_IP, "freebind", "IP_FREEBIND", 15, _BOOL,
            "bind to an address not (yet) configured on any interface",
            kinds=INET_BIND, phase=_BEFORE_BIND),
    _option(_IP, "bind_address_no_port", "IP_BIND_ADDRESS_NO_PORT", 24, _BOOL,
            "on bind() to port 0, choose the port at connect() instead, so that "
            "outgoing connections can share ports",
            kinds=INET_BIND, phase=_BEFORE_BIND),
    # IPPROTO_IPV6
    _option(_IP6, "v6_only", "IPV6_V6ONLY", 26, _BOOL,
            "only IPv6 traffic: no IPv4-mapped addresses on this socket",
            kinds=PORTS6, phase=_BEFORE_BIND),
    _option(_IP6, "unicast_hops", "IPV6_UNICAST_HOPS", 16, _HOPS,
            "hop limit of outgoing unicast packets (-1 = the route's default)",
            phase=_BEFORE_CONNECT),
    _option(_IP6, "multicast_hops", "IPV6_MULTICAST_HOPS", 18, _HOPS,
            "hop limit of outgoing multicast datagrams (-1 = 1)",
            kinds=MULTICAST6),
    _option(_IP6, "multicast_loop", "IPV6_MULTICAST_LOOP", 19, _BOOL,
            "deliver multicast datagrams sent to this host's own members too",
            kinds=MULTICAST6),
    _option(_IP6, "traffic_class", "IPV6_TCLASS", 67, _HOPS,
            "traffic class byte (DSCP and ECN) of outgoing packets "
            "(-1 = the default, 0)",
            phase=_BEFORE_CONNECT),
)  # fmt: skip
