"""A datagram server in the local namespace: the manual's "Datagram Socket Example".

The C server makes a datagram socket, binds it to a file name, then loops:
``recvfrom`` a message, print it, ``sendto`` it back to the address it came
from. aiosock does the same with :func:`aiosock.open_datagram` and a loop of
``receive_from``/``send_to``; the socket file is made with mode 0o600, a stale
one from a dead server is replaced, and it is removed when the socket closes
(the C program leaves that to you). A client must have a name of its own to get
the reply: see ``local_datagram_client.py``.

It prints the endpoint it is bound to, then serves until Ctrl-C, or until
``--max-messages N`` messages have been answered::

    python examples/local_datagram_server.py unixgram:/tmp/serversocket
"""

from __future__ import annotations

import argparse
import contextlib

import aiosock

DEFAULT_ENDPOINT = "unixgram:/tmp/serversocket"


async def main(endpoint: str, max_messages: int | None) -> None:
    answered = 0
    async with await aiosock.open_datagram(endpoint) as sock:
        print(f"listening on unixgram:{sock.local_address}", flush=True)
        while answered != max_messages:
            data, address = await sock.receive_from()
            text = data.decode(errors="replace")
            print(f"Server: got message from {address}: {text!r}", flush=True)
            await sock.send_to(data, address)
            answered += 1


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "endpoint",
        nargs="?",
        default=DEFAULT_ENDPOINT,
        metavar="ENDPOINT",
        help=f"unixgram endpoint to bind (default: {DEFAULT_ENDPOINT})",
    )
    parser.add_argument(
        "--max-messages", type=int, metavar="N", help="exit after answering N"
    )
    args = parser.parse_args()
    with contextlib.suppress(KeyboardInterrupt):
        aiosock.run(main(args.endpoint, args.max_messages))
