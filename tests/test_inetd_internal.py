"""The internal services as aiosock handlers, and the UDP reflection rule."""

from __future__ import annotations

import asyncio
import ipaddress
import re
import socket
import struct
import time
from typing import Any

import pytest

import aiosock
from aiosock import inetd
from aiosock.inetd._internal import (
    DATAGRAM_BUFFER,
    ChargenRotation,
    chargen_lines,
    daytime_text,
    refusal,
    reply_for,
    time_bytes,
)

CTIME = re.compile(rb"^[A-Z][a-z]{2} [A-Z][a-z]{2} [ \d]\d \d\d:\d\d:\d\d \d{4}\r\n$")


def test_chargen_lines() -> None:
    """Lines are 72 printable characters and CRLF, each one character further on."""
    lines = [line for _, line in zip(range(200), chargen_lines(), strict=False)]
    assert lines[0] == bytes(range(32, 104)) + b"\r\n"
    assert lines[1] == bytes(range(33, 105)) + b"\r\n"
    assert all(len(line) == 74 for line in lines)
    assert lines[95] == lines[0]
    assert lines[94] == bytes([126, *range(32, 103)]) + b"\r\n"
    assert lines[60] == bytes(range(92, 127)) + bytes(range(32, 69)) + b"\r\n"


def test_daytime_text() -> None:
    """daytime is ctime() in local time and CRLF (26 bytes)."""
    now = 1_700_000_000.0
    text = daytime_text(now)
    assert CTIME.match(text)
    assert text == time.ctime(now).encode() + b"\r\n"


def test_time_bytes() -> None:
    """time is the seconds since 1900, big-endian, 32 bits."""
    assert time_bytes(0) == struct.pack("!I", 2208988800)
    assert time_bytes(1_700_000_000.7) == struct.pack("!I", 3908988800)
    # 2036-02-07 wraps the 32 bits, as the C code's u_int32_t does.
    assert time_bytes(2085978496) == b"\x00\x00\x00\x00"


def test_reply_for() -> None:
    """UDP answers: echo truncates at 4096 bytes, chargen rotates, discard is silent."""
    rotation = ChargenRotation()
    assert reply_for("echo", b"x" * 5000, rotation) == b"x" * DATAGRAM_BUFFER
    assert reply_for("discard", b"x", rotation) is None
    first = reply_for("chargen", b"", rotation)
    second = reply_for("chargen", b"", rotation)
    assert first == bytes(range(32, 104)) + b"\r\n"
    assert second == bytes(range(33, 105)) + b"\r\n"
    assert CTIME.match(reply_for("daytime", b"", rotation) or b"")
    assert len(reply_for("time", b"", rotation) or b"") == 4


V4, V6 = socket.AF_INET, socket.AF_INET6

REFUSALS: list[tuple[int, Any, dict[str, Any], str | None]] = [
    (V4, ("127.0.0.1", 40000), {}, None),
    (V6, ("::1", 40000, 0, 0), {}, None),
    (V4, ("192.0.2.7", 1024), {}, None),
    (V4, ("192.0.2.7", 1023), {}, "privileged"),
    (V4, ("192.0.2.7", 19), {}, "privileged"),
    (V4, ("192.0.2.7", 2049), {}, "NFS"),
    (V6, ("::1", 7, 0, 0), {}, "privileged"),
    (V4, ("224.0.0.1", 40000), {}, "cannot send"),
    (V4, ("0.1.2.3", 40000), {}, "cannot send"),
    (V4, ("255.255.255.255", 40000), {}, "cannot send"),
    (V6, ("ff02::1", 40000, 0, 0), {}, "cannot send"),
    (V6, ("::", 40000, 0, 0), {}, "cannot send"),
    (V6, ("::ffff:224.0.0.1", 40000, 0, 0), {}, "cannot send"),
    (V6, ("::ffff:127.0.0.1", 40000, 0, 0), {}, None),
    (V6, ("fe80::1%lo", 40000, 0, 1), {}, None),
    (V4, ("192.0.2.7", 17019), {"protected_ports": {17019}}, "internal service"),
    (
        V4,
        ("192.0.2.255", 40000),
        {"broadcasts": {ipaddress.IPv4Address("192.0.2.255")}},
        "broadcast",
    ),
    (socket.AF_UNIX, "/tmp/x", {}, None),
    (socket.AF_UNIX, "\0abstract", {}, None),
    (socket.AF_UNIX, None, {}, "unnamed Unix socket"),
    (socket.AF_UNIX, "", {}, "unnamed Unix socket"),
]


@pytest.mark.parametrize(("family", "sockaddr", "extra", "words"), REFUSALS)
def test_refusal(
    family: int, sockaddr: Any, extra: dict[str, Any], words: str | None
) -> None:
    """UDP replies are refused to sources that cannot be genuine clients."""
    why = refusal(family, sockaddr, **extra)
    if words is None:
        assert why is None
    else:
        assert why is not None
        assert words in why


def test_public_names() -> None:
    """The internal services are importable from aiosock.inetd, with the rest."""
    for name in ("echo", "discard", "chargen", "daytime", "time"):
        assert callable(getattr(inetd, name))
        assert callable(getattr(inetd, f"{name}_datagram"))
    assert sorted(inetd.__all__) == sorted(
        name for name in vars(inetd) if not name.startswith("_")
    )
    for name in ("Inetd", "InetdConfig", "ServiceEntry", "Limits", "parse_inetd_conf"):
        assert name in inetd.__all__


async def _pair_with(handler: Any) -> tuple[aiosock.Stream, Any]:
    client, server = await aiosock.stream_pair()

    async def run() -> None:
        try:
            await handler(server)
        finally:
            await server.aclose()

    task = asyncio.get_running_loop().create_task(run())
    return client, task


async def test_echo_handler() -> None:
    """echo sends back everything, then ends when the client does."""
    client, task = await _pair_with(inetd.echo)
    payload = bytes(range(256)) * 1000
    await client.send(payload)
    await client.send_eof()
    received = b""
    async for chunk in client:
        received += chunk
    assert received == payload
    await task
    await client.aclose()


async def test_discard_handler() -> None:
    """discard reads everything and sends nothing."""
    client, task = await _pair_with(inetd.discard)
    await client.send(b"x" * 100_000)
    await client.send_eof()
    assert await client.receive() == b""
    await task
    await client.aclose()


async def test_chargen_handler() -> None:
    """chargen sends the rotating lines until the client goes away."""
    client, task = await _pair_with(inetd.chargen)
    expected = b"".join(
        line for _, line in zip(range(300), chargen_lines(), strict=False)
    )
    got = await client.receive_exactly(len(expected))
    assert got == expected
    client.abort()
    await task


@pytest.mark.parametrize("name", ["daytime", "time"])
async def test_one_shot_handlers(name: str) -> None:
    """daytime and time send their answer and close."""
    client, task = await _pair_with(getattr(inetd, name))
    data = b""
    async for chunk in client:
        data += chunk
    await task
    await client.aclose()
    if name == "daytime":
        assert CTIME.match(data)
    else:
        assert len(data) == 4
        assert abs(struct.unpack("!I", data)[0] - 2208988800 - time.time()) < 5


class FakeDatagramSocket:
    """Records send_to calls."""

    def __init__(self) -> None:
        self.sent: list[tuple[bytes, Any]] = []

    async def send_to(self, data: bytes, address: Any) -> None:
        self.sent.append((data, address))


async def test_datagram_handlers() -> None:
    """The datagram handlers answer genuine clients and refuse privileged ports."""
    sock = FakeDatagramSocket()
    client = aiosock.InetAddress("127.0.0.1", 40000)
    await inetd.echo_datagram(b"ping", client, sock)
    await inetd.discard_datagram(b"ping", client, sock)
    await inetd.time_datagram(b"", client, sock)
    await inetd.echo_datagram(b"ping", aiosock.InetAddress("127.0.0.1", 19), sock)
    assert sock.sent[0][0] == b"ping"
    assert len(sock.sent) == 2
    assert sock.sent[1][1] == client
