"""Cancelling a datagram receive loses no datagram and leaves no receiver behind."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

import aiosock
from aiosock._core._dgram_transport import too_large


@pytest.fixture
async def sock() -> AsyncIterator[aiosock.DatagramSocket]:
    """A UDP socket on loopback."""
    async with await aiosock.open_datagram("udp://127.0.0.1:0") as s:
        yield s


async def _until_it_waits(task: asyncio.Future[object]) -> None:
    """Let ``task`` run until it waits for a datagram (a bounded number of turns)."""
    for _ in range(20):
        await asyncio.sleep(0)
    assert not task.done()


def _receiving(sock: aiosock.DatagramSocket, how: str) -> asyncio.Future[object]:
    """A task receiving one datagram from ``sock`` by ``receive``, ``receive_from``
    or iteration (``how``)."""

    async def first() -> object:
        async for pair in sock:
            return pair
        return None

    receive = {"receive": sock.receive, "receive_from": sock.receive_from}.get(how)
    return asyncio.ensure_future(first() if receive is None else receive())


@pytest.mark.parametrize("how", ["receive", "receive_from", "iterate"])
async def test_receive_cancelled_after_its_datagram_came_keeps_it(
    sock: aiosock.DatagramSocket, how: str
) -> None:
    """A datagram handed to a receive whose task is then cancelled stays queued.

    The window between ``datagram_received`` completing the receive and the
    task running again, opened here on purpose: the datagram is delivered by
    hand and the task cancelled in the same step.
    """

    task = _receiving(sock, how)
    await _until_it_waits(task)
    sock.datagram_received(b"in flight", ("127.0.0.1", 9))
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    async with asyncio.timeout(5):
        data, address = await sock.receive_from()
    assert data == b"in flight"
    assert address == aiosock.InetAddress("127.0.0.1", 9)


async def test_receive_cancelled_before_it_ran_leaves_no_receiver(
    sock: aiosock.DatagramSocket,
) -> None:
    """A receive task cancelled before its first step does not hold the socket."""
    never = asyncio.ensure_future(sock.receive_from())
    never.cancel()
    with pytest.raises(asyncio.CancelledError):
        await never
    async with await aiosock.open_datagram(remote=sock.local_address) as peer:
        await peer.send(b"after")
        async with asyncio.timeout(5):
            assert await sock.receive() == b"after"


async def test_a_second_receiver_is_refused_when_it_runs(
    sock: aiosock.DatagramSocket,
) -> None:
    """Of two receives, the one that runs second gets BusyResourceError."""
    first = asyncio.ensure_future(sock.receive())
    await _until_it_waits(first)
    with pytest.raises(aiosock.BusyResourceError):
        await sock.receive()
    sock.datagram_received(b"x", ("127.0.0.1", 9))
    async with asyncio.timeout(5):
        assert await first == b"x"


@pytest.mark.parametrize("how", ["receive", "receive_from", "iterate"])
async def test_receive_cancelled_after_an_oversized_datagram_keeps_its_error(
    sock: aiosock.DatagramSocket, how: str
) -> None:
    """The error that stands for an oversized datagram is kept in its place too."""

    task = _receiving(sock, how)
    await _until_it_waits(task)
    sock.error_received(too_large(300, 200))
    task.cancel()
    sock.datagram_received(b"after", ("127.0.0.1", 9))
    with pytest.raises(asyncio.CancelledError):
        await task
    async with asyncio.timeout(5):
        with pytest.raises(aiosock.MessageTooLargeError) as info:
            await sock.receive_from()
        assert (info.value.size, info.value.limit) == (300, 200)
        assert await sock.receive() == b"after"


async def test_receive_message_cancelled_after_an_oversized_datagram(
    short_tmp: Path,
) -> None:
    """receive_message cancelled with its error in hand: cancelled, error kept."""
    async with await aiosock.open_datagram(f"unixgram:{short_tmp / 'c.sock'}") as s:
        task = asyncio.ensure_future(s.receive_message())
        await _until_it_waits(task)
        s.error_received(too_large(None, 200))
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        async with asyncio.timeout(5):
            with pytest.raises(aiosock.MessageTooLargeError):
                await s.receive_message()


async def test_receive_cancelled_after_an_icmp_error_keeps_it(
    sock: aiosock.DatagramSocket,
) -> None:
    """An error about no datagram, handed to a cancelled receive, is raised next."""
    task = asyncio.ensure_future(sock.receive())
    await _until_it_waits(task)
    sock.error_received(ConnectionRefusedError(111, "Connection refused"))
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    async with asyncio.timeout(5):
        with pytest.raises(ConnectionRefusedError):
            await sock.receive()
