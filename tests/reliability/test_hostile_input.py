"""Bad input: random bytes at the inetd internal services and every parser.

The parsers' own Hypothesis properties live with their tests (test_endpoints,
test_netdb_parse, test_inetd_config); this adds random *bytes* (decoded as a file
would be, with surrogate escapes) to each, the UDP reply and refusal rules, and
the internal stream services fed garbage by a real socket. atheris runs the same
targets when it is installed (``pip install atheris``); on this Python it may not
build, and the test says so.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import socket
from typing import TYPE_CHECKING, Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import aiosock
from aiosock.inetd import _internal
from aiosock.inetd._config import parse_inetd_conf
from aiosock.netdb import (
    parse_hosts,
    parse_networks,
    parse_protocols,
    parse_services,
)

from ._support import FULL, ROOT, scale

if TYPE_CHECKING:
    from collections.abc import Callable

    from .conftest import Figure

EXAMPLES = scale(300, 20_000)
PARSERS: dict[str, Callable[[str], Any]] = {
    "endpoint": aiosock.parse_endpoint,
    "inetd.conf": parse_inetd_conf,
    "services": parse_services,
    "protocols": parse_protocols,
    "networks": parse_networks,
    "hosts": parse_hosts,
}
TYPED = (aiosock.AiosockError, ValueError)


def _feed(parse: Callable[[str], Any], data: bytes) -> None:
    """Parse ``data`` as a file's text; only a typed error may come out."""
    text = data.decode("utf-8", "surrogateescape")
    with contextlib.suppress(TYPED):
        parse(text)


@pytest.mark.parametrize("name", PARSERS)
@settings(max_examples=EXAMPLES, deadline=None)
@given(data=st.binary(max_size=512))
def test_parsers_take_random_bytes(name: str, data: bytes) -> None:
    """Every parser given random bytes returns or raises its typed error."""
    _feed(PARSERS[name], data)


@settings(max_examples=EXAMPLES, deadline=None)
@given(
    builtin=st.sampled_from(["echo", "discard", "chargen", "daytime", "time", "x"]),
    data=st.binary(max_size=2048),
)
def test_udp_replies_to_random_bytes(builtin: str, data: bytes) -> None:
    """The UDP internal services answer any datagram with bounded bytes or nothing."""
    reply = _internal.reply_for(builtin, data, _internal.ChargenRotation())
    assert reply is None or (isinstance(reply, bytes) and len(reply) <= 8192)


@settings(max_examples=EXAMPLES, deadline=None)
@given(
    host=st.ip_addresses(),
    port=st.integers(0, 65535),
    ports=st.sets(st.integers(0, 65535), max_size=4),
)
def test_reflection_rule_judges_any_source(
    host: ipaddress.IPv4Address | ipaddress.IPv6Address, port: int, ports: set[int]
) -> None:
    """The UDP reflection rule answers for any source: a reason or None."""
    family = socket.AF_INET if host.version == 4 else socket.AF_INET6
    sockaddr = (
        (str(host), port) if family == socket.AF_INET else (str(host), port, 0, 0)
    )
    reason = _internal.refusal(family, sockaddr, protected_ports=ports)
    assert reason is None or isinstance(reason, str)
    if port in ports or port < 1024:
        assert reason is not None, (host, port)


@pytest.mark.parametrize("name", ["echo", "discard", "chargen", "daytime", "time"])
async def test_internal_stream_services_take_garbage(name: str, figure: Figure) -> None:
    """Each internal stream service fed random bytes then a reset ends cleanly."""
    import random

    rng = random.Random(name)
    handler = _internal.STREAM_HANDLERS[name]
    rounds = scale(10, 500)
    for _ in range(rounds):
        served, client = await aiosock.stream_pair()
        task = asyncio.create_task(handler(served))
        garbage = rng.randbytes(rng.randrange(1, 200_000))
        sent = asyncio.ensure_future(client.send(garbage))
        if name == "echo":
            assert await client.receive_exactly(len(garbage)) == garbage
        await sent
        client.abort()
        async with asyncio.timeout(10):
            # The reset may reach a handler writing to it.
            with contextlib.suppress(aiosock.BrokenResourceError):
                await task
        await served.aclose()
    figure(f"{name}: garbage connections", rounds, "connections")


_ATHERIS_TARGET = """
import sys, atheris
with atheris.instrument_imports():
    import aiosock
    from aiosock.inetd._config import parse_inetd_conf
    from aiosock.netdb import parse_hosts, parse_networks
    from aiosock.netdb import parse_protocols, parse_services
parse = {"endpoint": aiosock.parse_endpoint, "inetd.conf": parse_inetd_conf,
         "services": parse_services, "protocols": parse_protocols,
         "networks": parse_networks, "hosts": parse_hosts}[sys.argv[1]]
def target(data):
    try:
        parse(data.decode("utf-8", "surrogateescape"))
    except (aiosock.AiosockError, ValueError):
        pass
atheris.Setup([sys.argv[0], "-runs=" + sys.argv[2], "-max_len=512"], target)
atheris.Fuzz()
"""


@pytest.mark.parametrize("name", PARSERS)
def test_atheris_where_it_installs(name: str, figure: Figure) -> None:
    """atheris (coverage-guided) fuzzes each parser, where atheris installs."""
    if not FULL:
        pytest.skip("atheris runs in full mode (AIOSOCK_RELIABILITY=full)")
    pytest.importorskip(
        "atheris", reason="atheris is not installed (pip install atheris)"
    )
    import subprocess
    import sys

    runs = scale(3000, 200_000)
    done = subprocess.run(
        [sys.executable, "-c", _ATHERIS_TARGET, name, str(runs)],
        capture_output=True,
        text=True,
        timeout=scale(60, 3000),
        check=False,
        cwd=str(ROOT),
    )
    assert done.returncode == 0, done.stderr[-3000:]
    figure(f"atheris runs on {name}", runs, "inputs")
