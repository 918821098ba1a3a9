"""Socket files: mode, stale files replaced, live ones kept, removal on close."""

from __future__ import annotations

import asyncio
import ctypes
import errno
import os
import socket
import stat
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Protocol

import pytest

import aiosock
from aiosock import LocalAddress, from_sockaddr
from aiosock._foundation._addresses import SUN_PATH_MAX

from .serve_helpers import echo, echo_once, echo_server


@pytest.fixture
def umask_022() -> Iterator[None]:
    """Run with umask 022, the usual default, restoring the old one after."""
    old = os.umask(0o022)
    try:
        yield
    finally:
        os.umask(old)


def _mode(path: str) -> int:
    st = os.lstat(path)
    assert stat.S_ISSOCK(st.st_mode), f"{path} is not a socket"
    return stat.S_IMODE(st.st_mode)


def _exists(path: str) -> bool:
    return os.path.lexists(path)


def _umask() -> int:
    old = os.umask(0)
    os.umask(old)
    return old


async def _check_serves(path: str) -> None:
    async with await aiosock.connect(f"unix:{path}", timeout=5) as stream:
        await echo_once(stream)


async def test_default_mode_is_0600(short_tmp: Path, umask_022: None) -> None:
    """A socket file is made with mode 0o600 unless told otherwise."""
    path = str(short_tmp / "default.sock")
    async with echo_server(f"unix:{path}") as server:
        assert _mode(path) == 0o600
        assert server.endpoints[0].address == LocalAddress(path)
        await _check_serves(path)
    assert _umask() == 0o022


@pytest.mark.parametrize("mode", [0o660, 0o666, 0o700, 0o640])
async def test_custom_mode(short_tmp: Path, umask_022: None, mode: int) -> None:
    """mode= sets the socket file's permissions exactly, whatever the umask."""
    path = str(short_tmp / "custom.sock")
    async with echo_server(f"unix:{path}", mode=mode):
        assert _mode(path) == mode
        await _check_serves(path)
    assert _umask() == 0o022


@pytest.mark.parametrize("endpoint", ["unix", "unixgram", "unixpacket"])
async def test_the_process_umask_is_left_alone(
    short_tmp: Path, umask_022: None, monkeypatch: pytest.MonkeyPatch, endpoint: str
) -> None:
    """Binding a socket file never changes the umask, which is the whole process's.

    (Another thread making files meanwhile would get the tightened one.) The
    file still gets exactly its mode.
    """
    calls: list[int] = []
    real_umask = os.umask

    def watched_umask(mask: int) -> int:
        calls.append(mask)
        return real_umask(mask)

    monkeypatch.setattr(os, "umask", watched_umask)
    path = str(short_tmp / f"{endpoint}.sock")
    if endpoint == "unixgram":
        sock = await aiosock.open_datagram(f"unixgram:{path}", mode=0o660)
        async with sock:
            assert _mode(path) == 0o660
    else:
        async with echo_server(f"{endpoint}:{path}", mode=0o660):
            assert _mode(path) == 0o660
    assert calls == []


async def test_stale_file_is_replaced(short_tmp: Path) -> None:
    """A socket file nobody listens on (a dead server's) is replaced."""
    path = str(short_tmp / "stale.sock")
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as dead:
        dead.bind(path)
        dead.listen(1)
    assert stat.S_ISSOCK(os.lstat(path).st_mode)
    async with echo_server(f"unix:{path}"):
        await _check_serves(path)
        assert _mode(path) == 0o600
    assert not _exists(path)


async def test_stale_file_of_datagram_socket_is_replaced(short_tmp: Path) -> None:
    """A stale socket file left by a datagram socket is replaced too."""
    path = str(short_tmp / "stale-dgram.sock")
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as dead:
        dead.bind(path)
    async with echo_server(f"unix:{path}"):
        await _check_serves(path)


async def test_live_server_is_never_stolen(short_tmp: Path) -> None:
    """Serving on the path of a live aiosock server fails with EADDRINUSE."""
    path = str(short_tmp / "live.sock")
    async with echo_server(f"unix:{path}"):
        inode = os.lstat(path).st_ino
        with pytest.raises(OSError, match="live server") as info:
            await aiosock.serve(echo, f"unix:{path}")
        assert info.value.errno == errno.EADDRINUSE
        assert os.lstat(path).st_ino == inode
        await _check_serves(path)


async def test_live_foreign_listener_is_never_stolen(short_tmp: Path) -> None:
    """A file with any live listener behind it, even one with a full backlog, stays."""
    path = str(short_tmp / "busy.sock")
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as live:
        live.bind(path)
        live.listen(0)
        fillers = []
        try:
            # Fill the backlog so that a non-blocking connect would block.
            for _ in range(4):
                filler = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
                fillers.append(filler)
                filler.setblocking(False)
                try:
                    filler.connect(path)
                except BlockingIOError:
                    break
            else:
                pytest.fail("the backlog of a Unix listener never filled")
            with pytest.raises(OSError, match="live server") as info:
                await aiosock.serve(echo, f"unix:{path}")
            assert info.value.errno == errno.EADDRINUSE
        finally:
            for filler in fillers:
                filler.close()
        assert stat.S_ISSOCK(os.lstat(path).st_mode)


async def test_live_datagram_socket_is_never_stolen(short_tmp: Path) -> None:
    """A file bound by a live datagram socket is not replaced either."""
    path = str(short_tmp / "dgram.sock")
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as live:
        live.bind(path)
        with pytest.raises(OSError, match="live server") as info:
            await aiosock.serve(echo, f"unix:{path}")
        assert info.value.errno == errno.EADDRINUSE


async def test_non_socket_file_is_an_error(short_tmp: Path) -> None:
    """A regular file at the path is an error and is left untouched."""
    path = short_tmp / "regular"
    path.write_bytes(b"precious")
    with pytest.raises(OSError, match="not a socket"):
        await aiosock.serve(echo, f"unix:{path}")
    assert path.read_bytes() == b"precious"


async def test_directory_is_an_error(short_tmp: Path) -> None:
    """A directory at the path is an error and is left untouched."""
    path = short_tmp / "dir"
    path.mkdir()
    with pytest.raises(OSError, match="not a socket"):
        await aiosock.serve(echo, f"unix:{path}")
    assert path.is_dir()


async def test_missing_directory_is_file_not_found(short_tmp: Path) -> None:
    """A path in a directory that does not exist raises FileNotFoundError."""
    with pytest.raises(FileNotFoundError):
        await aiosock.serve(echo, f"unix:{short_tmp}/no/such/dir.sock")


async def test_file_is_removed_on_close(short_tmp: Path) -> None:
    """aclose() removes the socket file the server made."""
    path = str(short_tmp / "removed.sock")
    server = await aiosock.serve(echo, f"unix:{path}")
    assert _exists(path)
    await server.aclose()
    assert not _exists(path)
    await server.aclose()  # again: nothing to do, no error


async def test_replaced_file_is_not_removed(short_tmp: Path) -> None:
    """A socket file someone else put in our place is left alone on close."""
    path = str(short_tmp / "replaced.sock")
    server = await aiosock.serve(echo, f"unix:{path}")
    os.unlink(path)
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as other:
        other.bind(path)
        other.listen(1)
        await server.aclose()
        assert stat.S_ISSOCK(os.lstat(path).st_mode)
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as probe:
            probe.connect(path)  # still the other listener's


async def test_replaced_by_regular_file_is_not_removed(short_tmp: Path) -> None:
    """A regular file someone put at our path is left alone on close."""
    path = short_tmp / "became-file"
    server = await aiosock.serve(echo, f"unix:{path}")
    path.unlink()
    path.write_bytes(b"mine")
    await server.aclose()
    assert path.read_bytes() == b"mine"


async def test_file_removed_when_a_later_bind_fails(short_tmp: Path) -> None:
    """If a later endpoint fails to bind, the socket file already made is removed."""
    path = str(short_tmp / "rollback.sock")
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        port = taken.getsockname()[1]
        with pytest.raises(OSError, match="in use"):
            await aiosock.serve(echo, f"unix:{path}", f"tcp://127.0.0.1:{port}")
    assert not _exists(path)


async def test_abstract_name_makes_no_file(short_tmp: Path) -> None:
    """An abstract name listens without a file; a second server on it is refused."""
    name = f"aiosock-abstract-{os.getpid()}-{id(object())}"
    before = set(os.listdir(short_tmp))
    async with echo_server(f"unix:@{name}") as server:
        assert server.endpoints[0].address == LocalAddress.abstract(name)
        async with await aiosock.connect(f"unix:@{name}", timeout=5) as stream:
            await echo_once(stream)
        with pytest.raises(OSError, match="in use") as info:
            await aiosock.serve(echo, f"unix:@{name}")
        assert info.value.errno == errno.EADDRINUSE
    assert set(os.listdir(short_tmp)) == before
    with pytest.raises(ConnectionRefusedError):
        await aiosock.connect(f"unix:@{name}", timeout=5)


async def test_path_like_endpoint(short_tmp: Path) -> None:
    """A pathlib.Path is a socket-file endpoint for serve and connect."""
    path = short_tmp / "pathlike.sock"
    async with echo_server(path) as server:
        assert server.endpoints[0].address == LocalAddress(str(path))
        async with await aiosock.connect(path, timeout=5) as stream:
            await echo_once(stream)
    assert not path.exists()


class _Closable(Protocol):
    async def aclose(self) -> None: ...


async def _open_relative(kind: str, name: str) -> tuple[object, _Closable]:
    """Open a socket of ``kind`` on the relative path ``name``; return its address."""
    if kind == "unix":
        server = await aiosock.serve(echo, f"unix:{name}")
        return server.endpoints[0].address, server
    if kind == "unixpacket":
        packets = await aiosock.serve_packets(_close_packets, f"unixpacket:{name}")
        return packets.endpoints[0].address, packets
    datagram = await aiosock.open_datagram(f"unixgram:{name}")
    return datagram.local_address, datagram


async def _close_packets(stream: aiosock.PacketStream) -> None:
    await stream.aclose()


@pytest.mark.parametrize("kind", ["unix", "unixpacket", "unixgram"])
async def test_relative_path_removed_after_chdir(
    short_tmp: Path, monkeypatch: pytest.MonkeyPatch, kind: str
) -> None:
    """A socket file bound through a relative path is removed on close even after
    the working directory changed; the address still reads as it was given."""
    first, second = short_tmp / "first", short_tmp / "second"
    first.mkdir()
    second.mkdir()
    monkeypatch.chdir(first)
    address, opened = await _open_relative(kind, "rel.sock")
    assert address == LocalAddress("rel.sock")
    assert stat.S_ISSOCK(os.lstat(first / "rel.sock").st_mode)
    monkeypatch.chdir(second)
    # A file of the same name in the new working directory is not ours.
    (second / "rel.sock").write_bytes(b"other")
    await opened.aclose()
    assert not _exists(str(first / "rel.sock")), "the socket file was left behind"
    assert (second / "rel.sock").read_bytes() == b"other"


def _path_of(directory: Path, size: int) -> str:
    """A path in ``directory`` of exactly ``size`` bytes."""
    head = f"{directory}/"
    path = head + "p" * (size - len(os.fsencode(head)))
    assert len(os.fsencode(path)) == size
    return path


async def test_longest_path_serves_and_connects(short_tmp: Path) -> None:
    """A 107-byte path (sun_path less its NUL) works for serve and connect."""
    path = _path_of(short_tmp, SUN_PATH_MAX - 1)
    async with echo_server(f"unix:{path}") as server:
        assert server.endpoints[0].address == LocalAddress(path)
        await _check_serves(path)
    assert not _exists(path)


async def test_longest_abstract_name_serves_and_connects() -> None:
    """A 107-byte abstract name (sun_path less its leading NUL) works."""
    head = f"aiosock-{os.getpid()}-{id(object())}-"
    name = head + "n" * (SUN_PATH_MAX - 1 - len(head))
    async with echo_server(f"unix:@{name}") as server:
        assert server.endpoints[0].address == LocalAddress.abstract(name)
        async with await aiosock.connect(f"unix:@{name}", timeout=5) as stream:
            await echo_once(stream)


@pytest.mark.parametrize("scheme", ["unix", "unixpacket", "unixgram"])
async def test_108_byte_path_is_an_address_error(short_tmp: Path, scheme: str) -> None:
    """A 108-byte path is refused when the endpoint is parsed, naming the limit,
    not at bind or connect with an OSError."""
    endpoint = f"{scheme}:{_path_of(short_tmp, SUN_PATH_MAX)}"
    with pytest.raises(aiosock.AddressError) as info:
        aiosock.parse_endpoint(endpoint)
    assert "at most 107 bytes" in str(info.value)
    assert "terminating NUL" in str(info.value)
    assert info.value.position == len(scheme) + 1
    opens: dict[str, Callable[[], Awaitable[object]]] = {
        "unix": lambda: aiosock.serve(echo, endpoint),
        "unixpacket": lambda: aiosock.serve_packets(_close_packets, endpoint),
        "unixgram": lambda: aiosock.open_datagram(endpoint),
    }
    connects: dict[str, Callable[[], Awaitable[object]]] = {
        "unix": lambda: aiosock.connect(endpoint, timeout=5),
        "unixpacket": lambda: aiosock.connect_packets(endpoint, timeout=5),
        "unixgram": lambda: aiosock.open_datagram(remote=endpoint),
    }
    with pytest.raises(aiosock.AddressError, match="at most 107 bytes"):
        await opens[scheme]()
    with pytest.raises(aiosock.AddressError, match="at most 107 bytes"):
        await connects[scheme]()
    assert os.listdir(short_tmp) == []


def _bind_full_sun_path(sock: socket.socket, path: str) -> None:
    """Bind as C can and Python's socket module cannot: all 108 bytes, no NUL."""

    class SockaddrUn(ctypes.Structure):
        _fields_ = [("family", ctypes.c_ushort), ("path", ctypes.c_char * 108)]

    libc = ctypes.CDLL(None, use_errno=True)
    address = SockaddrUn(socket.AF_UNIX, os.fsencode(path))
    if libc.bind(sock.fileno(), ctypes.byref(address), ctypes.sizeof(address)):
        code = ctypes.get_errno()
        raise OSError(code, os.strerror(code))


async def test_peer_on_a_full_sun_path_is_read(short_tmp: Path) -> None:
    """A datagram from a socket bound (outside Python) to a 108-byte path arrives
    with that path as its sender, though aiosock could not bind such a path."""
    peer_path = _path_of(short_tmp, SUN_PATH_MAX)
    own = short_tmp / "own.sock"
    async with await aiosock.open_datagram(f"unixgram:{own}") as receiver:
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as peer:
            _bind_full_sun_path(peer, peer_path)
            peer.sendto(b"hello", str(own))
            async with asyncio.timeout(5):
                data, sender = await receiver.receive_from()
    assert data == b"hello"
    assert sender == from_sockaddr(socket.AF_UNIX, peer_path)
    assert isinstance(sender, LocalAddress)
    assert sender.path == peer_path
