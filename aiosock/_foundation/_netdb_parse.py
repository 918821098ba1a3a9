r"""Parsers for /etc/services, /etc/protocols, /etc/networks and /etc/hosts.

Strategy: read each file exactly as the GNU C library's ``nss_files`` module does,
so that look-ups built on these parsers give the C library's answers. That module
reads a line with ``fgets`` (lines end at ``\n`` only; a NUL byte ends the text
of a line), skips blank lines and lines whose first non-blank character is ``#``,
strips the leading blanks (with a quirk, kept here: a last line that starts with
blanks and has no newline gets its tail repeated), cuts the line at the first
``#``, then splits fields at the six ``isspace`` characters of the "C" locale.
Numbers are read with ``strtoul`` (services: base 0, so ``0x50`` and ``0120`` are
80; protocols: base 10; a value above 32 bits spoils the line); network numbers with
``inet_network``, after padding a short number with ``.0`` parts; host addresses
with ``inet_pton``. A line the C library skips is skipped and reported; a line it
keeps but reads surprisingly is kept, read the same way, and reported.

Every parser is pure: ``str`` in, :class:`ParseResult` out; no I/O, no asyncio.
"""

from __future__ import annotations

import ipaddress
import re
import socket
from collections.abc import Callable, Iterator

from ._netdb_records import (
    Host,
    IPAddress,
    Network,
    ParseResult,
    Problem,
    Protocol,
    Service,
)

__all__ = [
    "c_lines",
    "inet_network",
    "network_number",
    "parse_hosts",
    "parse_networks",
    "parse_protocols",
    "parse_services",
    "strtoul",
]

_SPACE = " \t\n\v\f\r"
_FIELD = re.compile(r"([^ \t\n\v\f\r]*)[ \t\n\v\f\r]*")
_WORDS = re.compile(r"[^ \t\n\v\f\r]+")
_CUT = re.compile(r"[#\n]")
_DECIMAL = re.compile(r"[1-9][0-9]*")
_ULONG_MAX = 2**64 - 1
_U32_MAX = 2**32 - 1
_INADDR_NONE = _U32_MAX


def c_lines(text: str) -> Iterator[tuple[int, str, str, str]]:
    """Yield the lines the C library parses, as it sees them.

    Yields:
        ``(lineno, written, seen, meant)``: the 1-based line number, the line as
        written (without its newline), the text the C library parses, and the text
        the writer meant (the same unless the leading-blanks quirk struck).
    """
    pieces = text.split("\n")
    last = len(pieces) - 1
    for number, piece in enumerate(pieces, 1):
        if number - 1 == last and piece == "":
            break
        raw = piece if number - 1 == last else piece + "\n"
        line = raw.split("\0", 1)[0]
        stripped = line.lstrip(_SPACE)
        if not stripped or stripped[0] == "#":
            continue
        seen = _quirk(line, stripped) if stripped is not line else stripped
        yield number, piece, _CUT.split(seen, 1)[0], _CUT.split(stripped, 1)[0]


def _quirk(line: str, stripped: str) -> str:
    """The text glibc parses for a line whose leading blanks it stripped.

    It does ``memmove(buf, p, strlen(p))`` without the NUL, so the last bytes of
    the line, as many as there were blanks, stay behind the moved text: bytes, not
    characters, so it is done on the UTF-8 bytes the file was decoded from.
    """
    raw = line.encode("utf-8", "surrogateescape")
    moved = stripped.encode("utf-8", "surrogateescape")
    blanks = len(raw) - len(moved)
    return (moved + raw[len(raw) - blanks :]).decode("utf-8", "surrogateescape")


def _field(text: str) -> tuple[str, str]:
    """Split off the first field and the blanks after it (``STRING_FIELD``)."""
    match = _FIELD.match(text)
    assert match is not None  # the pattern matches any text
    return match.group(1), text[match.end() :]


def _words(text: str) -> tuple[str, ...]:
    return tuple(_WORDS.findall(text))


def _digit(char: str, base: int) -> int:
    if "0" <= char <= "9":
        value = ord(char) - 48
    elif "a" <= char <= "z":
        value = ord(char) - 87
    elif "A" <= char <= "Z":
        value = ord(char) - 55
    else:
        return -1
    return value if value < base else -1


def strtoul(text: str, base: int) -> tuple[int, int]:
    """Read a number as C's ``strtoul`` does on a 64-bit system.

    Args:
        text: The text, read from its start.
        base: 0 (``0x`` hex, ``0`` octal, else decimal), or 2..36.

    Returns:
        ``(value, end)``: the value as an ``unsigned long`` (negative numbers wrap,
        overflow gives ``ULONG_MAX``) and the index just after the number; ``end``
        is 0 when there was no number.
    """
    if base in (0, 10) and (plain := _DECIMAL.match(text)):
        # The common case, a plain decimal number: the loop below in one step.
        value = int(plain.group())
        return min(value, _ULONG_MAX), plain.end()
    n = len(text)
    i = len(text) - len(text.lstrip(_SPACE))
    negative = False
    if i < n and text[i] in "+-":
        negative = text[i] == "-"
        i += 1
    if text.startswith("0", i):
        if base in (0, 16) and text[i + 1 : i + 2] in ("x", "X"):
            if _digit(text[i + 2 : i + 3] or "?", 16) < 0:
                # "0x" without hex digits: the number is the "0".
                return 0, i + 1
            base = 16
            i += 2
        elif base == 0:
            base = 8
    elif base == 0:
        base = 10
    start = i
    value = 0
    while i < n and (d := _digit(text[i], base)) >= 0:
        value = value * base + d
        i += 1
    if i == start:
        return 0, 0
    if value > _ULONG_MAX:
        return _ULONG_MAX, i
    return (-value) & _ULONG_MAX if negative else value, i


def _strtou32(text: str, base: int) -> tuple[int, int]:
    """``strtoul`` as nss_files uses it: a value above 32 bits is no number."""
    value, end = strtoul(text, base)
    return (value, end) if value <= _U32_MAX else (value, -end)


def inet_network(text: str) -> int | None:
    """Read a network number as the C library's ``inet_network`` does.

    ``"10.1"`` is ``0x0a01`` (the parts are the low bytes); parts may be octal
    (``010``) or hex (``0x10``). Returns ``None`` where the C function returns
    ``INADDR_NONE`` for an error.
    """
    parts: list[int] = []
    i, n = 0, len(text)
    while True:
        value, base, digit = 0, 10, False
        if text.startswith("0", i):
            digit, base, i = True, 8, i + 1
        if text[i : i + 1] in ("x", "X"):
            digit, base, i = False, 16, i + 1
        while i < n:
            char = text[i]
            if "0" <= char <= "9":
                if base == 8 and char in "89":
                    return None
                value = (value * base + ord(char) - 48) & _U32_MAX
            elif base == 16 and (d := _digit(char, 16)) >= 0:
                value = ((value << 4) + d) & _U32_MAX
            else:
                break
            i += 1
            digit = True
        if not digit or len(parts) >= 4 or value > 0xFF:
            return None
        if text.startswith(".", i):
            parts.append(value)
            i += 1
            continue
        break
    if text[i:].lstrip(_SPACE):
        return None
    parts.append(value)
    result = 0
    for part in parts:
        result = (result << 8) | part
    return result


def network_number(text: str) -> int | None:
    """Read the number field of /etc/networks as the C library does.

    A number of fewer than four parts is padded with ``.0`` parts first, so
    ``"127"`` is ``127.0.0.0`` and ``"10.1"`` is ``10.1.0.0``; the result is the
    ``n_net`` of the entry, or ``None`` when ``inet_network`` rejects the text.
    """
    parts = min(text.count("."), 3) + 1
    return inet_network(text + ".0" * (4 - parts))


def _got(text: str) -> str:
    return repr(text) if text else "the end of the line"


def _service(line: str) -> tuple[Service | None, str | None]:
    name, rest = _field(line)
    value, end = _strtou32(rest, 0)
    if end == 0:
        word = _field(rest)[0]
        return None, f"expected a port number after {name!r}, got {_got(word)}"
    if end < 0:
        return None, f"expected a port in 0..65535, got {rest[:-end]!r}"
    port_text, after = rest[:end], rest[end:]
    notes = []
    if value > 65535:
        notes.append(
            f"expected a port in 0..65535, got {port_text!r}"
            f" (the C library reads it as {value & 0xFFFF})"
        )
    if after.startswith("/"):
        protocol, rest = _field(after.lstrip("/"))
        missing = "expected a protocol after the '/', got nothing"
    elif after:
        return None, f"expected '/' and a protocol after the port, got {after!r}"
    else:
        protocol, rest = "", ""
        missing = "expected '/' and a protocol after the port, got the end of the line"
    if not protocol:
        notes.append(f"{missing} (the C library keeps the entry with no protocol)")
    return Service(name, value & 0xFFFF, protocol, _words(rest)), _join(notes)


def _join(notes: list[str]) -> str | None:
    return "; ".join(notes) if notes else None


def _protocol(line: str) -> tuple[Protocol | None, str | None]:
    name, rest = _field(line)
    value, end = _strtou32(rest, 10)
    if end == 0:
        word = _field(rest)[0]
        return None, f"expected a protocol number after {name!r}, got {_got(word)}"
    if end < 0:
        return None, f"expected a protocol number in 0..2147483647, got {rest[:-end]!r}"
    after = rest[end:]
    if after and after[0] not in _SPACE:
        return None, f"expected a space after the protocol number, got {after!r}"
    number = value - 2**32 if value >= 2**31 else value
    note = None
    if number < 0:
        note = (
            f"expected a protocol number in 0..2147483647, got {rest[:end]!r}"
            f" (the C library reads it as {number})"
        )
    return Protocol(name, number, _words(after)), note


def _network(line: str) -> tuple[Network | None, str | None]:
    name, rest = _field(line)
    text, rest = _field(rest)
    number = network_number(text)
    note = None
    if number is None:
        number = _INADDR_NONE
        note = (
            f"expected a network number such as '10.1' or '127.0.0.0', got "
            f"{_got(text)} (the C library reads it as 255.255.255.255)"
        )
    return Network(name, number, _words(rest)), note


def _host_address(text: str) -> IPAddress | None:
    for family, cls in (
        (socket.AF_INET, ipaddress.IPv4Address),
        (socket.AF_INET6, ipaddress.IPv6Address),
    ):
        try:
            packed = socket.inet_pton(family, text)
        except (OSError, ValueError):
            continue
        return cls(packed)
    return None


def _host(line: str) -> tuple[Host | None, str | None]:
    text, rest = _field(line)
    address = _host_address(text)
    if address is None:
        return None, f"expected an IPv4 or IPv6 address, got {text!r}"
    name, rest = _field(rest)
    note = None
    if not name:
        note = (
            "expected a host name after the address, got the end of the line "
            "(the C library keeps the entry with an empty name)"
        )
    return Host(name, (address,), _words(rest)), note


def _line_notes(written: str, seen: str, meant: str) -> list[str]:
    notes = []
    nul = written.find("\0")
    if seen != meant:
        got = "a NUL byte" if nul >= 0 else "the end of the file"
        notes.append(
            "expected a newline at the end of a line that starts with blanks, got "
            f"{got} (the C library reads the line as {seen!r})"
        )
    elif nul >= 0 and "#" not in written[:nul]:
        notes.append(
            f"expected no NUL byte, got one at column {nul + 1} "
            "(the C library ignores the rest of the line)"
        )
    return notes


def _parse(
    text: str, line_parser: Callable[[str], tuple[object, str | None]]
) -> ParseResult[object]:
    if not isinstance(text, str):
        raise TypeError(f"expected the file's text as a str, got {type(text).__name__}")
    entries: list[object] = []
    problems: list[Problem] = []
    for number, written, seen, meant in c_lines(text):
        entry, note = line_parser(seen)
        if entry is not None:
            entries.append(entry)
        notes = _line_notes(written, seen, meant)
        if note is not None:
            notes.insert(0, note)
        if notes:
            problems.append(Problem(number, written, _join(notes) or "", entry is None))
    return ParseResult(tuple(entries), tuple(problems))


def parse_services(text: str) -> ParseResult[Service]:
    r"""Parse the text of a services database (``/etc/services``).

    Each line is ``NAME PORT/PROTOCOL [ALIAS...]``; ``#`` starts a comment.

    Args:
        text: The whole file's text.

    Returns:
        The entries in file order, and a :class:`Problem` for each line skipped
        or read in a surprising way.

    Raises:
        TypeError: ``text`` is not a ``str``.

    Example:
        >>> from aiosock.netdb import parse_services
        >>> result = parse_services("http 80/tcp www  # WorldWideWeb\nbad line\n")
        >>> result.entries
        (Service(name='http', port=80, protocol='tcp', aliases=('www',)),)
        >>> print(result.problems[0])
        line 2: expected a port number after 'bad', got 'line' (skipped: 'bad line')
    """
    return _parse(text, _service)  # type: ignore[return-value]


def parse_protocols(text: str) -> ParseResult[Protocol]:
    """Parse the text of a protocols database (``/etc/protocols``).

    Each line is ``NAME NUMBER [ALIAS...]``; ``#`` starts a comment.

    Args:
        text: The whole file's text.

    Returns:
        The entries in file order, and the problems met.

    Raises:
        TypeError: ``text`` is not a ``str``.
    """
    return _parse(text, _protocol)  # type: ignore[return-value]


def parse_networks(text: str) -> ParseResult[Network]:
    """Parse the text of a networks database (``/etc/networks``).

    Each line is ``NAME NUMBER [ALIAS...]``. A number of fewer than four parts is
    the high-order parts of the network (``127`` is ``127.0.0.0``), as the C
    library reads it.

    Args:
        text: The whole file's text.

    Returns:
        The entries in file order, and the problems met.

    Raises:
        TypeError: ``text`` is not a ``str``.
    """
    return _parse(text, _network)  # type: ignore[return-value]


def parse_hosts(text: str) -> ParseResult[Host]:
    """Parse the text of a hosts database (``/etc/hosts``).

    Each line is ``ADDRESS NAME [ALIAS...]`` with an IPv4 or IPv6 address (no
    zone: the C library skips ``fe80::1%eth0``). Each line gives one entry.

    Args:
        text: The whole file's text.

    Returns:
        The entries in file order, and the problems met.

    Raises:
        TypeError: ``text`` is not a ``str``.
    """
    return _parse(text, _host)  # type: ignore[return-value]
