"""Handing out descriptors over Unix-domain datagrams: one broker, many clients.

The parent is a broker. It binds a ``unixgram:`` socket with the
``pass_credentials`` option on, then starts child processes. Each child sends
"the log, please" from a name of its own (autobound); the broker reads each
request with ``receive_message``, which gives the sender's address and its
credentials (``SCM_CREDENTIALS``: checked by the kernel, the sender cannot lie),
and answers that address with ``send_fds``: the write end of a pipe. Each child
writes a line through the descriptor it received, and the broker prints what
came through the pipe once every child is done.

A datagram keeps its descriptors while it waits in the receiver's queue, so no
side has to be waiting first::

    python examples/fd_passing_datagram.py
    python examples/fd_passing_datagram.py --children 3
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys

import aiosock


def say(line: str) -> None:
    """Print ``line`` in one write.

    The children share the broker's output, and ``print`` writes the newline
    apart when Python runs unbuffered (``-u``, ``PYTHONUNBUFFERED``), so lines
    of several processes could interleave.
    """
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


async def broker(children: int) -> tuple[int, int]:
    """Serve ``children`` requests; return their worst status and the pipe's end."""
    name = f"unixgram:@aiosock-log-broker-{os.getpid()}"
    r, w = os.pipe()
    options = {"pass_credentials": True}
    async with await aiosock.open_datagram(name, options=options) as sock:
        say(f"broker {os.getpid()}: listening on {name}")
        processes = [
            await asyncio.create_subprocess_exec(
                sys.executable, __file__, "--child", name
            )
            for _ in range(children)
        ]
        for _ in range(children):
            request = await sock.receive_message(max_fds=0)
            who = request.credentials
            assert who is not None  # pass_credentials is on
            say(
                f"broker {os.getpid()}: {request.data.decode()!r} from pid "
                f"{who.pid} (uid {who.uid}) at {request.address}"
            )
            if who.uid != os.geteuid():
                await sock.send_to(b"denied", request.address)
                continue
            await sock.send_fds(b"the log", [w], request.address)
        statuses = [await process.wait() for process in processes]
    os.close(w)  # the children's copies closed when they exited
    return max(statuses, default=0), r


def show_log(r: int) -> None:
    """Print what the children wrote (it closes ``r``)."""
    with open(r, encoding="utf-8") as log:
        for line in sorted(log):
            say(f"broker {os.getpid()}: the log says: {line.rstrip()}")


async def child(broker_name: str) -> int | None:
    """Ask the broker for the log; return the descriptor received, if any."""
    async with await aiosock.open_datagram(remote=broker_name) as sock:
        await sock.send(b"the log, please")
        answer, fds = await sock.receive_fds(max_fds=1)
    if not fds:
        say(f"child {os.getpid()}: no descriptor came with {answer!r}")
        return None
    say(f"child {os.getpid()}: got descriptor {fds[0]} with {answer.decode()!r}")
    return fds[0]


def write_line(fd: int) -> None:
    """Write a line to the log through the descriptor received (it closes it)."""
    with open(fd, "w", encoding="utf-8") as log:
        log.write(f"hello from child {os.getpid()}\n")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--children", type=int, default=2, help="how many (2)")
    parser.add_argument("--child", metavar="BROKER", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child is not None:
        fd = aiosock.run(child(args.child))
        if fd is None:
            return 1
        write_line(fd)
        return 0
    status, r = aiosock.run(broker(args.children))
    show_log(r)
    return status


if __name__ == "__main__":
    sys.exit(main())
