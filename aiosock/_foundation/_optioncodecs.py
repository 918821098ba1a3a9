"""Codecs between Python values and the bytes or ints ``setsockopt`` takes.

Strategy: each codec is a small frozen attrs value with four steps: ``check``
validates and normalizes a Python value (raising :class:`CodecError` with an
"expected X, got Y" reason), ``encode`` turns a checked value into what
``socket.setsockopt`` takes, ``decode`` turns what ``socket.getsockopt`` returned
back into a Python value, and ``restore`` maps a decoded reading to the value that
sets the option back to it (the identity except where the kernel reports something
other than what was set, such as the doubled buffer sizes). ``buffer`` says how
many bytes to ask ``getsockopt`` for, or ``None`` for a C ``int``. Codecs never
touch a socket.
"""

from __future__ import annotations

import ipaddress
import math
import os
import socket
import struct
from typing import Any, ClassVar

import attrs

from ._concepts import Namespace, Style
from ._credentials import Credentials
from ._tcpinfo import TCP_INFO_SIZE, TcpInfo, decode_tcp_info

__all__ = [
    "BoolCodec",
    "Codec",
    "CodecError",
    "CredentialsCodec",
    "IPv4AddressCodec",
    "IntCodec",
    "Linger",
    "LingerCodec",
    "MillisecondsCodec",
    "NameCodec",
    "NamespaceCodec",
    "StyleCodec",
    "TcpInfoCodec",
    "TimevalCodec",
]

_INT_MAX = 2**31 - 1
_UINT_MAX = 2**32 - 1
Raw = int | bytes


class CodecError(Exception):
    """A value a codec cannot encode; ``reason`` says what was expected."""

    def __init__(self, reason: str) -> None:
        self.reason = reason
        super().__init__(reason)


def _got(value: object) -> str:
    return f"{type(value).__name__} {value!r}"


def _as_bytes(raw: Raw) -> bytes:
    if isinstance(raw, int):
        raise TypeError(f"expected bytes from getsockopt, got int {raw!r}")
    return raw


def _as_int(raw: Raw) -> int:
    if isinstance(raw, bytes):
        raise TypeError(f"expected an int from getsockopt, got bytes {raw!r}")
    return raw


class Codec:
    """The base of every codec: how one option's value crosses ``setsockopt``."""

    _TYPE: ClassVar[str] = "object"
    _BUFFER: ClassVar[int | None] = None

    @property
    def type_name(self) -> str:
        """The value's type as the docs show it."""
        return self._TYPE

    @property
    def buffer(self) -> int | None:
        """The ``getsockopt`` buffer length, or ``None`` for a C ``int``."""
        return self._BUFFER

    def check(self, value: object) -> Any:
        """Return ``value`` normalized, or raise :class:`CodecError`."""
        raise CodecError(f"expected no value (read-only), got {_got(value)}")

    def encode(self, value: Any) -> Raw:
        """Return what ``setsockopt`` takes for a checked ``value``."""
        raise NotImplementedError

    def decode(self, raw: Raw) -> Any:
        """Return the Python value of what ``getsockopt`` returned."""
        return raw

    def restore(self, value: Any) -> Any:
        """Return the value to set so that the option reads ``value`` again."""
        return value


@attrs.frozen
class BoolCodec(Codec):
    """A C ``int`` used as a flag; the Python value is a ``bool``."""

    _TYPE: ClassVar[str] = "bool"

    def check(self, value: object) -> bool:
        if not isinstance(value, bool):
            raise CodecError(f"expected a bool, got {_got(value)}")
        return value

    def encode(self, value: bool) -> int:
        return int(value)

    def decode(self, raw: Raw) -> bool:
        return bool(_as_int(raw))


@attrs.frozen
class IntCodec(Codec):
    """A C ``int`` (or ``unsigned int``) within ``low..high``, plus a few specials.

    Attributes:
        low: The smallest value accepted.
        high: The largest value accepted.
        special: Values outside ``low..high`` that are accepted too (``-1`` for
            "the system default").
        unsigned: Pass the value as a 32-bit unsigned integer.
        doubled: The kernel reports twice what was set (``SO_RCVBUF``).
        unit: Words for the docs after the type ("seconds", "bytes").
        label: The type as the docs show it, instead of one made from the range.
    """

    low: int = 0
    high: int = _INT_MAX
    special: tuple[int, ...] = ()
    unsigned: bool = False
    doubled: bool = False
    unit: str = ""
    label: str = ""

    @property
    def type_name(self) -> str:
        """``int`` and its range, as the docs show it."""
        if self.label:
            return self.label
        if self.high == _INT_MAX:
            span = f"{self.low} or more"
        elif self.high == _UINT_MAX:
            span = f"{self.low}..2**32-1"
        else:
            span = f"{self.low}..{self.high}"
        extra = "".join(f"{s} or " for s in self.special)
        unit = f" {self.unit}" if self.unit else ""
        return f"int ({extra}{span}){unit}"

    @property
    def buffer(self) -> int | None:
        """Four bytes for unsigned values, else a C ``int``."""
        return 4 if self.unsigned else None

    def check(self, value: object) -> int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise CodecError(f"expected an int, got {_got(value)}")
        if not (self.low <= value <= self.high or value in self.special):
            extra = "".join(f" or {s}" for s in self.special)
            raise CodecError(
                f"expected an int in {self.low}..{self.high}{extra}, got {value}"
            )
        return value

    def encode(self, value: int) -> Raw:
        return struct.pack("=I", value) if self.unsigned else value

    def decode(self, raw: Raw) -> int:
        if self.unsigned:
            value: int = struct.unpack("=I", _as_bytes(raw)[:4])[0]
            return value
        return _as_int(raw)

    def restore(self, value: int) -> int:
        return max(value // 2, 1) if self.doubled else value


@attrs.frozen
class Linger:
    """What ``close()`` does with data not yet sent (``struct linger``).

    Attributes:
        enabled: Whether ``close()`` lingers; when off the kernel sends what is
            left in the background.
        seconds: How long ``close()`` waits for the data to go; with ``enabled``
            and 0 seconds the connection is reset instead. Always 0 when read
            back disabled.
    """

    enabled: bool = attrs.field(validator=attrs.validators.instance_of(bool))
    seconds: int = attrs.field(default=0)

    @seconds.validator
    def _check_seconds(self, attribute: attrs.Attribute[int], value: int) -> None:
        if isinstance(value, bool) or not isinstance(value, int):
            raise TypeError(f"'seconds' must be an int (got {_got(value)})")
        if not 0 <= value <= _INT_MAX:
            raise ValueError(f"'seconds' must be in 0..{_INT_MAX} (got {value})")


@attrs.frozen
class LingerCodec(Codec):
    """``struct linger``: two C ints; the Python value is a :class:`Linger`."""

    _TYPE: ClassVar[str] = "Linger"
    _BUFFER: ClassVar[int | None] = 8

    def check(self, value: object) -> Linger:
        if isinstance(value, Linger):
            return value
        if isinstance(value, tuple) and len(value) == 2:
            try:
                return Linger(*value)
            except (TypeError, ValueError) as exc:
                # (attrs' validators put their own objects in args; the first
                # is the message.)
                why = exc.args[0] if exc.args else exc
                raise CodecError(f"expected Linger(enabled, seconds), {why}") from None
        raise CodecError(
            f"expected a Linger or an (enabled, seconds) tuple, got {_got(value)}"
        )

    def encode(self, value: Linger) -> bytes:
        return struct.pack("=ii", int(value.enabled), value.seconds)

    def decode(self, raw: Raw) -> Linger:
        onoff, seconds = struct.unpack("=ii", _as_bytes(raw)[:8])
        # Turning linger off leaves the kernel's old seconds behind; they mean
        # nothing until linger is turned on again, with new seconds.
        return Linger(bool(onoff), seconds if onoff else 0)


def _check_seconds(value: object, high: float) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise CodecError(f"expected a number of seconds, got {_got(value)}")
    if not (0 <= value <= high and math.isfinite(value)):
        raise CodecError(f"expected seconds in 0..{high:g}, got {value!r}")
    return float(value)


_TIMEVAL = struct.Struct("@ll")


def _units(seconds: float, per_second: int) -> int:
    """``seconds`` in whole units, to the nearest; a positive time is 1 or more.

    0 means "no timeout" to the kernel: a time too short for the unit must not
    become one (4e-07 s as a ``timeval`` is 1 µs, not 0).
    """
    units = round(seconds * per_second)
    return 1 if units == 0 and seconds > 0 else units


@attrs.frozen
class TimevalCodec(Codec):
    """``struct timeval``; the Python value is a ``float`` of seconds, 0 = never."""

    _TYPE: ClassVar[str] = "float (seconds, 0 = none)"
    _BUFFER: ClassVar[int | None] = _TIMEVAL.size

    def check(self, value: object) -> float:
        return _check_seconds(value, _INT_MAX)

    def encode(self, value: float) -> bytes:
        seconds, micros = divmod(_units(value, 1_000_000), 1_000_000)
        return _TIMEVAL.pack(seconds, micros)

    def decode(self, raw: Raw) -> float:
        seconds, micros = _TIMEVAL.unpack(_as_bytes(raw)[: _TIMEVAL.size])
        return float(seconds + micros / 1_000_000)


@attrs.frozen
class MillisecondsCodec(Codec):
    """A C ``int`` of milliseconds; the Python value is a ``float`` of seconds."""

    _TYPE: ClassVar[str] = "float (seconds, to the millisecond)"

    def check(self, value: object) -> float:
        return _check_seconds(value, _INT_MAX / 1000)

    def encode(self, value: float) -> int:
        return min(_units(value, 1000), _INT_MAX)

    def decode(self, raw: Raw) -> float:
        return _as_int(raw) / 1000


@attrs.frozen
class NameCodec(Codec):
    """A NUL-terminated name (an interface, a congestion-control algorithm).

    Attributes:
        size: The C buffer size, terminating NUL included.
        what: What the name names, for messages and docs.
        allow_empty: Whether ``""`` is accepted (it unbinds a device).
    """

    size: int = 16
    what: str = "name"
    allow_empty: bool = True

    @property
    def type_name(self) -> str:
        """``str`` and what it names."""
        return f"str ({self.what})"

    @property
    def buffer(self) -> int | None:
        """The C buffer size."""
        return self.size

    def check(self, value: object) -> str:
        if not isinstance(value, str):
            raise CodecError(f"expected an {self.what} as a str, got {_got(value)}")
        try:
            encoded = os.fsencode(value)
        except UnicodeEncodeError:
            raise CodecError(
                f"expected an encodable {self.what}, got {value!r}"
            ) from None
        if b"\0" in encoded or len(encoded) >= self.size:
            raise CodecError(
                f"expected an {self.what} of at most {self.size - 1} bytes "
                f"without NUL, got {value!r}"
            )
        if not value and not self.allow_empty:
            raise CodecError(f"expected a non-empty {self.what}, got ''")
        return value

    def encode(self, value: str) -> bytes:
        return os.fsencode(value)

    def decode(self, raw: Raw) -> str:
        return os.fsdecode(_as_bytes(raw).split(b"\0", 1)[0])


@attrs.frozen
class IPv4AddressCodec(Codec):
    """``struct in_addr``; the Python value is the address as a ``str``."""

    _TYPE: ClassVar[str] = "str (IPv4 address)"
    _BUFFER: ClassVar[int | None] = 4

    def check(self, value: object) -> str:
        if isinstance(value, ipaddress.IPv4Address):
            return str(value)
        if isinstance(value, str):
            try:
                return str(ipaddress.IPv4Address(value))
            except ValueError:
                pass
        raise CodecError(f"expected an IPv4 address, got {_got(value)}")

    def encode(self, value: str) -> bytes:
        return socket.inet_aton(value)

    def decode(self, raw: Raw) -> str:
        return socket.inet_ntoa(_as_bytes(raw)[:4])


@attrs.frozen
class StyleCodec(Codec):
    """``SO_TYPE`` as a :class:`~aiosock.Style` (an ``int`` if aiosock lacks it)."""

    _TYPE: ClassVar[str] = "Style"

    def decode(self, raw: Raw) -> Style | int:
        try:
            return Style.from_type(_as_int(raw))
        except ValueError:
            return _as_int(raw)


@attrs.frozen
class NamespaceCodec(Codec):
    """``SO_DOMAIN`` as a :class:`~aiosock.Namespace` (else the ``int``)."""

    _TYPE: ClassVar[str] = "Namespace"

    def decode(self, raw: Raw) -> Namespace | int:
        try:
            return Namespace.from_family(_as_int(raw))
        except ValueError:
            return _as_int(raw)


_UCRED = struct.Struct("=iII")


@attrs.frozen
class CredentialsCodec(Codec):
    """``struct ucred`` as :class:`~aiosock.Credentials`, ``None`` with no peer."""

    _TYPE: ClassVar[str] = "Credentials | None"
    _BUFFER: ClassVar[int | None] = _UCRED.size

    def decode(self, raw: Raw) -> Credentials | None:
        pid, uid, gid = _UCRED.unpack(_as_bytes(raw)[: _UCRED.size])
        if pid == 0 and uid == gid == _UINT_MAX:
            return None  # the kernel's answer for a socket without a peer
        return Credentials(pid, uid, gid)


@attrs.frozen
class TcpInfoCodec(Codec):
    """``struct tcp_info`` as a :class:`TcpInfo`."""

    _TYPE: ClassVar[str] = "TcpInfo"
    _BUFFER: ClassVar[int | None] = TCP_INFO_SIZE

    def decode(self, raw: Raw) -> TcpInfo:
        return decode_tcp_info(_as_bytes(raw))
