"""Socket options by name: get, set, snapshot, describe, and options at creation.

Strategy: every call first turns its ``sock`` argument into a ``socket.socket``
(borrowing a descriptor without taking it over), learns the socket's namespace and
style, and picks the registry row for each name that applies to that kind of
socket. Everything that can be checked without the kernel (the name, read-only,
platform support, applicability, the value) is checked for every option before
any ``setsockopt`` call, so a bad value changes nothing. A kernel refusal part of
the way through a multi-option :func:`set` puts back the options already set (best
effort) and raises :class:`~aiosock.OptionError` with the kernel's ``errno``.
"""

from __future__ import annotations

import contextlib
import difflib
import errno
import socket
import struct
import sys
from collections.abc import Iterator, Mapping
from typing import Any, Protocol, TypeAlias

from ._concepts import Namespace, Style
from ._errors import ClosedResourceError, OptionError
from ._optioncodecs import CodecError, Raw
from ._optiontable import OPTIONS, Option, Phase, kind_name

__all__ = [
    "SocketLike",
    "apply_options",
    "borrow_socket",
    "describe",
    "get",
    "listed_options",
    "names",
    "registry",
    "set",
    "snapshot",
    "socket_kind",
    "validate_options",
]


class _HasFileno(Protocol):
    def fileno(self) -> int: ...


class _HasSocket(Protocol):
    @property
    def socket(self) -> socket.socket | _HasFileno: ...


#: What the functions here accept as a socket: a ``socket.socket``, a file
#: descriptor, or an object with a ``socket`` attribute or a ``fileno()`` method
#: (an aiosock stream, an asyncio transport's socket).
SocketLike: TypeAlias = "socket.socket | int | _HasSocket | _HasFileno"

_REGISTRY: dict[str, tuple[Option, ...]] = {}
for _option in OPTIONS:
    _REGISTRY[_option.name] = (*_REGISTRY.get(_option.name, ()), _option)
_BY_C_NAME = {option.c_name: option.name for option in OPTIONS}
_FAMILIES = {ns.value: ns for ns in Namespace}
_TYPES = {st.value: st for st in Style}
# What getsockopt says when the socket cannot have the option (snapshot skips it).
_ABSENT = frozenset(
    {errno.ENOPROTOOPT, errno.EOPNOTSUPP, errno.ENOTSUP, errno.EINVAL, errno.ENOTCONN}
)


def registry() -> tuple[Option, ...]:
    """Return every option aiosock knows, in the order the docs list them.

    A name that means different constants in different namespaces
    (``multicast_loop``) appears once per namespace.
    """
    return OPTIONS


def names() -> tuple[str, ...]:
    """Return the name of every option aiosock knows, each once, in registry order."""
    return tuple(_REGISTRY)


def describe(name: str, namespace: Namespace | None = None) -> Option:
    """Describe an option: its level and constant, type, read-only flag, phase.

    Args:
        name: The option's Python name (``"reuse_address"``).
        namespace: For a name with one constant per namespace
            (``multicast_loop``), the namespace whose constant to describe;
            by default the first in the registry.

    Returns:
        The option's registry entry.

    Raises:
        OptionError: The name is unknown (the message suggests close matches), or
            the option has no constant for ``namespace``.
        TypeError: ``namespace`` is not a :class:`~aiosock.Namespace`.
    """
    variants = _lookup(name)
    if namespace is None:
        return variants[0]
    if not isinstance(namespace, Namespace):
        raise TypeError(f"'namespace' must be a Namespace or None (got {namespace!r})")
    for option in variants:
        if option.kinds is None or any(ns is namespace for ns, _ in option.kinds):
            return option
    raise OptionError(name, f"expected a namespace it applies to, got {namespace.name}")


def get(sock: SocketLike, name: str) -> Any:
    """Read one option, decoded to its Python type.

    Args:
        sock: A ``socket.socket``, a file descriptor, or an object with a
            ``socket`` attribute or a ``fileno()`` method.
        name: The option's Python name (``"no_delay"``).

    Returns:
        The value (``bool``, ``int``, ``float`` seconds, ``str``,
        :class:`Linger`, :class:`~aiosock.Credentials`, :class:`TcpInfo`...).

    Raises:
        OptionError: The name is unknown, the platform lacks the option, it does
            not apply to this kind of socket, or the kernel refused (``errno``
            set).
        ClosedResourceError: The socket is closed.
        TypeError: ``sock`` is none of the accepted kinds.
    """
    with _borrow(sock) as s:
        option = _select(name, *_kind(s))
        try:
            raw = _read(s, option)
        except OSError as exc:
            raise _refused(option, exc) from exc
        return option.codec.decode(raw)


def set(sock: SocketLike, /, **values: Any) -> None:
    """Set options by name, all or nothing: ``set(sock, no_delay=True, ttl=32)``.

    Every name and value is checked before the first ``setsockopt``, so a bad one
    changes nothing. Should the kernel refuse one part of the way through, the
    options already set are put back as they were (best effort: a buffer size the
    kernel rounded comes back rounded) and the refusal is raised.

    Args:
        sock: A ``socket.socket``, a file descriptor, or an object with a
            ``socket`` attribute or a ``fileno()`` method.
        **values: Option names and their new values, set in the order given.

    Raises:
        OptionError: A name is unknown, read-only, unsupported on this platform or
            inapplicable to this kind of socket; a value has the wrong type or
            range; or the kernel refused (``errno`` set).
        ClosedResourceError: The socket is closed.
        TypeError: ``sock`` is none of the accepted kinds.
    """
    with _borrow(sock) as s:
        namespace, style = _kind(s)
        plan = [
            _prepare(name, value, namespace, style) for name, value in values.items()
        ]
        _execute(s, plan)


def snapshot(sock: SocketLike) -> dict[str, Any]:
    """Read every option this platform supports for this kind of socket.

    Options that do not apply to the socket's namespace and style, that the
    platform lacks, or that the kernel will not report for this socket are left
    out. ``error`` is left out too, since reading it clears the pending error.

    Args:
        sock: A ``socket.socket``, a file descriptor, or an object with a
            ``socket`` attribute or a ``fileno()`` method.

    Returns:
        Option names and decoded values, in registry order.

    Raises:
        OptionError: The kernel failed to read an option for a reason other than
            the socket not having it (``errno`` set).
        ClosedResourceError: The socket is closed.
    """
    with _borrow(sock) as s:
        result: dict[str, Any] = {}
        for option in listed_options(*_kind(s)):
            try:
                raw = _read(s, option)
            except OSError as exc:
                if exc.errno in _ABSENT:
                    continue
                raise _refused(option, exc) from exc
            result[option.name] = option.codec.decode(raw)
        return result


def listed_options(namespace: Namespace | None, style: Style | None) -> list[Option]:
    """Return the options :func:`snapshot` reads for this kind of socket.

    Args:
        namespace: The socket's namespace (``None``: one aiosock does not name).
        style: The socket's style (``None``: one aiosock does not name).

    Returns:
        One supported, applicable, listed entry per name, in registry order.
    """
    chosen: dict[str, Option] = {}
    for option in OPTIONS:
        if (
            option.listed
            and option.supported
            and option.name not in chosen
            and option.applies_to(namespace, style)
        ):
            chosen[option.name] = option
    return list(chosen.values())


def validate_options(
    options: Mapping[str, object] | None,
    *,
    namespace: Namespace | None = None,
    style: Style | None = None,
) -> dict[str, Any]:
    """Check an ``options={...}`` mapping without touching any socket.

    The stream and datagram functions call this before they create a socket, so
    that a typo fails before anything happens. It checks that every name is known,
    settable and supported on this platform, and that every value has the right
    type and range; given a namespace and a style it also checks that every
    option applies to that kind of socket.

    Args:
        options: Option names and values, or ``None`` for none.
        namespace: The namespace of the socket-to-be, if known.
        style: The style of the socket-to-be, if known.

    Returns:
        A new dict of the same names with normalized values (an
        ``(enabled, seconds)`` tuple becomes a :class:`Linger`), in the same order.

    Raises:
        OptionError: The first name or value that is wrong, in mapping order.
        TypeError: ``options`` is not a mapping.
    """
    if options is None:
        return {}
    given: object = options  # callers without type checking pass anything
    if not isinstance(given, Mapping):
        got = type(given).__name__
        raise TypeError(f"expected a mapping of option names to values, got {got}")
    result: dict[str, Any] = {}
    for name, value in options.items():
        if namespace is not None and style is not None:
            option, checked = _prepare(name, value, namespace, style)
        else:
            option = _writable(name)
            checked = _check(option, value)
        result[option.name] = checked
    return result


def apply_options(
    sock: SocketLike,
    options: Mapping[str, object] | None,
    *,
    phase: Phase | None = None,
    strict: bool = True,
) -> tuple[str, ...]:
    """Apply ``options={...}`` to a new socket, one phase of its life at a time.

    The creation-time path of ``connect``, ``serve`` and ``open_datagram`` calls
    this three times, in this order::

        sock = socket.socket(...)
        apply_options(sock, options, phase=Phase.BEFORE_BIND)     # reuse_address...
        sock.bind(local)
        apply_options(sock, options, phase=Phase.BEFORE_CONNECT)  # defer_accept...
        sock.listen() or sock.connect(remote)
        apply_options(sock, options, phase=Phase.CONNECTED)       # the rest

    (a server also applies ``Phase.CONNECTED`` to each accepted socket). Each
    option's phase is in :func:`describe`. Every option in ``options`` (of every
    phase) is checked before any is set; within a phase they are set in mapping
    order, all or nothing as with :func:`set`.

    Args:
        sock: The socket, as for :func:`get`.
        options: Option names and values (as :func:`validate_options` returns
            them, or not yet checked), or ``None``.
        phase: The phase to apply; ``None`` applies every phase in order, for a
            socket that is ready as it is.
        strict: When ``False``, options that do not apply to this kind of socket
            or that the platform lacks are skipped instead of raising (for one
            ``options`` mapping shared by endpoints of several kinds).

    Returns:
        The names of the options set, in the order they were set.

    Raises:
        OptionError: As for :func:`set`.
        ClosedResourceError: The socket is closed.
    """
    if not options:
        return ()
    with _borrow(sock) as s:
        namespace, style = _kind(s)
        plan: list[tuple[Option, Any]] = []
        for name, value in options.items():
            if not strict and not _has(name, namespace, style):
                continue
            option, checked = _prepare(name, value, namespace, style)
            if phase is None or option.phase is phase:
                plan.append((option, checked))
        if phase is None:
            plan.sort(key=lambda item: item[0].phase.value)
        _execute(s, plan)
        return tuple(option.name for option, _ in plan)


@contextlib.contextmanager
def borrow_socket(sock: SocketLike) -> Iterator[socket.socket]:
    """Yield a ``socket.socket`` for ``sock`` without taking its descriptor over.

    Raises:
        ClosedResourceError: The socket is closed.
        TypeError: ``sock`` is none of the accepted kinds.
        OSError: A descriptor that is not a socket (``ENOTSOCK``).
    """
    target = _unwrap(sock)
    if isinstance(target, socket.socket):
        _check_open(target.fileno())
        yield target
        return
    _check_open(target)
    try:
        borrowed = socket.socket(fileno=target)
    except OSError as exc:
        if exc.errno == errno.EBADF:
            raise ClosedResourceError(
                f"expected an open socket, got descriptor {target}, which is closed"
            ) from None
        raise
    try:
        yield borrowed
    finally:
        borrowed.detach()


_borrow = borrow_socket


def socket_kind(s: socket.socket) -> tuple[Namespace | None, Style | None]:
    """Return a socket's namespace and style (``None`` where aiosock lacks one)."""
    style = _TYPES.get(s.type)
    if style is None:
        with contextlib.suppress(ValueError):
            style = Style.from_type(s.type)
    return _FAMILIES.get(s.family), style


_kind = socket_kind


def _unwrap(sock: object) -> socket.socket | int:
    if isinstance(sock, socket.socket):
        return sock
    if isinstance(sock, int) and not isinstance(sock, bool):
        return sock
    inner = getattr(sock, "socket", None)
    if isinstance(inner, socket.socket):
        return inner
    for candidate in (inner, sock):
        fileno = getattr(candidate, "fileno", None)
        if callable(fileno):
            fd = fileno()
            if isinstance(fd, int) and not isinstance(fd, bool):
                return fd
    raise TypeError(
        "expected a socket, a file descriptor or an object with a socket, "
        f"got {type(sock).__name__}"
    )


def _check_open(fd: int) -> None:
    if fd < 0:
        raise ClosedResourceError("expected an open socket, got a closed one")


def _lookup(name: object) -> tuple[Option, ...]:
    variants = _REGISTRY.get(name) if isinstance(name, str) else None
    if variants is not None:
        return variants
    if not isinstance(name, str):
        raise OptionError(
            repr(name), f"expected an option name as a str, got {type(name).__name__}"
        )
    guesses = difflib.get_close_matches(name, _REGISTRY, n=3)
    by_c_name = _BY_C_NAME.get(name.upper())
    if by_c_name is not None:
        guesses = [by_c_name]
    hint = ""
    if guesses:
        quoted = [repr(guess) for guess in guesses]
        hint = " (did you mean " + " or ".join(quoted) + "?)"
    raise OptionError(name, f"expected a known option name, got {name!r}{hint}")


def _unsupported(option: Option) -> OptionError:
    return OptionError(
        option.name,
        f"expected a platform with {option.c_name}, got {sys.platform}, which lacks it",
    )


def _writable(name: str) -> Option:
    """Return the first supported entry for ``name``, checking it can be set."""
    variants = _lookup(name)
    if all(option.read_only for option in variants):
        raise OptionError(
            name, "expected an option that can be set, got a read-only one"
        )
    for option in variants:
        if option.supported:
            return option
    raise _unsupported(variants[0])


def _has(name: str, namespace: Namespace | None, style: Style | None) -> bool:
    return any(
        option.supported and option.applies_to(namespace, style)
        for option in _lookup(name)
    )


def _select(name: str, namespace: Namespace | None, style: Style | None) -> Option:
    variants = _lookup(name)
    for option in variants:
        if option.applies_to(namespace, style):
            if not option.supported:
                raise _unsupported(option)
            return option
    wanted = ", ".join(option.applies_to_text for option in variants)
    wanted = " or ".join(wanted.rsplit(", ", 1))
    got = kind_name(namespace, style)
    raise OptionError(
        name, f"expected {_a(wanted)} {wanted} socket, got {_a(got)} {got} socket"
    )


def _a(word: str) -> str:
    return "an" if word[:1] in ("a", "e", "i", "o") else "a"


def _check(option: Option, value: object) -> Any:
    try:
        return option.codec.check(value)
    except CodecError as exc:
        raise OptionError(option.name, exc.reason) from None


def _prepare(
    name: str, value: object, namespace: Namespace | None, style: Style | None
) -> tuple[Option, Any]:
    _writable(name)
    option = _select(name, namespace, style)
    return option, _check(option, value)


def _read(s: socket.socket, option: Option) -> Raw:
    number = option.number
    assert number is not None  # the caller selected a supported option
    if option.codec.buffer is None:
        return s.getsockopt(option.level, number)
    return s.getsockopt(option.level, number, option.codec.buffer)


def _write(s: socket.socket, option: Option, raw: Raw) -> None:
    number = option.number
    assert number is not None  # the caller selected a supported option
    s.setsockopt(option.level, number, raw)


def _refused(option: Option, exc: OSError, *value: object) -> OptionError:
    why = exc.strerror or str(exc)
    what = f"{option.c_name} = {value[0]!r}" if value else f"to read {option.c_name}"
    return OptionError(
        option.name, f"the kernel refused {what}: {why}", errno_=exc.errno
    )


def _execute(s: socket.socket, plan: list[tuple[Option, Any]]) -> None:
    """Set each planned option; on a refusal put the earlier ones back, then raise."""
    done: list[tuple[Option, Raw | None]] = []
    for option, value in plan:
        before: Raw | None = None
        if len(plan) > 1:
            with contextlib.suppress(OSError):
                before = _read(s, option)
        try:
            _write(s, option, option.codec.encode(value))
        except OSError as exc:
            _roll_back(s, done)
            raise _refused(option, exc, value) from exc
        done.append((option, before))


def _roll_back(s: socket.socket, done: list[tuple[Option, Raw | None]]) -> None:
    for option, before in reversed(done):
        if before is None:
            continue
        codec = option.codec
        with contextlib.suppress(OSError, ValueError, OverflowError, struct.error):
            _write(s, option, codec.encode(codec.restore(codec.decode(before))))
