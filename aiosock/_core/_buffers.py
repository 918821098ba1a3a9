"""One receive buffer per event loop, lent to every buffered protocol of that loop.

Strategy: a ``BufferedProtocol`` copies what was read out of the buffer at once
(``bytes(view[:n])``), so connections never need a buffer of their own: an idle
connection costs no buffer memory, and the default loop does no allocation beyond
that one copy per read.
"""

from __future__ import annotations

import asyncio
from typing import Final

__all__ = ["SHARED_BUFFER_SIZE", "shared_buffer"]

#: Size of the per-loop receive buffer (the most one read can return).
SHARED_BUFFER_SIZE: Final = 256 * 1024

_buffers: dict[asyncio.AbstractEventLoop, memoryview] = {}


def shared_buffer(loop: asyncio.AbstractEventLoop) -> memoryview:
    """Return the receive buffer that every buffered protocol of ``loop`` reads into."""
    view = _buffers.get(loop)
    if view is None:
        for old in [k for k in _buffers if k.is_closed()]:
            del _buffers[old]
        view = _buffers[loop] = memoryview(bytearray(SHARED_BUFFER_SIZE))
    return view
