"""Watching a logger from a test: its records, and an event to wait for the first."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Iterator


class Logged:
    """What a logger emitted at a level or above while watched."""

    def __init__(self) -> None:
        self.records: list[logging.LogRecord] = []
        #: Set (on the loop) once the first record came.
        self.seen = asyncio.Event()

    @property
    def messages(self) -> list[str]:
        """The records' messages, in order."""
        return [record.getMessage() for record in self.records]


@contextlib.contextmanager
def logged(name: str, level: int = logging.WARNING) -> Iterator[Logged]:
    """Collect what logger ``name`` emits at ``level`` or above, while in the block.

    Must be entered on the running loop; records may come from any thread.
    """
    got = Logged()
    loop = asyncio.get_running_loop()

    class Catch(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            got.records.append(record)
            loop.call_soon_threadsafe(got.seen.set)

    handler = Catch(level)
    logger = logging.getLogger(name)
    logger.addHandler(handler)
    try:
        yield got
    finally:
        logger.removeHandler(handler)
