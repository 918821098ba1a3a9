"""Sequenced packets: PacketStream, connect_packets, serve_packets, packet_pair."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import pytest

import aiosock
from aiosock.testing import check_packet_stream

PairFactory = Callable[[], Awaitable[tuple[aiosock.PacketStream, aiosock.PacketStream]]]


@contextlib.asynccontextmanager
async def served_packet_pairs(
    *endpoints: str, **serve_kw: object
) -> AsyncIterator[tuple[aiosock.Server, PairFactory]]:
    """Serve ``endpoints``; the factory returns (client, server side) pairs."""
    accepted: asyncio.Queue[aiosock.PacketStream] = asyncio.Queue()
    release = asyncio.Event()

    async def handler(stream: aiosock.PacketStream) -> None:
        await accepted.put(stream)
        await release.wait()

    server = await aiosock.serve_packets(handler, *endpoints, **serve_kw)  # type: ignore[arg-type]

    async def make_pair() -> tuple[aiosock.PacketStream, aiosock.PacketStream]:
        client = await aiosock.connect_packets(server.endpoints[0], timeout=10)
        async with asyncio.timeout(10):
            served = await accepted.get()
        return client, served

    try:
        yield server, make_pair
    finally:
        release.set()
        await server.aclose()


async def test_pair_conforms() -> None:
    """packet_pair() streams pass the record conformance checks."""
    await check_packet_stream(aiosock.packet_pair)


async def test_file_endpoint_conforms(short_tmp: Path) -> None:
    """A unixpacket: socket-file server's streams pass the conformance checks."""
    async with served_packet_pairs(f"unixpacket:{short_tmp}/s") as (_, make_pair):
        await check_packet_stream(make_pair)


async def test_abstract_endpoint_conforms() -> None:
    """An abstract unixpacket:@name server's streams pass the conformance checks."""
    name = f"unixpacket:@aiosock-test-{os.getpid()}-{id(object())}"
    async with served_packet_pairs(name) as (_, make_pair):
        await check_packet_stream(make_pair)


async def test_serve_and_connect_route_unixpacket(short_tmp: Path) -> None:
    """aiosock.serve and aiosock.connect give PacketStreams for unixpacket: text."""
    seen: list[object] = []

    async def echo(stream: aiosock.Stream) -> None:
        seen.append(type(stream))
        async for record in stream:
            await stream.send(record)

    async with await aiosock.serve(echo, f"unixpacket:{short_tmp}/r") as server:
        assert server.endpoints[0].style is aiosock.Style.SEQPACKET
        client = await aiosock.connect(f"unixpacket:{short_tmp}/r", timeout=10)
        async with client:
            assert isinstance(client, aiosock.PacketStream)
            await client.send(b"one")
            await client.send(b"two")
            assert await client.receive() == b"one"
            assert await client.receive() == b"two"
    assert seen == [aiosock.PacketStream]


async def test_connect_accepts_endpoint_objects(short_tmp: Path) -> None:
    """connect() routes an Endpoint of style SEQPACKET; connect_packets takes paths."""

    async def echo(stream: aiosock.PacketStream) -> None:
        async for record in stream:
            await stream.send(record)

    async with await aiosock.serve_packets(echo, f"unixpacket:{short_tmp}/e") as server:
        first = await aiosock.connect(server.endpoints[0])
        second = await aiosock.connect_packets(short_tmp / "e")
        assert isinstance(first, aiosock.PacketStream)
        for client in (first, second):
            await client.send(b"ping")
            assert await client.receive() == b"ping"
            await client.aclose()


async def test_connect_packets_rejects_stream_endpoints() -> None:
    """connect_packets refuses an endpoint of another style with AddressError."""
    with pytest.raises(aiosock.AddressError, match="seqpacket"):
        await aiosock.connect_packets("unix:/tmp/x.sock")


async def test_connect_to_missing_file(short_tmp: Path) -> None:
    """Connecting to a path with no socket raises FileNotFoundError."""
    with pytest.raises(FileNotFoundError):
        await aiosock.connect_packets(f"unixpacket:{short_tmp}/nothing")


async def test_connect_to_stream_listener_fails(short_tmp: Path) -> None:
    """A unixpacket client cannot connect to a stream (unix:) server."""

    async def handler(stream: aiosock.Stream) -> None:
        await stream.receive()

    async with await aiosock.serve(handler, f"unix:{short_tmp}/st"):
        with pytest.raises(OSError, match="Protocol wrong type"):
            await aiosock.connect_packets(f"unixpacket:{short_tmp}/st")


async def test_record_boundaries_kept() -> None:
    """Each receive returns one record, even when several are queued."""
    a, b = await aiosock.packet_pair()
    async with a, b:
        for record in (b"a", b"bb", b"ccc" * 1000, b"d"):
            await a.send(record)
        assert [await b.receive() for _ in range(4)] == [
            b"a",
            b"bb",
            b"ccc" * 1000,
            b"d",
        ]


async def test_async_iteration_stops_at_eof() -> None:
    """async for over a PacketStream yields records and stops at end of stream."""
    a, b = await aiosock.packet_pair()
    async with a, b:
        for i in range(5):
            await a.send(bytes([i]) * (i + 1))
        await a.send_eof()
        assert [r async for r in b] == [bytes([i]) * (i + 1) for i in range(5)]
        assert await b.receive() == b""


async def test_empty_record_refused() -> None:
    """Sending an empty record raises ValueError (it would read as end of stream)."""
    a, b = await aiosock.packet_pair()
    async with a, b:
        with pytest.raises(ValueError, match="non-empty"):
            await a.send(b"")


async def test_foreign_empty_record_skipped() -> None:
    """An empty record from a plain socket peer is skipped, not taken for EOF."""
    raw, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    stream = aiosock.PacketStream(theirs)
    async with stream:
        raw.send(b"")
        raw.send(b"after")
        assert await stream.receive() == b"after"
        raw.send(b"")
        raw.shutdown(socket.SHUT_WR)
        assert await stream.receive() == b""
    raw.close()


async def test_too_large_record_on_send() -> None:
    """A record larger than the send buffer raises MessageTooLargeError."""
    a, b = await aiosock.packet_pair()
    async with a, b:
        with pytest.raises(aiosock.MessageTooLargeError) as info:
            await a.send(b"x" * (4 * 1024 * 1024))
        assert info.value.size == 4 * 1024 * 1024
        assert isinstance(info.value, OSError)
        await a.send(b"still fine")
        assert await b.receive() == b"still fine"


async def test_too_large_record_on_receive_reports_size() -> None:
    """A record longer than max_bytes is an error naming its length; it is dropped."""
    a, b = await aiosock.packet_pair()
    async with a, b:
        await a.send(b"y" * 5000)
        with pytest.raises(aiosock.MessageTooLargeError) as info:
            await b.receive(100)
        assert (info.value.size, info.value.limit) == (5000, 100)
        assert "5000" in str(info.value)
        await a.send(b"z")
        assert await b.receive(100) == b"z"


async def test_large_max_bytes_beyond_shared_buffer() -> None:
    """max_bytes above the shared buffer size still receives whole records."""
    a, b = await aiosock.packet_pair()
    async with a, b:
        a.options["send_buffer"] = 1024 * 1024
        b.options["receive_buffer"] = 1024 * 1024
        record = os.urandom(600_000)
        sending = asyncio.ensure_future(a.send(record))
        assert await b.receive(1024 * 1024) == record
        await sending


async def test_concurrent_senders_keep_call_order() -> None:
    """Records from tasks that send at once go out in the order of the calls."""
    a, b = await aiosock.packet_pair()
    async with a, b:
        records = [i.to_bytes(2, "big") * 20_000 for i in range(40)]
        tasks = [asyncio.ensure_future(a.send(r)) for r in records]
        got = [await b.receive() for _ in records]
        await asyncio.gather(*tasks)
        assert got == records


async def test_send_after_send_eof_fails() -> None:
    """send() after send_eof() raises ClosedResourceError; send_eof twice is fine."""
    a, b = await aiosock.packet_pair()
    async with a, b:
        await a.send_eof()
        await a.send_eof()
        with pytest.raises(aiosock.ClosedResourceError, match="send_eof"):
            await a.send(b"x")
        await b.send(b"reply")
        assert await a.receive() == b"reply"


async def test_send_eof_waits_for_queued_records() -> None:
    """send_eof() called while sends wait goes out after their records."""
    a, b = await aiosock.packet_pair()
    async with a, b:
        records = [bytes([i]) * 50_000 for i in range(1, 13)]
        tasks = [asyncio.ensure_future(a.send(r)) for r in records]
        tasks.append(asyncio.ensure_future(a.send_eof()))
        got = [r async for r in b]
        await asyncio.gather(*tasks)
        assert got == records


async def test_closed_stream_refuses_everything() -> None:
    """After aclose(), receive, send, send_eof and socket raise ClosedResourceError."""
    a, b = await aiosock.packet_pair()
    await a.aclose()
    await a.aclose()
    for call in (a.receive, lambda: a.send(b"x"), a.send_eof):
        with pytest.raises(aiosock.ClosedResourceError):
            await call()
    with pytest.raises(aiosock.ClosedResourceError):
        _ = a.socket
    with pytest.raises(aiosock.ClosedResourceError):
        _ = a.peer_credentials
    assert a.get_extra_info("peername", "gone") == "gone"
    assert a.is_closing
    assert "closed" in repr(a)
    assert await b.receive() == b""
    await b.aclose()


async def test_peer_close_with_unread_records_breaks() -> None:
    """A peer that closes with records unread gives BrokenResourceError here."""
    a, b = await aiosock.packet_pair()
    await a.send(b"never read by b")
    await b.aclose()
    with pytest.raises(aiosock.BrokenResourceError):
        await a.receive()
    with pytest.raises(aiosock.BrokenResourceError):
        await a.send(b"x")
    await a.aclose()


async def test_aclose_delivers_sent_records() -> None:
    """Records sent before aclose() are still read by the peer, then the end."""
    a, b = await aiosock.packet_pair()
    for i in range(3):
        await a.send(bytes([65 + i]))
    await a.aclose()
    assert [r async for r in b] == [b"A", b"B", b"C"]
    await b.aclose()


async def test_introspection(short_tmp: Path) -> None:
    """Addresses, options, credentials and extra info describe the connection."""
    path = f"{short_tmp}/i"
    async with served_packet_pairs(f"unixpacket:{path}") as (_, make_pair):
        client, served = await make_pair()
        async with client, served:
            assert client.peer_address == aiosock.LocalAddress(path)
            assert served.local_address == aiosock.LocalAddress(path)
            assert client.options["style"] is aiosock.Style.SEQPACKET
            creds = served.peer_credentials
            assert (creds.pid, creds.uid, creds.gid) == (
                os.getpid(),
                os.geteuid(),
                os.getegid(),
            )
            assert client.get_extra_info("peername") == path
            assert client.get_extra_info("socket") is client.socket
            assert client.get_extra_info("nothing", 7) == 7
            assert path in repr(client)


async def test_rejects_non_seqpacket_socket() -> None:
    """PacketStream() refuses a socket of another type."""
    a, b = socket.socketpair()
    with a, b, pytest.raises(ValueError, match="SOCK_SEQPACKET"):
        aiosock.PacketStream(a)


async def test_stale_socket_file_replaced_live_refused(short_tmp: Path) -> None:
    """A stale unixpacket file is replaced; a live server's file is not stolen."""
    path = short_tmp / "stale"
    dead = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    dead.bind(str(path))
    dead.close()
    async with served_packet_pairs(f"unixpacket:{path}") as (_, make_pair):
        client, served = await make_pair()
        await client.aclose()
        await served.aclose()
        with pytest.raises(OSError, match="live server"):
            await aiosock.serve_packets(lambda s: s.aclose(), f"unixpacket:{path}")
    assert not path.exists(), "the socket file must be removed on close"


async def test_socket_file_mode(short_tmp: Path) -> None:
    """Socket files are made with the mode asked for (default 0o600)."""
    async with served_packet_pairs(f"unixpacket:{short_tmp}/m"):
        assert (short_tmp / "m").stat().st_mode & 0o777 == 0o600
    async with served_packet_pairs(f"unixpacket:{short_tmp}/n", mode=0o660):
        assert (short_tmp / "n").stat().st_mode & 0o777 == 0o660


async def test_handler_lifecycle(
    short_tmp: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Handler return closes the stream; an exception is logged, others go on."""

    async def handler(stream: aiosock.PacketStream) -> None:
        record = await stream.receive()
        if record == b"boom":
            raise RuntimeError("handler failed on purpose")
        await stream.send(record[::-1])

    async with await aiosock.serve_packets(handler, f"unixpacket:{short_tmp}/h"):
        with caplog.at_level(logging.ERROR, logger="aiosock.server"):
            bad = await aiosock.connect_packets(f"unixpacket:{short_tmp}/h")
            await bad.send(b"boom")
            assert await bad.receive() == b""
            await bad.aclose()
        good = await aiosock.connect_packets(f"unixpacket:{short_tmp}/h")
        await good.send(b"abc")
        assert await good.receive() == b"cba"
        assert await good.receive() == b""
        await good.aclose()
    assert "handler failed on purpose" in caplog.text


async def test_aclose_grace_cancels_waiting_handlers(short_tmp: Path) -> None:
    """server.aclose(grace) cancels handlers still waiting; their streams abort."""
    started = asyncio.Event()
    cancelled = asyncio.Event()

    async def handler(stream: aiosock.PacketStream) -> None:
        started.set()
        try:
            await stream.receive()
        except asyncio.CancelledError:
            cancelled.set()
            raise

    server = await aiosock.serve_packets(handler, f"unixpacket:{short_tmp}/g")
    client = await aiosock.connect_packets(server.endpoints[0])
    await started.wait()
    await server.aclose(grace=0.01)
    assert cancelled.is_set()
    assert await client.receive() == b""
    await client.aclose()


async def test_max_connections(short_tmp: Path) -> None:
    """max_connections holds back the accept of an extra client until one ends."""
    release = asyncio.Event()
    served: list[aiosock.PacketStream] = []

    async def handler(stream: aiosock.PacketStream) -> None:
        served.append(stream)
        await stream.send(b"hello")
        await release.wait()

    async with await aiosock.serve_packets(
        handler, f"unixpacket:{short_tmp}/l", max_connections=1
    ) as server:
        first = await aiosock.connect_packets(server.endpoints[0])
        assert await first.receive() == b"hello"
        second = await aiosock.connect_packets(server.endpoints[0])
        waiting = asyncio.ensure_future(second.receive())
        for _ in range(20):
            await asyncio.sleep(0)
        assert not waiting.done()
        assert server.active_connections == 1
        release.set()
        assert await waiting == b"hello"
        await first.aclose()
        await second.aclose()


async def test_adopt_listening_socket(short_tmp: Path) -> None:
    """serve_packets(sock=...) serves an already listening SOCK_SEQPACKET socket."""
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    listener.bind(str(short_tmp / "a"))
    listener.listen()

    async def handler(stream: aiosock.PacketStream) -> None:
        await stream.send(b"adopted")

    async with await aiosock.serve_packets(handler, sock=listener):
        client = await aiosock.connect_packets(f"unixpacket:{short_tmp}/a")
        assert await client.receive() == b"adopted"
        await client.aclose()


async def test_serve_packets_argument_errors() -> None:
    """serve_packets checks its arguments before binding anything."""
    with pytest.raises(ValueError, match="at least one"):
        await aiosock.serve_packets(lambda s: s.aclose())
    with pytest.raises(ValueError, match="max_connections"):
        await aiosock.serve_packets(
            lambda s: s.aclose(), "unixpacket:@x", max_connections=0
        )
    stream_sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    with stream_sock, pytest.raises(aiosock.AddressError, match="SOCK_SEQPACKET"):
        await aiosock.serve_packets(lambda s: s.aclose(), sock=stream_sock)


async def test_serve_adopts_seqpacket_socket_as_packets(short_tmp: Path) -> None:
    """aiosock.serve(sock=<listening SOCK_SEQPACKET>) serves PacketStreams."""
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    listener.bind(str(short_tmp / "adopt"))
    listener.listen()

    async def handler(stream: aiosock.Stream) -> None:
        await stream.send(type(stream).__name__.encode())

    async with await aiosock.serve(handler, sock=listener):
        client = await aiosock.connect(f"unixpacket:{short_tmp}/adopt")
        assert await client.receive() == b"PacketStream"
        await client.aclose()


async def test_serve_refuses_mixed_styles(short_tmp: Path) -> None:
    """Mixing unixpacket: and stream endpoints in one serve() is an AddressError."""
    with pytest.raises(aiosock.AddressError, match="stream endpoint"):
        await aiosock.serve(
            lambda s: s.aclose(), f"unix:{short_tmp}/a", f"unixpacket:{short_tmp}/b"
        )
