"""A byte-stream client: the manual's "Byte Stream Socket Example", the async way.

The C client makes a socket, connects it to the server, writes a message and
closes. This one connects to any stream endpoint (``tcp://HOST:PORT``,
``unix:PATH``, ``unix:@NAME``), sends the message, half-closes (the manual's
``shutdown``: "I have no more to say") and prints what the server sends back
until the server closes its side too.

Run it against the example server::

    python examples/stream_server.py tcp://127.0.0.1:7007
    python examples/stream_client.py tcp://127.0.0.1:7007 "Hello, server"
"""

from __future__ import annotations

import argparse

import aiosock

MESSAGE = "Yow!!! Are we having fun yet?!?"


async def main(endpoint: str, message: str) -> None:
    async with await aiosock.connect(endpoint, timeout=10) as stream:
        await stream.send(message.encode())
        await stream.send_eof()
        reply = b"".join([chunk async for chunk in stream])
    print(f"Client: got reply: {reply.decode(errors='replace')!r}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("endpoint", help="where the server listens")
    parser.add_argument("message", nargs="?", default=MESSAGE, help="what to send")
    args = parser.parse_args()
    aiosock.run(main(args.endpoint, args.message))
