"""Connections per second through an inetd: aiosock inetd against openbsd-inetd.

Each inetd runs as its own process pinned to core 0 (the children it forks
inherit the pinning), serving two services from a generated inetd.conf: the
internal echo service (openbsd-inetd finds its internal services by service
name, so it is on port 7) and a spawned ``/bin/cat`` per connection on a high
port. ``churngen`` pinned to core 1 connects, exchanges 100 bytes and closes,
10 clients at once. Each inetd listens on a loopback address of its own
(127.66.0.1 and up) so that nothing else on the machine is in the way, and the
rate limits (``nowait.MAX`` and openbsd-inetd's ``-R``) are set out of reach.

The server's CPU time here includes its reaped children (the spawned
programs, and openbsd-inetd's forked internal echo).
"""

from __future__ import annotations

import contextlib
import functools
import os
import pwd
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

from benchmarks._harness import (
    ServerFailed,
    children_cpu,
    python_env,
    taskset,
    wait_for_port,
)

OPENBSD_INETD = "/usr/sbin/inetd"
ECHO_PORT = 7
INETDS = {
    # id: (label, loopback address)
    "openbsd/inetd": ("openbsd-inetd", "127.66.0.1"),
    "uvloop/inetd": ("aiosock inetd (uvloop)", "127.66.0.2"),
    "asyncio/inetd": ("aiosock inetd (default loop)", "127.66.0.3"),
}


def free_port(host: str) -> int:
    with socket.socket() as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]


def config_text(host: str, cat_port: int) -> str:
    user = pwd.getpwuid(os.getuid()).pw_name
    return (
        f"{host}:echo\tstream\ttcp\tnowait.1000000\t{user}\tinternal\n"
        f"{host}:{cat_port}\tstream\ttcp\tnowait.1000000\t{user}\t/bin/cat\tcat\n"
    )


def why_not(server_id: str) -> str | None:
    """Why this inetd cannot run here, or None."""
    if server_id == "openbsd/inetd":
        if not Path(OPENBSD_INETD).exists():
            return "openbsd-inetd is not installed (apt-get install openbsd-inetd)"
        if not _is_openbsd_inetd():
            return f"{OPENBSD_INETD} is not openbsd-inetd"
        return None
    if "--config" not in _aiosock_help():
        return "`aiosock inetd --config FILE` is not available in this checkout"
    return None


@functools.cache
def _aiosock_help() -> str:
    done = subprocess.run(
        [sys.executable, "-m", "aiosock", "inetd", "--help"],
        capture_output=True,
        text=True,
        env=python_env(),
        timeout=60,
        check=False,
    )
    return done.stdout if done.returncode == 0 else ""


def aiosock_flags() -> list[str]:
    """The same settings as openbsd-inetd's, where this aiosock inetd has them.

    Rate limit out of reach, a backlog of 1024, and no log line per connection
    (openbsd-inetd writes none either).
    """
    wanted = {
        "--rate": ["--rate", "1000000"],
        "--backlog": ["--backlog", "1024"],
        "--quiet": ["--quiet"],
    }
    help_text = _aiosock_help()
    return [arg for flag, args in wanted.items() if flag in help_text for arg in args]


def _is_openbsd_inetd() -> bool:
    out = (
        subprocess.run(
            ["dpkg-query", "-S", OPENBSD_INETD],
            capture_output=True,
            text=True,
            check=False,
        ).stdout
        if shutil.which("dpkg-query")
        else "openbsd-inetd"
    )
    return "openbsd-inetd" in out


def cpu_with_children(pid: int) -> float:
    """User and system CPU of a process and of its reaped children."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return sum(int(f) for f in fields[11:15]) / os.sysconf("SC_CLK_TCK")


@contextlib.contextmanager
def running_inetd(server_id: str) -> Iterator[tuple[int, str, int]]:
    """Start one inetd; yield (pid, host, /bin/cat port); stop it."""
    _, host = INETDS[server_id]
    cat_port = free_port(host)
    with tempfile.TemporaryDirectory(prefix="aiosock-bench-inetd-") as tmp:
        conf = Path(tmp) / "inetd.conf"
        conf.write_text(config_text(host, cat_port))
        err = Path(tmp) / "stderr"
        if server_id == "openbsd/inetd":
            argv = [OPENBSD_INETD, "-i", "-R", "1000000", "-q", "1024", str(conf)]
            env = None
        else:
            argv = [
                sys.executable,
                "-m",
                "aiosock",
                "inetd",
                "--config",
                str(conf),
                *aiosock_flags(),
            ]
            env = dict(python_env(), AIOSOCK_LOOP=server_id.split("/", maxsplit=1)[0])
        with err.open("w") as errf:
            proc = subprocess.Popen(
                [*taskset(0), *argv],
                stdin=subprocess.DEVNULL,
                stdout=errf,
                stderr=errf,
                env=env,
            )
        try:
            try:
                wait_for_port(host, ECHO_PORT, 20)
                wait_for_port(host, cat_port, 5)
            except OSError as exc:
                tail = err.read_text(errors="replace").strip().splitlines()[-2:]
                raise ServerFailed(
                    f"{server_id} did not listen on {host}: {exc}; {' | '.join(tail)}"
                ) from exc
            time.sleep(0.2)  # let the probe connections' children finish
            yield proc.pid, host, cat_port
            if proc.poll() is not None:
                raise ServerFailed(f"{server_id} died (exit {proc.returncode})")
        finally:
            if proc.poll() is None:
                proc.terminate()
                try:
                    proc.wait(5)
                except subprocess.TimeoutExpired:
                    proc.kill()
            proc.wait()


def drive_inetd(
    churngen: Path,
    server_id: str,
    service: str,
    clients: int,
    size: int,
    seconds: float,
    warmup: float,
) -> dict[str, float]:
    """One measured run of churngen against a fresh inetd."""
    with running_inetd(server_id) as (pid, host, cat_port):
        port = ECHO_PORT if service == "echo" else cat_port
        before = cpu_with_children(pid)
        gen_before, t0 = children_cpu(), time.monotonic()
        try:
            done = subprocess.run(
                [
                    *taskset(1),
                    str(churngen),
                    "tcp",
                    host,
                    str(port),
                    str(clients),
                    str(size),
                    str(seconds),
                    str(warmup),
                ],
                capture_output=True,
                text=True,
                timeout=seconds + warmup + 60,
                check=False,
            )
        except subprocess.TimeoutExpired as exc:
            raise ServerFailed("churngen timed out") from exc
        gen_util = (children_cpu() - gen_before) / (time.monotonic() - t0)
        time.sleep(0.1)  # the last children are reaped
        cpu = cpu_with_children(pid) - before
        if done.returncode != 0:
            why = done.stderr.strip().splitlines()[-1:] or [f"exit {done.returncode}"]
            raise ServerFailed(f"churngen failed: {why[0]}")
        fields = {k: float(v) for k, v in (i.split("=") for i in done.stdout.split())}
    fields["rate"] = fields["messages"] / fields["seconds"]
    fields["gen_util"] = gen_util
    fields["cpu"] = cpu
    fields["per_cpu"] = fields["total"] / cpu if cpu > 0 else float("nan")
    return fields
