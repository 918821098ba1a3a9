"""open_datagram in the local namespace: files, abstract names, autobind, sizes."""

from __future__ import annotations

import asyncio
import errno
import os
import socket
import stat
import time
from pathlib import Path

import pytest

import aiosock
from aiosock import LocalAddress

TIMEOUT = 10


def _mode(path: Path) -> int:
    st = os.lstat(path)
    assert stat.S_ISSOCK(st.st_mode)
    return stat.S_IMODE(st.st_mode)


async def test_file_socket_round_trip_and_removal(short_tmp: Path) -> None:
    """A unixgram file socket answers an autobound client; the file goes on close."""
    path = short_tmp / "dg.sock"
    server = await aiosock.open_datagram(f"unixgram:{path}")
    assert _mode(path) == 0o600
    assert server.local_address == LocalAddress(str(path))
    async with await aiosock.open_datagram(remote=f"unixgram:{path}") as client:
        assert client.local_address.is_abstract  # type: ignore[union-attr]
        assert client.remote_address == LocalAddress(str(path))
        await client.send(b"request")
        async with asyncio.timeout(TIMEOUT):
            data, address = await server.receive_from()
            assert (data, address) == (b"request", client.local_address)
            await server.send_to(b"reply", address)
            assert await client.receive() == b"reply"
    await server.aclose()
    assert not path.exists()


async def test_mode_is_applied(short_tmp: Path) -> None:
    """mode= sets the socket file's permission bits."""
    path = short_tmp / "m.sock"
    async with await aiosock.open_datagram(f"unixgram:{path}", mode=0o660):
        assert _mode(path) == 0o660


async def test_stale_file_is_replaced_live_one_refused(short_tmp: Path) -> None:
    """A stale socket file is replaced; one with a live socket behind it is not."""
    path = short_tmp / "s.sock"
    stale = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    stale.bind(str(path))
    stale.close()
    async with await aiosock.open_datagram(f"unixgram:{path}") as live:
        with pytest.raises(OSError, match=r"in use|live") as info:
            await aiosock.open_datagram(f"unixgram:{path}")
        assert info.value.errno == errno.EADDRINUSE
        assert live.local_address == LocalAddress(str(path))


async def test_abstract_name_server(short_tmp: Path) -> None:
    """An abstract-name server and client talk; no file is made."""
    name = f"aiosock-dg-{os.getpid()}-{id(short_tmp)}"
    async with await aiosock.open_datagram(f"unixgram:@{name}") as server:
        assert server.local_address == LocalAddress.abstract(name)
        async with await aiosock.open_datagram(remote=f"unixgram:@{name}") as client:
            await client.send(b"abstract")
            async with asyncio.timeout(TIMEOUT):
                data, address = await server.receive_from()
                await server.send_to(data.upper(), address)
                assert await client.receive() == b"ABSTRACT"


async def test_without_autobind_the_sender_is_unnamed(short_tmp: Path) -> None:
    """autobind=False leaves the client unnamed: the server sees LocalAddress('')."""
    path = short_tmp / "u.sock"
    async with await aiosock.open_datagram(f"unixgram:{path}") as server:
        client = await aiosock.open_datagram(remote=f"unixgram:{path}", autobind=False)
        async with client:
            assert client.local_address == LocalAddress("")
            await client.send(b"anonymous")
            async with asyncio.timeout(TIMEOUT):
                data, address = await server.receive_from()
            assert (data, address) == (b"anonymous", LocalAddress(""))
            assert address.is_unnamed


async def test_large_datagram_and_max_size(short_tmp: Path) -> None:
    """A 150 KiB datagram arrives whole with max_size; without, it raises."""
    path = short_tmp / "big.sock"
    big = os.urandom(150 * 1024)
    options = {"send_buffer": 1024 * 1024}
    async with (
        await aiosock.open_datagram(f"unixgram:{path}", max_size=200 * 1024) as roomy,
        await aiosock.open_datagram(
            remote=f"unixgram:{path}", options=options
        ) as client,
    ):
        await client.send(big)
        async with asyncio.timeout(TIMEOUT):
            assert await roomy.receive() == big
    path2 = short_tmp / "small.sock"
    async with (
        await aiosock.open_datagram(f"unixgram:{path2}") as small,
        await aiosock.open_datagram(
            remote=f"unixgram:{path2}", options=options
        ) as client,
    ):
        await client.send(big)
        await client.send(b"next")
        async with asyncio.timeout(TIMEOUT):
            with pytest.raises(aiosock.MessageTooLargeError) as info:
                await small.receive()
            # Read with recvmsg (descriptors and credentials are kept), which
            # reports MSG_TRUNC but not the datagram's length.
            assert (info.value.size, info.value.limit) == (None, 65536)
            assert await small.receive() == b"next"


@pytest.mark.parametrize("how", ["receive", "receive_from", "iterate", "message"])
@pytest.mark.parametrize("max_size", [100, 70000])
async def test_datagrams_over_max_size_raise_in_their_turn_one_each(
    short_tmp: Path, how: str, max_size: int
) -> None:
    """Each oversized datagram raises once, between its neighbours, in order.

    ``max_size`` up to 64 KiB reads with ``recvmsg`` (the size is unknown),
    larger with ``recvmsg_into`` (it is known).
    """
    big = max_size + 150
    path = short_tmp / "big.sock"
    server = await aiosock.open_datagram(f"unixgram:{path}", max_size=max_size)
    async with server, await aiosock.open_datagram(remote=f"unixgram:{path}") as c:
        sent = [b"1", b"2" * big, b"3", b"4" * big, b"5"]
        for data in sent:
            await c.send(data)
        out: list[object] = []
        iterator = aiter(server)
        async with asyncio.timeout(TIMEOUT):
            for _ in sent:
                try:
                    if how == "receive":
                        out.append(await server.receive())
                    elif how == "receive_from":
                        out.append((await server.receive_from())[0])
                    elif how == "iterate":
                        out.append((await anext(iterator))[0])
                    else:
                        out.append((await server.receive_message()).data)
                except aiosock.MessageTooLargeError as error:
                    out.append((error.size, error.limit))
            error = (None if max_size <= 65536 else big, max_size)
            assert out == [b"1", error, b"3", error, b"5"]
            await c.send(b"6")
            assert await server.receive() == b"6"


async def test_slow_receiver_makes_sender_wait_nothing_lost(short_tmp: Path) -> None:
    """Unix datagrams are never dropped: a sender waits for a slow receiver."""
    path = short_tmp / "bp.sock"
    count = 3000
    async with (
        await aiosock.open_datagram(f"unixgram:{path}") as server,
        await aiosock.open_datagram(remote=f"unixgram:{path}") as client,
    ):

        async def produce() -> None:
            for i in range(count):
                await client.send(i.to_bytes(4, "big") * 250)

        producer = asyncio.ensure_future(produce())
        async with asyncio.timeout(TIMEOUT):
            for i in range(count):
                assert await server.receive() == i.to_bytes(4, "big") * 250
            await producer
        assert server.dropped == 0


async def test_missing_socket_file_is_file_not_found(short_tmp: Path) -> None:
    """Connecting to a path with no socket raises FileNotFoundError."""
    with pytest.raises(FileNotFoundError):
        await aiosock.open_datagram(remote=f"unixgram:{short_tmp}/none.sock")


async def test_mismatched_namespace_destination(short_tmp: Path) -> None:
    """A unixgram socket refuses an internet destination with AddressError."""
    async with await aiosock.open_datagram(f"unixgram:{short_tmp}/n.sock") as sock:
        with pytest.raises(aiosock.AddressError, match="namespace LOCAL"):
            await sock.send_to(b"x", ("127.0.0.1", 9))


async def test_sending_to_a_full_receiver_neither_spins_nor_loses(
    short_tmp: Path,
) -> None:
    """An unconnected sender whose receiver's queue is full waits at low CPU.

    Linux says such a socket is writable while ``sendto`` keeps failing with
    ``EAGAIN`` (it wakes only connected senders): waiting for writability
    would spin at full CPU. Everything queued arrives, in order, once the
    receiver reads.
    """
    path = str(short_tmp / "full.sock")
    receiver = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    receiver.bind(path)
    receiver.setblocking(False)
    loop = asyncio.get_running_loop()
    count = 200  # far past the receiver's queue (net.unix.max_dgram_qlen)
    async with await aiosock.open_datagram(
        local=f"unixgram:{short_tmp / 'sender.sock'}"
    ) as sender:
        try:
            for i in range(count):
                await sender.send_to(b"%05d" % i, f"unixgram:{path}")
            transport = sender._transport
            assert transport.get_write_buffer_size() > 0  # the receiver is full
            started_cpu, started = time.process_time(), time.monotonic()
            await asyncio.sleep(0.3)  # a measurement window, not synchronisation
            cpu = time.process_time() - started_cpu
            wall = time.monotonic() - started
            assert cpu < 0.25 * wall, f"{cpu:.3f} s of CPU in {wall:.3f} s"
            got = []
            async with asyncio.timeout(10):
                while len(got) < count:
                    got.append(await loop.sock_recv(receiver, 100))
            assert got == [b"%05d" % i for i in range(count)]
        finally:
            receiver.close()
