"""serve(idle_timeout=...): connections with no traffic are reset, others kept."""

from __future__ import annotations

import asyncio

import pytest

import aiosock


async def _echo(stream: aiosock.Stream) -> None:
    async for chunk in stream:
        await stream.send(chunk)


@pytest.mark.parametrize("value", [0, -1, True, "1", float("nan")])
async def test_bad_idle_timeout_is_refused(value: object) -> None:
    """idle_timeout must be a positive number of seconds."""
    with pytest.raises(ValueError, match="'idle_timeout'"):
        await aiosock.serve(_echo, "tcp://127.0.0.1:0", idle_timeout=value)  # type: ignore[arg-type]


async def test_idle_timeout_refused_for_unixpacket(short_tmp: object) -> None:
    """idle_timeout is for byte streams: unixpacket servers refuse it."""
    with pytest.raises(ValueError, match="unixpacket"):
        await aiosock.serve(_echo, f"unixpacket:{short_tmp}/p", idle_timeout=1)


async def test_traffic_keeps_a_connection_alive() -> None:
    """A client with traffic more often than idle_timeout is never reset."""
    idle = 0.3
    async with (
        await aiosock.serve(_echo, "tcp://127.0.0.1:0", idle_timeout=idle) as s,
        await aiosock.connect(s.endpoints[0], timeout=5) as client,
    ):
        loop = asyncio.get_running_loop()
        end = loop.time() + 3 * idle
        while loop.time() < end:
            await client.send(b"ping")
            assert await client.receive_exactly(4) == b"ping"
            # The client's pace: well within the idle timeout.
            await asyncio.sleep(idle / 3)
        assert not client.is_closing


async def test_idle_connection_is_reset() -> None:
    """A connection with no traffic is reset after idle_timeout; the server goes on."""
    ended = asyncio.Event()

    async def handler(stream: aiosock.Stream) -> None:
        try:
            await stream.receive()
        except aiosock.BrokenResourceError as exc:
            causes.append(exc.__cause__)
            ended.set()

    causes: list[BaseException | None] = []
    async with (
        await aiosock.serve(handler, "tcp://127.0.0.1:0", idle_timeout=0.2) as s,
        await aiosock.connect(s.endpoints[0], timeout=5) as client,
    ):
        async with asyncio.timeout(5):
            await ended.wait()
            try:
                data = await client.receive()
            except aiosock.BrokenResourceError:
                data = b""  # the reset itself
            assert data == b""
    assert len(causes) == 1
    assert isinstance(causes[0], TimeoutError)
    assert "idle_timeout" in str(causes[0])
