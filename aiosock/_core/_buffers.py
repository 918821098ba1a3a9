"""One receive buffer per event loop, lent to every buffered protocol of that loop.

Strategy: a ``BufferedProtocol`` copies what was read out of the buffer at once,
so connections never need a buffer of their own: an idle connection costs no
buffer memory, and the default loop does no allocation beyond that one copy per
read. The copy is a slice of the ``mmap`` itself (``shared_mapping(loop)[:n]``),
which makes the ``bytes`` object in one step: ``bytes(view[:n])`` makes a
memoryview first and costs twice the instructions (callgrind, 1 KiB: about
1,000 against 2,200).

The buffer is an anonymous ``mmap``, so it starts on a page boundary. A
``bytearray`` of this size is itself an ``mmap`` made by ``malloc``, whose header
puts the data 16 bytes into the page. The kernel's copy of received data into the
buffer is sensitive to where the destination sits in its page: on AMD Zen 3 (its
``copy_to_user`` is ``rep movsb``) a destination 16 bytes into the page made each
64 KiB receive cost 3-4 times the system time of a page-aligned one, and halved a
64 KiB echo server's rate. A page-aligned buffer is never worse elsewhere.
"""

from __future__ import annotations

import asyncio
import mmap
from typing import Final

from .._foundation._loop import per_loop

__all__ = ["SHARED_BUFFER_SIZE", "shared_buffer", "shared_mapping"]

#: Size of the per-loop receive buffer (the most one read can return).
SHARED_BUFFER_SIZE: Final = 256 * 1024

_buffers: dict[asyncio.AbstractEventLoop, memoryview] = {}


def shared_buffer(loop: asyncio.AbstractEventLoop) -> memoryview:
    """Return the receive buffer that every buffered protocol of ``loop`` reads into.

    It is page-aligned (see the module's docstring) and lives as long as the loop
    is open; the first call after a loop closed forgets that loop's buffer.
    """
    return per_loop(_buffers, loop, _new_buffer)


def shared_mapping(loop: asyncio.AbstractEventLoop) -> mmap.mmap:
    """Return the ``mmap`` behind :func:`shared_buffer`: ``[:n]`` copies out n bytes."""
    mapping = shared_buffer(loop).obj
    assert isinstance(mapping, mmap.mmap)
    return mapping


def _new_buffer() -> memoryview:
    return memoryview(mmap.mmap(-1, SHARED_BUFFER_SIZE))
