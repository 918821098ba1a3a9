"""An ICMP echo client, like ping: the manual's raw sockets at work.

A raw socket carries one IP protocol's packets whole: this program builds ICMP
echo requests itself (type, code, checksum, identifier, sequence number, and the
time of sending as payload), sends them with ``send_to``, and reads every ICMP
packet the host receives with ``receive_from``, keeping the echo replies that
carry its identifier. Over IPv4 a received packet starts with the IP header
(whose TTL it prints); over IPv6 the kernel strips that header and computes the
ICMPv6 checksum itself.

Raw sockets need the ``CAP_NET_RAW`` capability (root)::

    python examples/ping.py 127.0.0.1 -c 3
    python examples/ping.py ::1 -c 3 -i 0.2
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import statistics
import struct
import sys
import time

import aiosock

ECHO_REQUEST = {aiosock.Namespace.INET: 8, aiosock.Namespace.INET6: 128}
ECHO_REPLY = {aiosock.Namespace.INET: 0, aiosock.Namespace.INET6: 129}
RAW_ENDPOINT = {aiosock.Namespace.INET: "ip4:icmp", aiosock.Namespace.INET6: "ip6:58"}
HEADER = struct.Struct("!BBHHH")  # type, code, checksum, identifier, sequence
STAMP = struct.Struct("!Q")  # nanoseconds on the monotonic clock


def checksum(data: bytes) -> int:
    """The Internet checksum (RFC 1071) of ``data``."""
    if len(data) % 2:
        data += b"\0"
    total = sum(struct.unpack(f"!{len(data) // 2}H", data))
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return ~total & 0xFFFF


def echo_request(
    namespace: aiosock.Namespace, ident: int, seq: int, size: int
) -> bytes:
    """An ICMP (or ICMPv6) echo request with the sending time as payload."""
    payload = STAMP.pack(time.monotonic_ns()).ljust(size, b"\xa5")[:size]
    kind = ECHO_REQUEST[namespace]
    packet = HEADER.pack(kind, 0, 0, ident, seq) + payload
    if namespace is aiosock.Namespace.INET6:
        return packet  # the kernel fills in the ICMPv6 checksum
    return HEADER.pack(kind, 0, checksum(packet), ident, seq) + payload


def parse_reply(
    namespace: aiosock.Namespace, data: bytes, ident: int
) -> tuple[int, int, float, int | None] | None:
    """Return (ICMP bytes, sequence, round trip in ms, ttl) of our echo replies."""
    ttl = None
    if namespace is aiosock.Namespace.INET:
        header_length = (data[0] & 0x0F) * 4
        ttl = data[8]
        data = data[header_length:]
    if len(data) < HEADER.size + STAMP.size:
        return None
    kind, _code, _sum, their_ident, seq = HEADER.unpack_from(data)
    if kind != ECHO_REPLY[namespace] or their_ident != ident:
        return None
    (sent,) = STAMP.unpack_from(data, HEADER.size)
    return len(data), seq, (time.monotonic_ns() - sent) / 1e6, ttl


async def ping(
    host: str, count: int | None, interval: float, wait: float, size: int
) -> int:
    address = (await aiosock.netdb.resolve(host))[0]
    namespace = address.namespace
    ident = os.getpid() & 0xFFFF
    rtts: list[float] = []
    sent = 0
    async with await aiosock.open_raw(RAW_ENDPOINT[namespace]) as raw:
        print(f"PING {host} ({address.host}) {size} data bytes", flush=True)

        async def receive() -> None:
            while True:
                data, source = await raw.receive_from()
                reply = parse_reply(namespace, data, ident)
                if reply is None or source.host != address.host:
                    continue
                length, seq, rtt, ttl = reply
                rtts.append(rtt)
                hops = "" if ttl is None else f" ttl={ttl}"
                print(
                    f"{length} bytes from {source.host}: icmp_seq={seq}{hops} "
                    f"time={rtt:.3f} ms",
                    flush=True,
                )
                if count is not None and len(rtts) >= count:
                    return

        receiving = asyncio.ensure_future(receive())
        try:
            while count is None or sent < count:
                sent += 1
                await raw.send_to(echo_request(namespace, ident, sent, size), address)
                if count is None or sent < count:
                    await asyncio.wait({receiving}, timeout=interval)
            # Wait for the last replies, as ping does.
            await asyncio.wait({receiving}, timeout=wait)
        finally:
            receiving.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await receiving
    loss = 100 * (sent - len(rtts)) / sent if sent else 0
    print(f"\n--- {host} ping statistics ---")
    print(f"{sent} packets transmitted, {len(rtts)} received, {loss:.0f}% packet loss")
    if rtts:
        mdev = statistics.pstdev(rtts)
        print(
            f"rtt min/avg/max/mdev = {min(rtts):.3f}/{statistics.fmean(rtts):.3f}/"
            f"{max(rtts):.3f}/{mdev:.3f} ms"
        )
    return 0 if rtts else 1


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("host", help="host name or IPv4/IPv6 address")
    parser.add_argument("-c", "--count", type=int, help="stop after COUNT replies")
    parser.add_argument(
        "-i", "--interval", type=float, default=1.0, help="seconds between requests"
    )
    parser.add_argument(
        "-W", "--wait", type=float, default=2.0, help="seconds to wait for replies"
    )
    parser.add_argument("-s", "--size", type=int, default=56, help="data bytes")
    args = parser.parse_args()
    try:
        return aiosock.run(
            ping(args.host, args.count, args.interval, args.wait, args.size)
        )
    except PermissionError as exc:
        print(f"ping.py: {exc.strerror}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
