"""Out-of-band data: the manual's "Out-of-Band Data", server and client in one.

A stream carries one sequence of bytes, but TCP can also send a byte "urgently",
marked in the stream, so that a receiver busy with (or blocked behind) the
normal data hears about it as soon as it arrives: ``telnet`` and ``rlogin`` send
their interrupts that way. Here a client sends normal data with one urgent byte
in the middle; the server gets the urgent byte on its own, with the normal data
whole around it.

The kernel drops an urgent byte once the normal data is read past it, so the
receiver starts watching (the first call to ``receive_urgent``) before the
sender sends any: the server says "ready" first. Had the client ended its
stream without an urgent byte, ``await urgent`` would give ``b""``.

Both ends run in this process, on loopback::

    python examples/urgent.py
"""

from __future__ import annotations

import aiosock


async def server(stream: aiosock.Stream) -> None:
    """Receive the normal data and, apart from it, the urgent byte."""
    urgent = stream.receive_urgent()  # start watching before the client sends
    await stream.send(b"ready\n")
    normal = b"".join([chunk async for chunk in stream])
    print(f"Server: normal data: {normal!r}")
    print(f"Server: urgent data: {await urgent!r}")


async def client(endpoint: aiosock.Endpoint) -> None:
    """Send normal data with an urgent byte between its two halves."""
    async with await aiosock.connect(endpoint, timeout=10) as stream:
        await stream.receive_until(b"\n")  # the server is watching now
        before, after = b"normal data, ", b"and more normal data"
        await stream.send(before)
        await stream.send_urgent(b"!")
        await stream.send(after)
        await stream.send_eof()
        print(f"Client: sent {before + after!r} with b'!' urgent in the middle")
        await stream.receive()  # b"" once the server is done and closes


async def main() -> None:
    async with await aiosock.serve(server, "tcp://127.0.0.1:0") as listener:
        await client(listener.endpoints[0])


if __name__ == "__main__":
    aiosock.run(main())
