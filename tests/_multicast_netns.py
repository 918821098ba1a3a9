"""Multicast and broadcast checks, run by test_datagram_multicast.py in a netns.

It must run inside a network namespace of its own (``unshare -n``) whose only
interface is ``lo``, set up by the caller: nothing it sends can leave the
machine. Usage: ``python -m tests._multicast_netns LOOP``; prints ``OK`` and
exits 0 when every check passed.
"""

from __future__ import annotations

import asyncio
import os
import socket
import sys

import aiosock

TIMEOUT = 5
GROUP4 = "239.255.42.1"
GROUP6 = "ff15::4242"
BROADCAST = "10.77.0.255"


async def check_ipv4_group() -> None:
    """Join a group on lo, receive what is sent to it, leave it."""
    receiver = await aiosock.open_datagram("udp4://0.0.0.0:0")
    port = receiver.local_address.port  # type: ignore[union-attr]
    receiver.join_group(GROUP4, "lo")
    sender = await aiosock.open_datagram(
        "udp4://127.0.0.1:0",
        options={"multicast_ttl": 1, "multicast_loop": True},
    )
    async with receiver, sender:
        assert sender.options["multicast_ttl"] == 1
        assert sender.options["multicast_loop"] is True
        sender.options["multicast_interface"] = "127.0.0.1"
        await sender.send_to(b"group4", (GROUP4, port))
        async with asyncio.timeout(TIMEOUT):
            data, address = await receiver.receive_from()
        assert data == b"group4", data
        assert address == sender.local_address, address
        receiver.leave_group(GROUP4, "lo")
        # Joining by the interface's address (struct ip_mreqn) works too.
        receiver.join_group(GROUP4, "127.0.0.1")
        await sender.send_to(b"again", (GROUP4, port))
        async with asyncio.timeout(TIMEOUT):
            assert await receiver.receive() == b"again"
        receiver.leave_group(GROUP4, "127.0.0.1")


async def check_ipv4_source_specific() -> None:
    """A source-specific join hears its source and not another."""
    receiver = await aiosock.open_datagram("udp4://0.0.0.0:0")
    port = receiver.local_address.port  # type: ignore[union-attr]
    receiver.join_group(GROUP4, "lo", source="127.0.0.2")
    good = await aiosock.open_datagram("udp4://127.0.0.2:0")
    other = await aiosock.open_datagram("udp4://127.0.0.1:0")
    async with receiver, good, other:
        for sock in (good, other):
            sock.options["multicast_interface"] = "127.0.0.1"
        await other.send_to(b"not for you", (GROUP4, port))
        await good.send_to(b"from the source", (GROUP4, port))
        async with asyncio.timeout(TIMEOUT):
            data, address = await receiver.receive_from()
        assert (data, address) == (b"from the source", good.local_address)
        receiver.leave_group(GROUP4, "lo", source="127.0.0.2")


async def check_ipv6_group() -> None:
    """Join an IPv6 group (by interface name and by index); receive; leave."""
    interface = os.environ.get("MC6_IF")
    if interface is None:
        print("skipped IPv6 multicast: no veth in this kernel (lo does not loop it)")
        return
    index = socket.if_nametoindex(interface)
    receiver = await aiosock.open_datagram("udp6://[::]:0")
    port = receiver.local_address.port  # type: ignore[union-attr]
    receiver.join_group(GROUP6, interface)
    sender = await aiosock.open_datagram(
        "udp6://[fd00:77::1]:0",
        options={"multicast_hops": 1, "multicast_loop": True},
    )
    async with receiver, sender:
        assert sender.options["multicast_hops"] == 1
        target = aiosock.Inet6Address(GROUP6, port, scope_id=interface)
        await sender.send_to(b"group6", target)
        async with asyncio.timeout(TIMEOUT):
            data, address = await receiver.receive_from()
        assert (data, address) == (b"group6", sender.local_address), address
        receiver.leave_group(GROUP6, interface)
        receiver.join_group(GROUP6, index)
        await sender.send_to(b"by index", target)
        async with asyncio.timeout(TIMEOUT):
            assert await receiver.receive() == b"by index"
        receiver.leave_group(GROUP6, index)


async def check_broadcast() -> None:
    """Broadcast needs the option: EACCES without it, delivery with it."""
    receiver = await aiosock.open_datagram("udp4://0.0.0.0:0")
    port = receiver.local_address.port  # type: ignore[union-attr]
    sender = await aiosock.open_datagram("udp4://10.77.0.1:0")
    async with receiver, sender:
        try:
            await sender.send_to(b"nope", (BROADCAST, port))
        except PermissionError:
            pass
        else:
            raise AssertionError("a broadcast without the option was sent")
        sender.options["broadcast"] = True
        await sender.send_to(b"everyone", (BROADCAST, port))
        async with asyncio.timeout(TIMEOUT):
            assert await receiver.receive() == b"everyone"


async def main() -> None:
    """Run every check."""
    await check_ipv4_group()
    await check_ipv4_source_specific()
    await check_ipv6_group()
    await check_broadcast()
    print("OK", flush=True)


if __name__ == "__main__":
    aiosock.run(main(), loop=sys.argv[1])
