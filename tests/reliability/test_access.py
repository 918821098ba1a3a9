"""Privilege and access: socket file modes under any umask, credential allow-lists."""

from __future__ import annotations

import asyncio
import os
import socket
import stat
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

import aiosock

if TYPE_CHECKING:
    from .conftest import Figure

NOBODY = 65534


@pytest.fixture
def umask_zero() -> Iterator[None]:
    """Run with the most permissive umask, restoring the old one after."""
    old = os.umask(0)
    try:
        yield
    finally:
        os.umask(old)


@pytest.mark.parametrize("mode", [0o600, 0o660, 0o666])
async def test_socket_files_never_more_open_than_asked(
    short_tmp: Path, umask_zero: None, mode: int, figure: Figure
) -> None:
    """Under umask 0 a socket file gets exactly the mode asked for, never more."""

    async def handler(stream: aiosock.Stream) -> None:
        await stream.aclose()

    path = short_tmp / "s.sock"
    async with await aiosock.serve(handler, f"unix:{path}", mode=mode):
        got = stat.S_IMODE(os.lstat(path).st_mode)
    assert got == mode, f"asked for {mode:o}, got {got:o}"
    figure("mode", got, "octal as decimal")


def _connect_as(uid: int, name: str) -> bytes:
    """Fork a child that drops to ``uid``, connects to an abstract socket, reads."""
    read_fd, write_fd = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: no loop, no Python-level cleanup
        status = 1
        try:
            os.close(read_fd)
            if uid != os.getuid():
                os.setgroups([])
                os.setgid(uid)
                os.setuid(uid)
            with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
                sock.settimeout(10)
                sock.connect(b"\0" + name.encode())
                os.write(write_fd, sock.recv(100))
            status = 0
        finally:
            os._exit(status)
    os.close(write_fd)
    try:
        with os.fdopen(read_fd, "rb") as reader:
            reply = reader.read()
    finally:
        _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    return reply


async def test_peer_credentials_allow_list(figure: Figure) -> None:
    """A handler admits peers by their SO_PEERCRED uid, filled in by the kernel."""
    if os.geteuid() != 0:
        pytest.skip("needs root to connect as another user")
    allowed = {os.getuid()}
    seen: list[int] = []

    async def handler(stream: aiosock.Stream) -> None:
        uid = stream.peer_credentials.uid
        seen.append(uid)
        await stream.send(b"welcome" if uid in allowed else b"denied")

    name = f"aiosock-acl-{os.getpid()}-{id(seen)}"
    loop = asyncio.get_running_loop()
    async with await aiosock.serve(handler, f"unix:@{name}"):
        async with asyncio.timeout(20):
            mine = await loop.run_in_executor(None, _connect_as, os.getuid(), name)
            theirs = await loop.run_in_executor(None, _connect_as, NOBODY, name)
    assert mine == b"welcome"
    assert theirs == b"denied"
    assert sorted(seen) == sorted([os.getuid(), NOBODY])
    figure("peers told apart", len(seen), "connections")
