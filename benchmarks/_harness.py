"""Processes of a benchmark run: compile the C tools, start a server, drive it.

Strategy: every server is a process of its own that prints ``READY <port or
path>`` once it listens; it is pinned to core 0 and a C load generator pinned to
core 1 drives it for a fixed time. The server's CPU time is read from /proc
before and after, so that every run also gives messages per server CPU-second.
Every step is bounded in time, and every process started here is killed by its
own id when its step ends.
"""

from __future__ import annotations

import contextlib
import os
import select
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
READY_TIMEOUT = 30.0


class ServerFailed(RuntimeError):
    """A server did not start, or died while it was driven."""


def taskset(core: int) -> list[str]:
    """Pin to one core where taskset exists and the machine has two."""
    if shutil.which("taskset") and (os.cpu_count() or 1) >= 2:
        return ["taskset", "-c", str(core)]
    return []


def cpu_seconds(pid: int) -> float:
    """User plus system CPU time of a process, from /proc."""
    user, system, _ = process_counters(pid)
    return user + system


def process_counters(pid: int) -> tuple[float, float, int]:
    """User CPU seconds, system CPU seconds and minor page faults of a process."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    tick = os.sysconf("SC_CLK_TCK")
    return int(fields[11]) / tick, int(fields[12]) / tick, int(fields[7])


def steal_seconds() -> float:
    """CPU time the hypervisor took from this machine's cores (all of them)."""
    with open("/proc/stat") as stat:
        fields = stat.readline().split()
    steal = int(fields[8]) if len(fields) > 8 else 0
    return steal / os.sysconf("SC_CLK_TCK")


def rss_bytes(pid: int) -> int:
    """Resident set size of a process, from /proc."""
    pages = Path(f"/proc/{pid}/statm").read_text().split()[1]
    return int(pages) * os.sysconf("SC_PAGE_SIZE")


def open_fds(pid: int) -> int:
    """How many descriptors a process has open."""
    return len(os.listdir(f"/proc/{pid}/fd"))


def compile_c(name: str, workdir: Path) -> Path:
    """Compile ``benchmarks/NAME.c`` into workdir (once per run)."""
    exe = workdir / name
    if not exe.exists():
        cc = shutil.which("cc") or shutil.which("gcc")
        if cc is None:
            raise SystemExit(
                "a C compiler (cc or gcc) is needed for the load generators"
            )
        subprocess.run(
            [cc, "-O2", "-o", str(exe), str(HERE / f"{name}.c")],
            check=True,
            timeout=120,
        )
    return exe


def python_env() -> dict[str, str]:
    """The environment of a Python server: this checkout first on the path."""
    path = os.environ.get("PYTHONPATH")
    return dict(
        os.environ, PYTHONPATH=f"{ROOT}{os.pathsep}{path}" if path else str(ROOT)
    )


def _tail(path: Path, lines: int = 3) -> str:
    try:
        text = path.read_text(errors="replace").strip().splitlines()
    except OSError:
        return ""
    return " | ".join(text[-lines:])


@contextlib.contextmanager
def running_server(
    argv: list[str],
    name: str,
    ready_timeout: float = READY_TIMEOUT,
    env: dict[str, str] | None = None,
) -> Iterator[tuple[int, str]]:
    """Start a server pinned to core 0; yield (pid, what READY named); kill it.

    ``env`` adds variables to the server's environment; ``ready_timeout`` is how
    long it may take to print READY (longer under valgrind).
    """
    with tempfile.NamedTemporaryFile(prefix="aiosock-bench-", suffix=".err") as err:
        proc = subprocess.Popen(
            [*taskset(0), *argv],
            stdout=subprocess.PIPE,
            stderr=err,
            stdin=subprocess.DEVNULL,
            env={**python_env(), **(env or {})},
            text=True,
        )
        try:
            assert proc.stdout is not None
            ready, _, _ = select.select([proc.stdout], [], [], ready_timeout)
            line = proc.stdout.readline().split() if ready else []
            if len(line) < 2 or line[0] != "READY":
                proc.kill()
                proc.wait()
                why = _tail(Path(err.name)) or f"no READY line in {ready_timeout:g}s"
                raise ServerFailed(f"{name} did not start: {why}")
            yield proc.pid, line[1]
            if proc.poll() is not None:
                raise ServerFailed(f"{name} died: {_tail(Path(err.name))}")
        finally:
            if proc.poll() is None:
                proc.kill()
            proc.wait()


def drive(generator: list[str], server_pid: int, seconds: float) -> dict[str, float]:
    """Run a load generator pinned to core 1 against a running server.

    Returns the generator's ``key=value`` figures plus ``rate`` (measured
    messages per second), ``cpu`` (server CPU seconds over the whole run,
    warm-up included), ``per_cpu`` (messages, warm-up included, per server
    CPU-second), ``user_us`` and ``sys_us`` (the server's user and system CPU
    microseconds per message: user time is the server's own code, system time
    the kernel's work on its behalf), ``faults`` (the server's minor page
    faults per message), ``busy`` (the share of its core the server used: near
    1.0 means the server is what limits the rate), ``gen_util`` (the same for
    the load generator) and ``steal`` (the share of the machine's CPU time the
    hypervisor took meanwhile).
    """
    user0, sys0, faults0 = process_counters(server_pid)
    gen_before = children_cpu()
    steal0 = steal_seconds()
    t0 = time.monotonic()
    try:
        done = subprocess.run(
            [*taskset(1), *generator],
            capture_output=True,
            text=True,
            timeout=seconds + 60,
            check=False,
        )
    except subprocess.TimeoutExpired as exc:
        raise ServerFailed(f"the load generator timed out ({exc.timeout:g}s)") from exc
    wall = time.monotonic() - t0
    user1, sys1, faults1 = process_counters(server_pid)
    steal = steal_seconds() - steal0
    gen_util = (children_cpu() - gen_before) / wall
    if done.returncode != 0:
        why = done.stderr.strip().splitlines()[-1:] or [f"exit {done.returncode}"]
        raise ServerFailed(f"the load generator failed: {why[0]}")
    fields = {k: float(v) for k, v in (item.split("=") for item in done.stdout.split())}
    cpu = (user1 - user0) + (sys1 - sys0)
    total = fields["total"]
    fields["rate"] = fields["messages"] / fields["seconds"]
    fields["cpu"] = cpu
    fields["per_cpu"] = total / cpu if cpu > 0 else float("nan")
    if total > 0:
        fields["user_us"] = (user1 - user0) / total * 1e6
        fields["sys_us"] = (sys1 - sys0) / total * 1e6
        fields["faults"] = (faults1 - faults0) / total
    fields["busy"] = cpu / wall
    fields["gen_util"] = gen_util
    fields["steal"] = steal / (wall * (os.cpu_count() or 1))
    return fields


def children_cpu() -> float:
    """CPU seconds of this process's reaped children (the load generators)."""
    import resource

    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def wait_for_port(host: str, port: int, timeout: float) -> None:
    """Wait until something accepts connections on host:port."""
    import socket

    deadline = time.monotonic() + timeout
    while True:
        try:
            with socket.create_connection((host, port), timeout=1):
                return
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)


def raise_fd_limit() -> int:
    """Raise this process's descriptor limit to the hard limit (children inherit)."""
    import resource

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return hard


def interpreter() -> str:
    """The Python that runs the Python servers: this one."""
    return sys.executable
