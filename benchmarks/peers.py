"""Echo servers written with the frameworks aiosock is compared with.

``python -m benchmarks.peers KIND LOOP ENDPOINT`` serves until killed, after
printing ``READY <port or path>`` on standard output, like ``benchmarks.servers``.
``ENDPOINT`` is ``tcp://127.0.0.1:0``, ``unix:PATH``, ``udp://127.0.0.1:0`` or
``unixgram:PATH`` (parsed here without aiosock, so that a peer's process holds
nothing but the peer).

Each server is what the framework's documentation shows for an echo server,
written the way a careful user would: read what is there (up to 64 KiB), write
it back, let the framework's flow control wait when the peer is slow, and set
``TCP_NODELAY`` on TCP connections as uvloop and asyncio do by default (trio and
anyio set it themselves). Errors from a peer that resets are the end of that
connection, never of the server.

Kinds (KIND LOOP):

- ``protocol twisted``: Twisted ``Protocol`` / ``DatagramProtocol``, epoll reactor
- ``trio trio``: trio ``serve_listeners`` / a trio socket for datagrams
- ``anyio uvloop``, ``anyio trio``, ``anyio asyncio``: anyio listeners and
  datagram sockets on each backend
- ``tornado asyncio``, ``tornado uvloop``: tornado ``TCPServer`` and ``IOStream``
  (streams only: tornado has no datagram API)
- ``server gevent``: gevent ``StreamServer`` / ``DatagramServer``
"""

from __future__ import annotations

import asyncio
import os
import socket
import sys
from typing import Any

READ_SIZE = 65536
BACKLOG = 1024


def parse(endpoint: str) -> tuple[str, Any]:
    """Return (scheme, address) for the endpoints the harness passes."""
    scheme, _, rest = endpoint.partition(":")
    if scheme in {"unix", "unixgram"}:
        return scheme, rest
    host, _, port = rest.removeprefix("//").rpartition(":")
    return scheme, (host.strip("[]"), int(port))


def family(address: Any) -> socket.AddressFamily:
    if isinstance(address, str):
        return socket.AF_UNIX
    return socket.AF_INET6 if ":" in address[0] else socket.AF_INET


def bound_socket(scheme: str, address: Any) -> socket.socket:
    """A bound (and for streams listening) non-blocking socket."""
    kind = socket.SOCK_STREAM if scheme in {"tcp", "unix"} else socket.SOCK_DGRAM
    sock = socket.socket(family(address), kind)
    if isinstance(address, str):
        if os.path.exists(address):
            os.unlink(address)
    else:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(address)
    if kind == socket.SOCK_STREAM:
        sock.listen(BACKLOG)
    sock.setblocking(False)
    return sock


def unlink_stale(path: str) -> None:
    if os.path.exists(path):
        os.unlink(path)


def ready(sock: socket.socket) -> None:
    name = sock.getsockname()
    print("READY", name if isinstance(name, str) else name[1], flush=True)


def nodelay(sock: socket.socket) -> None:
    if sock.family != socket.AF_UNIX:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)


# Twisted ----------------------------------------------------------------------


def twisted_server(scheme: str, address: Any) -> None:
    from twisted.internet import epollreactor

    epollreactor.install()
    from twisted.internet import protocol, reactor

    class Echo(protocol.Protocol):
        def connectionMade(self) -> None:
            if scheme == "tcp":
                self.transport.setTcpNoDelay(True)

        def dataReceived(self, data: bytes) -> None:
            self.transport.write(data)

    class EchoDatagram(protocol.DatagramProtocol):
        def datagramReceived(self, data: bytes, addr: Any) -> None:
            self.transport.write(data, addr)

    factory = protocol.Factory.forProtocol(Echo)
    if scheme == "tcp":
        port = reactor.listenTCP(
            address[1], factory, backlog=BACKLOG, interface=address[0]
        )
        print("READY", port.getHost().port, flush=True)
    elif scheme == "unix":
        if os.path.exists(address):
            os.unlink(address)
        reactor.listenUNIX(address, factory, backlog=BACKLOG)
        print("READY", address, flush=True)
    elif scheme == "udp":
        port = reactor.listenUDP(address[1], EchoDatagram(), interface=address[0])
        print("READY", port.getHost().port, flush=True)
    else:
        if os.path.exists(address):
            os.unlink(address)
        reactor.listenUNIXDatagram(address, EchoDatagram())
        print("READY", address, flush=True)
    reactor.run()


# trio -------------------------------------------------------------------------


def trio_server(scheme: str, address: Any) -> None:
    import trio

    async def echo(stream: trio.SocketStream) -> None:
        try:
            while data := await stream.receive_some(READ_SIZE):
                await stream.send_all(data)
        except trio.BrokenResourceError:
            pass

    async def main() -> None:
        sock = trio.socket.from_stdlib_socket(bound_socket(scheme, address))
        ready(sock)  # type: ignore[arg-type]
        if scheme in {"tcp", "unix"}:
            await trio.serve_listeners(echo, [trio.SocketListener(sock)])
        while True:
            data, peer = await sock.recvfrom(READ_SIZE)
            await sock.sendto(data, peer)

    trio.run(main)


# anyio ------------------------------------------------------------------------


def anyio_server(scheme: str, address: Any, loop: str) -> None:
    import anyio

    async def echo(stream: Any) -> None:
        async with stream:
            try:
                async for chunk in stream:
                    await stream.send(chunk)
            except (anyio.BrokenResourceError, anyio.EndOfStream):
                pass

    async def main() -> None:
        if scheme == "tcp":
            listener = await anyio.create_tcp_listener(
                local_host=address[0], local_port=address[1], backlog=BACKLOG
            )
        elif scheme == "unix":
            unlink_stale(address)
            listener = await anyio.create_unix_listener(address, backlog=BACKLOG)
        if scheme in {"tcp", "unix"}:
            ready(listener.extra(anyio.abc.SocketAttribute.raw_socket))
            await listener.serve(echo)
        elif scheme == "udp":
            udp = await anyio.create_udp_socket(
                local_host=address[0], local_port=address[1]
            )
            ready(udp.extra(anyio.abc.SocketAttribute.raw_socket))
            async for data, (host, port) in udp:
                await udp.sendto(data, host, port)
        else:
            unlink_stale(address)
            unixgram = await anyio.create_unix_datagram_socket(local_path=address)
            ready(unixgram.extra(anyio.abc.SocketAttribute.raw_socket))
            async for data, path in unixgram:
                await unixgram.sendto(data, path)

    if loop == "trio":
        anyio.run(main, backend="trio")
    else:
        anyio.run(
            main, backend="asyncio", backend_options={"use_uvloop": loop == "uvloop"}
        )


# tornado ----------------------------------------------------------------------


def tornado_server(scheme: str, address: Any, loop: str) -> None:
    from tornado.iostream import IOStream, StreamClosedError
    from tornado.tcpserver import TCPServer

    if scheme not in {"tcp", "unix"}:
        raise SystemExit("tornado has no datagram API")

    class Echo(TCPServer):
        async def handle_stream(self, stream: IOStream, address: Any) -> None:
            if scheme == "tcp":
                stream.set_nodelay(True)
            try:
                while True:
                    data = await stream.read_bytes(READ_SIZE, partial=True)
                    await stream.write(data)
            except StreamClosedError:
                pass

    async def main() -> None:
        sock = bound_socket(scheme, address)
        Echo().add_sockets([sock])
        ready(sock)
        await asyncio.Event().wait()

    run_asyncio(main(), loop)


def run_asyncio(coro: Any, loop: str) -> None:
    if loop == "uvloop":
        import uvloop

        with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
            runner.run(coro)
    else:
        asyncio.run(coro)


# gevent -----------------------------------------------------------------------


def gevent_server(scheme: str, address: Any) -> None:
    import gevent.socket
    from gevent.server import DatagramServer, StreamServer

    def echo(sock: Any, peer: Any) -> None:
        nodelay(sock)
        try:
            while data := sock.recv(READ_SIZE):
                sock.sendall(data)
        except OSError:
            pass

    raw = bound_socket(scheme, address)
    sock = gevent.socket.socket(raw.family, raw.type, fileno=raw.detach())
    if scheme in {"tcp", "unix"}:
        server: Any = StreamServer(sock, echo)
    else:

        class Echo(DatagramServer):
            def handle(self, data: bytes, peer: Any) -> None:
                self.socket.sendto(data, peer)

        server = Echo(sock)
    ready(sock)
    server.serve_forever()


def main() -> None:
    kind, loop, endpoint = sys.argv[1:4]
    scheme, address = parse(endpoint)
    if kind == "protocol" and loop == "twisted":
        twisted_server(scheme, address)
    elif kind == "trio" and loop == "trio":
        trio_server(scheme, address)
    elif kind == "anyio":
        anyio_server(scheme, address, loop)
    elif kind == "tornado":
        tornado_server(scheme, address, loop)
    elif kind == "server" and loop == "gevent":
        gevent_server(scheme, address)
    else:
        raise SystemExit(f"unknown peer server {kind!r} on {loop!r}")


if __name__ == "__main__":
    main()
