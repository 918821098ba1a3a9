"""Sequenced packets: a connection that keeps record boundaries (``unixpacket:``).

A byte stream may split or join what was sent; a ``SOCK_SEQPACKET`` connection
delivers each send as one record, whole, in order, and reliably. This server
answers every record with its length and a digest; the client sends records
from one byte to 100 KB and shows that each arrives as it was sent. A record
longer than the receiver's ``max_bytes`` is an error, never cut short. Without
an endpoint, the server listens on a fresh abstract name::

    python examples/seqpacket.py
    python examples/seqpacket.py unixpacket:/tmp/records.sock
"""

from __future__ import annotations

import argparse
import hashlib
import os

import aiosock


async def answer(stream: aiosock.PacketStream) -> None:
    """Reply to each record with its length and the start of its SHA-256."""
    async for record in stream:
        digest = hashlib.sha256(record).hexdigest()[:16]
        await stream.send(f"{len(record)} bytes, sha256 {digest}".encode())


async def main(endpoint: str) -> None:
    async with await aiosock.serve_packets(answer, endpoint) as server:
        print(f"listening on {server.endpoints[0]}")
        async with await aiosock.connect_packets(server.endpoints[0]) as client:
            for size in (1, 10, 1000, 100_000):
                record = os.urandom(size)
                await client.send(record)
                digest = hashlib.sha256(record).hexdigest()[:16]
                reply = (await client.receive()).decode()
                check = "ok" if reply == f"{size} bytes, sha256 {digest}" else "WRONG"
                print(f"sent {size} bytes, server got {reply} ({check})")
            await client.send(b"a record too long for max_bytes=10")
            try:
                await client.receive(10)
            except aiosock.MessageTooLargeError as exc:
                print(f"receive(10): {exc}")
            await client.send_eof()
            assert await client.receive() == b""
            print("end of stream")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "endpoint",
        nargs="?",
        default=f"unixpacket:@aiosock-example-{os.getpid()}",
        help="a unixpacket: endpoint to serve (default: an abstract name)",
    )
    aiosock.run(main(parser.parse_args().endpoint))
