"""Many datagrams per system call: ``recvmmsg(2)``, through :mod:`ctypes`.

Strategy: a datagram server under load finds dozens of datagrams queued at
each wake-up (about 127 in the UDP benchmark). ``socket.recvfrom`` takes them
one system call at a time and formats each sender's address into a new
``(str, int)`` tuple, about 4,100 instructions per datagram (callgrind), 2,400
of them for the address alone. ``recvmmsg`` takes up to :data:`BATCH` in one
call, into one page-aligned buffer per loop; what is received is copied out
(one ``bytes`` per datagram, a slice of the ``mmap``) before anything else
runs, so readers of every socket of the loop can share the buffer. Each
sender's ``sockaddr`` is handed over *raw*, as a cache key: for IPv4 an ``int``
(the first 8 bytes of the ``sockaddr_in``: family, port and address; all
keys of a batch from one ``tolist()``), for other families the ``bytes`` of
the ``sockaddr``. A reader maps the key to the sender's typed address and
decodes it (:func:`decode_sockaddr`) only the first time it sees it.

The call itself goes through a ``ctypes.PyDLL`` function, which keeps the GIL
(the socket is non-blocking and ``MSG_DONTWAIT`` is set: the call never
waits), and costs about as much as one ``recvfrom`` that fails with
``EAGAIN``. So a reader still takes the first datagram of a wake-up with
``recvfrom`` (one datagram per wake-up is the common case of a lightly loaded
server) and turns to :class:`BatchReceiver` only once ``poll`` says more are
queued.

``recvmmsg`` exists on Linux (glibc and musl); elsewhere, or where ``ctypes``
cannot find it, :func:`batch_receiver` returns ``None`` and readers keep
``recvfrom``.
"""

from __future__ import annotations

import array
import asyncio
import ctypes
import errno
import mmap
import os
import socket
import sys
from typing import Any, Final

from .._foundation._loop import per_loop

__all__ = ["BATCH", "SLOT", "BatchReceiver", "batch_receiver", "decode_sockaddr"]

#: Datagrams taken per ``recvmmsg`` call at most.
BATCH: Final = 32
#: Bytes of buffer per datagram: the largest ``max_size`` read this way.
SLOT: Final = 65536
#: Bytes of room for each sender's ``sockaddr`` (``sizeof(struct sockaddr_storage)``).
NAME: Final = 128

_MSG_DONTWAIT: Final = int(getattr(socket, "MSG_DONTWAIT", 0x40))
_MSG_TRUNC: Final = int(getattr(socket, "MSG_TRUNC", 0x20))
_AGAIN: Final = frozenset({errno.EAGAIN, errno.EWOULDBLOCK, errno.EINTR})
_AF_INET: Final = int(socket.AF_INET)
_AF_INET6: Final = int(socket.AF_INET6)
_AF_UNIX: Final = int(socket.AF_UNIX)
_FAMILIES: Final = frozenset({_AF_INET, _AF_INET6, _AF_UNIX})
_FLAGS: Final = _MSG_DONTWAIT | _MSG_TRUNC
#: An IPv4 key is the first 8 bytes of each NAME-sized room: every so many u64.
_KEY_STRIDE: Final = NAME // 8


class _IoVec(ctypes.Structure):
    _fields_ = (("iov_base", ctypes.c_void_p), ("iov_len", ctypes.c_size_t))


class _MsgHdr(ctypes.Structure):
    _fields_ = (
        ("msg_name", ctypes.c_void_p),
        ("msg_namelen", ctypes.c_uint32),
        ("msg_iov", ctypes.c_void_p),
        ("msg_iovlen", ctypes.c_size_t),
        ("msg_control", ctypes.c_void_p),
        ("msg_controllen", ctypes.c_size_t),
        ("msg_flags", ctypes.c_int),
    )


class _MMsgHdr(ctypes.Structure):
    _fields_ = (("msg_hdr", _MsgHdr), ("msg_len", ctypes.c_uint))


def _find_recvmmsg() -> Any:
    if not sys.platform.startswith("linux"):
        return None
    try:
        function = ctypes.PyDLL(None, use_errno=True).recvmmsg
    except (AttributeError, OSError):
        return None
    # No argtypes: converting each argument through them doubles the cost of
    # the call. Every argument is an int that fits a C int, the headers' ctypes
    # array (passed as its address) or None (NULL).
    function.restype = ctypes.c_int
    return function


_recvmmsg: Final = _find_recvmmsg()

#: Whether this platform has ``recvmmsg`` (a reader may also be told not to use it).
AVAILABLE: Final = _recvmmsg is not None


class BatchReceiver:
    """Buffers for :data:`BATCH` datagrams and the ``recvmmsg`` call that fills them.

    One per loop and address family (:func:`batch_receiver`); :meth:`receive`
    copies everything out before it returns, so it can serve every socket of
    that family on the loop.
    """

    __slots__ = (
        "_data",
        "_family",
        "_headers",
        "_iovs",
        "_len_at",
        "_namelen_at",
        "_names",
        "_reset",
        "_stride",
        "_u32",
        "_u64",
    )

    def __init__(self, family: int) -> None:
        self._family = family
        self._data = mmap.mmap(-1, BATCH * SLOT)
        self._names = mmap.mmap(-1, BATCH * NAME)
        headers = mmap.mmap(-1, BATCH * ctypes.sizeof(_MMsgHdr))
        hdrs = (_MMsgHdr * BATCH).from_buffer(headers)
        iovs = (_IoVec * BATCH)()
        data_at = ctypes.addressof(ctypes.c_char.from_buffer(self._data))
        names_at = ctypes.addressof(ctypes.c_char.from_buffer(self._names))
        for i in range(BATCH):
            iovs[i].iov_base = data_at + i * SLOT
            iovs[i].iov_len = SLOT
            hdr = hdrs[i].msg_hdr
            hdr.msg_name = names_at + i * NAME
            hdr.msg_namelen = NAME
            hdr.msg_iov = ctypes.addressof(iovs[i])
            hdr.msg_iovlen = 1
        self._headers = hdrs
        self._iovs = iovs  # the kernel reads the buffers' addresses there
        self._u32 = memoryview(headers).cast("I")
        self._u64 = memoryview(self._names).cast("Q")
        self._stride = ctypes.sizeof(_MMsgHdr) // 4
        self._len_at = _MMsgHdr.msg_len.offset // 4
        self._namelen_at = (_MMsgHdr.msg_hdr.offset + _MsgHdr.msg_namelen.offset) // 4
        # msg_namelen is value-result: the kernel writes the sender's length
        # there. For IPv4 and IPv6 that is always the size of the family's
        # sockaddr, which leaves room for the next sender's; a Unix-domain
        # sender's name is as long as it is, so those go back to NAME.
        self._reset = (
            memoryview(array.array("I", [NAME] * BATCH)) if family == _AF_UNIX else None
        )

    def receive(self, fd: int, count: int) -> tuple[list[bytes], list[int], list[Any]]:
        """Take up to ``count`` (at most :data:`BATCH`) queued datagrams from ``fd``.

        ``fd`` is a socket of this receiver's family.

        Returns:
            Three lists of the same length, empty when nothing was queued: the
            datagrams (each cut at :data:`SLOT` bytes), their real lengths
            (``MSG_TRUNC``: longer than the datagram when it was cut), and the
            senders' raw ``sockaddr`` keys (see the module's docstring; an
            unnamed Unix-domain sender's is ``b""``).

        Raises:
            OSError: The kernel's error for the first datagram (an ICMP error,
                on a connected UDP socket).
        """
        assert _recvmmsg is not None
        n: int = _recvmmsg(fd, self._headers, count, _FLAGS, None)
        if n <= 0:
            if n < 0:
                err = ctypes.get_errno()
                if err not in _AGAIN:
                    raise OSError(err, os.strerror(err))
            return [], [], []
        u32, stride = self._u32, self._stride
        end = n * stride
        sizes: list[int] = u32[self._len_at : end : stride].tolist()
        data = self._data
        received = [
            data[i * SLOT : i * SLOT + (size if size <= SLOT else SLOT)]
            for i, size in enumerate(sizes)
        ]
        if self._family == _AF_INET:
            keys: list[Any] = self._u64[0 : n * _KEY_STRIDE : _KEY_STRIDE].tolist()
        else:
            names = self._names
            namelens = u32[self._namelen_at : end : stride]
            keys = [
                names[i * NAME : i * NAME + length]
                for i, length in enumerate(namelens.tolist())
            ]
            if self._reset is not None:
                namelens[:] = self._reset[:n]
        return received, sizes, keys


def batch_receiver(
    loop: asyncio.AbstractEventLoop, family: int
) -> BatchReceiver | None:
    """Return ``loop``'s :class:`BatchReceiver` for ``family``, or ``None``.

    ``None`` without ``recvmmsg``, or for a family :func:`decode_sockaddr`
    does not know.
    """
    if _recvmmsg is None or family not in _FAMILIES:
        return None
    receivers = per_loop(_receivers, loop, dict)
    receiver = receivers.get(family)
    if receiver is None:
        receiver = receivers[family] = BatchReceiver(family)
    return receiver


_receivers: dict[asyncio.AbstractEventLoop, dict[int, BatchReceiver]] = {}


def decode_sockaddr(family: int, key: Any) -> Any:
    """Return the sockaddr, as ``recvfrom`` gives it, for a raw key of :meth:`receive`.

    ``None`` for an unnamed sender (an empty key).
    """
    if key == b"":
        return None
    if family == _AF_INET:
        raw = key.to_bytes(8, sys.byteorder)
        return (socket.inet_ntop(socket.AF_INET, raw[4:8]), int.from_bytes(raw[2:4]))
    if family == _AF_INET6:
        port = int.from_bytes(key[2:4])
        flowinfo = int.from_bytes(key[4:8])
        scope_id = int.from_bytes(key[24:28], sys.byteorder)
        host = socket.inet_ntop(socket.AF_INET6, key[8:24])
        if scope_id:
            # With a scope, Python names the interface too ("fe80::1%eth0").
            host, _ = socket.getnameinfo(
                (host, port, flowinfo, scope_id),
                socket.NI_NUMERICHOST | socket.NI_NUMERICSERV,
            )
        return (host, port, flowinfo, scope_id)
    if family == _AF_UNIX:
        path = key[2:]
        if path[:1] == b"\0":
            return bytes(path)  # an abstract name, as bytes
        return os.fsdecode(path.split(b"\0", 1)[0])
    raise ValueError(f"no decoder for sockaddr family {family}")
