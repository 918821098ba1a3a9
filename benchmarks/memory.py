"""Memory per idle connection, for every stream server of the catalogue.

The server runs as its own process (pinned to core 0, like the echo runs); a
client process pinned to core 1 opens N loopback connections a batch at a
time, exchanges one byte on each and holds them.
The figure is the growth of the server's resident set size divided by N, read
from /proc once the server holds every connection (its descriptor count tells).
Kernel socket buffers are not in any process's RSS, so the C server shows what
the kernel alone costs: nearly nothing in user space.

``python -m benchmarks.memory --hold PORT N`` is the client (used by the harness).
"""

from __future__ import annotations

import socket
import subprocess
import sys
import time

from benchmarks._harness import (
    ServerFailed,
    open_fds,
    python_env,
    rss_bytes,
    taskset,
)

HOLD_SECONDS = 180  # the client never outlives this, even if nobody kills it
BATCH = 40  # under every server's listen backlog (Twisted's default is 50)


def hold(port: int, count: int) -> None:
    """Open count connections to 127.0.0.1:port, say so, and hold them.

    Connections are opened BATCH at a time, and each batch exchanges one byte
    per connection before the next is opened: the echoes show that the server
    has accepted and set up every connection so far, so its listen queue never
    overflows (a dropped SYN would cost a second), and what is measured is
    connected clients gone quiet.
    """
    socks: list[socket.socket] = []
    while len(socks) < count:
        batch = [
            socket.create_connection(("127.0.0.1", port), timeout=30)
            for _ in range(min(BATCH, count - len(socks)))
        ]
        for sock in batch:
            sock.sendall(b"x")
        for sock in batch:
            if sock.recv(1) != b"x":
                sys.exit("the server did not echo")
        socks += batch
    print("HELD", len(socks), flush=True)
    time.sleep(HOLD_SECONDS)


def _warm(port: int) -> None:
    """One exchange first, so that what a server loads lazily is loaded."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(b"x" * 1024)
        got = 0
        while got < 1024:
            chunk = sock.recv(65536)
            if not chunk:
                break
            got += len(chunk)


def _settled_rss(pid: int, timeout: float = 3.0) -> int:
    """RSS once two reads 0.2 s apart agree within 1%, or after timeout."""
    deadline = time.monotonic() + timeout
    last = rss_bytes(pid)
    while time.monotonic() < deadline:
        time.sleep(0.2)
        now = rss_bytes(pid)
        if abs(now - last) <= last / 100:
            return now
        last = now
    return last


def measure_idle(pid: int, port: int, count: int) -> dict[str, float]:
    """RSS added per connection by a running server holding count connections."""
    _warm(port)
    time.sleep(0.2)
    fds0, rss0 = open_fds(pid), _settled_rss(pid, 1.0)
    client = subprocess.Popen(
        [
            *taskset(1),
            sys.executable,
            "-m",
            "benchmarks.memory",
            "--hold",
            str(port),
            str(count),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        stdin=subprocess.DEVNULL,
        env=python_env(),
        text=True,
    )
    try:
        assert client.stdout is not None
        line = client.stdout.readline().split()  # bounded: each connect times out
        if not line or line[0] != "HELD":
            err = (client.stderr.read() if client.stderr else "").strip().splitlines()
            raise ServerFailed(f"the idle client failed: {err[-1:] or 'no HELD line'}")
        deadline = time.monotonic() + 60
        while open_fds(pid) < fds0 + count:
            if time.monotonic() > deadline:
                held = open_fds(pid) - fds0
                raise ServerFailed(f"the server accepted only {held} of {count}")
            time.sleep(0.05)
        held = open_fds(pid) - fds0
        rss = _settled_rss(pid)
        return {"held": held, "rss_per_conn": (rss - rss0) / held, "rss": rss}
    finally:
        client.kill()
        client.wait()


def aiosock_heap(count: int, timeout: float) -> list[dict[str, float | str]]:
    """Python heap per connection of aiosock serve + Stream (benchmarks/idle.py)."""
    done = subprocess.run(
        [
            *taskset(0),
            sys.executable,
            "-m",
            "benchmarks.idle",
            "--connections",
            str(count),
            "--json",
        ],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=python_env(),
        check=False,
    )
    if done.returncode != 0:
        why = done.stderr.strip().splitlines()[-1:] or [f"exit {done.returncode}"]
        raise ServerFailed(f"benchmarks.idle failed: {why[0]}")
    import json

    return json.loads(done.stdout.strip().splitlines()[-1])


if __name__ == "__main__":
    if sys.argv[1:2] != ["--hold"]:
        sys.exit("usage: python -m benchmarks.memory --hold PORT COUNT")
    hold(int(sys.argv[2]), int(sys.argv[3]))
