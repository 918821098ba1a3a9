r"""The exception hierarchy.

Strategy: one root, :class:`AiosockError`. Parse errors are also ``ValueError``\\ s and
carry where they happened; state errors are named after the state of the resource
(as trio names them); connection failures stay plain ``OSError`` subclasses so that
``except ConnectionRefusedError`` keeps working, and :func:`translate_os_error` is the
one place that turns a raw ``OSError`` into the right subclass.
"""

from __future__ import annotations

import errno
import os
from typing import Any

__all__ = [
    "AddressError",
    "AiosockError",
    "BrokenResourceError",
    "BusyResourceError",
    "ClosedResourceError",
    "ConfigError",
    "IncompleteReadError",
    "InterfaceError",
    "MessageTooLargeError",
    "OptionError",
    "ResolutionError",
]


class AiosockError(Exception):
    """The root of every exception aiosock defines."""

    def __reduce__(self) -> tuple[Any, ...]:
        # The subclasses take keyword arguments that ``args`` does not hold: pickle
        # (process pools, multiprocessing) keeps every attribute instead.
        state = dict(self.__dict__)
        if isinstance(self, OSError):
            for name in ("errno", "strerror"):
                if getattr(self, name) is not None:
                    state[name] = getattr(self, name)
        return (_rebuild, (type(self), self.args, state))


def _rebuild(
    cls: type[AiosockError], args: tuple[Any, ...], state: dict[str, Any]
) -> AiosockError:
    # The C-level base decides the layout: OSError's for the resolver and interface
    # errors (``cls.__new__`` would find ValueError's first in the MRO).
    base: Any = OSError if issubclass(cls, OSError) else Exception
    error: AiosockError = base.__new__(cls, *args)
    BaseException.__init__(error, *args)
    for name, value in state.items():
        setattr(error, name, value)
    return error


class AddressError(AiosockError, ValueError):
    """An address or endpoint text that is malformed or out of range.

    Attributes:
        text: The text that was being parsed, or ``None`` for a typed value.
        position: The 0-based offset into ``text`` where the problem starts.
        reason: What was wrong, in lower case ("expected X, got Y").
    """

    def __init__(
        self,
        reason: str,
        *,
        text: str | None = None,
        position: int | None = None,
    ) -> None:
        self.reason = reason
        self.text = text
        self.position = position
        super().__init__(self._render())

    def _render(self) -> str:
        if self.text is None:
            return self.reason
        if self.position is None:
            return f"{self.reason} in {self.text!r}"
        return f"{self.reason} at position {self.position} in {self.text!r}"


class ResolutionError(AddressError, OSError):
    """A host or service name that resolved to nothing usable.

    It is both an :class:`AddressError` (the endpoint cannot be used) and an
    ``OSError`` (it came from the resolver, whose ``errno`` is kept when there is one).
    """

    def __init__(
        self, reason: str, *, text: str | None = None, errno_: int | None = None
    ) -> None:
        AddressError.__init__(self, reason, text=text)
        if errno_ is not None:
            # OSError prints "[Errno N] strerror" once both are set (even to None,
            # hence the test): keep the whole message in ``strerror``.
            self.errno = errno_
            self.strerror = self._render()


class InterfaceError(AiosockError, LookupError, OSError):
    """A network interface name or index that this host does not have.

    It is a ``LookupError`` (a key that is not there) and an ``OSError`` that keeps
    the errno of ``if_nametoindex`` (``ENODEV``) or ``if_indextoname`` (``ENXIO``),
    so code written against the ``socket`` module's ``OSError`` keeps working.

    Attributes:
        reason: What was wrong, in lower case.
    """

    def __init__(self, reason: str, *, errno_: int | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.errno = errno_
        self.strerror = reason

    def __str__(self) -> str:
        return self.reason


class OptionError(AiosockError, ValueError):
    """A socket option that is unknown, read-only, unsupported, or given a bad value.

    Attributes:
        option: The option's Python name.
        reason: What was expected, in lower case.
        errno: The kernel's errno when the kernel refused the option, else ``None``.
    """

    def __init__(self, option: str, reason: str, *, errno_: int | None = None) -> None:
        self.option = option
        self.reason = reason
        self.errno = errno_
        super().__init__(f"option {option!r}: {reason}")


class ConfigError(AiosockError, ValueError):
    """A configuration file that cannot be read as written.

    Attributes:
        file: The file's name (``"<string>"`` when parsed from text).
        line: The 1-based line number, or ``None`` for a whole-file problem.
        field: The name of the field at fault, or ``None``.
        reason: What was wrong, in lower case.
    """

    def __init__(
        self,
        reason: str,
        *,
        file: str = "<string>",
        line: int | None = None,
        field: str | None = None,
    ) -> None:
        self.reason = reason
        self.file = file
        self.line = line
        self.field = field
        where = file if line is None else f"{file}:{line}"
        what = f" (field {field!r})" if field else ""
        super().__init__(f"{where}: {reason}{what}")


class ClosedResourceError(AiosockError):
    """The resource was closed by this side and can no longer be used."""


class BrokenResourceError(AiosockError):
    """The resource was broken by the peer or the network (reset, aborted)."""


class BusyResourceError(AiosockError):
    """Two tasks tried to do the same thing on one resource at once."""


class MessageTooLargeError(AiosockError, OSError):
    """A datagram too large to send, or larger than the receiver would take.

    Sending: the kernel refused the datagram (``EMSGSIZE``): larger than the
    protocol allows (65,507 bytes of UDP payload over IPv4), than the path's MTU
    where fragmentation is off, or than a Unix-domain socket's send buffer.
    Receiving: a datagram was longer than the receiver's ``max_size``; it was
    dropped whole, never handed over cut short. ``errno`` is ``EMSGSIZE`` either
    way, so ``except OSError`` code keeps working.

    Attributes:
        size: The datagram's length in bytes, when known.
        limit: The largest size that would have been taken, when known.
    """

    def __init__(
        self, reason: str, *, size: int | None = None, limit: int | None = None
    ) -> None:
        super().__init__(errno.EMSGSIZE, reason)
        self.reason = reason
        self.size = size
        self.limit = limit

    def __str__(self) -> str:
        return self.reason


class IncompleteReadError(AiosockError, EOFError):
    """The stream ended before the requested amount of data arrived.

    Attributes:
        partial: The bytes that did arrive.
        expected: How many bytes were asked for (``None`` for a delimiter search).
    """

    def __init__(self, partial: bytes, expected: int | None) -> None:
        self.partial = partial
        self.expected = expected
        want = "the delimiter" if expected is None else f"{expected} bytes"
        super().__init__(f"end of stream after {len(partial)} bytes, expected {want}")


_ERRNO_CLASSES: dict[int, type[OSError]] = {
    errno.ECONNREFUSED: ConnectionRefusedError,
    errno.ECONNRESET: ConnectionResetError,
    errno.ECONNABORTED: ConnectionAbortedError,
    errno.EPIPE: BrokenPipeError,
    errno.ENOENT: FileNotFoundError,
    errno.ETIMEDOUT: TimeoutError,
    errno.EACCES: PermissionError,
    errno.EPERM: PermissionError,
}


def translate_os_error(exc: OSError, context: str | None = None) -> OSError:
    """Return ``exc`` as the most specific ``OSError`` subclass for its errno.

    Args:
        exc: The error as raised by the socket layer.
        context: Optional words on what was being done (for example
            ``"connect to tcp://127.0.0.1:1"``), added to the message.

    Returns:
        An ``OSError`` whose class matches ``errno`` and whose message names the
        context; ``exc`` itself when there is nothing to add.
    """
    cls: type[OSError] = _ERRNO_CLASSES.get(exc.errno or 0, type(exc))
    if not issubclass(cls, type(exc)) and type(exc) is not OSError:
        cls = type(exc)
    if context is None and cls is type(exc):
        return exc
    strerror = os.strerror(exc.errno) if exc.errno else exc.strerror or str(exc)
    if context:
        strerror = f"{strerror} ({context})"
    args: Any = (exc.errno, strerror)
    new = cls(*args)
    new.__cause__ = exc
    return new


def _publish() -> None:
    """Name the public path in tracebacks: ``aiosock.AddressError: …`` (as trio does).

    Every class here is re-exported by ``aiosock``, so pickling by name still works.
    """
    for name in __all__:
        globals()[name].__module__ = "aiosock"


_publish()
