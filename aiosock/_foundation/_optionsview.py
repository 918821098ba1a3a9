"""A live mapping over one socket's options: ``stream.options["no_delay"] = True``."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, MutableMapping
from typing import Any

from ._errors import OptionError
from ._options import (
    SocketLike,
    borrow_socket,
    get,
    listed_options,
    snapshot,
    socket_kind,
)
from ._options import set as set_options

__all__ = ["OptionsView"]


class OptionsView(MutableMapping[str, Any]):
    """The options of one socket as a mapping that reads and writes the socket.

    Nothing is cached: ``view["no_delay"]`` calls :func:`~aiosock.options.get` and
    ``view["no_delay"] = True`` calls :func:`~aiosock.options.set`. The keys are the
    options :func:`~aiosock.options.snapshot` reads for this kind of socket; a
    name that does not apply (or that the platform lacks) raises ``KeyError`` as
    a mapping should, chained to the :class:`~aiosock.OptionError` that says why.
    ``error`` is readable but not among the keys, since reading it clears it.
    Options cannot be deleted (``del`` raises ``TypeError``); :meth:`update` sets
    all of its options or none.

    Example::

        view = OptionsView(sock)
        view["no_delay"] = True
        view.update(keepalive=True, keepalive_idle=60)
        dict(view)  # the same as snapshot(sock)

    Args:
        sock: A ``socket.socket``, a file descriptor, or an object with a
            ``socket`` attribute or a ``fileno()`` method.
    """

    __slots__ = ("_sock",)

    def __init__(self, sock: SocketLike) -> None:
        self._sock = sock

    def __getitem__(self, name: str) -> Any:
        try:
            return get(self._sock, name)
        except OptionError as exc:
            if exc.errno is None:  # unknown, unsupported or inapplicable: no such key
                raise KeyError(name) from exc
            raise

    def __setitem__(self, name: str, value: Any) -> None:
        set_options(self._sock, **{name: value})

    def __delitem__(self, name: str) -> None:
        raise TypeError(
            f"expected an option to set, got a deletion of {name!r}: socket "
            "options cannot be deleted"
        )

    def __iter__(self) -> Iterator[str]:
        return iter(self._keys())

    def __len__(self) -> int:
        return len(self._keys())

    def __contains__(self, name: object) -> bool:
        return name in self._keys()

    def __repr__(self) -> str:
        return f"OptionsView({self._sock!r})"

    def update(  # type: ignore[override]
        self,
        other: Mapping[str, Any] | Iterable[tuple[str, Any]] = (),
        /,
        **values: Any,
    ) -> None:
        """Set several options at once, all or nothing (see :func:`set`)."""
        items = dict(other.items() if isinstance(other, Mapping) else other)
        items.update(values)
        for name in items:
            if not isinstance(name, str):
                raise OptionError(
                    repr(name),
                    f"expected an option name as a str, got {type(name).__name__}",
                )
        set_options(self._sock, **items)

    def snapshot(self) -> dict[str, Any]:
        """Return every option's current value (see :func:`snapshot`)."""
        return snapshot(self._sock)

    def _keys(self) -> list[str]:
        with borrow_socket(self._sock) as s:
            return [option.name for option in listed_options(*socket_kind(s))]
