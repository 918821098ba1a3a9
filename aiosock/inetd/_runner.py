"""The daemon's main coroutine: signals, sd_notify, and the ``Inetd`` it runs.

Strategy: the signal handlers only set flags on the loop (``add_signal_handler``):
SIGHUP queues a reload (reloads run one after another), SIGTERM and SIGINT end the
wait, and the daemon then stops listening and returns 0. Readiness is told to a
service manager with ``sd_notify`` (``READY=1`` once every service was tried,
``RELOADING=1`` and ``READY=1`` around each reload, ``STOPPING=1`` at the end) and,
for people and tests, by the log line ``ready: ...``.
"""

from __future__ import annotations

import asyncio
import logging
import signal
from typing import TYPE_CHECKING

from ._activation import notify, reloading_message, take_listen_fds
from ._daemon import Inetd

if TYPE_CHECKING:
    from ._daemon import ConfigSource

__all__ = ["run_inetd"]

logger = logging.getLogger("aiosock.inetd")


def _summary(inetd: Inetd) -> str:
    statuses = inetd.services
    failed = sum(1 for s in statuses if s.error is not None)
    text = f"{len(statuses) - failed} services listening"
    if failed:
        text += f", {failed} failed"
    return text


async def run_inetd(
    config: ConfigSource | None,
    *,
    rate: int = 256,
    retry_time: float = 600.0,
    backlog: int = 511,
    grace: float = 0.0,
) -> int:
    """Run an inetd until SIGTERM or SIGINT; reload on SIGHUP; return 0.

    Args:
        config: The inetd.conf path, or ``None`` for the embedded default.
        rate: The default ``.max`` of program lines.
        retry_time: Seconds a looping service stays disabled.
        backlog: The ``listen()`` backlog.
        grace: Seconds in-process handlers get to finish at the end.
    """
    loop = asyncio.get_running_loop()
    inherited = take_listen_fds()
    inetd = Inetd(
        config,
        rate=rate,
        retry_time=retry_time,
        backlog=backlog,
        inherited=inherited,
    )
    stop = asyncio.Event()
    reloads: asyncio.Queue[None] = asyncio.Queue()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    loop.add_signal_handler(signal.SIGHUP, reloads.put_nowait, None)
    try:
        await inetd.start()
        for item in inetd.unused_sockets:
            logger.warning(
                "passed socket %s (%s) matches no service; kept",
                item.sock.getsockname(),
                item.name or "unnamed",
            )
        summary = _summary(inetd)
        notify(f"READY=1\nSTATUS={summary}")
        logger.info("ready: %s", summary)
        reloader = loop.create_task(_reload_loop(inetd, reloads))
        try:
            await stop.wait()
        finally:
            reloader.cancel()
        logger.info("stopping")
        notify("STOPPING=1")
        await inetd.aclose(grace)
    finally:
        for signum in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
            loop.remove_signal_handler(signum)
    logger.info("stopped")
    return 0


async def _reload_loop(inetd: Inetd, reloads: asyncio.Queue[None]) -> None:
    while True:
        await reloads.get()
        logger.info("SIGHUP: reloading")
        notify(reloading_message())
        await inetd.reload()
        summary = _summary(inetd)
        notify(f"READY=1\nSTATUS={summary}")
        logger.info("reloaded: %s", summary)
