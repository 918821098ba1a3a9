"""A UDP echo client: send each message, wait for its echo, retry if it is lost.

UDP promises nothing: a datagram may be lost, duplicated or reordered, and a
refused one comes back as ``ConnectionRefusedError`` on a connected socket. So
this client numbers its requests, waits a bounded time for the matching reply,
sends again a few times, and ignores stray replies, which is what real UDP
clients (DNS, NTP) do. Each round trip's time is printed like ``ping`` does.

Run it against the example server::

    python examples/udp_echo_server.py udp://127.0.0.1:7007
    python examples/udp_echo_client.py udp://127.0.0.1:7007 hello world
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time

import aiosock

TRIES = 3
WAIT = 1.0


async def ask(sock: aiosock.DatagramSocket, number: int, text: str) -> bytes:
    """Send request ``number`` and return its echo, sending again if it is lost."""
    request = f"{number} {text}".encode()
    for _ in range(TRIES):
        await sock.send(request)
        try:
            async with asyncio.timeout(WAIT):
                while (reply := await sock.receive()) != request:
                    pass  # a late echo of an earlier try: not ours
                return reply
        except TimeoutError:
            continue
    raise TimeoutError(f"no echo for request {number} after {TRIES} tries")


async def main(endpoint: str, messages: list[str]) -> None:
    async with await aiosock.open_datagram(remote=endpoint) as sock:
        for number, text in enumerate(messages):
            # (Not loop.time(): uvloop's counts whole milliseconds.)
            start = time.perf_counter()
            reply = await ask(sock, number, text)
            millis = (time.perf_counter() - start) * 1000
            print(f"Client: {reply.decode()!r} time={millis:.3f} ms")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("endpoint", metavar="ENDPOINT", help="the server's endpoint")
    parser.add_argument("messages", nargs="*", default=["hello"], metavar="MESSAGE")
    args = parser.parse_args()
    try:
        aiosock.run(main(args.endpoint, args.messages))
    except (TimeoutError, ConnectionRefusedError) as exc:
        sys.exit(f"udp_echo_client: {exc or 'no echo'}")
