"""Running ``aiosock inetd`` (and openbsd-inetd) as real processes in tests.

Synchronisation is on the lines the daemons print ("listening on ...", "ready:"),
never on sleeps; every wait is bounded.
"""

from __future__ import annotations

import contextlib
import os
import random
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator, Mapping
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
LISTENING = re.compile(r"listening on (\S+) for (\S+)")
OPENBSD_INETD = "/usr/sbin/inetd"
LOOPS = ("asyncio", "uvloop")
TIMEOUT = 20.0


def child_env(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """The environment for ``python -m aiosock`` from this checkout."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("LISTEN_")}
    env.pop("NOTIFY_SOCKET", None)
    env.pop("AIOSOCK_LOOP", None)
    env["PYTHONPATH"] = os.pathsep.join(
        filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])
    )
    env["PYTHONUNBUFFERED"] = "1"
    if extra:
        env.update(extra)
    return env


class Lines:
    """Collects a pipe's lines in a thread; lets a test wait for one."""

    def __init__(self, pipe: object) -> None:
        self.lines: list[str] = []
        self._cond = threading.Condition()
        self._closed = False
        self._thread = threading.Thread(target=self._read, args=(pipe,), daemon=True)
        self._thread.start()

    def _read(self, pipe: object) -> None:
        for raw in pipe:  # type: ignore[attr-defined]
            with self._cond:
                self.lines.append(raw.rstrip("\n"))
                self._cond.notify_all()
        with self._cond:
            self._closed = True
            self._cond.notify_all()

    def wait_for(
        self, pattern: str, *, start: int = 0, timeout: float = TIMEOUT
    ) -> re.Match[str]:
        """Wait for a line matching ``pattern`` at index ``start`` or later."""
        regex = re.compile(pattern)
        deadline = time.monotonic() + timeout
        with self._cond:
            index = start
            while True:
                while index < len(self.lines):
                    found = regex.search(self.lines[index])
                    if found:
                        return found
                    index += 1
                left = deadline - time.monotonic()
                if self._closed or left <= 0:
                    text = "\n".join(self.lines[start:])
                    raise AssertionError(f"no line matching {pattern!r} in:\n{text}")
                self._cond.wait(left)

    def wait_count(self, pattern: str, count: int, *, timeout: float = TIMEOUT) -> None:
        """Wait until ``count`` lines match ``pattern``."""
        regex = re.compile(pattern)
        deadline = time.monotonic() + timeout
        with self._cond:
            while sum(1 for line in self.lines if regex.search(line)) < count:
                left = deadline - time.monotonic()
                if self._closed or left <= 0:
                    text = "\n".join(self.lines)
                    raise AssertionError(f"fewer than {count} {pattern!r} in:\n{text}")
                self._cond.wait(left)

    def count(self) -> int:
        """How many lines so far."""
        with self._cond:
            return len(self.lines)

    def text(self) -> str:
        """Everything so far."""
        with self._cond:
            return "\n".join(self.lines)


class Daemon:
    """An ``aiosock inetd`` process."""

    def __init__(
        self,
        config: Path | None,
        *args: str,
        loop: str = "asyncio",
        env: Mapping[str, str] | None = None,
        argv_prefix: tuple[str, ...] = (),
        wait_ready: bool = True,
        pass_fds: tuple[int, ...] = (),
        verbose: bool = False,
        global_args: tuple[str, ...] = (),
    ) -> None:
        command = [*argv_prefix, sys.executable, "-m", "aiosock", "--loop", loop]
        command += [*(["-vv"] if verbose else []), *global_args, "inetd", *args]
        if config is not None:
            command += ["--config", str(config)]
        self.proc = subprocess.Popen(
            command,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
            env=child_env(env),
            pass_fds=pass_fds,
        )
        self.out = Lines(self.proc.stderr)
        self.endpoints: dict[str, list[str]] = {}
        if wait_ready:
            self.ready()

    def ready(self, start: int = 0) -> None:
        """Wait for ``ready:`` (or ``reloaded:``); collect the listening lines."""
        self.out.wait_for(r"(ready|reloaded): ", start=start)
        self.endpoints = {}
        for line in self.out.lines:
            found = LISTENING.search(line)
            if found:
                self.endpoints.setdefault(found.group(2), []).append(found.group(1))

    def endpoint(self, name: str, prefix: str = "") -> str:
        """The first endpoint of service ``name`` starting with ``prefix``."""
        for endpoint in self.endpoints.get(name, []):
            if endpoint.startswith(prefix):
                return endpoint
        raise AssertionError(f"{name} has no {prefix} endpoint in {self.endpoints}")

    def address(self, name: str, prefix: str) -> tuple[str, int]:
        """(host, port) of an internet endpoint of ``name``."""
        endpoint = self.endpoint(name, prefix)
        hostport = endpoint.split("://", 1)[1]
        host, _, port = hostport.rpartition(":")
        return host.strip("[]"), int(port)

    def path(self, name: str) -> str:
        """The socket path of a unix endpoint of ``name``."""
        return self.endpoint(name, "unix").split(":", 1)[1]

    def reload(self) -> None:
        """SIGHUP, and wait for the reload to finish."""
        start = self.out.count()
        self.proc.send_signal(signal.SIGHUP)
        self.out.wait_for(r"reloaded: ", start=start)

    def stop(self, timeout: float = TIMEOUT) -> int:
        """SIGTERM, and return the exit status."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout)
        finally:
            self.kill()

    def kill(self) -> None:
        """Make sure the process is gone."""
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(TIMEOUT)
        if self.proc.stderr is not None:
            self.proc.stderr.close()


@contextlib.contextmanager
def daemon(config: Path | None, *args: str, **kwargs: object) -> Iterator[Daemon]:
    """Run an ``aiosock inetd`` for the block."""
    process = Daemon(config, *args, **kwargs)  # type: ignore[arg-type]
    try:
        yield process
    finally:
        process.kill()


def tcp_exchange(
    address: tuple[str, int],
    data: bytes = b"",
    *,
    limit: int | None = None,
    family: int = socket.AF_INET,
    timeout: float = 10.0,
) -> bytes:
    """Connect, send ``data``, half-close, and read to the end (or ``limit``)."""
    if ":" in address[0]:
        family = socket.AF_INET6
    with socket.socket(family, socket.SOCK_STREAM) as sock:
        sock.settimeout(timeout)
        sock.connect(address)
        if data:
            sock.sendall(data)
        if limit is None:
            sock.shutdown(socket.SHUT_WR)
        received = bytearray()
        while limit is None or len(received) < limit:
            chunk = sock.recv(65536)
            if not chunk:
                break
            received += chunk
    return bytes(received if limit is None else received[:limit])


def unix_exchange(path: str, data: bytes = b"", timeout: float = 10.0) -> bytes:
    """Like :func:`tcp_exchange` over a Unix stream socket."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.settimeout(timeout)
        sock.connect(path)
        if data:
            sock.sendall(data)
        sock.shutdown(socket.SHUT_WR)
        received = bytearray()
        while chunk := sock.recv(65536):
            received += chunk
    return bytes(received)


def udp_exchange(
    address: tuple[str, int],
    data: bytes,
    *,
    source: tuple[str, int] | None = None,
    timeout: float = 2.0,
) -> bytes | None:
    """Send one datagram and return the reply, or ``None`` after ``timeout``."""
    family = socket.AF_INET6 if ":" in address[0] else socket.AF_INET
    with socket.socket(family, socket.SOCK_DGRAM) as sock:
        sock.settimeout(timeout)
        if source is not None:
            sock.bind(source)
        sock.sendto(data, address)
        try:
            reply, _ = sock.recvfrom(65536)
        except TimeoutError:
            return None
    return reply


def openbsd_inetd_available() -> str | None:
    """Why openbsd-inetd cannot be compared with here, or ``None``."""
    if not os.path.exists(OPENBSD_INETD):
        return "openbsd-inetd is not installed (apt-get install openbsd-inetd)"
    if os.geteuid() != 0:
        return "openbsd-inetd's internal services need their privileged ports"
    return None


class OpenbsdInetd:
    """openbsd-inetd in debug mode on loopback, its internal services on 7..37."""

    SERVICES = ("echo", "discard", "daytime", "chargen", "time")

    def __init__(self, directory: Path) -> None:
        lines = []
        for host in ("127.0.0.1", "[::1]"):
            proto = "tcp4" if host[0] != "[" else "tcp6"
            for name in self.SERVICES:
                lines.append(f"{host}:{name} stream {proto} nowait root internal")
        for name in self.SERVICES:
            lines.append(f"[::1]:{name} dgram udp6 wait root internal")
        config = directory / "openbsd-inetd.conf"
        config.write_text("\n".join(lines) + "\n")
        self.count = len(lines)
        self.proc = subprocess.Popen(
            [OPENBSD_INETD, "-d", str(config)],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        self.out = Lines(self.proc.stderr)
        try:
            self.out.wait_count(r"^ADD: ", self.count)
        except AssertionError:
            self.stop()
            raise
        self._check_bound()

    def _check_bound(self) -> None:
        text = self.out.text()
        added = sum(1 for line in text.splitlines() if line.startswith("ADD: "))
        if added < self.count or "bind" in text:
            self.stop()
            raise RuntimeError(f"openbsd-inetd could not bind its ports:\n{text}")

    def stop(self) -> None:
        """Stop it."""
        if self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(TIMEOUT)
        if self.proc.stderr is not None:
            self.proc.stderr.close()


def unbound_port(host: str = "127.0.0.1", *, exclude: tuple[int, ...] = ()) -> int:
    """A TCP and UDP port free on ``host`` now, outside the ephemeral port range.

    A test that binds a port later, or unbinds and rebinds it (a reload that
    drops a service and brings it back), must not pick it from the range the
    kernel hands out to ``connect()``: any client socket of the test may take
    it as its local port meanwhile, and the bind then fails with
    ``EADDRINUSE``. So the port comes from below that range, chosen at random
    and checked free for both TCP and UDP (a bounded number of tries). Ports in
    ``exclude`` (chosen earlier by the same test, not bound yet) are skipped.
    """
    low, _high = map(
        int, Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()
    )
    first = 10000 if low > 11000 else 1024
    candidates = list(range(first, low))
    random.shuffle(candidates)
    for port in [p for p in candidates if p not in exclude][:200]:
        try:
            with socket.socket() as tcp, socket.socket(type=socket.SOCK_DGRAM) as udp:
                tcp.bind((host, port))
                udp.bind((host, port))
        except OSError:
            continue
        return port
    raise RuntimeError(f"no free port between {first} and {low}")
