"""Run the echo benchmarks: ``python -m benchmarks [--quick] [--rounds N]``.

Each server runs in its own process pinned to core 0; the C load generator runs
pinned to core 1. Servers are measured interleaved (A B C ... A B C ...) for
several rounds, and every figure is reported as a ratio to the bare uvloop
``Protocol`` measured in the same round, so that machine noise cancels out.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
SERVERS = [
    ("uvloop", "protocol"),
    ("uvloop", "serve_protocol"),
    ("uvloop", "stream"),
    ("uvloop", "asyncio_streams"),
    ("asyncio", "protocol"),
    ("asyncio", "serve_protocol"),
    ("asyncio", "stream"),
    ("asyncio", "asyncio_streams"),
]
WORKLOADS = {
    "tcp-1k-x50": ("tcp", 50, 1024),
    "tcp-64k-x10": ("tcp", 10, 65536),
    "unix-1k-x50": ("unix", 50, 1024),
}


def build_loadgen(workdir: Path) -> Path:
    """Compile the C load generator."""
    exe = workdir / "loadgen"
    cc = shutil.which("cc") or shutil.which("gcc")
    if cc is None:
        raise SystemExit("a C compiler (cc or gcc) is needed for the load generator")
    subprocess.run([cc, "-O2", "-o", str(exe), str(HERE / "loadgen.c")], check=True)
    return exe


def taskset(core: int) -> list[str]:
    """Pin to one core where taskset exists and the machine has two."""
    if shutil.which("taskset") and (os.cpu_count() or 1) >= 2:
        return ["taskset", "-c", str(core)]
    return []


def cpu_seconds(pid: int) -> float:
    """User plus system CPU time of a process, from /proc."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def run_one(
    loadgen: Path, loop: str, kind: str, transport: str, conns: int, size: int,
    seconds: float, workdir: Path,
) -> tuple[float, float]:
    """Start one server, drive it; return messages per second and per CPU second."""
    if transport == "unix":
        path = workdir / f"{loop}-{kind}.sock"
        path.unlink(missing_ok=True)
        endpoint = f"unix:{path}"
    else:
        endpoint = "tcp://127.0.0.1:0"
    env = dict(os.environ, PYTHONPATH=str(HERE.parent))
    server = subprocess.Popen(
        [*taskset(0), sys.executable, "-m", "benchmarks.servers", kind, loop, endpoint],
        stdout=subprocess.PIPE, env=env, text=True,
    )
    try:
        assert server.stdout is not None
        line = server.stdout.readline().split()
        if not line or line[0] != "READY":
            raise RuntimeError(f"server {loop}/{kind} did not start")
        target = [str(path)] if transport == "unix" else ["127.0.0.1", line[1]]
        cpu_before = cpu_seconds(server.pid)
        out = subprocess.run(
            [*taskset(1), str(loadgen), transport, *target, str(conns), str(size),
             str(seconds)],
            capture_output=True, text=True, timeout=seconds + 30, check=True,
        ).stdout
        cpu = cpu_seconds(server.pid) - cpu_before
        fields = dict(item.split("=") for item in out.split())
        rate = int(fields["messages"]) / float(fields["seconds"])
        per_cpu_second = int(fields["total"]) / cpu if cpu > 0 else float("nan")
        return rate, per_cpu_second
    finally:
        server.kill()
        server.wait()


def main() -> None:
    """Run every workload against every server and print ratios."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks")
    parser.add_argument("--quick", action="store_true", help="short runs (~1 min)")
    parser.add_argument("--rounds", type=int, default=None)
    parser.add_argument("--seconds", type=float, default=None)
    parser.add_argument("--workload", action="append", choices=sorted(WORKLOADS))
    parser.add_argument("--server", action="append", help="LOOP/KIND to include")
    args = parser.parse_args()
    rounds = args.rounds or (2 if args.quick else 5)
    seconds = args.seconds or (1.0 if args.quick else 3.0)
    servers = SERVERS
    if args.server:
        servers = [s for s in SERVERS if "/".join(s) in args.server]
        if ("uvloop", "protocol") not in servers:
            servers.insert(0, ("uvloop", "protocol"))
    with tempfile.TemporaryDirectory(prefix="aiosock-bench-") as tmp:
        workdir = Path(tmp)
        loadgen = build_loadgen(workdir)
        for name in args.workload or list(WORKLOADS):
            transport, conns, size = WORKLOADS[name]
            ratios: dict[tuple[str, str], list[float]] = {s: [] for s in servers}
            rates: dict[tuple[str, str], list[float]] = {s: [] for s in servers}
            cpu_ratios: dict[tuple[str, str], list[float]] = {s: [] for s in servers}
            for _ in range(rounds):
                results = {
                    s: run_one(loadgen, *s, transport, conns, size, seconds, workdir)
                    for s in servers
                }
                base, cpu_base = results[("uvloop", "protocol")]
                for s, (rate, per_cpu) in results.items():
                    ratios[s].append(rate / base)
                    rates[s].append(rate)
                    cpu_ratios[s].append(per_cpu / cpu_base)
            print(f"\n## {name} ({rounds} rounds x {seconds:g}s)")
            print(
                "| server | msg/s | x bare uvloop Protocol (median, min-max) "
                "| msg per CPU-s, x bare |"
            )
            print("| --- | ---: | ---: | ---: |")
            for s in servers:
                r, c = ratios[s], cpu_ratios[s]
                print(
                    f"| {s[0]} {s[1]} | {statistics.median(rates[s]):,.0f} | "
                    f"{statistics.median(r):.2f} ({min(r):.2f}-{max(r):.2f}) | "
                    f"{statistics.median(c):.2f} ({min(c):.2f}-{max(c):.2f}) |"
                )


if __name__ == "__main__":
    main()
