"""Socket-level ancillary helpers (_local.py), as datagram sockets would call them."""

from __future__ import annotations

import os
import socket
from collections.abc import Callable, Iterator

import pytest

import aiosock
import aiosock.options
from aiosock._highlevel._local import (
    MAX_FDS,
    fds_ancillary,
    try_receive_message,
    try_send_message,
)


@pytest.fixture
def dgram_pair() -> Iterator[tuple[socket.socket, socket.socket]]:
    """A bound unixgram receiver (abstract name) and an unbound sender."""
    receiver = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    receiver.bind(f"\0aiosock-helpers-{os.getpid()}".encode())
    receiver.setblocking(False)
    sender = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sender.setblocking(False)
    with receiver, sender:
        yield receiver, sender


def test_nothing_there_gives_none(
    dgram_pair: tuple[socket.socket, socket.socket],
) -> None:
    """try_receive_message returns None when no datagram waits (EAGAIN)."""
    receiver, _ = dgram_pair
    assert try_receive_message(receiver, 100, 1) is None


def test_datagram_with_fds_and_sender(
    dgram_pair: tuple[socket.socket, socket.socket],
) -> None:
    """A unixgram datagram brings its descriptors and its (unnamed) sender."""
    receiver, sender = dgram_pair
    r, w = os.pipe()
    sent = try_send_message(
        sender, b"datagram", fds_ancillary([w]), receiver.getsockname()
    )
    assert sent == len(b"datagram")
    got = try_receive_message(receiver, 100, 1)
    assert got is not None
    message, _flags = got
    assert message.data == b"datagram"
    assert message.address == aiosock.LocalAddress("")
    os.write(message.fds[0], b"ok")
    assert os.read(r, 2) == b"ok"
    for fd in (r, w, *message.fds):
        os.close(fd)


def test_credentials_and_named_sender(
    dgram_pair: tuple[socket.socket, socket.socket],
) -> None:
    """With pass_credentials a datagram has credentials; a bound sender, its name."""
    receiver, sender = dgram_pair
    aiosock.options.set(receiver, pass_credentials=True)
    sender.bind(b"\0aiosock-helpers-sender-" + str(os.getpid()).encode())
    try_send_message(sender, b"x", [], receiver.getsockname())
    got = try_receive_message(receiver, 100, 0)
    assert got is not None
    message = got[0]
    assert message.credentials == aiosock.Credentials(
        os.getpid(), os.geteuid(), os.getegid()
    )
    assert message.address == aiosock.LocalAddress.abstract(
        f"aiosock-helpers-sender-{os.getpid()}"
    )


def test_extras_closed_and_truncation_reported(
    dgram_pair: tuple[socket.socket, socket.socket],
    open_fds: Callable[[], int],
) -> None:
    """Descriptors beyond max_fds are closed; MSG_TRUNC shows in the flags."""
    receiver, sender = dgram_pair
    r, w = os.pipe()
    before = open_fds()
    try_send_message(
        sender, b"0123456789", fds_ancillary([r, w]), receiver.getsockname()
    )
    got = try_receive_message(receiver, 4, 0)
    assert got is not None
    message, flags = got
    assert message.data == b"0123"
    assert flags & socket.MSG_TRUNC
    assert message.fds == []
    assert open_fds() == before
    os.close(r)
    os.close(w)


def test_fds_ancillary_validates() -> None:
    """fds_ancillary refuses non-ints, negatives and more than MAX_FDS."""
    assert fds_ancillary([]) == []
    with pytest.raises(TypeError, match="int"):
        fds_ancillary([True])
    with pytest.raises(ValueError, match=">= 0"):
        fds_ancillary([3, -2])
    with pytest.raises(ValueError, match=f"at most {MAX_FDS}"):
        fds_ancillary(range(MAX_FDS + 1))
