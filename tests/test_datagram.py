"""open_datagram: UDP over IPv4 and IPv6, boundaries, sizes, errors, drops."""

from __future__ import annotations

import asyncio
import errno
import socket

import pytest

import aiosock
from aiosock import Inet6Address, InetAddress

TIMEOUT = 10


async def _pair(
    local: str = "udp://127.0.0.1:0", **kwargs: object
) -> tuple[aiosock.DatagramSocket, aiosock.DatagramSocket]:
    server = await aiosock.open_datagram(local, **kwargs)  # type: ignore[arg-type]
    client = await aiosock.open_datagram(remote=server.local_address)
    return server, client


async def test_udp4_round_trip_keeps_boundaries() -> None:
    """Each datagram arrives whole and alone, with the sender's typed address."""
    server, client = await _pair()
    async with server, client:
        sizes = [1, 100, 1400, 9000, 65000]
        for size in sizes:
            await client.send(bytes([size % 256]) * size)
        async with asyncio.timeout(TIMEOUT):
            for size in sizes:
                data, address = await server.receive_from()
                assert data == bytes([size % 256]) * size
                assert address == client.local_address
                assert isinstance(address, InetAddress)


async def test_udp6_round_trip(ipv6: None) -> None:
    """UDP over IPv6 loopback works both ways with Inet6Address senders."""
    server, client = await _pair("udp6://[::1]:0")
    async with server, client:
        await client.send(b"ping")
        async with asyncio.timeout(TIMEOUT):
            data, address = await server.receive_from()
            assert isinstance(address, Inet6Address)
            await server.send_to(b"pong", address)
            assert await client.receive() == b"pong"
        assert (data, client.remote_address) == (b"ping", server.local_address)


async def test_empty_datagram_round_trip() -> None:
    """An empty datagram is sent and received as b'' (the loops' transports drop it)."""
    server, client = await _pair()
    async with server, client:
        await client.send(b"")
        async with asyncio.timeout(TIMEOUT):
            data, address = await server.receive_from()
            assert data == b""
            await server.send_to(b"", address)
            assert await client.receive() == b""


async def test_send_to_accepts_text_tuple_and_endpoint() -> None:
    """send_to takes typed addresses, endpoint text, Endpoint and (host, port)."""
    server = await aiosock.open_datagram("udp://127.0.0.1:0")
    client = await aiosock.open_datagram("udp4://127.0.0.1:0")
    async with server, client:
        port = server.local_address.port  # type: ignore[union-attr]
        targets: list[object] = [
            server.local_address,
            f"udp://127.0.0.1:{port}",
            aiosock.parse_endpoint(f"udp4://127.0.0.1:{port}"),
            ("127.0.0.1", port),
            ("localhost", port),
            f"udp://localhost:{port}",
        ]
        for i, target in enumerate(targets):
            await client.send_to(b"%d" % i, target)  # type: ignore[arg-type]
        async with asyncio.timeout(TIMEOUT):
            got = [await server.receive() for _ in targets]
        assert got == [b"%d" % i for i in range(len(targets))]


async def test_bad_destinations_are_address_errors() -> None:
    """Wrong namespace, garbage, unconnected send(), connected send_to elsewhere."""
    server, client = await _pair()
    async with server, client:
        with pytest.raises(aiosock.AddressError, match="namespace INET"):
            await server.send_to(b"x", Inet6Address("::1", 9))
        with pytest.raises(aiosock.AddressError, match="namespace INET"):
            await server.send_to(b"x", aiosock.LocalAddress("/tmp/x"))
        with pytest.raises(aiosock.AddressError):
            await server.send_to(b"x", "tcp://127.0.0.1:9")
        with pytest.raises(aiosock.AddressError):
            await server.send_to(b"x", 12)  # type: ignore[arg-type]
        with pytest.raises(aiosock.AddressError, match="connected socket"):
            await server.send(b"x")
        with pytest.raises(aiosock.AddressError, match="connected remote"):
            await client.send_to(b"x", InetAddress("127.0.0.1", 9))


async def test_oversized_send_is_message_too_large() -> None:
    """A UDP datagram over 65,507 bytes raises MessageTooLargeError (EMSGSIZE)."""
    server, client = await _pair()
    async with server, client:
        with pytest.raises(aiosock.MessageTooLargeError) as info:
            await client.send(b"x" * 70000)
        assert isinstance(info.value, OSError)
        assert info.value.errno == errno.EMSGSIZE
        await client.send(b"still works")
        async with asyncio.timeout(TIMEOUT):
            assert await server.receive() == b"still works"


async def test_datagram_over_max_size_raises_and_is_dropped() -> None:
    """A datagram longer than max_size raises on receive; the next one arrives."""
    server, client = await _pair(max_size=100)
    async with server, client:
        assert server.max_size == 100
        await client.send(b"x" * 101)
        await client.send(b"y" * 100)
        async with asyncio.timeout(TIMEOUT):
            with pytest.raises(aiosock.MessageTooLargeError) as info:
                await server.receive()
            assert (info.value.size, info.value.limit) == (101, 100)
            assert await server.receive() == b"y" * 100


_SMALL_AND_BIG = [b"1-small", b"2-big" * 50, b"3-small", b"4-big" * 50, b"5-small"]


async def _receive_each(
    sock: aiosock.DatagramSocket, how: str, count: int
) -> list[object]:
    """Receive ``count`` times with ``how``; each result or the error's size."""
    out: list[object] = []
    iterator = aiter(sock)
    for _ in range(count):
        try:
            if how == "receive":
                out.append(await sock.receive())
            elif how == "receive_from":
                out.append((await sock.receive_from())[0])
            else:
                out.append((await anext(iterator))[0])
        except aiosock.MessageTooLargeError as error:
            out.append(("too large", error.size, error.limit))
    return out


@pytest.mark.parametrize("how", ["receive", "receive_from", "iterate"])
async def test_datagrams_over_max_size_raise_in_their_turn_one_each(how: str) -> None:
    """Each oversized datagram raises once, between its neighbours, in order.

    All five are in the kernel's queue before the first receive, so the
    socket reads the rest ahead while nobody waits.
    """
    server, client = await _pair(max_size=100)
    async with server, client:
        for data in _SMALL_AND_BIG:
            await client.send(data)
        async with asyncio.timeout(TIMEOUT):
            got = await _receive_each(server, how, 5)
            big = ("too large", 250, 100)
            assert got == [b"1-small", big, b"3-small", big, b"5-small"]
            await client.send(b"6-small")
            assert await server.receive() == b"6-small"


async def test_icmp_port_unreachable_is_connection_refused() -> None:
    """A connected UDP socket learns of a closed port on its next operation."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        probe.bind(("127.0.0.1", 0))
        closed_port = probe.getsockname()[1]
    async with await aiosock.open_datagram(
        remote=f"udp://127.0.0.1:{closed_port}"
    ) as sock:
        await sock.send(b"anyone?")
        async with asyncio.timeout(TIMEOUT):
            with pytest.raises(ConnectionRefusedError):
                await sock.receive()


async def test_icmp_error_is_raised_by_the_next_send_too() -> None:
    """The refusal is reported once, to the next operation, which may be a send."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        probe.bind(("127.0.0.1", 0))
        closed_port = probe.getsockname()[1]
    async with await aiosock.open_datagram(remote=("127.0.0.1", closed_port)) as sock:
        refused = False
        async with asyncio.timeout(TIMEOUT):
            for _ in range(1000):
                try:
                    await sock.send(b"anyone?")
                except ConnectionRefusedError:
                    refused = True
                    break
                await asyncio.sleep(0)  # let the reader see the kernel's report
        assert refused
        await sock.send(b"reported once: this send goes out")


async def test_full_receive_queue_drops_are_counted() -> None:
    """Datagrams dropped for a full queue are counted: received + dropped == sent."""
    server, client = await _pair(options={"receive_buffer": 4096})
    async with server, client:
        sent = 3000
        for i in range(sent):
            await client.send(i.to_bytes(4, "big"))
        # Nothing is read until now: the kernel's small queue overflowed.
        dropped = server.dropped
        assert dropped > 0
        received = []
        async with asyncio.timeout(TIMEOUT):
            while len(received) + server.dropped < sent:
                received.append(await server.receive())
        assert len(received) + server.dropped == sent
        numbers = [int.from_bytes(d, "big") for d in received]
        assert numbers == sorted(numbers)


async def test_a_flood_of_datagrams_does_not_starve_other_tasks(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A receiver that always finds datagrams waiting still lets the loop turn.

    On the default loop a receive that finds its queue empty reads the
    kernel's queue at once (up to EAGER_READS times in a row) instead of
    waiting for the loop; each read takes at most READ_BATCH datagrams. With
    the batch made small, a ticker task must get a turn at least once per
    (EAGER_READS + 1) batches while the receiver drains a full kernel queue.
    """
    from aiosock._core import _dgram_transport
    from aiosock._highlevel._datagram_base import EAGER_READS

    batch = 8
    monkeypatch.setattr(_dgram_transport, "READ_BATCH", batch)
    server, client = await _pair(options={"receive_buffer": 1 << 20})
    async with server, client:
        sent = 0
        raw = client.socket
        while sent < 5000:
            try:
                raw.send(sent.to_bytes(4, "big"))
            except BlockingIOError:
                break
            sent += 1
        ticks = 0
        stop = False

        async def ticker() -> None:
            nonlocal ticks
            while not stop:
                ticks += 1
                await asyncio.sleep(0)

        task = asyncio.get_running_loop().create_task(ticker())
        received = 0
        async with asyncio.timeout(TIMEOUT):
            while received + server.dropped < sent:
                await server.receive()
                received += 1
        stop = True
        await task
        assert received > 200, "the kernel queue should hold a few hundred"
        per_turn = (EAGER_READS + 1) * batch
        assert ticks >= received // per_turn - 1


async def test_closed_socket_raises_closed_resource_error() -> None:
    """After aclose (idempotent) every operation raises ClosedResourceError."""
    server, client = await _pair()
    async with client:
        waiter = asyncio.ensure_future(server.receive_from())
        await asyncio.sleep(0)
        await server.aclose()
        await server.aclose()
        with pytest.raises(aiosock.ClosedResourceError):
            await waiter
        with pytest.raises(aiosock.ClosedResourceError):
            await server.receive()
        with pytest.raises(aiosock.ClosedResourceError):
            await server.send_to(b"x", client.local_address)
        with pytest.raises(aiosock.ClosedResourceError):
            server.options["broadcast"]
        assert server.is_closing


async def test_second_receiver_is_busy() -> None:
    """Two tasks receiving at once: the second gets BusyResourceError."""
    server, client = await _pair()
    async with server, client:
        first = asyncio.ensure_future(server.receive())
        await asyncio.sleep(0)
        with pytest.raises(aiosock.BusyResourceError):
            await server.receive()
        await client.send(b"one")
        async with asyncio.timeout(TIMEOUT):
            assert await first == b"one"


async def test_async_iteration_until_closed() -> None:
    """async for yields (data, address) pairs and stops when the socket closes."""
    server, client = await _pair()
    async with client:
        for word in (b"a", b"b", b"c"):
            await client.send(word)
        seen = []
        async with asyncio.timeout(TIMEOUT):
            async for data, address in server:
                seen.append(data)
                assert address == client.local_address
                if len(seen) == 3:
                    await server.aclose()
        assert seen == [b"a", b"b", b"c"]


async def test_options_apply_and_read_back() -> None:
    """options={...} are applied at creation and readable through sock.options."""
    async with await aiosock.open_datagram(
        "udp://127.0.0.1:0", options={"broadcast": True, "ttl": 7}
    ) as sock:
        assert sock.options["broadcast"] is True
        assert sock.options["ttl"] == 7
        sock.options["broadcast"] = False
        assert sock.socket.getsockopt(socket.SOL_SOCKET, socket.SO_BROADCAST) == 0
        assert sock.namespace is aiosock.Namespace.INET


async def test_argument_errors() -> None:
    """No endpoint, a stream endpoint, bad max_size or mixed namespaces: refused."""
    with pytest.raises(ValueError, match="local or a remote"):
        await aiosock.open_datagram()
    with pytest.raises(aiosock.AddressError, match="datagram"):
        await aiosock.open_datagram("tcp://127.0.0.1:0")
    with pytest.raises(ValueError, match="max_size"):
        await aiosock.open_datagram("udp://127.0.0.1:0", max_size=0)
    with pytest.raises(aiosock.AddressError, match="namespace"):
        await aiosock.open_datagram("udp4://127.0.0.1:0", "unixgram:@nowhere")


async def test_any_address_binds_and_receives() -> None:
    """udp://:0 binds a wildcard address that loopback senders reach."""
    async with await aiosock.open_datagram("udp://:0") as server:
        port = server.local_address.port  # type: ignore[union-attr]
        host = "::1" if server.namespace is aiosock.Namespace.INET6 else "127.0.0.1"
        async with await aiosock.open_datagram(remote=(host, port)) as client:
            await client.send(b"hi")
            async with asyncio.timeout(TIMEOUT):
                assert await server.receive() == b"hi"


def test_datagram_names_are_public() -> None:
    """The datagram API of DESIGN.md is exported by aiosock."""
    names = {
        "open_datagram",
        "serve_datagram",
        "DatagramSocket",
        "DatagramServer",
        "MessageTooLargeError",
    }
    assert names <= set(aiosock.__all__)


def test_message_too_large_error_is_an_os_error_that_pickles() -> None:
    """MessageTooLargeError: AiosockError and OSError, EMSGSIZE, pickles intact."""
    import pickle

    error = aiosock.MessageTooLargeError("too big", size=70000, limit=65536)
    assert isinstance(error, aiosock.AiosockError)
    assert isinstance(error, OSError)
    assert (error.errno, str(error)) == (errno.EMSGSIZE, "too big")
    again = pickle.loads(pickle.dumps(error))
    assert type(again) is aiosock.MessageTooLargeError
    assert (again.size, again.limit, again.errno, str(again)) == (
        70000,
        65536,
        errno.EMSGSIZE,
        "too big",
    )
