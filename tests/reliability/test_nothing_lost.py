"""Nothing lost: clients stream numbered messages while the server shuts down."""

from __future__ import annotations

import asyncio
import signal
import time
from pathlib import Path
from typing import TYPE_CHECKING

import aiosock

from ._support import loop_name, scale, start_script

if TYPE_CHECKING:
    from .conftest import Figure


#: Messages each client has acknowledged before the shutdown starts.
WARM = scale(10, 200)


class Client:
    """Sends ``N\\n`` and waits for its acknowledgement, until the server ends it."""

    def __init__(self, target: aiosock.Endpoint, ident: int) -> None:
        self.target = target
        self.ident = ident
        self.acked: list[str] = []
        self.ending = ""
        self.first_ack = asyncio.Event()

    async def run(self) -> None:
        stream = await aiosock.connect(self.target, timeout=10)
        try:
            for n in range(1_000_000):  # bounded; the server ends it long before
                message = f"{self.ident}-{n}\n"
                try:
                    await stream.send(message.encode())
                    ack = await stream.receive_until(b"\n")
                except aiosock.IncompleteReadError as exc:
                    self.ending = "eof" if not exc.partial else "partial"
                    return
                except aiosock.BrokenResourceError:
                    self.ending = "reset"
                    return
                assert ack.decode() == message, (ack, message)
                self.acked.append(message)
                if len(self.acked) >= WARM:
                    self.first_ack.set()
        finally:
            stream.abort()


async def _stream_then_stop(
    target: aiosock.Endpoint, clients: int, stop: object
) -> tuple[list[Client], float]:
    everyone = [Client(target, i) for i in range(clients)]
    tasks = [asyncio.create_task(c.run()) for c in everyone]
    try:
        async with asyncio.timeout(20):
            for client in everyone:
                await client.first_ack.wait()
        started = time.monotonic()
        await stop()  # type: ignore[operator]
        # Every client sees the end within a bound: never a hang.
        async with asyncio.timeout(20):
            await asyncio.gather(*tasks)
    finally:
        for task in tasks:
            task.cancel()
    return everyone, time.monotonic() - started


def _check(everyone: list[Client], processed: list[str], figure: Figure) -> None:
    acked = [m for c in everyone for m in c.acked]
    missing = set(acked) - set(processed)
    assert not missing, f"acknowledged but never processed: {sorted(missing)[:5]}"
    assert all(c.ending in ("eof", "reset") for c in everyone), [
        c.ending for c in everyone
    ]
    # At most the one message in flight per client was processed unacknowledged.
    assert len(processed) - len(acked) <= len(everyone)
    figure("messages acknowledged", len(acked), "messages")
    figure("acknowledged but not processed", len(missing), "messages")
    figure(
        "clients ended by end of stream",
        sum(c.ending == "eof" for c in everyone),
        f"of {len(everyone)}",
    )


async def test_aclose_with_grace_loses_nothing(figure: Figure) -> None:
    """aclose(grace): acknowledged messages were processed; every client ends."""
    processed: list[str] = []
    server: aiosock.Server

    async def handler(stream: aiosock.Stream) -> None:
        # Between messages a handler drains: it stops once the server closes.
        while server.is_serving():
            try:
                line = await stream.receive_until(b"\n", max_bytes=32)
            except aiosock.IncompleteReadError:
                return
            processed.append(line.decode())
            await stream.send(line)

    server = await aiosock.serve(handler, "tcp://127.0.0.1:0")
    async with server:
        everyone, took = await _stream_then_stop(
            server.endpoints[0], scale(20, 500), lambda: server.aclose(grace=5)
        )
    _check(everyone, processed, figure)
    figure("time from aclose to every client ended", took, "s")


async def test_sigterm_loses_nothing(figure: Figure, short_tmp: Path) -> None:
    """SIGTERM to a server process: every acknowledged message is in its ledger."""
    ledger = short_tmp / "ledger"
    ledger.touch()
    proc, (port, _pid) = await start_script(
        "_server.py", "ledger", loop_name(), str(ledger), "5"
    )
    assert proc.stdout is not None
    assert proc.stderr is not None
    assert proc.stdin is not None

    async def terminate() -> None:
        proc.send_signal(signal.SIGTERM)

    try:
        everyone, took = await _stream_then_stop(
            aiosock.parse_endpoint(f"tcp://127.0.0.1:{port}"),
            scale(20, 500),
            terminate,
        )
        async with asyncio.timeout(20):
            assert await proc.stdout.readline() == b"closed\n"
            await proc.wait()
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
        proc.stdin.close()
    err = (await proc.stderr.read()).decode(errors="replace")
    assert proc.returncode == 0, err
    assert "Traceback" not in err, err
    _check(everyone, ledger.read_text().splitlines(keepends=True), figure)
    figure("time from SIGTERM to every client ended", took, "s")
