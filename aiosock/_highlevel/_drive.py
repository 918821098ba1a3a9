"""Direct drive: a served stream resumes its handler inline when data arrives.

Strategy (PERFORMANCE.md, "direct drive"). A handler's usual life is ``await
stream.receive()``, a little work, ``await stream.send(...)`` (which does not
wait), and round again. Through asyncio that costs, per message, a callback
scheduled by the receive future, a loop iteration and a task step. Here the
connection's task runs a *driver* around the handler coroutine instead. When the
handler waits on its own stream's receive future (yielded by the receive's
generator, ``Stream._wait``), the driver parks the task on a future of its own
and the stream, in ``data_received``, resumes the handler's coroutine itself
with the data (the receive future is left alone: only the task would have
waited on it): inside the task (``enter_task``,
so ``asyncio.current_task()``, timeouts and cancellation see the real task) and in
the handler's own :class:`contextvars.Context`. As long as the handler comes back
to wait on its stream, the task stays parked and no future, callback or task step
is spent on the way. Anything else the handler awaits (a drain, a sleep, another
stream) is *handed back*: the parked future is completed with it, the task wakes
and awaits it as usual.

The traps, each handled below and tested in ``tests/test_stream_drive.py``:

- the task cancelled while parked (its parked future is what ``Task.cancel``
  cancels, and that future's ``cancel`` takes the handler off the inline path
  at once): the receive future is cancelled too, as it would have been, and data
  arriving before the task wakes stays in the stream's buffer;
- a handler that cancels its own task, returns or raises inside an inline step;
- a receive awaited by another task, or under ``gather``/``wait_for`` (the
  handler then waits on something else): the plain future path;
- another task current when data arrives: no inline step, the task is woken;
- one :class:`~contextvars.Context` per connection, for inline and task steps;
- closing the driver closes the handler coroutine (never throws into it).

A served stream's async iteration parks without a future: it yields
:data:`PARKED` and is resumed with the data (``send(data)``) or an exception
thrown in; the driver passes those on with :meth:`Driver.deliver` when the
task has to resume it (``_stream._served_anext``).

It relies on asyncio's private ``_enter_task``/``_leave_task`` and the map of
current tasks they keep (``_eager.CURRENT_TASKS``); where they are missing,
handlers run as plain coroutines.
"""

from __future__ import annotations

import asyncio
import contextvars
import types
from typing import TYPE_CHECKING, Any, Final

from ._eager import AVAILABLE as _HOOKS
from ._eager import CURRENT_TASKS

#: Whether served handlers can be driven inline on this Python: the stream's
#: inline step makes the task current through asyncio's own map.
AVAILABLE = _HOOKS and CURRENT_TASKS is not None

if TYPE_CHECKING:
    from collections.abc import Coroutine, Generator

    from ._stream import Stream

__all__ = ["AVAILABLE", "PARKED", "SEND", "THROW", "UNDRIVEN", "Driver"]

# What the parked future carries back to the task (kind, payload).
_SEND: Final = 0  # resume the coroutine with payload (it sits at a done future)
_THROW: Final = 1  # throw payload into the coroutine
_YIELD: Final = 2  # the coroutine now waits on payload: the task awaits it
_RETURN: Final = 3  # the coroutine returned payload
_RAISE: Final = 4  # the coroutine raised payload
_RESUME_AT: Final = 5  # resume the coroutine; it sits at payload, a done future

_RESUME: Final = (_SEND, None)
#: Message kinds for :meth:`Driver.deliver`.
SEND: Final = _SEND
THROW: Final = _THROW


class _Parked:
    """What a served stream's ``_waiter`` holds while its handler waits in a generator.

    A served stream's async iteration (``_stream._served_anext``) is a
    generator: when its handler is driven, it yields :data:`PARKED` instead
    of a future, and is resumed with the data itself (``send(data)``), or an
    exception thrown in. To the stream's other code it looks like a receive
    future that is not done.
    """

    __slots__ = ()

    def done(self) -> bool:
        """Never done: a receive waits."""
        return False

    def __repr__(self) -> str:
        return "<parked receive>"


#: See :class:`_Parked`.
PARKED: Final[Any] = _Parked()


class _ParkFuture(asyncio.Future[tuple[int, Any]]):
    """The future a driven task is parked on.

    Cancelling it (``Task.cancel`` cancels the future its task waits on) stops
    the inline steps at once, so the per-message path need not ask whether the
    task was cancelled: see :meth:`Driver._cancelling`.
    """

    __slots__ = ("_driver",)

    def __init__(self, driver: Driver, loop: asyncio.AbstractEventLoop) -> None:
        super().__init__(loop=loop)
        self._driver = driver

    def cancel(self, msg: Any | None = None) -> bool:
        """Cancel the future; first take the handler out of the inline path."""
        if not self.done():
            self._driver._cancelling()
        return super().cancel(msg)


class Driver:
    """Drives one handler coroutine for one stream, inline where it can.

    Made by ``serve`` for each connection; ``await driver.run()`` in the
    connection's task replaces ``await handler(stream)``. While the task is
    parked on the receive future :attr:`pending`, the stream's
    ``data_received`` resumes the handler itself with the data (the per-message
    path, written out there): :attr:`task` made current, a step in
    :attr:`context`, then :meth:`hand_over` or :meth:`ended` unless the
    handler waits on the stream again. At the end of the stream it completes
    that future and calls :meth:`wake`. Cancelling the parked task takes the
    driver away from the stream until the task wakes (:meth:`_cancelling`),
    so none of this happens for a task on its way to its cancellation.
    """

    __slots__ = (
        "_coro",
        "_loop",
        "_outcome",
        "_stream",
        "context",
        "park",
        "pending",
        "send",
        "task",
    )

    def __init__(
        self,
        coro: Coroutine[Any, Any, Any],
        stream: Stream,
        loop: asyncio.AbstractEventLoop,
    ) -> None:
        self._coro = coro
        #: The coroutine's ``send``.
        self.send = coro.send
        self._stream = stream
        self._loop = loop
        # Both set by run(), before the stream can call anything here.
        #: The connection's task.
        self.task: asyncio.Task[Any] = None  # type: ignore[assignment]
        #: The handler's context, for every step.
        self.context: contextvars.Context = None  # type: ignore[assignment]
        #: The stream's receive future the coroutine waits on while the task is
        #: parked; ``None`` otherwise.
        self.pending: asyncio.Future[Any] | None = None
        #: The future the task is parked on, while it is.
        self.park: _ParkFuture | None = None
        # An inline step's result the parked future could not take (the task
        # had been cancelled meanwhile).
        self._outcome: tuple[int, Any] | None = None

    # -- called by the stream ---------------------------------------------------

    def wake(self) -> None:
        """Let the task resume the coroutine (:attr:`pending` is done)."""
        waiter, self.pending = self.pending, None
        self._hand_back((_RESUME_AT, waiter))

    def deliver(self, message: tuple[int, Any]) -> None:
        """Let the task resume the coroutine parked at :data:`PARKED`.

        ``message`` is ``(SEND, data)`` or ``(THROW, exception)``.
        """
        self.pending = None
        self._hand_back(message)

    def ended(self, exc: BaseException) -> None:
        """The coroutine returned (``StopIteration``) or raised ``exc`` inline."""
        self.pending = None
        if isinstance(exc, StopIteration):
            self._hand_back((_RETURN, exc.value))
        else:
            self._hand_back((_RAISE, exc))

    def hand_over(self, yielded: Any) -> None:
        """The coroutine now waits on ``yielded``, not on its stream: the task does."""
        self.pending = None
        self._hand_back((_YIELD, yielded))

    def _cancelling(self) -> None:
        """The parked task is being cancelled: no inline step until it wakes.

        Called by the parked future's ``cancel()``, before it is cancelled.
        The stream forgets its driver (so data stays buffered, and a receive
        made meanwhile is a plain one) until :meth:`_cancelled_while_parked`,
        and what the coroutine waits on is cancelled, as ``Task.cancel``
        cancels what a task waits on.
        """
        stream = self._stream
        stream._driver = UNDRIVEN
        pending, self.pending = self.pending, None
        if pending is PARKED:
            # (The generator clears it too, when the cancellation reaches it.)
            if stream._waiter is PARKED:
                stream._waiter = None
        elif pending is not None:
            pending.cancel()

    def _hand_back(self, message: tuple[int, Any]) -> None:
        park = self.park
        assert park is not None
        if park.done():
            # Cancelled: the task's wake-up is already scheduled; the message
            # waits for it.
            self._outcome = message
        else:
            self.park = None
            park.set_result(message)

    # -- the task's side --------------------------------------------------------

    @types.coroutine
    def run(self) -> Generator[Any, Any, Any]:
        """Drive the coroutine to its end from the current task; return its result."""
        task = asyncio.current_task(self._loop)
        if task is None:
            raise RuntimeError("Driver.run() must be awaited in a task")
        self.task = task
        context = self.context = contextvars.copy_context()
        coro, stream = self._coro, self._stream
        send, throw = self.send, coro.throw
        message: tuple[int, Any] = _RESUME
        try:
            while True:
                kind, payload = message
                if kind == _YIELD:
                    yielded = payload
                else:
                    if kind == _RETURN:
                        return payload
                    if kind == _RAISE:
                        raise payload
                    try:
                        if kind == _RESUME_AT:
                            yielded = context.run(send, None)
                        elif kind == _SEND:
                            yielded = context.run(send, payload)
                        else:
                            yielded = context.run(throw, payload)
                    except StopIteration as exc:
                        return exc.value
                waiter = stream._waiter
                if waiter is not None and yielded is waiter:
                    # Park (inline here, not a generator of its own: an idle
                    # connection waits here, and a frame less is half a KiB).
                    park = _ParkFuture(self, self._loop)
                    self.park = park
                    self.pending = waiter
                    park._asyncio_future_blocking = True  # as Future.__await__ does
                    try:
                        yield park  # a task is woken with None: read the result
                    except GeneratorExit:
                        raise
                    except BaseException as exc:
                        message = self._cancelled_while_parked(exc)
                    else:
                        message = park.result()
                    continue
                try:
                    value = yield yielded
                except GeneratorExit:
                    raise
                except BaseException as exc:
                    message = (_THROW, exc)
                else:
                    message = (_SEND, value)
        except GeneratorExit:
            coro.close()
            raise
        finally:
            self.park = self.pending = None
            self._outcome = None

    def _cancelled_while_parked(self, exc: BaseException) -> tuple[int, Any]:
        """What to do after ``exc`` was thrown into the task while parked.

        The task was cancelled (or an exception thrown into it): whatever the
        coroutine waits on is cancelled, as ``Task.cancel`` would have cancelled
        it, and the exception goes in there.
        """
        self.park = None
        stream = self._stream
        stream._driver = self  # (taken away by _cancelling)
        pending, self.pending = self.pending, None
        outcome, self._outcome = self._outcome, None
        if outcome is None:
            # (PARKED: the exception thrown in reaches the generator itself.)
            if pending is not None and pending is not PARKED:
                # A receive made in an inline step after the cancellation:
                # cancelled if it waits still (as Task.cancel would); data it
                # was given goes back to the stream when the exception
                # reaches its generator (Stream._wait).
                pending.cancel()
            return (_THROW, exc)
        kind, payload = outcome
        if kind == _SEND:
            # Data for a receive parked at PARKED, not taken: it goes back to
            # the stream, and the exception goes in instead.
            if payload:
                stream._unread(payload)
            return (_THROW, exc)
        if kind == _THROW:
            return (_THROW, exc)  # the stream's end reported; it stays ended
        if kind == _YIELD:
            if isinstance(payload, asyncio.Future):
                payload.cancel()
            return (_THROW, exc)
        if kind == _RAISE:
            return outcome
        if kind == _RETURN:
            # It finished after its task was cancelled: the task ends
            # cancelled, as asyncio does with a cancel pending at the end.
            return (_RAISE, exc)
        # _RESUME_AT: it sits at a receive future that was completed but
        # not yet taken; the exception goes in there, and the receive puts
        # what it held back in the stream.
        return (_THROW, exc)


class _Never:
    """No task, and no waiter: what :data:`UNDRIVEN` has instead."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "<no one>"


def _undriven() -> Driver:
    """Make :data:`UNDRIVEN`: a driver of nothing; its task and pending are no one's."""
    undriven = Driver.__new__(Driver)
    never: Any = _Never()
    undriven.task = never
    undriven.pending = never
    return undriven


#: A stream's ``_driver`` when no driver drives its handler. Its ``task`` is
#: never the current task and its ``pending`` never a stream's waiter, so the
#: per-message paths ask one question (``driver.pending is waiter``), not also
#: whether there is a driver. (A :class:`Driver`, so that the attribute
#: look-ups stay specialised for one class.)
UNDRIVEN: Final = _undriven()


def drive_available(loop: asyncio.AbstractEventLoop) -> bool:
    """Whether handlers on ``loop`` can be driven inline."""
    return AVAILABLE
