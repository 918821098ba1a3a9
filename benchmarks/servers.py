"""Echo servers for the benchmarks, one per design, each started as its own process.

``python -m benchmarks.servers KIND LOOP ENDPOINT`` serves until killed, after
printing ``READY <endpoint>`` on standard output.
"""

from __future__ import annotations

import asyncio
import sys

import aiosock


class EchoProtocol(asyncio.Protocol):
    """The bare protocol: what every figure is a ratio to."""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        self.transport.write(data)  # type: ignore[attr-defined]


class BufferedEchoProtocol(asyncio.BufferedProtocol):
    """asyncio's ``BufferedProtocol``, every connection reading into one buffer.

    The loop runs one callback at a time and ``buffer_updated`` writes the bytes
    at once, so one buffer serves every connection. When the transport keeps
    part of a write (the peer is slow) it may hold a view of the buffer (Python
    3.12 and later queue views), so the protocols move on to a fresh buffer.
    """

    shared = memoryview(bytearray(65536))

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport

    def get_buffer(self, sizehint: int) -> memoryview:
        return BufferedEchoProtocol.shared

    def buffer_updated(self, nbytes: int) -> None:
        self.transport.write(BufferedEchoProtocol.shared[:nbytes])  # type: ignore[attr-defined]
        if self.transport.get_write_buffer_size():  # type: ignore[attr-defined]
            BufferedEchoProtocol.shared = memoryview(bytearray(65536))


async def stream_echo(stream: aiosock.Stream) -> None:
    async for chunk in stream:
        await stream.send(chunk)


async def asyncio_stream_echo(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter
) -> None:
    while data := await reader.read(65536):
        writer.write(data)
        await writer.drain()
    writer.close()


async def main(kind: str, endpoint_text: str) -> None:
    loop = asyncio.get_running_loop()
    endpoint = aiosock.parse_endpoint(endpoint_text)
    unix = endpoint.namespace is aiosock.Namespace.LOCAL
    if kind in {"protocol", "buffered_protocol"}:
        factory = EchoProtocol if kind == "protocol" else BufferedEchoProtocol
        if unix:
            server = await loop.create_unix_server(factory, endpoint.address.path)
        else:
            a = endpoint.address
            server = await loop.create_server(factory, a.host, a.port)
        where = server.sockets[0].getsockname()
    elif kind == "serve_protocol":
        s = await aiosock.serve_protocol(EchoProtocol, endpoint)
        where = s.sockets[0].getsockname()
    elif kind == "stream":
        s = await aiosock.serve(stream_echo, endpoint)
        where = s.sockets[0].getsockname()
    elif kind == "asyncio_streams":
        if unix:
            server = await asyncio.start_unix_server(
                asyncio_stream_echo, endpoint.address.path
            )
        else:
            a = endpoint.address
            server = await asyncio.start_server(asyncio_stream_echo, a.host, a.port)
        where = server.sockets[0].getsockname()
    else:
        raise SystemExit(f"unknown server kind {kind!r}")
    print("READY", where if isinstance(where, str) else where[1], flush=True)
    await asyncio.Event().wait()


if __name__ == "__main__":
    kind, loop_name, endpoint_text = sys.argv[1:4]
    aiosock.run(main(kind, endpoint_text), loop=loop_name)
