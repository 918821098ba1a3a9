"""A UDP echo service in the internet namespace, with ``serve_datagram``.

The manual's datagram server, grown into a service: :func:`aiosock.serve_datagram`
calls the handler once per datagram with the data, the sender's typed address and
the socket it came in on, so the reply leaves from the address the client wrote
to. Handlers that answer at once cost no task; slow ones run concurrently, up to
``max_concurrent``. ``udp://:PORT`` binds IPv4 and IPv6 alike.

It prints the endpoints it is bound to (port 0 works), then serves until Ctrl-C,
SIGTERM, or ``--max-messages N`` answered datagrams::

    python examples/udp_echo_server.py udp://127.0.0.1:7007
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import signal

import aiosock

DEFAULT_ENDPOINT = "udp://127.0.0.1:7007"


async def main(endpoints: list[str], max_messages: int | None) -> None:
    done = asyncio.Event()
    answered = 0

    async def echo(
        data: bytes,
        address: aiosock.InetAddress | aiosock.Inet6Address | aiosock.LocalAddress,
        sock: aiosock.DatagramSocket,
    ) -> None:
        nonlocal answered
        print(f"Server: {len(data)} bytes from {address}", flush=True)
        await sock.send_to(data, address)
        answered += 1
        if answered == max_messages:
            done.set()

    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, done.set)
    async with await aiosock.serve_datagram(echo, *endpoints) as server:
        for endpoint in server.endpoints:
            print(f"listening on {endpoint}", flush=True)
        await done.wait()
        await server.aclose(grace=5)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "endpoints",
        nargs="*",
        metavar="ENDPOINT",
        default=[DEFAULT_ENDPOINT],
        help=f"datagram endpoints to serve on (default: {DEFAULT_ENDPOINT})",
    )
    parser.add_argument(
        "--max-messages", type=int, metavar="N", help="exit after answering N"
    )
    args = parser.parse_args()
    with contextlib.suppress(KeyboardInterrupt):
        aiosock.run(main(args.endpoints, args.max_messages))
