"""Datagram echo servers for the benchmarks, one per design, each its own process.

``python -m benchmarks.udp_servers KIND LOOP ENDPOINT`` serves until killed, after
printing ``READY <port or path>`` on standard output.
"""

from __future__ import annotations

import asyncio
import socket
import sys

import aiosock


class EchoProtocol(asyncio.DatagramProtocol):
    """The bare protocol: what every figure is a ratio to."""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport

    def datagram_received(self, data: bytes, addr: object) -> None:
        self.transport.sendto(data, addr)  # type: ignore[attr-defined]


async def echo(data: bytes, address: object, sock: aiosock.DatagramSocket) -> None:
    await sock.send_to(data, address)  # type: ignore[arg-type]


async def main(kind: str, endpoint_text: str) -> None:
    loop = asyncio.get_running_loop()
    endpoint = aiosock.parse_endpoint(endpoint_text)
    if kind == "protocol":
        if endpoint.namespace is aiosock.Namespace.LOCAL:
            raw = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
            raw.bind(endpoint.address.path)
            transport, _ = await loop.create_datagram_endpoint(EchoProtocol, sock=raw)
        else:
            a = endpoint.address
            transport, _ = await loop.create_datagram_endpoint(
                EchoProtocol, local_addr=(a.host, a.port)
            )
        where = transport.get_extra_info("sockname")
    elif kind == "serve_datagram":
        server = await aiosock.serve_datagram(echo, endpoint)
        where = server.sockets[0].getsockname()
    elif kind == "open_datagram":
        sock = await aiosock.open_datagram(endpoint)
        where = sock.socket.getsockname()

        async def serve() -> None:
            while True:
                data, address = await sock.receive_from()
                await sock.send_to(data, address)

        serving = loop.create_task(serve())
    else:
        raise SystemExit(f"unknown server kind {kind!r}")
    print("READY", where if isinstance(where, str) else where[1], flush=True)
    await asyncio.Event().wait()
    if kind == "open_datagram":
        serving.cancel()


if __name__ == "__main__":
    kind, loop_name, endpoint_text = sys.argv[1:4]
    aiosock.run(main(kind, endpoint_text), loop=loop_name)
