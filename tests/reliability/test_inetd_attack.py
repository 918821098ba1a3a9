"""inetd under attack: a fork storm past the rate and instance limits, and SIGHUP
storms during traffic.

``aiosock inetd`` runs as a real process on each loop (``tests/inetd_helpers``),
on loopback only. Synchronisation is on the lines the daemon logs; the daemon's
children are counted from ``/proc`` while clients are held (measurement only).
"""

from __future__ import annotations

import contextlib
import errno
import os
import select
import signal
import socket
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import attrs
import pytest

from tests.inetd_helpers import LOOPS, Daemon, tcp_exchange, unbound_port
from tests.inetd_programs import child_user

from ._support import scale

if TYPE_CHECKING:
    from .conftest import Figure

USER = child_user()
CAT = "/bin/cat"


@pytest.fixture
def workdir() -> Iterator[Path]:
    """A short temporary directory for the daemon's configuration."""
    with tempfile.TemporaryDirectory(prefix="as-", dir="/tmp") as name:
        yield Path(name)


def _children(pid: int, comm: str) -> int:
    """How many processes named ``comm`` (zombies too) have ``pid`` as parent."""
    count = 0
    for entry in os.scandir("/proc"):
        if not entry.name.isdecimal():
            continue
        try:
            stat = Path(entry.path, "stat").read_text()
        except OSError:  # gone meanwhile
            continue
        name = stat[stat.index("(") + 1 : stat.rindex(")")]
        ppid = int(stat[stat.rindex(")") + 2 :].split()[1])
        if ppid == pid and name == comm:
            count += 1
    return count


def _round_trip(address: tuple[str, int], data: bytes) -> float:
    """One exchange on a new connection; its duration in seconds."""
    began = time.monotonic()
    assert tcp_exchange(address, data, timeout=5) == data
    return time.monotonic() - began


def _sighup_pending(pid: int) -> bool:
    """Whether a SIGHUP sent to ``pid`` is still waiting for delivery."""
    bit = 1 << (signal.SIGHUP - 1)
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(("ShdPnd:", "SigPnd:")) and int(line.split()[1], 16) & bit:
            return True
    return False


# -- the fork storm ------------------------------------------------------------


@attrs.define
class Storm:
    """What the storm's clients saw."""

    served: int = 0
    turned_away: int = 0
    max_children: int = 0
    echo_worst: float = 0.0
    echo_probes: int = 0


def _resolve(sock: socket.socket) -> bool | None:
    """Served (``True``, the child echoed), turned away (``False``) or not yet."""
    try:
        data = sock.recv(100)
    except BlockingIOError:
        return None
    except ConnectionResetError:
        return False
    return bool(data)


def _run_storm(
    daemon: Daemon, clients: list[socket.socket], echo: tuple[str, int]
) -> Storm:
    """Close each served client (freeing its instance) until all are resolved."""
    storm = Storm()
    pending = set(clients)
    pid = daemon.proc.pid
    deadline = time.monotonic() + 60
    for _ in range(100_000):
        if not pending or time.monotonic() > deadline:
            break
        storm.max_children = max(storm.max_children, _children(pid, "cat"))
        storm.echo_worst = max(storm.echo_worst, _round_trip(echo, b"still here"))
        storm.echo_probes += 1
        readable, _, _ = select.select(list(pending), [], [], 0.02)
        for sock in readable:
            outcome = _resolve(sock)
            if outcome is None:
                continue
            pending.discard(sock)
            sock.close()
            if outcome:
                storm.served += 1
            else:
                storm.turned_away += 1
    assert not pending, f"{len(pending)} clients never answered nor closed"
    return storm


@pytest.mark.parametrize("loop", LOOPS)
def test_fork_storm_past_rate_and_instances(
    workdir: Path, loop: str, figure: Figure
) -> None:
    """Many clients at once: instances and .max hold, echo answers, daemon lives."""
    count, instances, rate = scale(60, 600), scale(4, 20), scale(20, 200)
    config = workdir / "inetd.conf"
    config.write_text(
        "127.0.0.1:\n"
        f"#aiosock: instances={instances}\n"
        f"0 stream tcp nowait.{rate} {USER} {CAT} cat\n"
        f"0 stream tcp nowait {USER} internal echo\n"
    )
    # --retry-time: the service stays disabled for the rest of the test.
    backlog = str(count + 64)
    daemon = Daemon(config, "--retry-time", "60", "--backlog", backlog, loop=loop)
    try:
        storm_address = daemon.address("cat/tcp", "tcp://")
        echo = daemon.address("echo/tcp", "tcp://")
        start = daemon.out.count()
        began = time.monotonic()
        clients = []
        try:
            for index in range(count):
                sock = socket.create_connection(storm_address, timeout=10)
                sock.setblocking(False)
                clients.append(sock)
                sock.sendall(b"%d\n" % index)
            storm = _run_storm(daemon, clients, echo)
        finally:
            for sock in clients:
                sock.close()
        elapsed = time.monotonic() - began

        assert storm.max_children <= instances
        assert storm.served == rate
        assert storm.turned_away == count - rate
        daemon.out.wait_for(
            rf"cat/tcp: more than {rate} servers a minute: server failing "
            r"\(looping\), service disabled for 60 s",
            start=start,
        )
        daemon.out.wait_count(r"EXIT: cat/tcp from=\S+ pid=\d+ status=0", rate)
        assert daemon.proc.poll() is None
        assert tcp_exchange(echo, b"after") == b"after"
        assert "Traceback" not in daemon.out.text()
        assert daemon.stop() == 0
    finally:
        daemon.kill()
    figure("clients", count, "connections")
    figure("max_live_children", storm.max_children, f"children (limit {instances})")
    figure("served", storm.served, f"connections (.max {rate})")
    figure("turned_away", storm.turned_away, "connections")
    figure("echo_worst_round_trip", storm.echo_worst * 1000, "ms")
    figure("echo_probes", storm.echo_probes, "round trips")
    figure("storm_duration", elapsed, "s")


# -- the SIGHUP storm -----------------------------------------------------------


@attrs.define
class Traffic:
    """Exchanges made during the storm, and what went wrong."""

    exchanges: int = 0
    fresh: int = 0
    toggled_answered: int = 0
    toggled_refused: int = 0
    worst: float = 0.0
    held_going: int = 0
    failures: list[str] = attrs.Factory(list)
    lock: threading.Condition = attrs.Factory(threading.Condition)

    def fail(self, what: str) -> None:
        with self.lock:
            self.failures.append(what)

    def fresh_after(self, mark: int) -> Callable[[], bool]:
        """A predicate: a new connection was served since ``fresh`` was ``mark``."""
        return lambda: self.fresh > mark

    def wait(self, predicate: Callable[[], bool], what: str) -> None:
        """Wait (bounded) until the traffic threads made ``predicate`` true."""
        with self.lock:
            assert self.lock.wait_for(predicate, timeout=20), f"traffic stalled: {what}"


def _exchange(sock: socket.socket, data: bytes) -> bool:
    sock.sendall(data)
    got = bytearray()
    while len(got) < len(data):
        chunk = sock.recv(len(data) - len(got))
        if not chunk:
            return False
        got += chunk
    return bytes(got) == data


def _held(
    address: tuple[str, int], name: str, traffic: Traffic, stop: threading.Event
) -> None:
    """Exchange on one connection until told to stop (bounded)."""
    try:
        with socket.create_connection(address, timeout=5) as sock:
            for seq in range(scale(20_000, 200_000)):
                if stop.is_set():
                    break
                began = time.monotonic()
                if not _exchange(sock, f"{name}:{seq}\n".encode()):
                    traffic.fail(f"{name}: connection closed at {seq}")
                    return
                took = time.monotonic() - began
                with traffic.lock:
                    traffic.exchanges += 1
                    traffic.worst = max(traffic.worst, took)
                    if seq == 0:
                        traffic.held_going += 1
                        traffic.lock.notify_all()
    except OSError as exc:
        traffic.fail(f"{name}: {exc!r}")


def _fresh(
    addresses: list[tuple[str, int]], traffic: Traffic, stop: threading.Event
) -> None:
    """New connections to the services that stay, one after another (bounded)."""
    for seq in range(scale(300, 3000)):
        if stop.is_set():
            break
        address = addresses[seq % len(addresses)]
        try:
            if tcp_exchange(address, b"fresh %d" % seq, timeout=5) != b"fresh %d" % seq:
                traffic.fail(f"fresh {seq} to {address}: wrong answer")
        except OSError as exc:
            traffic.fail(f"fresh {seq} to {address}: {exc!r}")
        with traffic.lock:
            traffic.fresh += 1
            traffic.lock.notify_all()


def _toggled(port: int, traffic: Traffic, stop: threading.Event) -> None:
    """Connections to the service that comes and goes: answered or refused.

    One per new connection to the others, so that refusals do not spin.
    """
    for seq in range(scale(300, 3000)):
        if stop.is_set():
            break
        with traffic.lock:
            traffic.lock.wait_for(traffic.fresh_after(traffic.fresh), timeout=5)
        try:
            answered = tcp_exchange(("127.0.0.1", port), b"t", timeout=5) == b"t"
        except (ConnectionRefusedError, ConnectionResetError, BrokenPipeError):
            answered = False
        except OSError as exc:
            if exc.errno == errno.ENOTCONN:
                # Queued in the backlog of a listener the reload closed: the
                # kernel reset it before our shutdown(). Refused, not hanging.
                answered = False
            else:  # a timeout: a client left hanging
                traffic.fail(f"toggled {seq}: {exc!r}")
                return
        with traffic.lock:
            if answered:
                traffic.toggled_answered += 1
            else:
                traffic.toggled_refused += 1
            traffic.lock.notify_all()


def _configs(port: int) -> tuple[str, str]:
    """Two files: A has the toggled service and cat at 64, B neither change."""
    base = [
        "127.0.0.1:",
        f"0 stream tcp nowait {USER} internal echo",
    ]
    with_toggled = [
        *base,
        "#aiosock: instances=64",
        f"0 stream tcp nowait.100000 {USER} {CAT} cat",
        f"{port} stream tcp nowait.100000 {USER} {CAT} cat",
    ]
    without = [
        *base,
        "#aiosock: instances=32",
        f"0 stream tcp nowait.100000 {USER} {CAT} cat",
    ]
    return "\n".join(with_toggled) + "\n", "\n".join(without) + "\n"


def _replace(config: Path, text: str) -> None:
    """Write ``config`` atomically, as a careful administrator does."""
    temporary = config.with_suffix(".new")
    temporary.write_text(text)
    os.replace(temporary, config)


def _hup_storm(
    daemon: Daemon, config: Path, texts: tuple[str, str], n: int, traffic: Traffic
) -> None:
    """SIGHUP ``n`` times, swapping the files between signals; ends on the first.

    Each signal waits for one more new connection to be served, so that every
    reload overlaps traffic.
    """
    pid = daemon.proc.pid
    for index in range(1, n + 1):
        traffic.wait(traffic.fresh_after(traffic.fresh), "no new connection served")
        _replace(config, texts[index % 2])
        os.kill(pid, signal.SIGHUP)
        # Wait (bounded) for the kernel to deliver it before the next: two
        # SIGHUPs pending at once are merged by the kernel, not by the daemon.
        deadline = time.monotonic() + 5
        while _sighup_pending(pid):
            assert time.monotonic() < deadline, "SIGHUP never delivered"
            time.sleep(0.0005)


@pytest.mark.parametrize("loop", LOOPS)
def test_sighup_storm_during_traffic(workdir: Path, loop: str, figure: Figure) -> None:
    """SIGHUPs in a row under traffic: no connection dropped, one reload each."""
    signals, held = scale(20, 200), scale(4, 16)
    port = unbound_port()
    texts = _configs(port)
    config = workdir / "inetd.conf"
    config.write_text(texts[0])
    daemon = Daemon(config, loop=loop)
    traffic = Traffic()
    stop = threading.Event()
    try:
        echo = daemon.address("echo/tcp", "tcp://")
        cat = daemon.address("cat/tcp", "tcp://")
        threads = [
            threading.Thread(target=_held, args=(address, f"{kind}{i}", traffic, stop))
            for i in range(held)
            for kind, address in (("echo", echo), ("cat", cat))
        ]
        threads.append(
            threading.Thread(target=_fresh, args=([echo, cat], traffic, stop))
        )
        threads.append(threading.Thread(target=_toggled, args=(port, traffic, stop)))
        for thread in threads:
            thread.start()
        try:
            traffic.wait(
                lambda: (
                    traffic.held_going == 2 * held
                    and traffic.fresh > 0
                    and traffic.toggled_answered + traffic.toggled_refused > 0
                ),
                "traffic never started",
            )
            began = time.monotonic()
            _hup_storm(daemon, config, texts, signals, traffic)
            sent = time.monotonic() - began
            daemon.out.wait_count(r"reloaded: ", signals, timeout=60)
            handled = time.monotonic() - began
        finally:
            stop.set()
            for thread in threads:
                thread.join(30)
        assert not any(thread.is_alive() for thread in threads)
        assert traffic.failures == []
        text = daemon.out.text()
        assert text.count("SIGHUP: reloading") == signals
        assert text.count("reloaded: ") == signals
        assert "cannot listen" not in text
        assert "Traceback" not in text
        assert daemon.proc.poll() is None
        # The final file (the first) is in force: all three services answer.
        assert tcp_exchange(echo, b"final") == b"final"
        assert tcp_exchange(cat, b"final") == b"final"
        assert tcp_exchange(("127.0.0.1", port), b"final") == b"final"
        assert daemon.stop() == 0
    finally:
        stop.set()
        daemon.kill()
    figure("sighups", signals, "signals, each handled by one reload")
    figure("sighups_sent_in", sent, "s")
    figure("all_reloaded_after", handled, "s")
    figure("held_connections", 2 * held, "connections, none dropped")
    figure("held_exchanges", traffic.exchanges, "exchanges, all echoed")
    figure("held_worst_round_trip", traffic.worst * 1000, "ms")
    figure("fresh_connections", traffic.fresh, "connections, all answered")
    figure("toggled_answered", traffic.toggled_answered, "connections")
    figure("toggled_refused", traffic.toggled_refused, "connections")


def test_sighup_pending_reads_the_kernel() -> None:
    """The SIGHUP-pending probe sees a blocked SIGHUP, then none once delivered."""
    if threading.current_thread() is not threading.main_thread():
        pytest.skip("SigPnd is the main thread's")
    with contextlib.ExitStack() as stack:
        old = signal.signal(signal.SIGHUP, lambda *_: None)
        stack.callback(signal.signal, signal.SIGHUP, old)
        signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGHUP})
        try:
            signal.pthread_kill(threading.get_ident(), signal.SIGHUP)
            assert _sighup_pending(os.getpid())
        finally:
            signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGHUP})
        assert not _sighup_pending(os.getpid())
