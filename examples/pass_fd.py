"""Passing an open file to another process: descriptors over a Unix-domain socket.

The parent opens a file and then deletes it, so that no name reaches it any
more; the only way left in is the open descriptor. It starts a child process
with one end of a socket pair, and when the child asks for the file, sends the
descriptor with ``send_fds`` (``SCM_RIGHTS``). The kernel installs a new
descriptor for the same open file in the child, which ``receive_fds`` returns;
the child reads the file through it. The child also checks who is at the other
end of the socket with ``peer_credentials`` (``SO_PEERCRED``).

The child asks first, as a request and its answer: a stream reads ahead, and the
kernel drops descriptors that arrive with bytes read that way, so
``receive_fds`` must be waiting before the descriptors are sent::

    python examples/pass_fd.py
    python examples/pass_fd.py /etc/hostname
"""

from __future__ import annotations

import argparse
import asyncio
import os
import socket
import sys
import tempfile

import aiosock


def open_file(path: str | None) -> int:
    """Open ``path`` (default: a new file, deleted at once) for reading."""
    if path is None:
        with tempfile.NamedTemporaryFile("w", delete=False) as file:
            file.write("Hello from the parent, through a descriptor.\n")
        fd = os.open(file.name, os.O_RDONLY)
        os.unlink(file.name)  # from now on, only the descriptor reaches it
        print(f"parent {os.getpid()}: opened {file.name}, then deleted it")
        return fd
    fd = os.open(path, os.O_RDONLY)
    print(f"parent {os.getpid()}: opened {path}")
    return fd


async def parent(fd: int) -> int:
    ours, theirs = socket.socketpair()
    child = await asyncio.create_subprocess_exec(
        sys.executable,
        __file__,
        "--child",
        str(theirs.fileno()),
        pass_fds=[theirs.fileno()],
    )
    theirs.close()
    async with await aiosock.wrap_socket(ours) as stream:
        request = await stream.receive_until(b"\n")
        print(f"parent {os.getpid()}: the child asks {request.strip().decode()!r}")
        await stream.send_fds(b"here it is", [fd])
        os.close(fd)  # the child has its own descriptor for the file now
        status = await child.wait()
    print(f"parent {os.getpid()}: the child exited with status {status}")
    return status


async def child(sock_fd: int) -> int | None:
    """Ask the parent for the file; return the descriptor received, if any."""
    sock = socket.socket(fileno=sock_fd)
    async with await aiosock.wrap_socket(sock) as stream:
        creds = stream.peer_credentials
        print(f"child {os.getpid()}: connected to pid {creds.pid} (uid {creds.uid})")
        # No await between the request and receive_fds (send completes at once),
        # so the descriptor cannot arrive before receive_fds is waiting for it.
        await stream.send(b"the file, please\n")
        data, fds = await stream.receive_fds(100, max_fds=1)
    if not fds:
        print(f"child {os.getpid()}: no descriptor came with {data!r}")
        return None
    print(f"child {os.getpid()}: got descriptor {fds[0]} with {data.decode()!r}")
    return fds[0]


def show(fd: int) -> None:
    """Read the file through the descriptor received (it closes it)."""
    with open(fd, encoding="utf-8", errors="replace") as file:
        for line in file.read().splitlines():
            print(f"child {os.getpid()}: the file says: {line}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("file", nargs="?", help="the file to pass (default: a new one)")
    parser.add_argument("--child", type=int, metavar="FD", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child is not None:
        fd = aiosock.run(child(args.child))
        if fd is None:
            return 1
        show(fd)
        return 0
    return aiosock.run(parent(open_file(args.file)))


if __name__ == "__main__":
    sys.exit(main())
