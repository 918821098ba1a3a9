"""An option that applies to none of the sockets a call makes is an OptionError.

One mapping may serve endpoints of several kinds (each option set where it
applies); one that applies nowhere was a silent no-op.
"""

from __future__ import annotations

import uuid

import pytest

import aiosock
from aiosock import OptionError


def _abstract(kind: str = "unix") -> str:
    return f"{kind}:@aiosock-applicable-{uuid.uuid4().hex}"


async def _nothing(stream: aiosock.Stream) -> None:
    """A handler that is never called."""


async def test_serve_refuses_an_option_no_endpoint_takes() -> None:
    with pytest.raises(OptionError, match="option 'no_delay': expected a tcp4 or tcp6"):
        await aiosock.serve(_nothing, _abstract(), options={"no_delay": True})


async def test_serve_packets_refuses_an_option_no_endpoint_takes() -> None:
    with pytest.raises(OptionError, match="option 'keepalive_idle'"):
        await aiosock.serve(
            _nothing, _abstract("unixpacket"), options={"keepalive_idle": 5}
        )


async def test_connect_refuses_an_option_the_target_does_not_take() -> None:
    async with await aiosock.serve(_nothing, _abstract()) as server:
        with pytest.raises(OptionError, match="option 'cork'"):
            await aiosock.connect(server.endpoints[0], options={"cork": True})


async def test_open_datagram_refuses_an_option_of_streams() -> None:
    with pytest.raises(OptionError, match="option 'no_delay'"):
        await aiosock.open_datagram("udp://127.0.0.1:0", options={"no_delay": True})
    with pytest.raises(OptionError, match="option 'no_delay'"):
        await aiosock.serve_datagram(
            lambda *_: None,  # type: ignore[arg-type,return-value]
            "udp://127.0.0.1:0",
            options={"no_delay": True},
        )


async def test_one_mapping_for_several_kinds_is_set_where_it_applies() -> None:
    """no_delay applies to the TCP endpoint: the Unix one skips it, no error."""
    server = await aiosock.serve(
        _nothing, "tcp://127.0.0.1:0", _abstract(), options={"no_delay": False}
    )
    async with server:
        assert len(server.endpoints) == 2


async def test_an_endpoint_is_judged_as_written_not_as_resolved() -> None:
    """tcp://localhost may become IPv6 too: an IPv6 option there is no mistake.

    (localhost resolves to IPv4 only on some hosts; the check must not depend
    on what a name resolved to.)
    """
    portable = {"ttl": 32, "unicast_hops": 32}

    async def echo(stream: aiosock.Stream) -> None:
        await stream.send(await stream.receive())

    async with await aiosock.serve(echo, "tcp://localhost:0", options=portable) as s:
        port = s.endpoints[0].address.port  # type: ignore[union-attr]
        async with await aiosock.connect(
            f"tcp://localhost:{port}", options=portable, timeout=10
        ) as stream:
            await stream.send(b"hi")
            assert await stream.receive() == b"hi"
    sock = await aiosock.open_datagram(
        remote=f"udp://localhost:{port}", options=portable
    )
    await sock.aclose()


async def test_an_adopted_listener_counts_for_the_options() -> None:
    """sock= (socket activation) beside a Unix endpoint: TCP options apply."""
    import socket

    listener = socket.create_server(("127.0.0.1", 0))
    try:
        server = await aiosock.serve(
            _nothing, _abstract(), sock=listener, options={"keepalive_idle": 30}
        )
        async with server:
            assert len(server.endpoints) == 2
    finally:
        listener.close()


async def test_an_accepted_option_the_kernel_refuses_fails_at_serve() -> None:
    """Tried on an adopted listener at once, not found out per connection."""
    import socket

    listener = socket.create_server(("127.0.0.1", 0))
    started: list[aiosock.Server] = []
    try:
        with pytest.raises(OptionError, match="congestion"):
            started.append(
                await aiosock.serve(
                    _nothing, sock=listener, options={"congestion": "no-such-cc"}
                )
            )
    finally:
        for server in started:  # (closed before the listener it watches)
            await server.aclose()
        listener.close()
