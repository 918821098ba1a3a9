"""Sphinx extension: the socket options tables, generated from aiosock's registry.

Two directives, so that the docs cannot drift from the code:

``.. aiosock-options-table::``
    One row per option: name, level, C name, type, read-only, the kinds of socket
    it applies to, what it must be set before, and its default on the machine that
    builds the docs (read from a fresh socket of the first kind it applies to).

``.. aiosock-options-descriptions::``
    Each option's one-line summary, grouped by level.

Both emit reStructuredText and let Sphinx parse it, so every cell is ordinary
markup (literals, links to the value types).
"""

from __future__ import annotations

import socket
from typing import TYPE_CHECKING, Any

from docutils import nodes
from docutils.statemachine import StringList
from sphinx.util.docutils import SphinxDirective

from aiosock import OptionError, options
from aiosock._cli._options import format_value

if TYPE_CHECKING:
    from sphinx.application import Sphinx

# The kinds of socket to read defaults from, in order of preference.
_KIND_ARGS: dict[str, tuple[int, int, int]] = {
    "tcp4": (socket.AF_INET, socket.SOCK_STREAM, 0),
    "udp4": (socket.AF_INET, socket.SOCK_DGRAM, 0),
    "unix": (socket.AF_UNIX, socket.SOCK_STREAM, 0),
    "tcp6": (socket.AF_INET6, socket.SOCK_STREAM, 0),
    "udp6": (socket.AF_INET6, socket.SOCK_DGRAM, 0),
    "unixgram": (socket.AF_UNIX, socket.SOCK_DGRAM, 0),
    "unixpacket": (socket.AF_UNIX, socket.SOCK_SEQPACKET, 0),
    "ip4": (socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP),
    "ip6": (socket.AF_INET6, socket.SOCK_RAW, socket.IPPROTO_ICMPV6),
}
# Value types documented in the API reference: the type column links to them.
_LINKED_TYPES = {
    "Linger": ":class:`~aiosock.options.Linger`",
    "TcpInfo": ":class:`~aiosock.options.TcpInfo`",
    "Style": ":class:`~aiosock.Style`",
    "Namespace": ":class:`~aiosock.Namespace`",
    "Credentials | None": ":class:`~aiosock.Credentials` or ``None``",
}
_DASH = "\N{EM DASH}"


def _default(row: options.Option) -> str:
    if not row.supported:
        return "not supported here"
    if row.read_only:
        return _DASH
    applies = [name.strip() for name in row.applies_to_text.split(",")]
    for kind, args in _KIND_ARGS.items():
        if row.kinds is not None and kind not in applies:
            continue
        try:
            sock = socket.socket(*args)
        except OSError:
            continue  # no IPv6 here, or raw sockets need privileges
        with sock:
            try:
                value = options.get(sock, row.name)
            except OptionError:
                return _DASH
        return f"``{format_value(value)}``"
    return _DASH


def _cells(row: options.Option) -> list[str]:
    kinds = row.applies_to_text
    return [
        f"``{row.name}``",
        row.level_name,
        f"``{row.c_name}``",
        _LINKED_TYPES.get(row.type_name, row.type_name),
        "yes" if row.read_only else "",
        kinds,
        row.phase.label,
        _default(row),
    ]


def _list_table(header: list[str], rows: list[list[str]]) -> list[str]:
    lines = [".. list-table::", "   :header-rows: 1", ""]
    for cells in [header, *rows]:
        lines.append(f"   * - {cells[0] or ' '}")
        lines.extend(f"     - {cell or ' '}" for cell in cells[1:])
    return lines


class _RegistryDirective(SphinxDirective):
    has_content = False

    def _parse(self, lines: list[str]) -> list[nodes.Node]:
        container = nodes.container()
        source = StringList(lines, source="<aiosock options registry>")
        self.state.nested_parse(source, self.content_offset, container)
        return list(container.children)


class OptionsTable(_RegistryDirective):
    """``.. aiosock-options-table::``: every option, one row each."""

    def run(self) -> list[nodes.Node]:
        header = [
            "Name",
            "Level",
            "C name",
            "Type",
            "Read-only",
            "Applies to",
            "Set before",
            "Default here",
        ]
        rows = [_cells(row) for row in options.registry()]
        return self._parse(_list_table(header, rows))


class OptionsDescriptions(_RegistryDirective):
    """``.. aiosock-options-descriptions::``: what each option does, by level."""

    def run(self) -> list[nodes.Node]:
        lines: list[str] = []
        level = None
        for row in options.registry():
            if row.level_name != level:
                level = row.level_name
                lines += ["", f"**{level}**", ""]
            flags = ", read-only" if row.read_only else ""
            lines += [
                f"``{row.name}`` (``{row.c_name}``{flags})",
                f"   {row.summary[0].upper()}{row.summary[1:]}.",
                "",
            ]
        return self._parse(lines)


def setup(app: Sphinx) -> dict[str, Any]:
    """Register the directives with Sphinx."""
    app.add_directive("aiosock-options-table", OptionsTable)
    app.add_directive("aiosock-options-descriptions", OptionsDescriptions)
    return {"version": "1.0", "parallel_read_safe": True, "parallel_write_safe": True}
