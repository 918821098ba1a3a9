"""Local namespace extras on streams: peer credentials, SCM_RIGHTS, SCM_CREDENTIALS."""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest

import aiosock


def _pipe_with(data: bytes) -> tuple[int, int]:
    """Return a pipe (read end, write end) with ``data`` written into it."""
    r, w = os.pipe()
    os.write(w, data)
    return r, w


def _close(*fds: int) -> None:
    for fd in fds:
        os.close(fd)


@contextlib.asynccontextmanager
async def _tcp_pair() -> AsyncIterator[tuple[aiosock.Stream, aiosock.Stream]]:
    """Two connected TCP streams over 127.0.0.1."""
    accepted: asyncio.Queue[aiosock.Stream] = asyncio.Queue()
    done = asyncio.Event()

    async def handler(stream: aiosock.Stream) -> None:
        await accepted.put(stream)
        await done.wait()

    async with await aiosock.serve(handler, "tcp://127.0.0.1:0") as server:
        async with await aiosock.connect(server.endpoints[0]) as client:
            yield client, await accepted.get()
        done.set()


async def test_peer_credentials_of_pair() -> None:
    """stream.peer_credentials gives this process's pid, uid and gid (SO_PEERCRED)."""
    a, b = await aiosock.stream_pair()
    async with a, b:
        creds = a.peer_credentials
        assert creds == aiosock.Credentials(os.getpid(), os.geteuid(), os.getegid())
        assert b.peer_credentials == creds


async def test_peer_credentials_of_served_client(short_tmp: Path) -> None:
    """A server learns the connecting process's credentials from its stream."""
    got: asyncio.Future[aiosock.Credentials] = (
        asyncio.get_running_loop().create_future()
    )

    async def handler(stream: aiosock.Stream) -> None:
        got.set_result(stream.peer_credentials)

    async with await aiosock.serve(handler, f"unix:{short_tmp}/c"):
        client = await aiosock.connect(f"unix:{short_tmp}/c")
        assert (await got).pid == os.getpid()
        await client.aclose()


async def test_peer_credentials_need_local_namespace() -> None:
    """peer_credentials on a TCP stream raises OptionError naming the option."""
    async with _tcp_pair() as (a, b):
        with pytest.raises(aiosock.OptionError, match="peer_credentials"):
            _ = a.peer_credentials
        with pytest.raises(aiosock.OptionError, match="peer_credentials"):
            _ = b.peer_credentials


async def test_send_and_receive_fd() -> None:
    """A pipe's descriptor passed with send_fds reads the same pipe on the other end."""
    a, b = await aiosock.stream_pair()
    r, w = _pipe_with(b"through the pipe")
    async with a, b:
        receiving = asyncio.ensure_future(b.receive_fds(100, 4))
        await asyncio.sleep(0)
        await a.send_fds(b"fd!", [r])
        data, fds = await receiving
        assert data == b"fd!"
        assert len(fds) == 1
        assert fds[0] not in (r, w)
        assert os.read(fds[0], 100) == b"through the pipe"
        assert not os.get_inheritable(fds[0]), "received descriptors are close-on-exec"
        _close(r, w, *fds)


async def test_bytes_before_fds_keep_their_place() -> None:
    """Bytes sent before the descriptors come first; the fds come with their bytes."""
    a, b = await aiosock.stream_pair()
    r, w = _pipe_with(b"x")
    async with a, b:
        receiving = asyncio.ensure_future(b.receive_fds(100))
        await asyncio.sleep(0)
        await a.send(b"before|")
        await a.send_fds(b"fd!", [r])
        await a.send(b"|after")
        data, fds = await receiving
        assert data.endswith(b"fd!")
        assert len(fds) == 1
        rest = bytearray(data)
        while len(rest) < len(b"before|fd!|after"):
            more, extra = await b.receive_fds(100)
            assert extra == [], "descriptors must come once, with their bytes"
            rest += more
        assert rest == b"before|fd!|after"
        _close(r, w, *fds)


async def test_buffered_bytes_come_first_without_fds() -> None:
    """receive_fds first returns bytes the stream had already read, without fds."""
    a, b = await aiosock.stream_pair()
    async with a, b:
        await a.send(b"early")
        assert await b.receive(1) == b"e"  # the rest is now in the stream's buffer
        assert await b.receive_fds(100, 1) == (b"arly", [])


async def test_stream_goes_on_after_receive_fds() -> None:
    """After receive_fds the transport reads again: receive() gets later bytes."""
    a, b = await aiosock.stream_pair()
    r, w = _pipe_with(b"")
    async with a, b:
        receiving = asyncio.ensure_future(b.receive_fds())
        await asyncio.sleep(0)
        await a.send_fds(b"1", [r])
        _, fds = await receiving
        await a.send(b"plain")
        assert await b.receive_exactly(5) == b"plain"
        _close(r, w, *fds)


async def test_extra_descriptors_are_closed(open_fds: Callable[[], int]) -> None:
    """Descriptors beyond max_fds are closed, not leaked."""
    a, b = await aiosock.stream_pair()
    pipes = [os.pipe() for _ in range(3)]
    async with a, b:
        _ = a.socket, b.socket  # the streams' socket duplicates, made first
        before = open_fds()
        receiving = asyncio.ensure_future(b.receive_fds(10, 1))
        await asyncio.sleep(0)
        await a.send_fds(b"three", [r for r, _ in pipes])
        data, fds = await receiving
        assert data == b"three"
        assert len(fds) == 1
        assert open_fds() == before + 1
        _close(*fds)
    for r, w in pipes:
        _close(r, w)


async def test_large_send_fds_partial_send_keeps_order() -> None:
    """A send_fds larger than the socket buffer delivers all bytes in order."""
    a, b = await aiosock.stream_pair()
    r, w = _pipe_with(b"")
    payload = os.urandom(3 * 1024 * 1024)
    async with a, b:
        receiving = asyncio.ensure_future(b.receive_fds(65536, 1))
        await asyncio.sleep(0)
        sending = asyncio.ensure_future(a.send_fds(payload, [r]))
        first, fds = await receiving
        assert len(fds) == 1, "the descriptors come with the first bytes"
        rest = await b.receive_exactly(len(payload) - len(first))
        await sending
        assert first + rest == payload
        _close(r, w, *fds)


async def test_send_fds_after_buffered_writes() -> None:
    """send_fds waits for earlier sends to go out, so bytes keep their order."""
    a, b = await aiosock.stream_pair()
    r, w = _pipe_with(b"")
    big = os.urandom(2 * 1024 * 1024)
    async with a, b:
        sending_big = a.send(big)  # more than the socket holds: buffered
        sending_fds = asyncio.ensure_future(a.send_fds(b"tail", [r]))
        got = bytearray()
        received_fds: list[int] = []
        while len(got) < len(big) + 4:
            data, fds = await b.receive_fds(65536, 1)
            assert data
            if fds:
                assert got + data == big + b"tail", "the fds come with their bytes"
            received_fds += fds
            got += data
        await sending_big
        await sending_fds
        assert got == big + b"tail"
        assert len(received_fds) == 1
        _close(r, w, *received_fds)


async def test_receive_fds_at_end_of_stream() -> None:
    """receive_fds at end of stream gives (b"", []); receive() then gives b""."""
    a, b = await aiosock.stream_pair()
    async with a, b:
        receiving = asyncio.ensure_future(b.receive_fds())
        await asyncio.sleep(0)
        await a.send_eof()
        assert await receiving == (b"", [])
        assert await b.receive() == b""


async def test_receive_fds_cancelled_loses_nothing() -> None:
    """A cancelled receive_fds loses no bytes; the stream reads on afterwards."""
    a, b = await aiosock.stream_pair()
    async with a, b:
        receiving = asyncio.ensure_future(b.receive_fds())
        await asyncio.sleep(0)
        receiving.cancel()
        with pytest.raises(asyncio.CancelledError):
            await receiving
        await a.send(b"kept")
        assert await b.receive() == b"kept"


async def test_receive_fds_refuses_second_receiver() -> None:
    """receive() while receive_fds waits raises BusyResourceError."""
    a, b = await aiosock.stream_pair()
    async with a, b:
        receiving = asyncio.ensure_future(b.receive_fds())
        await asyncio.sleep(0)
        with pytest.raises(aiosock.BusyResourceError):
            await b.receive()
        await a.send(b"x")
        assert await receiving == (b"x", [])


async def test_close_while_receive_fds_waits() -> None:
    """aclose() wakes a waiting receive_fds with ClosedResourceError."""
    a, b = await aiosock.stream_pair()
    async with a:
        receiving = asyncio.ensure_future(b.receive_fds())
        await asyncio.sleep(0)
        await b.aclose()
        with pytest.raises(aiosock.ClosedResourceError):
            await receiving
        with pytest.raises(aiosock.ClosedResourceError):
            await b.send_fds(b"x", [0])


async def test_send_fds_argument_errors() -> None:
    """send_fds checks its data and descriptors before sending anything."""
    a, b = await aiosock.stream_pair()
    async with a, b:
        with pytest.raises(ValueError, match="at least one byte"):
            await a.send_fds(b"", [0])
        with pytest.raises(TypeError, match="int"):
            await a.send_fds(b"x", ["0"])  # type: ignore[list-item]
        with pytest.raises(ValueError, match=">= 0"):
            await a.send_fds(b"x", [-1])
        with pytest.raises(ValueError, match="at most 253"):
            await a.send_fds(b"x", [0] * 254)
        with pytest.raises(ValueError, match="max_fds"):
            await b.receive_fds(10, 254)


async def test_fd_passing_needs_local_namespace() -> None:
    """send_fds and receive_fds on a TCP stream raise ValueError."""
    async with _tcp_pair() as (a, b):
        with pytest.raises(ValueError, match="local-namespace"):
            await a.send_fds(b"x", [0])
        with pytest.raises(ValueError, match="local-namespace"):
            await b.receive_fds()


async def test_scm_credentials_with_pass_credentials() -> None:
    """With pass_credentials on, receive_message gives the sender's credentials."""
    a, b = await aiosock.stream_pair()
    async with a, b:
        b.options["pass_credentials"] = True
        receiving = asyncio.ensure_future(b.receive_message())
        await asyncio.sleep(0)
        await a.send(b"who am I")
        message = await receiving
        assert message.data == b"who am I"
        assert message.credentials == aiosock.Credentials(
            os.getpid(), os.geteuid(), os.getegid()
        )
        assert message.fds == []
        assert message.address is None


async def test_no_credentials_without_the_option() -> None:
    """Without pass_credentials, receive_message reports no credentials."""
    a, b = await aiosock.stream_pair()
    async with a, b:
        receiving = asyncio.ensure_future(b.receive_message())
        await asyncio.sleep(0)
        await a.send(b"x")
        assert (await receiving).credentials is None
