"""Overload: many connections held, storms past max_connections, EMFILE cycles."""

from __future__ import annotations

import asyncio
import resource
import time
from typing import TYPE_CHECKING

import aiosock

from .._emfile_server import __file__ as EMFILE_SCRIPT
from ._support import (
    cpu_seconds,
    loop_name,
    proc_fds,
    rss_kib,
    scale,
    start_script,
    stop_script,
)

if TYPE_CHECKING:
    from .conftest import Figure


def _raise_nofile(need: int) -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    assert hard > need, f"RLIMIT_NOFILE hard limit {hard} is below {need}"


async def _connect_all(target: str, n: int, batch: int = 256) -> list[aiosock.Stream]:
    clients: list[aiosock.Stream] = []
    try:
        for start in range(0, n, batch):
            count = min(batch, n - start)
            clients += await asyncio.gather(
                *(aiosock.connect(target, timeout=30) for _ in range(count))
            )
    except BaseException:
        for client in clients:
            client.abort()
        raise
    return clients


async def _round_trip(client: aiosock.Stream, i: int) -> None:
    message = b"%08d" % i
    await client.send(message)
    assert await client.receive_exactly(len(message)) == message


async def test_many_concurrent_connections(figure: Figure) -> None:
    """N connections are held open at once and every one of them is served."""
    n = scale(500, 10_000)
    _raise_nofile(n + 100)
    proc, (port, pid) = await start_script("_server.py", "echo", loop_name(), "0")
    base_fds, base_rss = proc_fds(int(pid)), rss_kib(int(pid))
    clients: list[aiosock.Stream] = []
    try:
        started = time.monotonic()
        clients = await _connect_all(f"tcp://127.0.0.1:{port}", n)
        connected = time.monotonic() - started
        async with asyncio.timeout(60):
            await asyncio.gather(*(_round_trip(c, i) for i, c in enumerate(clients)))
        served = time.monotonic() - started - connected
        held = proc_fds(int(pid)) - base_fds
        assert held >= n, f"the server holds {held} connections, expected {n}"
        per_connection = (rss_kib(int(pid)) - base_rss) * 1024 / n
        # Every connection is still served after all were answered once.
        async with asyncio.timeout(60):
            await asyncio.gather(*(_round_trip(c, -i) for i, c in enumerate(clients)))
    finally:
        for client in clients:
            client.abort()
        err = await stop_script(proc)
    assert proc.returncode == 0, err
    figure("connections held", n, "connections")
    figure("time to connect all", connected, "s")
    figure("time to serve one round trip each", served, "s")
    figure("server memory per connection", per_connection, "bytes")


async def _storm(target: str, clients: int, concurrency: int) -> float:
    """``clients`` short connections, ``concurrency`` at a time; the slowest's time."""
    slowest = 0.0
    gate = asyncio.Semaphore(concurrency)

    async def one(i: int) -> None:
        nonlocal slowest
        async with gate:
            started = time.monotonic()
            async with asyncio.timeout(30):
                stream = await aiosock.connect(target)
                async with stream:
                    await _round_trip(stream, i)
            slowest = max(slowest, time.monotonic() - started)

    await asyncio.gather(*(one(i) for i in range(clients)))
    return slowest


async def test_storm_past_max_connections(figure: Figure) -> None:
    """Storms past max_connections: all wait then are served, fds and memory flat."""
    limit = 32
    clients = scale(150, 5000)
    storms = scale(3, 6)
    proc, (port, pid) = await start_script(
        "_server.py", "echo", loop_name(), str(limit)
    )
    base_fds = proc_fds(int(pid))
    peak = 0
    sampling = True

    async def sample() -> None:
        # Polls the server's descriptor count (a measurement, not synchronisation).
        nonlocal peak
        while sampling:
            peak = max(peak, proc_fds(int(pid)) - base_fds)
            await asyncio.sleep(0.002)

    sampler = asyncio.create_task(sample())
    rss: list[int] = []
    slowest = 0.0
    try:
        for _ in range(storms):
            slowest = max(
                slowest,
                await _storm(f"tcp://127.0.0.1:{port}", clients, concurrency=4 * limit),
            )
            rss.append(rss_kib(int(pid)))
    finally:
        sampling = False
        await sampler
        err = await stop_script(proc)
    assert proc.returncode == 0, err
    # One descriptor of slack: a socket being closed while the next is accepted.
    assert peak <= limit + 1, f"{peak} connections open past the limit of {limit}"
    growth = rss[-1] - rss[0]
    assert growth < 4096, f"RSS grew {growth} KiB over {storms - 1} storms: {rss}"
    figure("clients per storm", clients, "connections")
    figure("max_connections", limit, "connections")
    figure("peak connections open", peak, "connections")
    figure("slowest client (connect to close)", slowest, "s")
    figure("server RSS growth after the first storm", growth, "KiB")


class _Lines:
    """The server's stderr lines, read in the background."""

    def __init__(self, reader: asyncio.StreamReader) -> None:
        self.lines: list[bytes] = []
        self._changed = asyncio.Event()
        self._task = asyncio.create_task(self._read(reader))

    async def _read(self, reader: asyncio.StreamReader) -> None:
        while line := await reader.readline():
            self.lines.append(line)
            self._changed.set()
        self._changed.set()

    async def wait_count(self, text: bytes, count: int, timeout: float) -> None:
        async with asyncio.timeout(timeout):
            while sum(text in line for line in self.lines) < count:
                assert not self._task.done(), b"".join(self.lines)
                self._changed.clear()
                await self._changed.wait()

    async def close(self) -> None:
        await self._task


async def test_emfile_cycles_recover_without_busy_loop(figure: Figure) -> None:
    """Repeated EMFILE episodes: no busy loop, established served, full recovery."""
    capacity, clients_per_cycle = 8, 14
    cycles = scale(2, 20)
    proc = await asyncio.create_subprocess_exec(
        __import__("sys").executable,
        EMFILE_SCRIPT,
        loop_name(),
        str(capacity),
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    assert proc.stdout is not None
    assert proc.stderr is not None
    assert proc.stdin is not None
    lines = _Lines(proc.stderr)
    worst_cpu, worst_recovery = 0.0, 0.0
    try:
        async with asyncio.timeout(20):
            port = int(await proc.stdout.readline())
        target = f"tcp://127.0.0.1:{port}"
        for cycle in range(cycles):
            clients = [
                await aiosock.connect(target, timeout=5)
                for _ in range(clients_per_cycle)
            ]
            first = clients[: capacity - 1]
            for client in first:
                async with asyncio.timeout(10):
                    assert await client.receive_exactly(2) == b"hi"
            await lines.wait_count(b"accepting paused", cycle + 1, timeout=10)
            # A measurement window while exhausted (not synchronisation).
            cpu = cpu_seconds(proc.pid)
            started = time.monotonic()
            await asyncio.sleep(0.5)
            share = (cpu_seconds(proc.pid) - cpu) / (time.monotonic() - started)
            worst_cpu = max(worst_cpu, share)
            assert share < 0.3, f"cycle {cycle}: {share:.0%} CPU while exhausted"
            for i, client in enumerate(first):
                async with asyncio.timeout(5):
                    await _round_trip(client, i)
            started = time.monotonic()
            for client in first:
                await client.aclose()
            for i, client in enumerate(clients[capacity - 1 :]):
                async with asyncio.timeout(10):
                    assert await client.receive_exactly(2) == b"hi"
                    await _round_trip(client, i)
            worst_recovery = max(worst_recovery, time.monotonic() - started)
            for client in clients:
                await client.aclose()
        assert proc.returncode is None
    finally:
        proc.stdin.close()
        try:
            async with asyncio.timeout(10):
                await proc.wait()
        except TimeoutError:
            proc.kill()
            await proc.wait()
        await lines.close()
    assert proc.returncode == 0, b"".join(lines.lines).decode(errors="replace")
    figure("exhaustion cycles", cycles, "cycles")
    figure("worst CPU share while exhausted", worst_cpu * 100, "%")
    figure("worst time to serve the waiting clients after freeing", worst_recovery, "s")
