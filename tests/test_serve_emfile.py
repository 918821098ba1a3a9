"""serve() under descriptor exhaustion (EMFILE), in a subprocess with a low limit."""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path

import pytest

import aiosock

SERVER_SCRIPT = Path(__file__).with_name("_emfile_server.py")
CAPACITY = 8  # descriptors the server may open beyond those it starts with
CLIENTS = CAPACITY + 6


def _cpu_seconds(pid: int) -> float:
    """utime + stime of process ``pid``, from /proc/PID/stat."""
    stat = Path(f"/proc/{pid}/stat").read_text()
    fields = stat[stat.rindex(")") + 2 :].split()
    # fields[0] is field 3 (state): utime and stime are fields 14 and 15.
    ticks = int(fields[11]) + int(fields[12])
    return ticks / os.sysconf("SC_CLK_TCK")


async def _greeted(stream: aiosock.Stream, timeout: float = 10) -> None:
    async with asyncio.timeout(timeout):
        assert await stream.receive_exactly(2) == b"hi"


async def _wait_for_line(
    reader: asyncio.StreamReader, text: bytes, log: list[bytes], timeout: float
) -> None:
    async with asyncio.timeout(timeout):
        while True:
            line = await reader.readline()
            log.append(line)
            if not line:
                raise AssertionError(f"server exited; stderr: {b''.join(log)!r}")
            if text in line:
                return


async def _drain(reader: asyncio.StreamReader, log: list[bytes]) -> None:
    while line := await reader.readline():
        log.append(line)


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="needs /proc")
async def test_accepting_survives_emfile_without_busy_looping() -> None:
    """At EMFILE the server backs off (no busy loop), keeps serving, then resumes."""
    loop_name = (
        "uvloop"
        if "uvloop" in type(asyncio.get_running_loop()).__module__
        else "asyncio"
    )
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        str(SERVER_SCRIPT),
        loop_name,
        str(CAPACITY),
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        cwd=str(SERVER_SCRIPT.parent.parent),
    )
    assert proc.stdin is not None
    assert proc.stdout is not None
    assert proc.stderr is not None
    log: list[bytes] = []
    clients: list[aiosock.Stream] = []
    drain: asyncio.Task[None] | None = None
    try:
        async with asyncio.timeout(20):
            port = int(await proc.stdout.readline())
        target = f"tcp://127.0.0.1:{port}"
        for _ in range(CLIENTS):
            clients.append(await aiosock.connect(target, timeout=5))
        # Certainly within the limit: the first CAPACITY - 1 are served.
        first = clients[: CAPACITY - 1]
        for client in first:
            await _greeted(client)
        # The others exhaust the server's descriptors: it says it paused.
        await _wait_for_line(proc.stderr, b"accepting paused", log, timeout=10)
        drain = asyncio.create_task(_drain(proc.stderr, log))

        # While exhausted: no busy loop (a measurement window, not synchronisation).
        wall_start = asyncio.get_running_loop().time()
        cpu_start = _cpu_seconds(proc.pid)
        await asyncio.sleep(1.0)
        cpu = _cpu_seconds(proc.pid) - cpu_start
        wall = asyncio.get_running_loop().time() - wall_start
        assert cpu < 0.3 * wall, f"server used {cpu:.2f}s CPU in {wall:.2f}s"

        # Established connections are still served.
        for i, client in enumerate(first):
            async with asyncio.timeout(5):
                await client.send(b"still %d" % i)
                assert await client.receive_exactly(len(b"still %d" % i)) == (
                    b"still %d" % i
                )

        # Freeing descriptors lets every waiting client in.
        for client in first:
            await client.aclose()
        rest = clients[CAPACITY - 1 :]
        for client in rest:
            await _greeted(client)
            async with asyncio.timeout(5):
                await client.send(b"late")
                assert await client.receive_exactly(4) == b"late"
        assert proc.returncode is None
    finally:
        for client in clients:
            client.abort()
        proc.stdin.close()
        try:
            async with asyncio.timeout(10):
                await proc.wait()
        except TimeoutError:
            proc.kill()
            await proc.wait()
        if drain is not None:
            await drain
    assert proc.returncode == 0, b"".join(log).decode(errors="replace")
