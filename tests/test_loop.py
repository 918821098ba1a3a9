"""Event-loop selection: aiosock.run, AIOSOCK_LOOP, and no global state.

These tests are synchronous on purpose: :func:`aiosock.run` makes its own loop.
"""

from __future__ import annotations

import asyncio
import inspect
import sys
import warnings
from collections.abc import Coroutine
from typing import Any

import pytest

import aiosock
from aiosock._foundation._loop import (
    LOOP_ENV,
    RUNNING_LOOP_CALLS_GETPID,
    current_loop_name,
    default_loop_name,
    future_factory,
    loop_factory,
    makes_asyncio_futures,
    uvloop_available,
)


@pytest.fixture(autouse=True)
def _no_loop_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """Start every test here with AIOSOCK_LOOP unset."""
    monkeypatch.delenv(LOOP_ENV, raising=False)


async def _loop_name() -> str:
    return current_loop_name()


def _policy() -> asyncio.AbstractEventLoopPolicy:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # 3.14 deprecates policies
        return asyncio.get_event_loop_policy()


@pytest.mark.parametrize(
    ("name", "expected"),
    [("asyncio", "asyncio"), ("uvloop", "uvloop"), ("auto", "uvloop")],
)
def test_run_on_each_loop(name: str, expected: str) -> None:
    """run(loop=...) runs the coroutine on the named loop; auto prefers uvloop."""
    assert aiosock.run(_loop_name(), loop=name) == expected


def test_run_returns_the_result_and_raises_the_error() -> None:
    """run returns what the coroutine returns and raises what it raises."""

    async def fail() -> None:
        raise KeyError("boom")

    async def answer() -> int:
        await asyncio.sleep(0)
        return 42

    assert aiosock.run(answer(), loop="asyncio") == 42
    with pytest.raises(KeyError, match="boom"):
        aiosock.run(fail(), loop="uvloop")


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("asyncio", "asyncio"),
        ("uvloop", "uvloop"),
        (" UVLOOP ", "uvloop"),
        ("", "uvloop"),
    ],
)
def test_env_sets_the_default(
    monkeypatch: pytest.MonkeyPatch, value: str, expected: str
) -> None:
    """AIOSOCK_LOOP picks the loop when run() gets none (case, spaces ignored)."""
    monkeypatch.setenv(LOOP_ENV, value)
    assert aiosock.run(_loop_name()) == expected


def test_explicit_loop_beats_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """An explicit loop= argument wins over AIOSOCK_LOOP."""
    monkeypatch.setenv(LOOP_ENV, "uvloop")
    assert aiosock.run(_loop_name(), loop="asyncio") == "asyncio"


def test_unset_env_means_auto() -> None:
    """With AIOSOCK_LOOP unset the default is auto."""
    assert default_loop_name() == "auto"


def _closed(coro: Coroutine[Any, Any, Any]) -> bool:
    return inspect.getcoroutinestate(coro) == inspect.CORO_CLOSED


def test_bad_env_names_the_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    """A bad AIOSOCK_LOOP is a ValueError naming the variable; coroutine closed."""
    monkeypatch.setenv(LOOP_ENV, "tokio")
    coro = _loop_name()
    with pytest.raises(ValueError, match="environment variable AIOSOCK_LOOP") as info:
        aiosock.run(coro)
    assert "'tokio'" in str(info.value)
    assert "'asyncio'" in str(info.value)
    assert _closed(coro)


def test_bad_loop_argument() -> None:
    """A bad loop= is a ValueError listing the choices; the coroutine is closed."""
    coro = _loop_name()
    with pytest.raises(ValueError, match=r"loop: expected one of 'auto', 'asyncio'"):
        aiosock.run(coro, loop="trio")
    assert _closed(coro)


def test_missing_uvloop_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    """Asking for uvloop where it cannot be imported is a RuntimeError saying so."""
    monkeypatch.setitem(sys.modules, "uvloop", None)
    assert not uvloop_available()
    coro = _loop_name()
    with pytest.raises(RuntimeError, match="uvloop is not installed"):
        aiosock.run(coro, loop="uvloop")
    assert _closed(coro)


def test_missing_uvloop_env_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    """AIOSOCK_LOOP=uvloop without uvloop is the same RuntimeError."""
    monkeypatch.setitem(sys.modules, "uvloop", None)
    monkeypatch.setenv(LOOP_ENV, "uvloop")
    with pytest.raises(RuntimeError, match="uvloop is not installed"):
        loop_factory()


def test_auto_falls_back_without_uvloop(monkeypatch: pytest.MonkeyPatch) -> None:
    """auto runs on the default loop where uvloop is missing."""
    monkeypatch.setitem(sys.modules, "uvloop", None)
    assert aiosock.run(_loop_name(), loop="auto") == "asyncio"


@pytest.mark.parametrize("name", ["asyncio", "uvloop", "auto"])
def test_run_sets_no_global_policy_or_loop(name: str) -> None:
    """run leaves the event-loop policy and the current loop as it found them."""
    before = _policy()
    seen: list[asyncio.AbstractEventLoop] = []

    async def grab() -> None:
        seen.append(asyncio.get_running_loop())

    aiosock.run(grab(), loop=name)
    after = _policy()
    assert after is before
    assert type(after).__module__.startswith("asyncio")
    assert seen[0].is_closed()
    with pytest.raises(RuntimeError):
        asyncio.get_running_loop()


@pytest.mark.parametrize("name", ["asyncio", "uvloop"])
def test_future_factory_makes_the_loops_futures(name: str) -> None:
    """Streams' futures are plain asyncio futures of their loop, made cheaply.

    On Python 3.11 finding the running loop is a ``getpid()`` system call, so the
    factory must carry its loop instead of asking for it: it then works even
    where no loop runs. (``asyncio.Future()`` outside a loop fails or warns.)
    """
    loop = loop_factory(name)()
    try:
        factory = future_factory(loop)
        assert makes_asyncio_futures(factory)

        async def make() -> asyncio.Future[Any]:
            return factory()

        future = loop.run_until_complete(make())
        assert type(future) is asyncio.Future
        assert future_factory(loop) is factory  # one per loop, not per stream
        assert future.get_loop() is loop
        if RUNNING_LOOP_CALLS_GETPID:
            with warnings.catch_warnings():
                warnings.simplefilter("error")
                outside = factory()
            assert outside.get_loop() is loop
        else:
            assert factory is asyncio.Future
    finally:
        loop.close()


def test_future_factory_keeps_a_loops_own_method() -> None:
    """A loop class with its own create_future keeps it; its futures are not assumed."""

    class OwnFutures(asyncio.SelectorEventLoop):
        def create_future(self) -> asyncio.Future[Any]:
            return super().create_future()

    loop = OwnFutures()
    try:
        factory = future_factory(loop)
        assert factory == loop.create_future
        assert not makes_asyncio_futures(factory)
    finally:
        loop.close()


def test_loop_factory_makes_new_loops() -> None:
    """loop_factory returns a callable that makes a fresh loop each call."""
    factory = loop_factory("uvloop")
    a, b = factory(), factory()
    try:
        assert a is not b
        assert current_loop_name(a) == "uvloop"
    finally:
        a.close()
        b.close()
    loop = loop_factory("asyncio")()
    try:
        assert current_loop_name(loop) == "asyncio"
    finally:
        loop.close()


def test_run_debug_flag() -> None:
    """debug=True runs the loop in debug mode."""

    async def debug() -> bool:
        return asyncio.get_running_loop().get_debug()

    assert aiosock.run(debug(), loop="asyncio", debug=True) is True
    assert aiosock.run(debug(), loop="uvloop", debug=False) is False


async def test_run_inside_a_running_loop_is_an_error() -> None:
    """run from inside a running loop is a RuntimeError; the coroutine is closed."""
    coro = _loop_name()
    with pytest.raises(
        RuntimeError, match="cannot be called from a running event loop"
    ):
        aiosock.run(coro, loop="asyncio")
    assert _closed(coro)


class _BrokenUvloop:
    """A meta path finder under which uvloop is there but fails to import."""

    @staticmethod
    def find_spec(name: str, path: object = None, target: object = None) -> None:
        if name == "uvloop":
            raise ImportError(
                "libuv.so.1: cannot open shared object file", name="uvloop.loop"
            )


@pytest.mark.parametrize(
    ("broken", "message"),
    [
        (False, "uvloop is not installed"),
        (True, "uvloop failed to import: libuv.so.1: cannot open shared object"),
    ],
)
def test_a_uvloop_that_fails_to_import_is_not_called_missing(
    monkeypatch: pytest.MonkeyPatch, broken: bool, message: str
) -> None:
    """loop='uvloop' says why uvloop cannot be had: missing, or failing to import."""
    monkeypatch.delitem(sys.modules, "uvloop", raising=False)
    if broken:
        monkeypatch.setattr(sys, "meta_path", [_BrokenUvloop(), *sys.meta_path])
    else:
        monkeypatch.setitem(sys.modules, "uvloop", None)  # type: ignore[arg-type]
    with pytest.raises(RuntimeError, match=message):
        loop_factory("uvloop")
    assert loop_factory("auto") is asyncio.new_event_loop
