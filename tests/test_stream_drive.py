"""Direct drive (``aiosock/_highlevel/_drive.py``): a served stream resumes its
handler inline, inside the connection's task; every trap of that design.

Each test runs a real server on loopback. Where a test needs data to arrive at a
precise moment (just after a cancellation, or while another task is current) it
calls the stream's ``data_received`` itself, as the transport would.
"""

from __future__ import annotations

import asyncio
import contextvars
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any

import pytest

import aiosock
from aiosock._highlevel import _drive

pytestmark = pytest.mark.skipif(
    not _drive.AVAILABLE, reason="this Python has no asyncio task hooks"
)

Handler = Callable[[aiosock.Stream], Awaitable[object]]

request_id: contextvars.ContextVar[str] = contextvars.ContextVar("request_id")


@asynccontextmanager
async def served(handler: Handler) -> AsyncIterator[aiosock.Stream]:
    """Serve ``handler`` on loopback and yield a client stream connected to it."""
    server = await aiosock.serve(handler, "tcp://127.0.0.1:0")
    try:
        async with await aiosock.connect(server.endpoints[0], timeout=5) as client:
            yield client
    finally:
        await server.aclose(grace=5)


class Seen:
    """What a handler saw, and events to follow it."""

    def __init__(self) -> None:
        self.items: list[Any] = []
        self.parked = asyncio.Event()
        self.done = asyncio.Event()
        self.task: asyncio.Task[Any] | None = None
        self.stream: aiosock.Stream | None = None

    def park(self, stream: aiosock.Stream) -> None:
        """Note that the handler is about to wait on ``stream`` (it parks next)."""
        self.stream = stream
        self.task = asyncio.current_task()
        self.parked.set()


#: How a handler waits on its stream: receive() (a future the stream completes)
#: or async iteration (a served stream's generator, parked without a future).
STYLES = ["receive", "iterate"]


async def next_chunk(stream: aiosock.Stream, style: str) -> bytes:
    """Wait for the next chunk as a ``receive`` or an ``async for`` would."""
    if style == "receive":
        return await stream.receive()
    return await anext(stream)


async def test_handler_runs_inside_its_task_with_one_context() -> None:
    """Inline steps see the connection's task as current, and keep its context."""
    seen = Seen()
    request_id.set("server")

    async def handler(stream: aiosock.Stream) -> None:
        request_id.set("handler")
        first = asyncio.current_task()
        count = 0
        async for chunk in stream:
            count += 1
            seen.items.append(
                (asyncio.current_task() is first, request_id.get(), chunk)
            )
            request_id.set(f"handler {count}")
            await stream.send(chunk)
        seen.done.set()

    async with served(handler) as client:
        for i in range(50):
            await client.send(b"%d" % i)
            assert await client.receive() == b"%d" % i
        await client.send_eof()
        await asyncio.wait_for(seen.done.wait(), 5)
    assert [item[0] for item in seen.items] == [True] * 50
    assert [item[1] for item in seen.items] == ["handler"] + [
        f"handler {i}" for i in range(1, 50)
    ]
    assert [item[2] for item in seen.items] == [b"%d" % i for i in range(50)]
    assert request_id.get() == "server"


async def test_the_echo_really_is_driven_inline() -> None:
    """While the handler only waits on its stream, the task is not stepped."""
    steps: list[int] = []
    seen = Seen()

    async def handler(stream: aiosock.Stream) -> None:
        task = asyncio.current_task()
        assert task is not None
        seen.task = task
        async for chunk in stream:
            await stream.send(chunk)

    async with served(handler) as client:
        await client.send(b"warm")
        assert await client.receive() == b"warm"
        assert seen.task is not None
        # A parked task waits on the driver's future, which stays the same
        # while messages are served inline.
        waiter = seen.task._fut_waiter  # type: ignore[attr-defined]
        assert waiter is not None
        for i in range(20):
            await client.send(b"m%d" % i)
            assert await client.receive() == b"m%d" % i
            steps.append(seen.task._fut_waiter is waiter)  # type: ignore[attr-defined]
    assert steps == [True] * 20


@pytest.mark.parametrize("style", STYLES)
async def test_cancelled_while_parked_gets_cancelled_error_at_receive(
    style: str,
) -> None:
    """Closing the server cancels a parked handler at its receive."""
    seen = Seen()

    async def handler(stream: aiosock.Stream) -> None:
        try:
            seen.park(stream)
            await next_chunk(stream, style)
        except asyncio.CancelledError:
            seen.items.append("cancelled")
            raise
        finally:
            seen.done.set()

    server = await aiosock.serve(handler, "tcp://127.0.0.1:0")
    async with await aiosock.connect(server.endpoints[0], timeout=5) as client:
        await asyncio.wait_for(seen.parked.wait(), 5)
        await server.aclose()
        assert seen.items == ["cancelled"]
        assert seen.task is not None
        assert seen.task.cancelled()
        # A cancelled handler's connection is aborted.
        with pytest.raises(aiosock.BrokenResourceError):
            await asyncio.wait_for(client.receive(), 5)


@pytest.mark.parametrize("style", STYLES)
@pytest.mark.parametrize("where", ["loop callback", "task"])
async def test_data_arriving_after_a_cancel_is_kept(where: str, style: str) -> None:
    """Bytes that come after the task was cancelled, before it woke, stay buffered.

    From a loop callback (as the transport delivers) the receive is cancelled
    at once; from a task (no inline step) the data goes back to the stream.
    """
    seen = Seen()

    async def handler(stream: aiosock.Stream) -> None:
        try:
            seen.park(stream)
            await next_chunk(stream, style)
        except asyncio.CancelledError:
            seen.items.append(await next_chunk(stream, style))
        seen.done.set()

    async with served(handler):
        await asyncio.wait_for(seen.parked.wait(), 5)
        assert seen.task is not None
        assert seen.stream is not None
        task, stream = seen.task, seen.stream

        def cancel_then_data() -> None:
            task.cancel()
            stream.data_received(b"kept")  # before the task wakes

        if where == "task":
            cancel_then_data()
        else:
            asyncio.get_running_loop().call_soon(cancel_then_data)
        await asyncio.wait_for(seen.done.wait(), 5)
    assert seen.items == [b"kept"]


@pytest.mark.parametrize("style", STYLES)
async def test_data_after_a_cancel_inside_an_inline_step_is_kept(style: str) -> None:
    """A handler cancels its own task inline, waits again: data before it wakes stays.

    The cancel takes the handler off the inline path at once, so its next wait
    is a plain one: bytes completing it before the task wakes go back to the
    stream, and the handler gets them after its CancelledError.
    """
    seen = Seen()

    async def handler(stream: aiosock.Stream) -> None:
        seen.park(stream)
        first = await next_chunk(stream, style)
        assert seen.task is not None
        seen.task.cancel()
        try:
            await next_chunk(stream, style)
        except asyncio.CancelledError:
            seen.items.append((first, await next_chunk(stream, style)))
            seen.done.set()
            # Kept once, not twice: what comes next is the client's.
            seen.items.append(await next_chunk(stream, style))

    async with served(handler) as client:
        await asyncio.wait_for(seen.parked.wait(), 5)
        assert seen.stream is not None
        stream = seen.stream

        def arrive() -> None:
            stream.data_received(b"go")  # inline: the handler cancels itself
            stream.data_received(b"kept")  # before its task wakes

        asyncio.get_running_loop().call_soon(arrive)
        await asyncio.wait_for(seen.done.wait(), 5)
        await client.send(b"more")
        await client.send_eof()
        await asyncio.wait_for(client.receive(), 5)  # the handler's end
    assert seen.items == [(b"go", b"kept"), b"more"]


@pytest.mark.parametrize("style", STYLES)
async def test_data_arriving_while_another_task_is_current_wakes_the_task(
    style: str,
) -> None:
    """No inline step while another task runs: the handler's task is woken."""
    seen = Seen()

    async def handler(stream: aiosock.Stream) -> None:
        seen.park(stream)
        data = await next_chunk(stream, style)
        seen.items.append((data, asyncio.current_task() is seen.task))
        seen.done.set()

    async with served(handler):
        await asyncio.wait_for(seen.parked.wait(), 5)
        assert seen.stream is not None
        seen.stream.data_received(b"from a task")  # this test's task is current
        assert seen.items == []  # not run inline
        await asyncio.wait_for(seen.done.wait(), 5)
    assert seen.items == [(b"from a task", True)]


@pytest.mark.parametrize("style", STYLES)
async def test_handler_cancelling_itself_inline(style: str) -> None:
    """A handler that cancels its own task gets CancelledError at its next wait."""
    seen = Seen()

    async def handler(stream: aiosock.Stream) -> None:
        seen.task = asyncio.current_task()
        assert seen.task is not None
        await next_chunk(stream, style)
        seen.task.cancel()
        try:
            await next_chunk(stream, style)
        except asyncio.CancelledError:
            seen.items.append("cancelled")
            raise
        finally:
            seen.done.set()

    async with served(handler) as client:
        await client.send(b"go")
        await asyncio.wait_for(seen.done.wait(), 5)
        assert seen.items == ["cancelled"]
        with pytest.raises(aiosock.BrokenResourceError):
            await asyncio.wait_for(client.receive(), 5)
    assert seen.task is not None
    assert seen.task.cancelled()


async def test_handler_cancelling_itself_then_returning_ends_cancelled() -> None:
    """As in asyncio: a task that asked for its own cancel and returns is cancelled."""
    seen = Seen()

    async def handler(stream: aiosock.Stream) -> None:
        seen.task = asyncio.current_task()
        assert seen.task is not None
        await stream.receive()
        seen.task.cancel()
        seen.items.append("returned")

    async with served(handler) as client:
        await client.send(b"go")
        with pytest.raises(aiosock.BrokenResourceError):
            await asyncio.wait_for(client.receive(), 5)
    assert seen.items == ["returned"]
    assert seen.task is not None
    assert seen.task.done()
    assert seen.task.cancelled()


async def test_handler_returning_inline_closes_the_stream() -> None:
    """A handler that returns inside an inline step: its stream is closed."""

    async def handler(stream: aiosock.Stream) -> None:
        data = await stream.receive()
        await stream.send(data.upper())

    async with served(handler) as client:
        await client.send(b"once")
        assert await asyncio.wait_for(client.receive_exactly(4), 5) == b"ONCE"
        assert await asyncio.wait_for(client.receive(), 5) == b""


async def test_handler_raising_inline_is_logged_and_others_go_on(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """An exception raised in an inline step is logged; other connections go on."""

    async def handler(stream: aiosock.Stream) -> None:
        async for chunk in stream:
            if chunk == b"boom":
                raise RuntimeError("handler failure")
            await stream.send(chunk)

    caplog.set_level(logging.ERROR, logger="aiosock.server")
    server = await aiosock.serve(handler, "tcp://127.0.0.1:0")
    async with server:
        where = server.endpoints[0]
        async with (
            await aiosock.connect(where, timeout=5) as good,
            await aiosock.connect(where, timeout=5) as bad,
        ):
            await good.send(b"a")
            assert await good.receive() == b"a"
            await bad.send(b"boom")
            assert await asyncio.wait_for(bad.receive(), 5) == b""
            await good.send(b"b")
            assert await asyncio.wait_for(good.receive(), 5) == b"b"
    failures = [r for r in caplog.records if "raised" in r.getMessage()]
    assert len(failures) == 1
    assert failures[0].exc_info is not None
    assert "handler failure" in str(failures[0].exc_info[1])


@pytest.mark.parametrize("style", STYLES)
@pytest.mark.parametrize("how", ["wait_for", "gather", "child task", "timeout"])
async def test_receives_not_awaited_directly_take_the_plain_path(
    how: str, style: str
) -> None:
    """receive() under wait_for, gather, another task, or a timeout still works."""

    def wait(stream: aiosock.Stream) -> Awaitable[bytes]:
        return stream.receive() if style == "receive" else anext(stream, b"")

    async def receive(stream: aiosock.Stream) -> bytes:
        if how == "wait_for":
            return await asyncio.wait_for(wait(stream), 5)
        if how == "gather":
            (data,) = await asyncio.gather(wait(stream))
            return data
        if how == "child task":

            async def in_a_child() -> bytes:
                return await wait(stream)

            return await asyncio.create_task(in_a_child())
        async with asyncio.timeout(5):
            return await wait(stream)

    async def handler(stream: aiosock.Stream) -> None:
        while data := await receive(stream):
            await stream.send(data)

    async with served(handler) as client:
        for i in range(10):
            await client.send(b"%d" % i)
            assert await asyncio.wait_for(client.receive(), 5) == b"%d" % i


@pytest.mark.parametrize("style", STYLES)
async def test_timeout_while_parked_then_more_data(style: str) -> None:
    """asyncio.timeout around a parked receive fires; the stream goes on after."""
    seen = Seen()

    async def handler(stream: aiosock.Stream) -> None:
        task = asyncio.current_task()
        assert task is not None
        try:
            async with asyncio.timeout(0.05):
                await next_chunk(stream, style)
        except TimeoutError:
            seen.items.append(("timed out", task.cancelling()))
        seen.park(stream)
        data = await next_chunk(stream, style)
        await stream.send(data)

    async with served(handler) as client:
        await asyncio.wait_for(seen.parked.wait(), 5)
        await client.send(b"after")
        assert await asyncio.wait_for(client.receive(), 5) == b"after"
    assert seen.items == [("timed out", 0)]


async def test_other_awaits_are_handed_back_to_the_task() -> None:
    """Sleeps, events and another stream between receives: bytes stay in order."""
    gate = asyncio.Event()
    gate.set()

    async def handler(stream: aiosock.Stream) -> None:
        left, right = await aiosock.stream_pair()
        async with left, right:
            async for chunk in stream:
                await asyncio.sleep(0)
                await gate.wait()
                await left.send(chunk)
                relayed = await right.receive_exactly(len(chunk))
                await asyncio.sleep(0.001)
                await stream.send(relayed)

    async with served(handler) as client:
        expected = b"".join(b"<%d>" % i for i in range(40))
        for i in range(40):
            await client.send(b"<%d>" % i)
        assert await asyncio.wait_for(client.receive_exactly(len(expected)), 10) == (
            expected
        )


async def test_end_of_stream_and_reset_wake_the_parked_handler() -> None:
    """EOF ends the handler's iteration; a reset gives BrokenResourceError."""
    results: list[Any] = []
    done = asyncio.Event()

    async def handler(stream: aiosock.Stream) -> None:
        try:
            chunks = [chunk async for chunk in stream]
            results.append(("eof", b"".join(chunks)))
            results.append(("then", await stream.receive()))
        except aiosock.BrokenResourceError:
            results.append(("broken", None))
        finally:
            if len(results) >= 2 or results[-1][0] == "broken":
                done.set()

    server = await aiosock.serve(handler, "tcp://127.0.0.1:0")
    async with server:
        client = await aiosock.connect(server.endpoints[0], timeout=5)
        await client.send(b"abc")
        await client.send_eof()
        await asyncio.wait_for(done.wait(), 5)
        await client.aclose()
        assert results == [("eof", b"abc"), ("then", b"")]
        results.clear()
        done.clear()
        client = await aiosock.connect(server.endpoints[0], timeout=5)
        await client.send(b"x")
        client.abort()
        await asyncio.wait_for(done.wait(), 5)
        assert results[-1] == ("broken", None)


async def test_closing_the_driver_closes_the_handler() -> None:
    """Closing the driver closes the handler coroutine (its finally runs)."""
    loop = asyncio.get_running_loop()
    left, right = await aiosock.stream_pair()
    finished: list[str] = []

    async def handler() -> None:
        try:
            await left.receive()
        except GeneratorExit:
            finished.append("closed")
            raise

    coro = handler()
    driver = _drive.Driver(coro, left, loop)
    steps = driver.run()
    park = steps.send(None)  # the first step: it parks on its receive
    assert isinstance(park, asyncio.Future)
    assert driver.pending is left._waiter
    steps.close()
    assert finished == ["closed"]
    assert coro.cr_frame is None
    await left.aclose()
    await right.aclose()


@pytest.mark.parametrize("style", STYLES)
async def test_a_second_receiver_is_still_refused(style: str) -> None:
    """Direct drive keeps the one-receiver rule."""
    seen = Seen()

    async def handler(stream: aiosock.Stream) -> None:
        seen.park(stream)
        await next_chunk(stream, style)

    async with served(handler):
        await asyncio.wait_for(seen.parked.wait(), 5)
        assert seen.stream is not None
        with pytest.raises(aiosock.BusyResourceError):
            await seen.stream.receive()
        with pytest.raises(aiosock.BusyResourceError):
            await anext(seen.stream)
        # The refused receives took nothing and left the handler receiving.
        seen.stream.data_received(b"x")
        for _ in range(20):  # let the handler's task finish (bounded turns)
            if seen.stream.is_closing:
                break
            await asyncio.sleep(0)
        assert seen.stream.is_closing


async def test_iteration_parks_without_a_future() -> None:
    """A driven handler's async for waits on PARKED, and is resumed with the data."""
    seen = Seen()

    async def handler(stream: aiosock.Stream) -> None:
        seen.park(stream)
        async for chunk in stream:
            seen.items.append(chunk)
            seen.park(stream)
            await stream.send(chunk)

    async with served(handler) as client:
        await asyncio.wait_for(seen.parked.wait(), 5)
        assert seen.stream is not None
        for i in range(3):
            await client.send(b"%d" % i)
            assert await asyncio.wait_for(client.receive(), 5) == b"%d" % i
            assert seen.stream._waiter is _drive.PARKED  # waiting again, no future
    assert seen.items == [b"0", b"1", b"2"]


@pytest.mark.parametrize("end", ["eof", "reset", "aclose"])
async def test_the_end_reaches_a_handler_parked_in_iteration(end: str) -> None:
    """End of stream stops the iteration; a reset or aclose() raises there."""
    seen = Seen()

    async def handler(stream: aiosock.Stream) -> None:
        try:
            seen.park(stream)
            async for chunk in stream:
                seen.items.append(chunk)
            seen.items.append("stopped")
        except aiosock.BrokenResourceError:
            seen.items.append("broken")
        except aiosock.ClosedResourceError:
            seen.items.append("closed")
        finally:
            seen.done.set()

    async with served(handler) as client:
        await asyncio.wait_for(seen.parked.wait(), 5)
        assert seen.stream is not None
        assert seen.stream._waiter is _drive.PARKED
        if end == "eof":
            await client.send_eof()
        elif end == "reset":
            client.abort()
        else:
            await seen.stream.aclose()
        await asyncio.wait_for(seen.done.wait(), 5)
    expected = {"eof": "stopped", "reset": "broken", "aclose": "closed"}[end]
    assert seen.items == [expected]


# Not a subclass of asyncio.Future (the C class): the driver must not call
# that class's methods on it.
_OwnFuture: type[asyncio.Future[Any]] = asyncio.futures._PyFuture  # type: ignore[attr-defined]


class _OwnFuturesLoop(asyncio.SelectorEventLoop):
    """A loop whose ``create_future`` makes futures of another class."""

    def create_future(self) -> asyncio.Future[Any]:
        return _OwnFuture(loop=self)


@pytest.mark.parametrize("style", STYLES)
def test_a_loop_with_its_own_futures_still_drives_handlers(style: str) -> None:
    """Handlers are driven with a loop's own futures: inline, then cancelled.

    A receive waits on a future of the loop's class; the task parks on the
    driver's own future (an ``asyncio.Future`` of that loop, which any task
    accepts), the same one for every message.
    """
    seen = Seen()
    inline: list[bool] = []
    waiting_on: list[Any] = []

    async def handler(stream: aiosock.Stream) -> None:
        seen.park(stream)
        try:
            while chunk := await next_chunk(stream, style):
                inline.append(asyncio.current_task() is seen.task)
                await stream.send(chunk)
        except asyncio.CancelledError:
            seen.items.append("cancelled")
            raise

    async def main() -> None:
        server = await aiosock.serve(handler, "tcp://127.0.0.1:0")
        async with await aiosock.connect(server.endpoints[0], timeout=5) as client:
            await client.send(b"warm")
            assert await client.receive() == b"warm"
            assert seen.task is not None
            park = seen.task._fut_waiter  # type: ignore[attr-defined]
            assert isinstance(park, _drive._ParkFuture)
            assert park.get_loop() is asyncio.get_running_loop()
            for i in range(5):
                await client.send(b"m%d" % i)
                assert await client.receive() == b"m%d" % i
                assert seen.task._fut_waiter is park  # type: ignore[attr-defined]
                # (The handler waits again before its echo can arrive here.)
                waiting_on.append(seen.stream._waiter)  # type: ignore[union-attr]
            await server.aclose(grace=0)  # cancels the parked handler
        assert inline == [True] * 6
        assert seen.items == ["cancelled"]
        if style == "receive":
            assert all(type(waiter) is _OwnFuture for waiter in waiting_on)
            assert len(set(map(id, waiting_on))) == 5  # one per receive
        else:
            assert waiting_on == [_drive.PARKED] * 5

    loop = _OwnFuturesLoop()
    try:
        loop.run_until_complete(main())
    finally:
        loop.close()


@pytest.mark.parametrize("style", STYLES)
@pytest.mark.parametrize("how", ["gather", "awaited by another task"])
async def test_receive_awaited_indirectly_then_cancelled_loses_nothing(
    how: str, style: str
) -> None:
    """Data handed to a receive awaited through gather (or by another task)
    whose awaiter is cancelled before it runs again goes back to the stream.

    The data is delivered by hand and the awaiter cancelled in the same step,
    so the window is hit every time.
    """
    seen = Seen()
    gate = asyncio.Event()
    awaiter: list[asyncio.Future[Any]] = []

    async def handler(stream: aiosock.Stream) -> None:
        wait = stream.receive() if style == "receive" else anext(stream, b"")
        seen.park(stream)
        try:
            if how == "gather":
                outer = asyncio.gather(wait, gate.wait())
            else:

                async def in_a_child() -> Any:
                    return await wait

                outer = asyncio.ensure_future(in_a_child())
            awaiter.append(outer)
            seen.items.append(("not cancelled", await outer))
        except asyncio.CancelledError:
            task = asyncio.current_task()
            assert task is not None
            if how == "gather":
                task.uncancel()
            seen.items.append(await next_chunk(stream, style))
        seen.done.set()

    async with served(handler):
        await asyncio.wait_for(seen.parked.wait(), 5)
        assert seen.stream is not None
        stream = seen.stream
        for _ in range(20):  # let the receive register (bounded turns)
            await asyncio.sleep(0)
        stream.data_received(b"kept")
        awaiter[0].cancel()  # before it runs again
        await asyncio.wait_for(seen.done.wait(), 5)
    assert seen.items == [b"kept"]
