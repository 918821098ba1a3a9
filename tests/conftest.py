"""Test harness: every async test runs on both loops and fails on loop errors.

pytest-asyncio's ``pytest_asyncio_loop_factories`` hook parametrizes every async
test (and async fixture) over the loops below, so ids end in ``[asyncio]`` and
``[uvloop]``. Each loop gets an exception handler that records what reaches it; a
test whose loop saw any unhandled callback error, "Task exception was never
retrieved" or "Task was destroyed but it is pending" fails in teardown
(test_harness.py checks that it does).
"""

from __future__ import annotations

import asyncio
import gc
import os
import ssl
import tempfile
from collections.abc import AsyncIterator, Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

import hypothesis
import pytest
import trustme
import uvloop

import aiosock

# Hypothesis explores new examples on every local run; in CI (CI=true) it replays
# the same derandomized examples, so a red CI is always reproducible.
hypothesis.settings.register_profile("ci", derandomize=True, database=None)
if os.environ.get("CI", "").lower() in {"1", "true", "yes"}:
    hypothesis.settings.load_profile("ci")

_loop_errors: list[dict[str, Any]] = []


def _record(loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
    _loop_errors.append(context)
    loop.default_exception_handler(context)


def _with_handler(
    factory: Callable[[], asyncio.AbstractEventLoop],
) -> Callable[[], asyncio.AbstractEventLoop]:
    def make() -> asyncio.AbstractEventLoop:
        loop = factory()
        loop.set_exception_handler(_record)
        return loop

    return make


LOOP_FACTORIES: dict[str, Callable[[], asyncio.AbstractEventLoop]] = {
    "asyncio": _with_handler(asyncio.new_event_loop),
    "uvloop": _with_handler(uvloop.new_event_loop),
}


def pytest_asyncio_loop_factories(
    config: pytest.Config, item: pytest.Item
) -> Mapping[str, Callable[[], asyncio.AbstractEventLoop]]:
    """Run every async test on the default asyncio loop and on uvloop."""
    return LOOP_FACTORIES


@pytest.hookimpl(wrapper=True)
def pytest_runtest_teardown(item: pytest.Item, nextitem: pytest.Item | None) -> Any:
    """Fail a test whose loop reported an unhandled error."""
    result = yield
    if item.get_closest_marker("asyncio") is not None:
        # Tasks and futures destroyed in reference cycles report to the loop only
        # when collected; a synchronous test has no loop to report to. What
        # survives the collection is frozen (moved out of the collector's sight),
        # so the next test's collection walks only what that test made, not the
        # whole session's heap: this halves the suite's time. (Frozen objects
        # that later become cyclic garbage are never freed; the whole suite
        # peaks at about 135 MB resident.)
        gc.collect()
        gc.freeze()
    errors = list(_loop_errors)
    _loop_errors.clear()
    if errors:
        messages = "; ".join(
            f"{e.get('message')}: {e.get('exception')!r}" for e in errors
        )
        pytest.fail(f"the event loop reported unhandled errors: {messages}")
    return result


@pytest.fixture(scope="session")
def tls_contexts() -> tuple[ssl.SSLContext, ssl.SSLContext]:
    """A server and a client TLS context from a throwaway CA (loopback names)."""
    ca = trustme.CA()
    cert = ca.issue_cert("localhost", "127.0.0.1", "::1")
    server = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    cert.configure_cert(server)
    client = ssl.create_default_context()
    ca.configure_trust(client)
    return server, client


@pytest.fixture
def short_tmp() -> Iterator[Path]:
    """A short temporary directory for Unix socket paths (sun_path is 108 bytes)."""
    with tempfile.TemporaryDirectory(prefix="as-", dir="/tmp") as name:
        yield Path(name)


@pytest.fixture
async def pair() -> AsyncIterator[tuple[aiosock.Stream, aiosock.Stream]]:
    """Two connected streams over a Unix socketpair, aborted at the end."""
    a, b = await aiosock.stream_pair()
    try:
        yield a, b
    finally:
        a.abort()
        b.abort()


def _probe_ipv6() -> bool:
    import socket

    try:
        with socket.socket(socket.AF_INET6, socket.SOCK_STREAM) as s:
            s.bind(("::1", 0))
    except OSError:
        return False
    return True


HAVE_IPV6 = _probe_ipv6()


@pytest.fixture
def ipv6() -> None:
    """Skip the test where the host cannot bind ``::1``."""
    if not HAVE_IPV6:
        pytest.skip("IPv6 loopback (::1) cannot be bound on this host")


@pytest.fixture
def open_fds() -> Callable[[], int]:
    """Return a function that counts this process's open descriptors."""

    def count() -> int:
        return len(os.listdir("/proc/self/fd"))

    return count
