"""Running a handler's first step inline, inside a real task (direct drive).

Strategy (PERFORMANCE.md, "direct drive"): a handler that answers at once (the
common case for a request/response datagram service) should cost a coroutine
call, not a task. So the first step of each handler runs inline in the protocol
callback, with ``asyncio.current_task()`` set to an idle *worker* task of the
server (so ``asyncio.timeout``, ``TaskGroup`` and cancellation see a real task)
and in a fresh copy of the context (as a new task would have). A handler that
finishes there costs no task at all. One that has to wait is handed, with the
future it waits on, to that worker, which drives it to the end in the same task
and context it started in.

This relies on asyncio's private ``_enter_task``/``_leave_task`` (present in
CPython 3.11 to 3.13, in C and in Python). :data:`AVAILABLE` is false where they
are missing, and the server then starts one task per datagram instead.
"""

from __future__ import annotations

import asyncio
import types
from typing import TYPE_CHECKING, Any, TypeAlias

if TYPE_CHECKING:
    import contextvars
    from collections.abc import Callable, Coroutine, Generator

__all__ = [
    "AVAILABLE",
    "CURRENT_TASKS",
    "NOT_STARTED",
    "drive",
    "enter_task",
    "leave_task",
]

#: ``drive(yielded=NOT_STARTED)``: the coroutine has not run its first step.
NOT_STARTED: Any = object()

_TaskHook: TypeAlias = "Callable[[asyncio.AbstractEventLoop, asyncio.Task[Any]], None]"


def _missing(loop: asyncio.AbstractEventLoop, task: asyncio.Task[Any]) -> None:
    raise RuntimeError("this Python has no asyncio task hooks")


_enter: _TaskHook | None = getattr(asyncio.tasks, "_enter_task", None)
_leave: _TaskHook | None = getattr(asyncio.tasks, "_leave_task", None)

#: Whether inline first steps can run inside a task on this Python.
AVAILABLE = _enter is not None and _leave is not None

#: Make a task the current task of a loop; ``RuntimeError`` if another one is
#: (or, where :data:`AVAILABLE` is false, always). The C function itself where
#: there is one: it runs once per datagram.
enter_task: _TaskHook = _enter if AVAILABLE else _missing  # type: ignore[assignment]
#: Undo :data:`enter_task`.
leave_task: _TaskHook = _leave if AVAILABLE else _missing  # type: ignore[assignment]


def _find_current_tasks() -> dict[Any, Any] | None:
    """Return asyncio's map of loops to their current task, if the hooks use it.

    ``enter_task(loop, task)`` is ``current_tasks[loop] = task`` after a check
    that the loop has none, and ``leave_task`` deletes it, in CPython 3.11 to
    3.13. Checked here once, with stand-in objects: ``enter_task`` must store
    there, ``current_task()`` read there, and ``enter_task`` refuse a loop that
    has a task there.
    """
    tasks: Any = getattr(asyncio.tasks, "_current_tasks", None)
    if not AVAILABLE or type(tasks) is not dict:
        return None
    loop: Any = object()
    task: Any = object()
    other: Any = object()
    try:
        enter_task(loop, task)
        try:
            stored = tasks.get(loop) is task
        finally:
            leave_task(loop, task)
        if not stored or loop in tasks:
            return None
        tasks[loop] = task
        try:
            if asyncio.current_task(loop) is not task:
                return None
            try:
                enter_task(loop, other)
            except RuntimeError:
                pass
            else:
                leave_task(loop, other)
                return None
        finally:
            tasks.pop(loop, None)
    except Exception:  # any surprise: use the functions
        return None
    return tasks


#: ``asyncio.tasks._current_tasks`` where :data:`enter_task` and
#: :data:`leave_task` are a store and a delete there (checked at import), else
#: ``None``. A served stream's inline step (``Stream.data_received``) uses it
#: directly: ``setdefault`` and ``del`` cost half of what the two calls do.
CURRENT_TASKS: dict[Any, Any] | None = _find_current_tasks()


@types.coroutine
def drive(
    coro: Coroutine[Any, Any, Any],
    context: contextvars.Context,
    *,
    yielded: Any = NOT_STARTED,
    throw: BaseException | None = None,
) -> Generator[Any, Any, None]:
    """Drive ``coro`` to its end from inside the current task, in ``context``.

    ``yield from`` done by hand: ``coro`` has either not started
    (``NOT_STARTED``), or already run its first step inline and yielded
    ``yielded``, which is passed up to the task first; with ``throw``, that
    exception is thrown into it before anything else. Each step runs in
    ``context``, the one the first step ran in.
    """
    send, throw_into = coro.send, coro.throw
    try:
        if throw is not None:
            yielded = context.run(throw_into, throw)
        elif yielded is NOT_STARTED:
            yielded = context.run(send, None)
    except StopIteration:
        return
    while True:
        try:
            value = yield yielded
        except GeneratorExit:
            coro.close()
            raise
        except BaseException as exc:
            try:
                yielded = context.run(throw_into, exc)
            except StopIteration:
                return
        else:
            try:
                yielded = context.run(send, value)
            except StopIteration:
                return
