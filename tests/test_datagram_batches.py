"""Datagrams taken many per system call (recvmmsg), and what is kept of each."""

from __future__ import annotations

import asyncio
import errno
import logging
import os
import socket
from pathlib import Path
from typing import Any

import pytest

import aiosock
from aiosock._core import _mmsg
from aiosock._highlevel import _datagram_served

from .conftest import HAVE_IPV6

TIMEOUT = 10
ROUNDS = 6
CLIENTS = 8
#: A Unix-domain datagram socket queues net.unix.max_dgram_qlen datagrams (10
#: by default) and one more: a burst there stays within that.
UNIX_ROUNDS = 3
UNIX_CLIENTS = 3

needs_recvmmsg = pytest.mark.skipif(
    not _mmsg.AVAILABLE, reason="recvmmsg is not available on this platform"
)


def _endpoints(kind: str, folder: Path) -> tuple[str, list[str | None], int]:
    """The server's endpoint, each client's local endpoint, and the rounds."""
    if kind == "udp4":
        return "udp://127.0.0.1:0", [None] * CLIENTS, ROUNDS
    if kind == "udp6":
        return "udp://[::1]:0", [None] * CLIENTS, ROUNDS
    if kind == "unix-path":
        return (
            f"unixgram:{folder / 'srv'}",
            [f"unixgram:{folder / f'c{i}'}" for i in range(UNIX_CLIENTS)],
            UNIX_ROUNDS,
        )
    assert kind == "unix-abstract"
    tag = f"aiosock-batch-{os.getpid()}-{id(folder)}"
    return (
        f"unixgram:@{tag}",
        [f"unixgram:@{tag}-{i}" for i in range(UNIX_CLIENTS)],
        UNIX_ROUNDS,
    )


class _Spy:
    """Counts what BatchReceiver.receive returned."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.datagrams = 0
        self.calls = 0
        real = _mmsg.BatchReceiver.receive

        def receive(receiver: _mmsg.BatchReceiver, fd: int, count: int) -> Any:
            result = real(receiver, fd, count)
            self.calls += 1
            self.datagrams += len(result[0])
            return result

        monkeypatch.setattr(_mmsg.BatchReceiver, "receive", receive)


@pytest.mark.parametrize("batched", [True, False], ids=["recvmmsg", "recvfrom"])
@pytest.mark.parametrize("kind", ["udp4", "udp6", "unix-path", "unix-abstract"])
async def test_a_burst_from_many_senders_is_answered_in_order(
    kind: str,
    batched: bool,
    short_tmp: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Datagrams queued together: each handled once, in order, with its sender.

    One client's burst holds a datagram over ``max_size``: it is logged and
    dropped, and the datagrams around it are answered.
    """
    if kind == "udp6" and not HAVE_IPV6:
        pytest.skip("no IPv6 loopback")
    if batched and not _mmsg.AVAILABLE:
        pytest.skip("recvmmsg is not available on this platform")
    if not batched:
        monkeypatch.setattr(
            _datagram_served, "batch_receiver", lambda loop, family: None
        )
    spy = _Spy(monkeypatch)
    caplog.set_level(logging.WARNING, logger="aiosock.server")

    async def echo(data: bytes, address: object, sock: aiosock.DatagramSocket) -> None:
        await sock.send_to(data + b" " + str(address).encode(), address)  # type: ignore[arg-type]

    server_endpoint, locals_, rounds = _endpoints(kind, short_tmp)
    async with await aiosock.serve_datagram(
        echo, server_endpoint, max_size=64
    ) as server:
        clients = [
            await aiosock.open_datagram(local=local, remote=server.endpoints[0])
            for local in locals_
        ]
        try:
            # Sent straight to the sockets, with no await in between: all of
            # them are queued before the server reads any.
            for round_ in range(rounds):
                for i, client in enumerate(clients):
                    client.socket.send(b"%d:%d" % (i, round_))
                    if i == 0 and round_ == 1:
                        client.socket.send(b"x" * 65)  # over max_size
            async with asyncio.timeout(TIMEOUT):
                for i, client in enumerate(clients):
                    name = str(client.local_address).encode()
                    for round_ in range(rounds):
                        assert await client.receive() == b"%d:%d %s" % (i, round_, name)
        finally:
            for client in clients:
                await client.aclose()
    assert [r.getMessage() for r in caplog.records if "65 bytes" in r.getMessage()]
    if batched:
        # The first datagram of a wake-up is read with recvfrom; the rest of
        # this burst came in batches.
        assert spy.datagrams >= 1
    else:
        assert spy.calls == 0


@needs_recvmmsg
async def test_unnamed_senders_in_a_batch(short_tmp: Path) -> None:
    """Unnamed Unix-domain senders arrive as LocalAddress(""), named ones by name."""
    path = short_tmp / "srv"
    seen: list[tuple[bytes, object]] = []
    done = asyncio.Event()
    total = 10  # within net.unix.max_dgram_qlen (see UNIX_ROUNDS)

    async def record(
        data: bytes, address: object, sock: aiosock.DatagramSocket
    ) -> None:
        seen.append((data, address))
        if len(seen) == total:
            done.set()

    async with await aiosock.serve_datagram(record, f"unixgram:{path}"):
        unnamed = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        named = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        with unnamed, named:
            named.bind(str(short_tmp / "named"))
            for i in range(total // 2):
                unnamed.sendto(b"u%d" % i, str(path))
                named.sendto(b"n%d" % i, str(path))
            async with asyncio.timeout(TIMEOUT):
                await done.wait()
    nobody, somebody = (
        aiosock.LocalAddress(""),
        aiosock.LocalAddress(str(short_tmp / "named")),
    )
    assert seen == [
        item
        for i in range(total // 2)
        for item in ((b"u%d" % i, nobody), (b"n%d" % i, somebody))
    ]


def _pairs(kind: str, folder: Path) -> tuple[socket.socket, socket.socket, Any]:
    """A bound receiver, a sender, and the receiver's address."""
    if kind == "udp4":
        receiver = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        receiver.bind(("127.0.0.1", 0))
        sender = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        sender.bind(("127.0.0.1", 0))
    elif kind in ("udp6", "udp6-mapped"):
        receiver = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
        if kind == "udp6":
            receiver.bind(("::1", 0))
            sender = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
            sender.bind(("::1", 0))
        else:
            receiver.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
            receiver.bind(("::", 0))
            sender = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            sender.bind(("127.0.0.1", 0))
            return receiver, sender, ("127.0.0.1", receiver.getsockname()[1])
    else:
        receiver = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        receiver.bind(str(folder / "r"))
        sender = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        if kind == "unix-path":
            sender.bind(str(folder / "s"))
        elif kind == "unix-abstract":
            sender.bind(f"\0aiosock-decode-{os.getpid()}")
        elif kind == "unix-autobind":
            sender.bind("")
        else:
            assert kind == "unix-unnamed"
    return receiver, sender, receiver.getsockname()


@needs_recvmmsg
@pytest.mark.parametrize(
    "kind",
    [
        "udp4",
        "udp6",
        "udp6-mapped",
        "unix-path",
        "unix-abstract",
        "unix-autobind",
        "unix-unnamed",
    ],
)
def test_raw_senders_decode_as_recvfrom_gives_them(kind: str, short_tmp: Path) -> None:
    """decode_sockaddr(key) is exactly the sockaddr recvfrom returns for a sender."""
    if kind.startswith("udp6") and not HAVE_IPV6:
        pytest.skip("no IPv6 loopback")
    receiver, sender, where = _pairs(kind, short_tmp)
    with receiver, sender:
        receiver.setblocking(False)
        for i in range(3):
            sender.sendto(b"d%d" % i, where)
        _, expected = receiver.recvfrom(64)
        batches = _mmsg.BatchReceiver(receiver.family)
        received, sizes, keys = batches.receive(receiver.fileno(), _mmsg.BATCH)
        assert received == [b"d1", b"d2"]
        assert sizes == [2, 2]
        assert keys[0] == keys[1]
        assert _mmsg.decode_sockaddr(receiver.family, keys[0]) == expected
        assert batches.receive(receiver.fileno(), _mmsg.BATCH) == ([], [], [])


@needs_recvmmsg
def test_lengths_tell_a_datagram_longer_than_its_slot(short_tmp: Path) -> None:
    """A Unix-domain datagram over SLOT bytes is cut, and its real length told."""
    receiver, sender, where = _pairs("unix-path", short_tmp)
    big = _mmsg.SLOT + 1000
    with receiver, sender:
        receiver.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 * big)
        sender.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4 * big)
        receiver.setblocking(False)
        sender.sendto(b"a", where)
        sender.sendto(b"b" * big, where)
        sender.sendto(b"c", where)
        received, sizes, _ = _mmsg.BatchReceiver(receiver.family).receive(
            receiver.fileno(), _mmsg.BATCH
        )
    assert sizes == [1, big, 1]
    assert received[0] == b"a"
    assert received[2] == b"c"
    assert len(received[1]) == _mmsg.SLOT


@needs_recvmmsg
def test_a_batch_stops_at_the_count_asked(short_tmp: Path) -> None:
    """receive(count) takes at most count datagrams; the rest stay queued."""
    receiver, sender, where = _pairs("udp4", short_tmp)
    with receiver, sender:
        receiver.setblocking(False)
        for i in range(5):
            sender.sendto(b"%d" % i, where)
        batches = _mmsg.BatchReceiver(receiver.family)
        first, _, _ = batches.receive(receiver.fileno(), 2)
        rest, _, _ = batches.receive(receiver.fileno(), _mmsg.BATCH)
    assert (first, rest) == ([b"0", b"1"], [b"2", b"3", b"4"])


@needs_recvmmsg
def test_a_kernel_error_is_raised_with_its_errno() -> None:
    """Any error but EAGAIN/EINTR is raised as OSError with the kernel's errno."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    fd = sock.fileno()
    sock.close()
    with pytest.raises(OSError, match="Bad file descriptor") as caught:
        _mmsg.BatchReceiver(socket.AF_INET).receive(fd, 1)
    assert caught.value.errno == errno.EBADF


def test_no_decoder_for_other_families() -> None:
    """decode_sockaddr names the family it cannot decode."""
    with pytest.raises(ValueError, match="family 17"):
        _mmsg.decode_sockaddr(17, b"\x11\x00")
