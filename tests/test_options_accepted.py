"""A server's options reach each socket it accepts, not only the listener.

Linux gives an accepted Unix-domain socket none of its listener's options, and
an accepted TCP socket most but not ``SO_PRIORITY``: the server sets them itself.
"""

from __future__ import annotations

import asyncio
import socket
import uuid
from typing import Any

import pytest

import aiosock
from aiosock import options
from aiosock.options import Linger

WANTED: dict[str, Any] = {
    "linger": (True, 4),
    "send_timeout": 3.0,
    "receive_timeout": 2.0,
    "keepalive": True,
    "priority": 3,
    "send_buffer": 65536,
    "reuse_address": True,  # a listener's only: never set on accepted sockets
}


def _read(sock: socket.socket) -> dict[str, Any]:
    got = {
        name: options.get(sock, name)
        for name in ("linger", "send_timeout", "receive_timeout", "keepalive")
    }
    got["priority"] = options.get(sock, "priority")
    got["send_buffer"] = options.get(sock, "send_buffer")
    return got


def _expected() -> dict[str, Any]:
    return {
        "linger": Linger(True, 4),
        "send_timeout": 3.0,
        "receive_timeout": 2.0,
        "keepalive": True,
        "priority": 3,
        "send_buffer": 2 * 65536,  # (Linux doubles what it is given)
    }


def _endpoint(kind: str) -> str:
    if kind == "tcp":
        return "tcp://127.0.0.1:0"
    return f"{kind}:@aiosock-accepted-{uuid.uuid4().hex}"


async def _client(server: aiosock.Server, kind: str) -> socket.socket:
    endpoint = server.endpoints[0]
    sock_type = socket.SOCK_SEQPACKET if kind == "unixpacket" else socket.SOCK_STREAM
    family = socket.AF_INET if kind == "tcp" else socket.AF_UNIX
    client = socket.socket(family, sock_type)
    client.setblocking(False)
    address = endpoint.address
    assert address is not None
    await asyncio.get_running_loop().sock_connect(client, address.to_sockaddr())
    return client


@pytest.mark.parametrize("kind", ["tcp", "unix"])
async def test_serve_sets_options_on_accepted_streams(kind: str) -> None:
    seen: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()

    async def handler(stream: aiosock.Stream) -> None:
        seen.set_result(_read(stream.socket))

    async with await aiosock.serve(handler, _endpoint(kind), options=WANTED) as server:
        client = await _client(server, kind)
        with client:
            async with asyncio.timeout(10):
                got = await seen
    assert got == _expected()


@pytest.mark.parametrize("kind", ["tcp", "unix"])
async def test_serve_protocol_sets_options_on_accepted_sockets(kind: str) -> None:
    seen: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()

    class Probe(asyncio.Protocol):
        def connection_made(self, transport: asyncio.BaseTransport) -> None:
            sock = transport.get_extra_info("socket")
            with socket.fromfd(sock.fileno(), sock.family, sock.type) as copy:
                seen.set_result(_read(copy))

    server = await aiosock.serve_protocol(Probe, _endpoint(kind), options=WANTED)
    async with server:
        client = await _client(server, kind)
        with client:
            async with asyncio.timeout(10):
                got = await seen
    assert got == _expected()


async def test_serve_packets_sets_options_on_accepted_sockets() -> None:
    seen: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()

    async def handler(stream: aiosock.PacketStream) -> None:
        seen.set_result(_read(stream.socket))

    server = await aiosock.serve_packets(
        handler, _endpoint("unixpacket"), options=WANTED
    )
    async with server:
        client = await _client(server, "unixpacket")
        with client:
            async with asyncio.timeout(10):
                got = await seen
    assert got == _expected()


async def test_listener_options_are_not_set_on_accepted_sockets() -> None:
    """reuse_address is the listener's; an accepted Unix socket keeps its default."""
    seen: asyncio.Future[bool] = asyncio.get_running_loop().create_future()

    async def handler(stream: aiosock.Stream) -> None:
        seen.set_result(options.get(stream.socket, "reuse_address"))

    server = await aiosock.serve(handler, _endpoint("unix"), options=WANTED)
    async with server:
        client = await _client(server, "unix")
        with client:
            async with asyncio.timeout(10):
                assert await seen is False
