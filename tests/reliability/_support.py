"""Shared helpers of the reliability suite: mode, descriptor counts, processes."""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Callable

ROOT = Path(__file__).resolve().parents[2]
HERE = Path(__file__).resolve().parent

#: ``bounded`` (the default: small counts, seconds per test) or ``full``.
MODE = "full" if os.environ.get("AIOSOCK_RELIABILITY", "") == "full" else "bounded"
FULL = MODE == "full"


def scale(bounded: int, full: int) -> int:
    """The count for the current mode."""
    return full if FULL else bounded


def loop_name() -> str:
    """``"uvloop"`` or ``"asyncio"``: the running loop's flavour."""
    module = type(asyncio.get_running_loop()).__module__
    return "uvloop" if "uvloop" in module else "asyncio"


def fd_count() -> int:
    """This process's open descriptors."""
    return len(os.listdir("/proc/self/fd")) - 1  # minus listdir's own


def proc_fds(pid: int) -> int:
    """Open descriptors of process ``pid``."""
    return len(os.listdir(f"/proc/{pid}/fd"))


def rss_kib(pid: int) -> int:
    """Resident set size of process ``pid`` in KiB (``VmRSS``)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise AssertionError(f"no VmRSS for {pid}")


def cpu_seconds(pid: int) -> float:
    """utime + stime of process ``pid``, from /proc/PID/stat."""
    stat = Path(f"/proc/{pid}/stat").read_text()
    fields = stat[stat.rindex(")") + 2 :].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def settle(
    condition: Callable[[], bool], *, timeout: float = 5.0, what: str = ""
) -> None:
    """Wait (bounded) until ``condition()`` holds, polling each loop iteration.

    Used where the loop closes descriptors a few callbacks later (uvloop closes
    handles on its next iteration): a condition wait, not a fixed sleep.
    """
    try:
        async with asyncio.timeout(timeout):
            # A bounded poll: descriptors closing have no event to wait on. The
            # condition is evaluated once per round: a second look could see a
            # descriptor a resolver thread opens for a moment (getaddrinfo
            # cancelled on the loop still runs to its end in the executor).
            while not condition():  # noqa: ASYNC110
                await asyncio.sleep(0.005)
    except TimeoutError:
        raise AssertionError(f"not settled after {timeout} s: {what}") from None


async def start_script(
    script: str, *args: str
) -> tuple[asyncio.subprocess.Process, list[str]]:
    """Start ``tests/reliability/SCRIPT ARGS`` and wait for its first line.

    Returns the process and its first line's words (a ready line).
    """
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(
        filter(None, [str(ROOT), env.get("PYTHONPATH")])
    )
    env["PYTHONUNBUFFERED"] = "1"
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        str(HERE / script),
        *args,
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env=env,
        cwd=str(ROOT),
    )
    assert proc.stdout is not None
    async with asyncio.timeout(30):
        line = await proc.stdout.readline()
    if not line:
        assert proc.stderr is not None
        err = await proc.stderr.read()
        raise AssertionError(f"{script} exited: {err.decode(errors='replace')}")
    return proc, line.decode().split()


async def stop_script(proc: asyncio.subprocess.Process) -> str:
    """Close the script's stdin (its signal to stop), wait, and return its stderr."""
    assert proc.stdin is not None
    assert proc.stderr is not None
    proc.stdin.close()
    try:
        async with asyncio.timeout(20):
            err = await proc.stderr.read()
            await proc.wait()
    except TimeoutError:
        proc.kill()
        await proc.wait()
        raise
    return err.decode(errors="replace")


async def warm_up() -> None:
    """Accept one connection on this loop before descriptors are counted.

    libuv (uvloop) opens a spare ``/dev/null`` descriptor on its first accept,
    kept for the loop's life: it is not a leak of the code under test.
    """

    async def handler(stream: object) -> None:
        return None

    import aiosock

    async with (
        await aiosock.serve(handler, "tcp://127.0.0.1:0") as server,
        await aiosock.connect(server.endpoints[0], timeout=5) as client,
    ):
        await client.receive()
