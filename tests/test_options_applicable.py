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
