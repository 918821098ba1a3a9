"""Raw sockets: open_raw, send_to, receive_from, and the missing-privilege error."""

from __future__ import annotations

import asyncio
import os
import shutil
import socket
import struct
import subprocess
import sys

import pytest

import aiosock


def _can_open_raw() -> bool:
    try:
        socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP).close()
    except PermissionError:
        return False
    return True


HAVE_RAW = _can_open_raw()
#: Run a command as root but without CAP_NET_RAW (not even after exec).
NO_RAW = ("setpriv", "--bounding-set", "-net_raw", "--inh-caps", "-net_raw")
#: An IP protocol number reserved for experiments (RFC 3692): nothing else uses it.
EXPERIMENTAL = 253


async def open_or_explain(endpoint: str) -> aiosock.RawSocket | None:
    """Open a raw socket; without CAP_NET_RAW, check the error explains that."""
    if HAVE_RAW:
        return await aiosock.open_raw(endpoint)
    with pytest.raises(PermissionError, match="CAP_NET_RAW"):
        await aiosock.open_raw(endpoint)
    return None


def _icmp_echo(ident: int, seq: int, *, v6: bool) -> bytes:
    payload = b"aiosock raw test"
    if v6:
        return struct.pack("!BBHHH", 128, 0, 0, ident, seq) + payload
    header = struct.pack("!BBHHH", 8, 0, 0, ident, seq) + payload
    total = sum(struct.unpack(f"!{len(header) // 2}H", header))
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return struct.pack("!BBHHH", 8, 0, ~total & 0xFFFF, ident, seq) + payload


async def _reply(
    raw: aiosock.RawSocket, ident: int, *, v6: bool
) -> tuple[bytes, object]:
    while True:
        data, source = await raw.receive_from()
        icmp = data if v6 else data[(data[0] & 0x0F) * 4 :]
        kind, _code, _sum, their_ident, _seq = struct.unpack_from("!BBHHH", icmp)
        if kind == (129 if v6 else 0) and their_ident == ident:
            return icmp, source


async def test_icmp_echo_v4() -> None:
    """An ICMP echo request to 127.0.0.1 gets its reply, from a typed address."""
    raw = await open_or_explain("ip4:icmp")
    if raw is None:
        return
    async with raw:
        assert raw.endpoint == aiosock.parse_endpoint("ip4:1")
        assert (raw.namespace, raw.protocol) == (aiosock.Namespace.INET, 1)
        ident = os.getpid() & 0xFFFF
        await raw.send_to(_icmp_echo(ident, 1, v6=False), "127.0.0.1")
        async with asyncio.timeout(10):
            icmp, source = await _reply(raw, ident, v6=False)
        assert source == aiosock.InetAddress("127.0.0.1", 0)
        assert icmp.endswith(b"aiosock raw test")


@pytest.mark.usefixtures("ipv6")
async def test_icmp_echo_v6() -> None:
    """An ICMPv6 echo request to ::1 gets its reply; the kernel does the checksum."""
    raw = await open_or_explain("ip6:ipv6-icmp")
    if raw is None:
        return
    async with raw:
        assert (raw.namespace, raw.protocol) == (aiosock.Namespace.INET6, 58)
        ident = (os.getpid() + 1) & 0xFFFF
        await raw.send_to(_icmp_echo(ident, 7, v6=True), aiosock.Inet6Address("::1", 0))
        async with asyncio.timeout(10):
            icmp, source = await _reply(raw, ident, v6=True)
        assert isinstance(source, aiosock.Inet6Address)
        assert source.host == "::1"
        assert icmp.endswith(b"aiosock raw test")


async def test_own_protocol_round_trip_v4() -> None:
    """Packets of an experimental protocol go from one raw socket to another whole."""
    sender = await open_or_explain(f"ip4:{EXPERIMENTAL}")
    if sender is None:
        return
    async with sender, await aiosock.open_raw(f"ip4:{EXPERIMENTAL}") as receiver:
        packets = [os.urandom(n) for n in (1, 100, 1400, 9000)]
        for packet in packets:
            await sender.send_to(packet, ("127.0.0.1", 0))
        async with asyncio.timeout(10):
            for packet in packets:
                data, source = await receiver.receive_from()
                assert data[(data[0] & 0x0F) * 4 :] == packet
                assert data[9] == EXPERIMENTAL
                assert source == aiosock.InetAddress("127.0.0.1", 0)


@pytest.mark.usefixtures("ipv6")
async def test_own_protocol_round_trip_v6() -> None:
    """Over IPv6 a raw socket receives the protocol's packets without the IP header."""
    sender = await open_or_explain(f"ip6:{EXPERIMENTAL}")
    if sender is None:
        return
    async with sender, await aiosock.open_raw(f"ip6:{EXPERIMENTAL}") as receiver:
        await sender.send_to(b"six", "::1")
        async with asyncio.timeout(10):
            data, source = await receiver.receive_from()
        assert data == b"six"
        assert source == aiosock.Inet6Address("::1", 0)


async def test_receive_waits_then_gets_packet() -> None:
    """receive_from waits while nothing came, and a cancelled wait loses nothing."""
    raw = await open_or_explain(f"ip4:{EXPERIMENTAL}")
    if raw is None:
        return
    async with raw:
        waiting = asyncio.ensure_future(raw.receive_from())
        await asyncio.sleep(0)
        assert not waiting.done()
        waiting.cancel()
        with pytest.raises(asyncio.CancelledError):
            await waiting
        await raw.send_to(b"after the cancel", "127.0.0.1")
        async with asyncio.timeout(10):
            data, _ = await raw.receive_from()
        assert data.endswith(b"after the cancel")


async def test_busy_and_closed() -> None:
    """A second receiver is refused; aclose wakes a waiting receive; use fails after."""
    raw = await open_or_explain(f"ip4:{EXPERIMENTAL}")
    if raw is None:
        return
    waiting = asyncio.ensure_future(raw.receive_from())
    await asyncio.sleep(0)
    with pytest.raises(aiosock.BusyResourceError):
        await raw.receive_from()
    await raw.aclose()
    with pytest.raises(aiosock.ClosedResourceError):
        await waiting
    with pytest.raises(aiosock.ClosedResourceError):
        await raw.send_to(b"x", "127.0.0.1")
    with pytest.raises(aiosock.ClosedResourceError):
        _ = raw.socket
    assert "closed" in repr(raw)
    await raw.aclose()


async def test_send_to_address_errors() -> None:
    """send_to refuses addresses of the other namespace and non-literals."""
    raw = await open_or_explain(f"ip4:{EXPERIMENTAL}")
    if raw is None:
        return
    async with raw:
        with pytest.raises(aiosock.AddressError, match="INET"):
            await raw.send_to(b"x", "::1")
        with pytest.raises(aiosock.AddressError, match="INET"):
            await raw.send_to(b"x", aiosock.Inet6Address("::1", 0))
        with pytest.raises(aiosock.AddressError):
            await raw.send_to(b"x", "localhost")


async def test_options_at_creation_and_live() -> None:
    """options={...} applies at creation; raw.options reads and writes live."""
    if not HAVE_RAW:
        await open_or_explain("ip4:icmp")
        return
    async with await aiosock.open_raw("ip4:icmp", options={"ttl": 9}) as raw:
        assert raw.options["ttl"] == 9
        raw.options["ttl"] = 33
        assert raw.socket.getsockopt(socket.IPPROTO_IP, socket.IP_TTL) == 33


async def test_endpoint_errors() -> None:
    """open_raw refuses other styles and unknown protocol names, before any socket."""
    with pytest.raises(aiosock.AddressError, match="raw"):
        await aiosock.open_raw("udp://127.0.0.1:9")
    with pytest.raises(aiosock.ResolutionError):
        await aiosock.open_raw("ip4:no-such-protocol")
    with pytest.raises(aiosock.OptionError):
        await aiosock.open_raw("ip4:icmp", options={"no_such_option": 1})


@pytest.mark.skipif(
    os.geteuid() != 0 or shutil.which("setpriv") is None,
    reason="needs root and setpriv(1) to run without CAP_NET_RAW",
)
def test_permission_error_explains_capability() -> None:
    """Without CAP_NET_RAW, open_raw's PermissionError says what is needed."""
    code = (
        "import aiosock\n"
        "try:\n"
        "    aiosock.run(aiosock.open_raw('ip4:icmp'))\n"
        "except PermissionError as exc:\n"
        "    print(exc.errno, exc.strerror)\n"
    )
    result = subprocess.run(
        [*NO_RAW, sys.executable, "-c", code],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    assert "CAP_NET_RAW" in result.stdout, result.stderr
    assert "cannot open ip4:icmp" in result.stdout
    assert result.stdout.startswith("1 ")  # EPERM


async def test_packet_too_large() -> None:
    """A packet larger than IP allows raises MessageTooLargeError; the socket works."""
    raw = await open_or_explain(f"ip4:{EXPERIMENTAL}")
    if raw is None:
        return
    async with raw:
        with pytest.raises(aiosock.MessageTooLargeError) as info:
            await raw.send_to(b"x" * 70_000, "127.0.0.1")
        assert info.value.size == 70_000
        await raw.send_to(b"small", "127.0.0.1")
        async with asyncio.timeout(10):
            data, _ = await raw.receive_from()
        assert data.endswith(b"small")
