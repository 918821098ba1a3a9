"""Local namespace extras on sequenced packets: descriptors and credentials."""

from __future__ import annotations

import asyncio
import os
import resource
from collections.abc import Callable

import pytest

import aiosock


def _close(*fds: int) -> None:
    for fd in fds:
        os.close(fd)


async def test_record_carries_fds() -> None:
    """send_fds sends a record with descriptors; receive_fds gets both together."""
    a, b = await aiosock.packet_pair()
    r, w = os.pipe()
    async with a, b:
        await a.send(b"plain")
        await a.send_fds(b"with fd", [w])
        assert await b.receive_fds() == (b"plain", [])
        record, fds = await b.receive_fds()
        assert record == b"with fd"
        assert len(fds) == 1
        os.write(fds[0], b"written through the passed end")
        assert os.read(r, 100) == b"written through the passed end"
        _close(r, w, *fds)


async def test_plain_receive_drops_fds(open_fds: Callable[[], int]) -> None:
    """receive() of a record with descriptors gives it; the kernel closes the fds."""
    a, b = await aiosock.packet_pair()
    r, w = os.pipe()
    async with a, b:
        before = open_fds()
        await a.send_fds(b"record", [r, w])
        assert await b.receive() == b"record"
        assert open_fds() == before
    _close(r, w)


async def test_extra_fds_closed(open_fds: Callable[[], int]) -> None:
    """Descriptors beyond max_fds are closed; max_fds=0 keeps none."""
    a, b = await aiosock.packet_pair()
    r, w = os.pipe()
    async with a, b:
        before = open_fds()
        await a.send_fds(b"one", [r, w, r])
        await a.send_fds(b"two", [r, w])
        record, fds = await b.receive_fds(max_fds=2)
        assert record == b"one"
        assert len(fds) == 2
        assert await b.receive_fds(max_fds=0) == (b"two", [])
        assert open_fds() == before + 2
        _close(*fds)
    _close(r, w)


async def test_too_large_record_with_fds(open_fds: Callable[[], int]) -> None:
    """A record longer than max_bytes is an error; its descriptors are closed."""
    a, b = await aiosock.packet_pair()
    r, w = os.pipe()
    async with a, b:
        before = open_fds()
        await a.send_fds(b"x" * 100, [r])
        with pytest.raises(aiosock.MessageTooLargeError):
            await b.receive_fds(10)
        assert open_fds() == before
        await a.send(b"next")
        assert await b.receive_fds(10) == (b"next", [])
    _close(r, w)


async def test_receive_message_credentials() -> None:
    """With pass_credentials on, each record comes with the sender's credentials."""
    a, b = await aiosock.packet_pair()
    async with a, b:
        b.options["pass_credentials"] = True
        await a.send(b"hello")
        message = await b.receive_message()
        assert message.data == b"hello"
        assert message.credentials == aiosock.Credentials(
            os.getpid(), os.geteuid(), os.getegid()
        )


async def test_receive_message_waits_and_ends() -> None:
    """receive_message waits for a record, and gives b"" at end of stream."""
    a, b = await aiosock.packet_pair()
    async with a, b:
        waiting = asyncio.ensure_future(b.receive_message())
        await asyncio.sleep(0)
        assert not waiting.done()
        await a.send(b"late")
        assert (await waiting).data == b"late"
        await a.send_eof()
        assert (await b.receive_message()).data == b""
        assert await b.receive_fds() == (b"", [])


async def test_descriptors_lost_at_the_limit(open_fds: Callable[[], int]) -> None:
    """At the descriptor limit the kernel drops fds: DescriptorsLostError, none leak."""
    a, b = await aiosock.packet_pair()
    pipes = [os.pipe() for _ in range(2)]
    async with a, b:
        await a.send_fds(b"four fds", [fd for pipe in pipes for fd in pipe])
        before = open_fds()
        soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        used = {int(name) for name in os.listdir("/proc/self/fd")}
        first_free = next(fd for fd in range(soft) if fd not in used)
        resource.setrlimit(resource.RLIMIT_NOFILE, (first_free + 1, hard))
        try:
            with pytest.raises(aiosock.DescriptorsLostError) as info:
                await b.receive_fds()
        finally:
            resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))
        assert info.value.data == b"four fds"
        assert "RLIMIT_NOFILE" in str(info.value)
        assert open_fds() == before
    for pipe in pipes:
        _close(*pipe)
