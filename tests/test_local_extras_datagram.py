"""Local namespace extras on Unix-domain datagram sockets: descriptors, credentials."""

from __future__ import annotations

import asyncio
import fcntl
import os
import resource
import struct
import termios
from collections.abc import Callable
from pathlib import Path

import pytest

import aiosock
from aiosock import LocalAddress

TIMEOUT = 10


def _close(*fds: int) -> None:
    for fd in fds:
        os.close(fd)


def _through(fd: int, r: int) -> bytes:
    """Write through a received write end ``fd``; read it back from ``r``."""
    os.write(fd, b"through the passed descriptor")
    return os.read(r, 100)


def _kernel_queue_empty(sock: aiosock.DatagramSocket) -> bool:
    """Whether the kernel holds no datagram for ``sock`` (the transport took all)."""
    raw = fcntl.ioctl(sock.socket.fileno(), termios.FIONREAD, b"\0" * 4)
    return struct.unpack("i", raw)[0] == 0


def _me() -> aiosock.Credentials:
    return aiosock.Credentials(os.getpid(), os.geteuid(), os.getegid())


async def test_pair_passes_fds_both_ways() -> None:
    """datagram_pair: send_fds on one end, receive_fds on the other, both ways."""
    a, b = await aiosock.datagram_pair()
    r, w = os.pipe()
    async with a, b, asyncio.timeout(TIMEOUT):
        await a.send_fds(b"the write end", [w])
        data, fds = await b.receive_fds()
        assert data == b"the write end"
        assert len(fds) == 1
        assert fds[0] != w
        assert _through(fds[0], r) == b"through the passed descriptor"
        await b.send_fds(b"back", fds)
        _close(*fds)
        data, again = await a.receive_fds(max_fds=1)
        assert data == b"back"
        assert _through(again[0], r) == b"through the passed descriptor"
        _close(*again)
    _close(r, w)


async def test_received_fds_are_close_on_exec() -> None:
    """Received descriptors are close-on-exec (MSG_CMSG_CLOEXEC)."""
    a, b = await aiosock.datagram_pair()
    r, w = os.pipe()
    async with a, b, asyncio.timeout(TIMEOUT):
        await a.send_fds(b"x", [r])
        _data, fds = await b.receive_fds()
        assert fcntl.fcntl(fds[0], fcntl.F_GETFD) & fcntl.FD_CLOEXEC
        _close(*fds)
    _close(r, w)


async def test_path_request_and_reply_with_fds(short_tmp: Path) -> None:
    """A client connected to a socket file sends fds; the reply goes to its address."""
    path = short_tmp / "srv.sock"
    r, w = os.pipe()
    async with (
        await aiosock.open_datagram(f"unixgram:{path}") as server,
        await aiosock.open_datagram(remote=f"unixgram:{path}") as client,
        asyncio.timeout(TIMEOUT),
    ):
        await client.send_fds(b"request", [w])
        message = await server.receive_message()
        assert message.data == b"request"
        assert message.address == client.local_address
        assert message.credentials is None
        assert len(message.fds) == 1
        await server.send_fds(b"reply", [r], message.address)
        data, fds = await client.receive_fds()
        assert data == b"reply"
        os.write(message.fds[0], b"round trip")
        assert os.read(fds[0], 100) == b"round trip"
        _close(*message.fds, *fds)
    _close(r, w)


async def test_abstract_names_and_text_addresses() -> None:
    """Abstract names: send_fds to endpoint text; the message names the sender."""
    tag = f"aiosock-dgfd-{os.getpid()}"
    r, w = os.pipe()
    async with (
        await aiosock.open_datagram(f"unixgram:@{tag}-srv") as server,
        await aiosock.open_datagram(f"unixgram:@{tag}-cli") as client,
        asyncio.timeout(TIMEOUT),
    ):
        await client.send_fds(b"hello", [r, w], f"unixgram:@{tag}-srv")
        message = await server.receive_message(max_fds=2)
        assert message.address == LocalAddress.abstract(f"{tag}-cli")
        assert message.data == b"hello"
        assert len(message.fds) == 2
        assert _through(message.fds[1], message.fds[0]) == (
            b"through the passed descriptor"
        )
        _close(*message.fds)
    _close(r, w)


async def test_unnamed_sender_address() -> None:
    """A pair's sender has no name: the message's address is LocalAddress("")."""
    a, b = await aiosock.datagram_pair()
    async with a, b, asyncio.timeout(TIMEOUT):
        assert a.remote_address == LocalAddress("")
        await a.send(b"plain")
        message = await b.receive_message()
        assert message == aiosock.LocalMessage(b"plain", [], None, LocalAddress(""))


async def test_queued_datagrams_keep_their_fds(open_fds: Callable[[], int]) -> None:
    """Descriptors sent before anyone asks for them wait in the queue, not lost."""
    a, b = await aiosock.datagram_pair()
    r, w = os.pipe()
    async with a, b, asyncio.timeout(TIMEOUT):
        before = open_fds()
        await a.send(b"first")
        await a.send_fds(b"second", [w])
        await a.send_fds(b"third", [r])
        # The transport reads every queued datagram per wake-up: once the first
        # is received, the others are in aiosock's queue, read by recvmsg.
        assert await b.receive() == b"first"
        assert _kernel_queue_empty(b)
        data, fds = await b.receive_fds()
        assert data == b"second"
        assert _through(fds[0], r) == b"through the passed descriptor"
        message = await b.receive_message()
        assert message.data == b"third"
        assert len(message.fds) == 1
        assert open_fds() == before + 2
        _close(*fds, *message.fds)
    _close(r, w)


async def test_boundaries_kept_and_empty_datagrams_carry_fds() -> None:
    """Each datagram comes whole with its own descriptors, empty ones too."""
    a, b = await aiosock.datagram_pair()
    r, w = os.pipe()
    async with a, b, asyncio.timeout(TIMEOUT):
        await a.send_fds(b"one", [r])
        await a.send(b"two")
        await a.send_fds(b"", [w])
        await a.send_fds(b"four", [])
        got = [await b.receive_fds() for _ in range(4)]
        assert [data for data, _fds in got] == [b"one", b"two", b"", b"four"]
        assert [len(fds) for _data, fds in got] == [1, 0, 1, 0]
        assert _through(got[2][1][0], got[0][1][0]) == (
            b"through the passed descriptor"
        )
        _close(got[0][1][0], got[2][1][0])
    _close(r, w)


async def test_plain_receives_close_fds(open_fds: Callable[[], int]) -> None:
    """receive() and receive_from() did not ask for descriptors: they are closed."""
    a, b = await aiosock.datagram_pair()
    r, w = os.pipe()
    async with a, b, asyncio.timeout(TIMEOUT):
        before = open_fds()
        await a.send_fds(b"queued", [r, w])
        await a.send_fds(b"queued too", [r])
        assert await b.receive() == b"queued"
        assert await b.receive_from() == (b"queued too", LocalAddress(""))
        waiting = asyncio.ensure_future(b.receive_from())
        await asyncio.sleep(0)  # the receive is parked, waiting
        await a.send_fds(b"waited for", [w])
        assert await waiting == (b"waited for", LocalAddress(""))
        waiting_data = asyncio.ensure_future(b.receive())
        await asyncio.sleep(0)
        await a.send_fds(b"waited for too", [w])
        assert await waiting_data == b"waited for too"
        assert open_fds() == before
    _close(r, w)


async def test_max_fds_closes_the_rest(open_fds: Callable[[], int]) -> None:
    """Descriptors beyond max_fds are closed; max_fds=0 keeps none."""
    a, b = await aiosock.datagram_pair()
    r, w = os.pipe()
    async with a, b, asyncio.timeout(TIMEOUT):
        before = open_fds()
        await a.send_fds(b"three", [r, w, r])
        await a.send_fds(b"two", [r, w])
        data, fds = await b.receive_fds(max_fds=1)
        assert (data, len(fds)) == (b"three", 1)
        assert await b.receive_fds(max_fds=0) == (b"two", [])
        assert open_fds() == before + 1
        _close(*fds)
        with pytest.raises(ValueError, match="max_fds"):
            await b.receive_fds(max_fds=254)
        with pytest.raises(TypeError, match="max_fds"):
            await b.receive_message(max_fds=1.5)  # type: ignore[arg-type]
        with pytest.raises(ValueError, match="at most 253"):
            await a.send_fds(b"too many", [r] * 254)
        with pytest.raises(TypeError, match="descriptors as int"):
            await a.send_fds(b"not fds", ["0"])  # type: ignore[list-item]
    _close(r, w)


async def test_waiting_receive_message(open_fds: Callable[[], int]) -> None:
    """A receive_message that waits gets the datagram and its fds when they come."""
    a, b = await aiosock.datagram_pair()
    r, w = os.pipe()
    async with a, b, asyncio.timeout(TIMEOUT):
        waiting = asyncio.ensure_future(b.receive_message(max_fds=1))
        await asyncio.sleep(0)
        assert not waiting.done()
        with pytest.raises(aiosock.BusyResourceError):
            await b.receive()
        before = open_fds()
        await a.send_fds(b"late", [r, w])
        message = await waiting
        assert message.data == b"late"
        assert len(message.fds) == 1
        assert open_fds() == before + 1
        _close(*message.fds)
        waiting = asyncio.ensure_future(b.receive_message())
        await asyncio.sleep(0)
        await a.send(b"plain")
        assert (await waiting).fds == []
    _close(r, w)


@pytest.mark.parametrize("turns", [0, 1, 2])
async def test_cancelled_receive_loses_nothing(
    open_fds: Callable[[], int], turns: int
) -> None:
    """Cancelling a waiting receive_fds keeps the datagram and its fds queued."""
    a, b = await aiosock.datagram_pair()
    r, w = os.pipe()
    loop = asyncio.get_running_loop()
    async with a, b, asyncio.timeout(TIMEOUT):
        before = open_fds()
        waiting = asyncio.ensure_future(b.receive_fds())
        await asyncio.sleep(0)
        await a.send_fds(b"kept", [w])
        await a.send(b"after")
        # The cancellation lands before the datagram reaches the waiting
        # receive, after it (the datagram must then go back first in line with
        # its fds), or after the receive returned: which one depends on
        # ``turns`` and on the loop. The datagram is never lost.

        def cancel(left: int) -> None:
            if left:
                loop.call_soon(cancel, left - 1)
            else:
                waiting.cancel()

        loop.call_soon(cancel, turns)
        try:
            data, fds = await waiting  # it finished before the cancellation
        except asyncio.CancelledError:
            data, fds = await b.receive_fds()
        assert data == b"kept"
        assert _through(fds[0], r) == b"through the passed descriptor"
        assert await b.receive() == b"after"
        _close(*fds)
        assert open_fds() == before
    _close(r, w)


async def test_credentials_with_each_datagram() -> None:
    """With pass_credentials on, each datagram comes with the sender's credentials."""
    a, b = await aiosock.datagram_pair()
    async with a, b, asyncio.timeout(TIMEOUT):
        b.options["pass_credentials"] = True
        await a.send(b"queued")
        assert (await b.receive_message()).credentials == _me()
        waiting = asyncio.ensure_future(b.receive_message())
        await asyncio.sleep(0)
        await a.send(b"waited for")
        message = await waiting
        assert (message.data, message.credentials) == (b"waited for", _me())
        assert message.credentials.pid == os.getpid()
        assert message.credentials.uid == os.getuid()
        assert message.credentials.gid == os.getgid()


async def test_credentials_option_at_open(short_tmp: Path) -> None:
    """pass_credentials given to open_datagram applies to a bound socket file."""
    path = short_tmp / "creds.sock"
    r, w = os.pipe()
    async with (
        await aiosock.open_datagram(
            f"unixgram:{path}", options={"pass_credentials": True}
        ) as server,
        await aiosock.open_datagram(remote=f"unixgram:{path}") as client,
        asyncio.timeout(TIMEOUT),
    ):
        await client.send_fds(b"both", [w])
        message = await server.receive_message()
        assert message.credentials == _me()
        assert message.address == client.local_address
        assert len(message.fds) == 1
        _close(*message.fds)
    _close(r, w)


async def test_peer_credentials(short_tmp: Path) -> None:
    """peer_credentials: a pair's peer; OptionError where the kernel has none."""
    a, b = await aiosock.datagram_pair()
    async with a, b:
        assert a.peer_credentials == b.peer_credentials == _me()
    with pytest.raises(aiosock.ClosedResourceError):
        _ = a.peer_credentials
    path = short_tmp / "peer.sock"
    async with (
        await aiosock.open_datagram(f"unixgram:{path}") as server,
        await aiosock.open_datagram(remote=f"unixgram:{path}") as client,
    ):
        for sock in (server, client):
            with pytest.raises(aiosock.OptionError, match="pass_credentials"):
                _ = sock.peer_credentials


async def test_internet_socket_refuses() -> None:
    """UDP: send_fds and receive_fds raise ValueError, peer_credentials OptionError."""
    async with await aiosock.open_datagram("udp://127.0.0.1:0") as sock:
        with pytest.raises(ValueError, match="local-namespace"):
            await sock.send_fds(b"x", [0], sock.local_address)
        with pytest.raises(ValueError, match="local-namespace"):
            await sock.receive_fds()
        with pytest.raises(ValueError, match="local-namespace"):
            await sock.receive_message()
        with pytest.raises(aiosock.OptionError, match="peer_credentials"):
            _ = sock.peer_credentials


async def test_oversized_datagram_with_fds(open_fds: Callable[[], int]) -> None:
    """A datagram longer than max_size raises; its descriptors are closed."""
    a, b = await aiosock.datagram_pair(max_size=10)
    r, w = os.pipe()
    async with a, b, asyncio.timeout(TIMEOUT):
        before = open_fds()
        await a.send_fds(b"x" * 100, [r, w])
        await a.send_fds(b"fits", [w])
        with pytest.raises(aiosock.MessageTooLargeError) as info:
            await b.receive_fds()
        assert info.value.limit == 10
        data, fds = await b.receive_fds()
        assert data == b"fits"
        assert open_fds() == before + 1
        _close(*fds)
    _close(r, w)


async def test_large_max_size_datagram_with_fds(open_fds: Callable[[], int]) -> None:
    """Beyond 64 KiB limits (the reused buffer): fds come along, sizes are known."""
    options = {"send_buffer": 1024 * 1024, "receive_buffer": 1024 * 1024}
    a, b = await aiosock.datagram_pair(max_size=100 * 1024)
    for sock in (a, b):
        sock.options.update(options)
    r, w = os.pipe()
    big = os.urandom(90 * 1024)
    async with a, b, asyncio.timeout(TIMEOUT):
        before = open_fds()
        await a.send_fds(big, [w])
        await a.send_fds(big + big, [r])
        data, fds = await b.receive_fds()
        assert data == big
        with pytest.raises(aiosock.MessageTooLargeError) as info:
            await b.receive_fds()
        assert (info.value.size, info.value.limit) == (2 * len(big), 100 * 1024)
        assert open_fds() == before + 1
        assert _through(fds[0], r) == b"through the passed descriptor"
        _close(*fds)
    _close(r, w)


async def test_closed_socket(open_fds: Callable[[], int]) -> None:
    """After aclose: ClosedResourceError; a waiting receive_fds is woken with it."""
    a, b = await aiosock.datagram_pair()
    r, w = os.pipe()
    async with a, asyncio.timeout(TIMEOUT):
        waiting = asyncio.ensure_future(b.receive_fds())
        await asyncio.sleep(0)
        await b.aclose()
        with pytest.raises(aiosock.ClosedResourceError):
            await waiting
        with pytest.raises(aiosock.ClosedResourceError):
            await b.receive_message()
        with pytest.raises(aiosock.ClosedResourceError):
            await b.send_fds(b"x", [r])
        with pytest.raises(ConnectionRefusedError):
            await a.send_fds(b"nobody there", [r])
    _close(r, w)


async def test_closing_closes_queued_fds(open_fds: Callable[[], int]) -> None:
    """Descriptors of datagrams nobody received are closed with the socket."""
    a, b = await aiosock.datagram_pair()
    r, w = os.pipe()
    before = open_fds()
    async with a, asyncio.timeout(TIMEOUT):
        await a.send(b"first")
        await a.send_fds(b"never received", [r, w])
        assert await b.receive() == b"first"
        assert _kernel_queue_empty(b)
        await b.aclose()
    assert open_fds() == before - 2  # a and b; the two received fds closed too
    _close(r, w)


async def test_descriptors_lost_at_the_limit(open_fds: Callable[[], int]) -> None:
    """At the descriptor limit the kernel drops fds: DescriptorsLostError, none leak."""
    a, b = await aiosock.datagram_pair()
    pipes = [os.pipe() for _ in range(2)]
    async with a, b, asyncio.timeout(TIMEOUT):
        before = open_fds()
        soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        used = {int(name) for name in os.listdir("/proc/self/fd")}
        first_free = next(fd for fd in range(soft) if fd not in used)
        resource.setrlimit(resource.RLIMIT_NOFILE, (first_free + 1, hard))
        try:
            await a.send_fds(b"four fds", [fd for pipe in pipes for fd in pipe])
            await a.send(b"next")
            with pytest.raises(aiosock.DescriptorsLostError) as info:
                await b.receive_message()
        finally:
            resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))
        assert info.value.data == b"four fds"
        assert info.value.address == LocalAddress("")
        assert "RLIMIT_NOFILE" in str(info.value)
        assert open_fds() == before
        assert await b.receive_fds() == (b"next", [])
    for pipe in pipes:
        _close(*pipe)


async def test_send_fds_addresses(short_tmp: Path) -> None:
    """send_fds needs an address on an unconnected socket, the peer's if connected."""
    path = short_tmp / "addr.sock"
    r, w = os.pipe()
    async with (
        await aiosock.open_datagram(f"unixgram:{path}") as server,
        await aiosock.open_datagram(remote=f"unixgram:{path}") as client,
        asyncio.timeout(TIMEOUT),
    ):
        with pytest.raises(aiosock.AddressError, match="connected"):
            await server.send_fds(b"to whom?", [r])
        with pytest.raises(aiosock.AddressError, match="connected remote address"):
            await client.send_fds(b"elsewhere", [r], LocalAddress.abstract("other"))
        with pytest.raises(aiosock.AddressError, match="namespace"):
            await server.send_fds(b"x", [r], aiosock.InetAddress("127.0.0.1", 9))
        with pytest.raises(FileNotFoundError):
            await server.send_fds(b"x", [r], f"unixgram:{short_tmp / 'none.sock'}")
        await client.send_fds(b"explicit peer", [r], f"unixgram:{path}")
        message = await server.receive_message()
        assert message.data == b"explicit peer"
        _close(*message.fds)
    _close(r, w)


async def test_send_fds_waits_its_turn_when_the_peer_is_full() -> None:
    """A full peer: send_fds queues behind earlier datagrams and keeps their order."""
    a, b = await aiosock.datagram_pair()
    r, w = os.pipe()
    count = 2000  # far more than the send buffer holds

    async def sender() -> None:
        for i in range(count):
            await a.send(b"%d" % i)
        await a.send_fds(b"fd", [w])
        await a.send(b"last")

    async with a, b, asyncio.timeout(TIMEOUT):
        sending = asyncio.ensure_future(sender())
        await asyncio.sleep(0)  # the sender runs until send_fds waits its turn
        assert not sending.done()
        for i in range(count):
            assert await b.receive() == b"%d" % i
        data, fds = await b.receive_fds()
        assert data == b"fd"
        assert await b.receive() == b"last"
        await sending
        assert _through(fds[0], r) == b"through the passed descriptor"
        _close(*fds)
    _close(r, w)


async def test_cancelled_queued_send_fds_sends_nothing(
    open_fds: Callable[[], int],
) -> None:
    """A send_fds cancelled while queued is never sent; later datagrams still are."""
    a, b = await aiosock.datagram_pair()
    r, w = os.pipe()
    count = 2000
    async with a, b, asyncio.timeout(TIMEOUT):
        for i in range(count):
            await a.send(b"%d" % i)  # the send buffer fills; the rest waits
        queued = asyncio.ensure_future(a.send_fds(b"cancelled", [w]))
        await asyncio.sleep(0)
        assert not queued.done()
        queued.cancel()
        with pytest.raises(asyncio.CancelledError):
            await queued
        await a.send(b"after")
        before = open_fds()
        got = [await b.receive_message() for _ in range(count + 1)]
        assert [m.data for m in got] == [b"%d" % i for i in range(count)] + [b"after"]
        assert all(m.fds == [] for m in got)
        assert open_fds() == before
    _close(r, w)


async def test_served_socket_replies_with_fds(short_tmp: Path) -> None:
    """A serve_datagram handler answers with send_fds; it cannot receive_fds."""
    path = short_tmp / "served.sock"
    r, w = os.pipe()
    refused: list[BaseException] = []

    async def handler(
        data: bytes, address: aiosock.LocalAddress, sock: aiosock.DatagramSocket
    ) -> None:
        try:
            await sock.receive_fds()
        except aiosock.BusyResourceError as exc:
            refused.append(exc)
        await sock.send_fds(b"answer to " + data, [w], address)

    async with (
        await aiosock.serve_datagram(handler, f"unixgram:{path}"),
        await aiosock.open_datagram(remote=f"unixgram:{path}") as client,
        asyncio.timeout(TIMEOUT),
    ):
        await client.send(b"question")
        data, fds = await client.receive_fds()
        assert data == b"answer to question"
        assert _through(fds[0], r) == b"through the passed descriptor"
        assert len(refused) == 1
        _close(*fds)
    _close(r, w)


async def test_pair_max_size_checked() -> None:
    """datagram_pair checks max_size like open_datagram."""
    with pytest.raises(ValueError, match="max_size"):
        await aiosock.datagram_pair(max_size=0)
