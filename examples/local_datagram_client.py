"""Reading datagrams: the manual's "Example of Reading Datagrams", the async way.

The C client binds its socket to a file name of its own (``/tmp/mysocket``) so
that the server has somewhere to send the reply, sends a message, reads the
reply, and removes its file. With aiosock the client needs no file at all: a
Unix-domain socket opened with only a ``remote`` is *autobound* to a unique
abstract name, which the server sees as the sender's address and replies to.
Pass ``--local unixgram:/tmp/mysocket`` to use a file as the manual does (it
is removed when the socket closes).

Run it against the example server::

    python examples/local_datagram_server.py unixgram:/tmp/serversocket
    python examples/local_datagram_client.py unixgram:/tmp/serversocket "Hi"
"""

from __future__ import annotations

import argparse
import asyncio

import aiosock

MESSAGE = "Yow!!! Are we having fun yet?!?"


async def main(endpoint: str, message: str, local: str | None) -> None:
    async with await aiosock.open_datagram(local, remote=endpoint) as sock:
        await sock.send(message.encode())
        async with asyncio.timeout(10):
            reply = await sock.receive()
    print(f"Client: got reply: {reply.decode(errors='replace')!r}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("endpoint", metavar="ENDPOINT", help="the server's endpoint")
    parser.add_argument("message", nargs="?", default=MESSAGE, help="what to send")
    parser.add_argument(
        "--local", metavar="ENDPOINT", help="bind to this name instead of autobind"
    )
    args = parser.parse_args()
    aiosock.run(main(args.endpoint, args.message, args.local))
