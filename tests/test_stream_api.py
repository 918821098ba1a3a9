"""Stream API: addresses, receive variants, closing, flow control, resets."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import uvloop

import aiosock
from aiosock import Inet6Address, InetAddress, LocalAddress, Namespace

from .streams_helpers import served_pairs


@pytest.fixture
async def tcp_pair() -> AsyncIterator[tuple[aiosock.Stream, aiosock.Stream]]:
    """A TCP client stream and the server's stream of the same connection."""
    async with served_pairs("tcp://127.0.0.1:0") as (_server, make_pair):
        client, served = await make_pair()
        try:
            yield client, served
        finally:
            client.abort()


async def _delivered(writer: aiosock.Stream, reader: aiosock.Stream) -> None:
    """Return once what ``writer`` sent so far sits in ``reader``'s buffer.

    A ping goes the other way: both ends live on this loop, so the poll that sees
    the ping has already delivered to ``reader`` what was written to it before.
    """
    await reader.send(b"\0")
    async with asyncio.timeout(5):
        assert await writer.receive_exactly(1) == b"\0"


# -- addresses -------------------------------------------------------------------


async def test_tcp4_addresses_are_typed() -> None:
    """TCP over IPv4: local and peer addresses are InetAddress, mirrored."""
    async with served_pairs("tcp://127.0.0.1:0") as (server, make_pair):
        client, served = await make_pair()
        assert client.peer_address == server.endpoints[0].address
        assert isinstance(client.local_address, InetAddress)
        assert client.local_address == served.peer_address
        assert served.local_address == client.peer_address
        assert client.get_extra_info("peername") == client.peer_address.to_sockaddr()
        assert client.get_extra_info("sockname") == client.local_address.to_sockaddr()
        assert client.family == socket.AF_INET
        await client.aclose()


async def test_tcp6_addresses_are_typed(ipv6: None) -> None:
    """TCP over IPv6: local and peer addresses are Inet6Address, mirrored."""
    async with served_pairs("tcp://[::1]:0") as (server, make_pair):
        client, served = await make_pair()
        assert isinstance(client.peer_address, Inet6Address)
        assert client.peer_address == server.endpoints[0].address
        assert client.peer_address.host == "::1"
        assert client.local_address == served.peer_address
        assert served.local_address == client.peer_address
        peername = client.get_extra_info("peername")
        assert peername[:2] == ("::1", client.peer_address.port)
        assert client.family == socket.AF_INET6
        await client.aclose()


async def test_unix_file_addresses_are_typed(short_tmp: Path) -> None:
    """Unix file: the client's peer is the path, its own address unnamed."""
    path = str(short_tmp / "addr.sock")
    async with served_pairs(f"unix:{path}") as (_server, make_pair):
        client, served = await make_pair()
        assert client.peer_address == LocalAddress(path)
        assert client.local_address == LocalAddress("")
        assert client.local_address.is_unnamed
        assert served.local_address == LocalAddress(path)
        assert served.peer_address.is_unnamed  # type: ignore[union-attr]
        assert client.get_extra_info("peername") == path
        assert client.family == socket.AF_UNIX
        await client.aclose()


async def test_unix_abstract_addresses_are_typed() -> None:
    """Unix abstract: the client's peer is the abstract name."""
    name = f"aiosock-addr-{id(object())}"
    async with served_pairs(f"unix:@{name}") as (_server, make_pair):
        client, served = await make_pair()
        assert client.peer_address == LocalAddress.abstract(name)
        assert served.local_address == LocalAddress.abstract(name)
        assert str(client.peer_address) == f"@{name}"
        await client.aclose()


async def test_socketpair_addresses_are_unnamed(
    pair: tuple[aiosock.Stream, aiosock.Stream],
) -> None:
    """stream_pair(): both ends are unnamed local addresses."""
    a, b = pair
    for stream in (a, b):
        assert stream.local_address == LocalAddress("")
        assert stream.peer_address == LocalAddress("")


async def test_get_extra_info_defaults_and_socket(
    tcp_pair: tuple[aiosock.Stream, aiosock.Stream],
) -> None:
    """get_extra_info() answers as asyncio's does, with a default for unknown keys."""
    client, _served = tcp_pair
    assert client.get_extra_info("no-such-key", "fallback") == "fallback"
    raw = client.get_extra_info("socket")
    assert raw is not None
    assert raw.family == socket.AF_INET


async def test_socket_property_reads_options(
    tcp_pair: tuple[aiosock.Stream, aiosock.Stream],
) -> None:
    """stream.socket reads options of the connection and is closed with it."""
    client, _served = tcp_pair
    sock = client.socket
    assert sock is client.socket  # the same object each time
    assert sock.getsockopt(socket.SOL_SOCKET, socket.SO_TYPE) == socket.SOCK_STREAM
    assert sock.getpeername() == client.get_extra_info("peername")
    await client.aclose()
    assert sock.fileno() == -1
    with pytest.raises(aiosock.ClosedResourceError):
        _ = client.socket


async def test_stream_pair_in_internet_namespace() -> None:
    """stream_pair(Namespace.INET) gives a connected loopback TCP pair."""
    a, b = await aiosock.stream_pair(Namespace.INET)
    try:
        assert isinstance(a.local_address, InetAddress)
        assert a.local_address == b.peer_address
        assert b.local_address == a.peer_address
        await a.send(b"over tcp")
        async with asyncio.timeout(5):
            assert await b.receive_exactly(8) == b"over tcp"
    finally:
        await a.aclose()
        await b.aclose()


async def test_stream_pair_in_ipv6_namespace(ipv6: None) -> None:
    """stream_pair(Namespace.INET6) gives a connected IPv6 loopback pair."""
    a, b = await aiosock.stream_pair(Namespace.INET6)
    try:
        assert isinstance(a.peer_address, Inet6Address)
        await b.send(b"v6")
        async with asyncio.timeout(5):
            assert await a.receive_exactly(2) == b"v6"
    finally:
        await a.aclose()
        await b.aclose()


# -- receiving -------------------------------------------------------------------


async def test_receive_max_bytes_keeps_the_rest(
    pair: tuple[aiosock.Stream, aiosock.Stream],
) -> None:
    """receive(n) on a larger chunk returns n bytes and keeps the rest, in order."""
    a, b = pair
    # A receiver already waiting: the chunk is split on delivery.
    waiting = asyncio.ensure_future(b.receive(3))
    await a.send(b"abcdefghij")
    async with asyncio.timeout(5):
        assert await waiting == b"abc"
        # The rest was buffered whole: split again from the buffer.
        assert await b.receive(3) == b"def"
        assert await b.receive(100) == b"ghij"


async def test_default_loop_reads_64_kib_at_most(
    tcp_pair: tuple[aiosock.Stream, aiosock.Stream],
) -> None:
    """On the default loop no read takes more than 64 KiB; every byte arrives.

    send() writes at once, so most of 1 MiB waits in the kernel before the
    reader looks: a transport reading 256 KiB at a time would hand over larger
    chunks.
    """
    client, served = tcp_pair
    payload = bytes(range(256)) * 4096
    sending = client.send(payload)
    received = bytearray()
    largest = 0
    async with asyncio.timeout(10):
        while len(received) < len(payload):
            chunk = await served.receive(len(payload))
            assert chunk
            largest = max(largest, len(chunk))
            received += chunk
        await sending
    assert received == payload
    if not isinstance(asyncio.get_running_loop(), uvloop.Loop):
        assert largest <= 65536


async def test_receive_rejects_nonpositive_max_bytes(
    pair: tuple[aiosock.Stream, aiosock.Stream],
) -> None:
    """receive(0) raises ValueError."""
    _a, b = pair
    with pytest.raises(ValueError, match="max_bytes"):
        await b.receive(0)


async def test_receive_after_eof_keeps_returning_empty(
    pair: tuple[aiosock.Stream, aiosock.Stream],
) -> None:
    """After end of stream every receive() returns b""."""
    a, b = pair
    await a.send(b"last")
    await a.send_eof()
    async with asyncio.timeout(5):
        assert await b.receive_exactly(4) == b"last"
        for _ in range(3):
            assert await b.receive() == b""


async def test_receive_exactly_across_chunks(
    pair: tuple[aiosock.Stream, aiosock.Stream],
) -> None:
    """receive_exactly(n) gathers n bytes from several chunks and keeps the rest."""
    a, b = pair
    await a.send(b"12345")
    await _delivered(a, b)
    await a.send(b"67890")
    async with asyncio.timeout(5):
        assert await b.receive_exactly(7) == b"1234567"
        assert await b.receive_exactly(0) == b""
        assert await b.receive(10) == b"890"


async def test_receive_exactly_incomplete_at_eof(
    pair: tuple[aiosock.Stream, aiosock.Stream],
) -> None:
    """receive_exactly at end of stream raises IncompleteReadError with .partial."""
    a, b = pair
    await a.send(b"12345")
    await a.send_eof()
    async with asyncio.timeout(5):
        with pytest.raises(aiosock.IncompleteReadError) as info:
            await b.receive_exactly(10)
    assert info.value.partial == b"12345"
    assert info.value.expected == 10
    assert isinstance(info.value, EOFError)
    assert isinstance(info.value, aiosock.AiosockError)


async def test_receive_until_delimiter_spanning_chunks(
    pair: tuple[aiosock.Stream, aiosock.Stream],
) -> None:
    """receive_until finds a delimiter split across two chunks; the rest stays."""
    a, b = pair
    await a.send(b"hello\r")
    await _delivered(a, b)  # "hello\r" is now a chunk of its own in b
    await a.send(b"\nworld")
    async with asyncio.timeout(5):
        assert await b.receive_until(b"\r\n") == b"hello\r\n"
        assert await b.receive(100) == b"world"


async def test_receive_until_keeps_following_records(
    pair: tuple[aiosock.Stream, aiosock.Stream],
) -> None:
    """Several records in one chunk come out one by one."""
    a, b = pair
    await a.send(b"one\ntwo\nthree")
    await a.send_eof()
    async with asyncio.timeout(5):
        assert await b.receive_until() == b"one\n"
        assert await b.receive_until(b"\n") == b"two\n"
        with pytest.raises(aiosock.IncompleteReadError) as info:
            await b.receive_until(b"\n")
    assert info.value.partial == b"three"
    assert info.value.expected is None


async def test_receive_until_max_bytes_keeps_data(
    pair: tuple[aiosock.Stream, aiosock.Stream],
) -> None:
    """Past max_bytes without the delimiter: ValueError, and the bytes stay."""
    a, b = pair
    await a.send(b"x" * 20)
    async with asyncio.timeout(5):
        with pytest.raises(ValueError, match="max_bytes"):
            await b.receive_until(b"\n", max_bytes=10)
        await a.send(b"y\n")
        # The delimiter is there now but beyond max_bytes: still refused.
        with pytest.raises(ValueError, match="max_bytes"):
            await b.receive_until(b"\n", max_bytes=10)
        assert await b.receive_until(b"\n", max_bytes=100) == b"x" * 20 + b"y\n"


async def test_receive_until_max_bytes_across_chunks(
    pair: tuple[aiosock.Stream, aiosock.Stream],
) -> None:
    """max_bytes counts across chunks, and every chunk read is kept on failure."""
    a, b = pair
    await a.send(b"abc")
    await _delivered(a, b)
    await a.send(b"defgh")
    await _delivered(a, b)
    await a.send(b"ijk")
    async with asyncio.timeout(5):
        with pytest.raises(ValueError, match="max_bytes"):
            await b.receive_until(b"\n", max_bytes=6)
        assert await b.receive_exactly(11) == b"abcdefghijk"


async def test_receive_until_rejects_empty_delimiter(
    pair: tuple[aiosock.Stream, aiosock.Stream],
) -> None:
    """An empty delimiter is a ValueError."""
    _a, b = pair
    with pytest.raises(ValueError, match="delimiter"):
        await b.receive_until(b"")


async def test_async_iteration_ends_at_eof(
    pair: tuple[aiosock.Stream, aiosock.Stream],
) -> None:
    """`async for chunk in stream` yields everything, then stops at end of stream."""
    a, b = pair
    expected = b"".join(b"chunk %d;" % i for i in range(50))

    async def sender() -> None:
        for i in range(50):
            await a.send(b"chunk %d;" % i)
        await a.send_eof()

    async def collect() -> bytes:
        return b"".join([chunk async for chunk in b])

    async with asyncio.timeout(5):
        _, got = await asyncio.gather(sender(), collect())
    assert got == expected
    assert [chunk async for chunk in b] == []


async def test_two_receivers_are_refused(
    pair: tuple[aiosock.Stream, aiosock.Stream],
) -> None:
    """A second task receiving while one waits gets BusyResourceError."""
    a, b = pair
    first = asyncio.ensure_future(b.receive())
    await asyncio.sleep(0)  # its first step: it is the receiver from now on
    with pytest.raises(aiosock.BusyResourceError):
        await b.receive()
    await a.send(b"x")
    async with asyncio.timeout(5):
        assert await first == b"x"


async def test_a_receive_cancelled_before_it_ran_leaves_no_receiver(
    pair: tuple[aiosock.Stream, aiosock.Stream],
) -> None:
    """A receive task cancelled before its first step does not hold the stream."""
    a, b = pair
    never = asyncio.ensure_future(b.receive())
    never.cancel()
    with pytest.raises(asyncio.CancelledError):
        await never
    await a.send(b"x")
    async with asyncio.timeout(5):
        assert await b.receive() == b"x"


# -- closing -----------------------------------------------------------------------


async def test_closed_stream_refuses_everything(
    pair: tuple[aiosock.Stream, aiosock.Stream],
) -> None:
    """After aclose() send, receive and friends raise ClosedResourceError."""
    _a, b = pair
    await b.aclose()
    assert b.is_closing
    with pytest.raises(aiosock.ClosedResourceError):
        await b.send(b"x")
    with pytest.raises(aiosock.ClosedResourceError):
        await b.receive()
    with pytest.raises(aiosock.ClosedResourceError):
        await b.receive_exactly(1)
    with pytest.raises(aiosock.ClosedResourceError):
        await b.receive_until(b"\n")
    with pytest.raises(aiosock.ClosedResourceError):
        await b.send_eof()
    with pytest.raises(aiosock.ClosedResourceError):
        await anext(aiter(b))


async def test_aclose_is_idempotent(
    pair: tuple[aiosock.Stream, aiosock.Stream],
) -> None:
    """aclose() twice (and abort() after it) is harmless; the peer sees EOF once."""
    a, b = pair
    await a.send(b"bye")
    await a.aclose()
    await a.aclose()
    a.abort()
    async with asyncio.timeout(5):
        assert await b.receive_exactly(3) == b"bye"
        assert await b.receive() == b""


async def test_async_with_closes_the_stream(
    pair: tuple[aiosock.Stream, aiosock.Stream],
) -> None:
    """`async with stream` closes it on exit."""
    a, b = pair
    async with a:
        await a.send(b"in")
    assert a.is_closing
    async with asyncio.timeout(5):
        assert await b.receive_exactly(2) == b"in"
        assert await b.receive() == b""


async def test_send_after_send_eof_is_refused(
    pair: tuple[aiosock.Stream, aiosock.Stream],
) -> None:
    """After send_eof() sending raises ClosedResourceError; receiving still works."""
    a, b = pair
    await a.send_eof()
    await a.send_eof()  # twice is harmless
    with pytest.raises(aiosock.ClosedResourceError, match="send_eof"):
        await a.send(b"late")
    await b.send(b"reply")
    async with asyncio.timeout(5):
        assert await b.receive() == b""
        assert await a.receive_exactly(5) == b"reply"


async def test_close_wakes_a_waiting_receiver(
    pair: tuple[aiosock.Stream, aiosock.Stream],
) -> None:
    """aclose() wakes a task waiting in receive with ClosedResourceError."""
    _a, b = pair
    waiting = asyncio.ensure_future(b.receive())
    await b.aclose()
    async with asyncio.timeout(5):
        with pytest.raises(aiosock.ClosedResourceError):
            await waiting


# -- flow control and resets ---------------------------------------------------------


async def test_send_waits_while_the_peer_does_not_read(
    tcp_pair: tuple[aiosock.Stream, aiosock.Stream],
) -> None:
    """send()'s awaitable stays pending while the peer does not read; memory bounded."""
    client, served = tcp_pair
    chunk = b"z" * 65536
    _low, high = client.transport.get_write_buffer_limits()
    pending = None
    sent = 0
    for _ in range(4096):  # at most 256 MiB: far beyond any socket buffer
        fut = client.send(chunk)
        sent += len(chunk)
        # Never more than the high-water mark (plus one chunk) waits in memory.
        assert client.transport.get_write_buffer_size() <= high + len(chunk)
        if not fut.done():
            pending = fut
            break
    assert pending is not None, "send() never waited for the peer"

    received = 0

    async def reader() -> None:
        nonlocal received
        while received < sent:
            data = await served.receive()
            assert data
            received += len(data)

    async with asyncio.timeout(20):
        reading = asyncio.ensure_future(reader())
        await pending
        assert client.transport.get_write_buffer_size() <= high
        await reading
    assert received == sent


async def test_peer_reset_breaks_the_stream(
    tcp_pair: tuple[aiosock.Stream, aiosock.Stream],
) -> None:
    """When the TCP peer resets, receive and send raise BrokenResourceError."""
    client, served = tcp_pair
    await client.send(b"partial")
    async with asyncio.timeout(5):
        assert await served.receive_exactly(7) == b"partial"
    client.abort()  # SO_LINGER 0: an RST
    async with asyncio.timeout(5):
        with pytest.raises(aiosock.BrokenResourceError) as info:
            await served.receive()
    assert isinstance(info.value.__cause__, ConnectionResetError)
    assert served.is_closing
    with pytest.raises(aiosock.BrokenResourceError):
        await served.send(b"to nobody")
    with pytest.raises(aiosock.BrokenResourceError):
        await served.receive()


async def test_reset_while_waiting_in_receive(
    tcp_pair: tuple[aiosock.Stream, aiosock.Stream],
) -> None:
    """A receive already waiting when the reset comes raises BrokenResourceError."""
    client, served = tcp_pair
    waiting = asyncio.ensure_future(served.receive())  # parked at once
    assert not waiting.done()
    client.abort()
    async with asyncio.timeout(5):
        with pytest.raises(aiosock.BrokenResourceError):
            await waiting
