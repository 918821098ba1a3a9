"""Bad arguments to packet, raw and datagram APIs: typed errors naming them."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

import aiosock

from .test_raw import EXPERIMENTAL, open_or_explain


@pytest.mark.parametrize("value", [True, 1.5, "10", None])
async def test_packet_receive_sizes_must_be_ints(value: Any) -> None:
    """receive(True) took the bool as 1 and discarded the record as too large."""
    a, b = await aiosock.packet_pair()
    async with a, b, asyncio.timeout(5):
        await a.send(b"record")
        with pytest.raises(TypeError, match="'max_bytes' must be an int"):
            await b.receive(value)
        with pytest.raises(TypeError, match="'max_bytes' must be an int"):
            await b.receive_message(value)
        with pytest.raises(TypeError, match="'max_fds' must be an int"):
            await b.receive_fds(16, max_fds=value)
        assert await b.receive() == b"record"  # still there


async def test_raw_packets_are_never_cut_short() -> None:
    """A packet longer than max_bytes is MessageTooLargeError; the next one is whole."""
    raw = await open_or_explain(f"ip4:{EXPERIMENTAL}")
    if raw is None:
        return
    async with raw, asyncio.timeout(5):
        await raw.send_to(b"L" * 200, "127.0.0.1")
        await raw.send_to(b"S" * 10, "127.0.0.1")
        with pytest.raises(aiosock.MessageTooLargeError) as info:
            await raw.receive_from(100)  # the IPv4 header is 20 bytes more
        assert info.value.limit == 100
        data, _source = await raw.receive_from(100)
        assert data.endswith(b"S" * 10)
        with pytest.raises(TypeError, match="'max_bytes' must be an int"):
            await raw.receive_from(True)


@pytest.mark.parametrize("bad", [5, None, 1.5])
async def test_raw_send_to_a_non_address_is_address_error(bad: Any) -> None:
    """send_to(data, 5) was an AttributeError."""
    raw = await open_or_explain(f"ip4:{EXPERIMENTAL}")
    if raw is None:
        return
    async with raw:
        with pytest.raises(aiosock.AddressError, match="expected an INET address"):
            await raw.send_to(b"x", bad)


@pytest.mark.parametrize("kind", ["float", "bool"])
async def test_send_to_answers_the_same_input_the_same_way(kind: str) -> None:
    """A float or bool port is refused, also after the equal int form was used."""
    async with await aiosock.open_datagram("udp://127.0.0.1:0") as receiver:
        port = receiver.local_address.port  # type: ignore[union-attr]
        good: tuple[str, int] = ("127.0.0.1", port if kind == "float" else 1)
        bad: tuple[str, Any] = (
            ("127.0.0.1", float(port)) if kind == "float" else ("127.0.0.1", True)
        )
        async with await aiosock.open_datagram("udp://127.0.0.1:0") as sender:
            with pytest.raises(aiosock.AddressError, match="'port' must be an int"):
                await sender.send_to(b"x", bad)
            await sender.send_to(b"x", good)
            with pytest.raises(aiosock.AddressError, match="'port' must be an int"):
                await sender.send_to(b"x", bad)


@pytest.mark.parametrize("grace", ["1", -1, float("nan"), None])
async def test_datagram_server_aclose_checks_grace_first(grace: Any) -> None:
    """aclose(grace='1') stopped the server, then failed, leaving it half-closed."""

    async def echo(data: bytes, address: Any, sock: aiosock.DatagramSocket) -> None:
        await sock.send_to(data, address)

    server = await aiosock.serve_datagram(echo, "udp://127.0.0.1:0")
    with pytest.raises((TypeError, ValueError), match="'grace'"):
        await server.aclose(grace=grace)
    assert server.is_serving()
    await server.aclose()
    assert not server.is_serving()


@pytest.mark.parametrize("grace", ["1", -1, float("nan"), None])
async def test_stream_server_aclose_checks_grace_first(grace: Any) -> None:
    """The same for a stream server."""

    async def handler(stream: aiosock.Stream) -> None:
        await stream.aclose()

    server = await aiosock.serve(handler, "tcp://127.0.0.1:0")
    with pytest.raises((TypeError, ValueError), match="'grace'"):
        await server.aclose(grace=grace)
    assert server.is_serving()
    await server.aclose()
    assert not server.is_serving()


@pytest.mark.parametrize("serving", ["serve", "serve_packets", "serve_datagram"])
async def test_a_handler_that_cannot_be_called_is_refused_at_once(serving: str) -> None:
    """serve*(None, ...) started, then failed on every connection or datagram."""
    endpoint = {
        "serve": "tcp://127.0.0.1:0",
        "serve_packets": "unixpacket:@aiosock-test-no-handler",
        "serve_datagram": "udp://127.0.0.1:0",
    }[serving]
    with pytest.raises(TypeError, match="'handler' must be an async callable"):
        await getattr(aiosock, serving)(None, endpoint)
