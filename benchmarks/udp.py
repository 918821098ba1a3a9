"""Run the datagram echo benchmarks: ``python -m benchmarks.udp [--quick]``.

As ``python -m benchmarks`` does for streams: each server in its own process
pinned to core 0, the C load generator (``udpgen.c``) pinned to core 1, servers
measured interleaved for several rounds, every figure a ratio to the bare uvloop
``DatagramProtocol`` measured in the same round, plus messages per CPU-second of
the server (steadier than rates on a shared machine).
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
    ("uvloop", "serve_datagram"),
    ("uvloop", "open_datagram"),
    ("asyncio", "protocol"),
    ("asyncio", "serve_datagram"),
    ("asyncio", "open_datagram"),
]
WORKLOADS = {
    "udp-100-x20": ("udp", 20, 100),
    "unixgram-100-x20": ("unixgram", 20, 100),
}
BASE = ("uvloop", "protocol")


def taskset(core: int) -> list[str]:
    """Pin to one core where taskset exists and the machine has two."""
    if shutil.which("taskset") and (os.cpu_count() or 1) >= 2:
        return ["taskset", "-c", str(core)]
    return []


def cpu_seconds(pid: int) -> float:
    """User plus system CPU time of a process, from /proc."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def build_udpgen(workdir: Path) -> Path:
    """Compile the C load generator."""
    exe = workdir / "udpgen"
    cc = shutil.which("cc") or shutil.which("gcc")
    if cc is None:
        raise SystemExit("a C compiler (cc or gcc) is needed for the load generator")
    subprocess.run([cc, "-O2", "-o", str(exe), str(HERE / "udpgen.c")], check=True)
    return exe


def run_one(
    udpgen: Path,
    loop: str,
    kind: str,
    transport: str,
    socks: int,
    size: int,
    seconds: float,
    workdir: Path,
) -> tuple[float, float, int]:
    """Start one server, drive it; return msg/s, msg per CPU-second and losses."""
    if transport == "unixgram":
        path = workdir / f"{loop}-{kind}.sock"
        path.unlink(missing_ok=True)
        endpoint = f"unixgram:{path}"
    else:
        endpoint = "udp://127.0.0.1:0"
    env = {"PYTHONPATH": str(HERE.parent), "PATH": "/usr/bin:/bin"}
    server = subprocess.Popen(
        [
            *taskset(0),
            sys.executable,
            "-m",
            "benchmarks.udp_servers",
            kind,
            loop,
            endpoint,
        ],
        stdout=subprocess.PIPE,
        env=env,
        text=True,
    )
    try:
        assert server.stdout is not None
        line = server.stdout.readline().split()
        if not line or line[0] != "READY":
            raise RuntimeError(f"server {loop}/{kind} did not start")
        target = [str(path)] if transport == "unixgram" else ["127.0.0.1", line[1]]
        cpu_before = cpu_seconds(server.pid)
        out = subprocess.run(
            [
                *taskset(1),
                str(udpgen),
                transport,
                *target,
                str(socks),
                str(size),
                str(seconds),
            ],
            capture_output=True,
            text=True,
            timeout=seconds + 30,
            check=True,
        ).stdout
        cpu = cpu_seconds(server.pid) - cpu_before
        fields = dict(item.split("=") for item in out.split())
        rate = int(fields["messages"]) / float(fields["seconds"])
        per_cpu_second = int(fields["total"]) / cpu if cpu > 0 else float("nan")
        return rate, per_cpu_second, int(fields["lost"])
    finally:
        server.kill()
        server.wait()


def main() -> None:
    """Run every workload against every server and print ratios."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks.udp")
    parser.add_argument("--quick", action="store_true", help="short runs")
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
        if BASE not in servers:
            servers.insert(0, BASE)
    with tempfile.TemporaryDirectory(prefix="aiosock-bench-") as tmp:
        workdir = Path(tmp)
        udpgen = build_udpgen(workdir)
        for name in args.workload or list(WORKLOADS):
            transport, socks, size = WORKLOADS[name]
            ratios: dict[tuple[str, str], list[float]] = {s: [] for s in servers}
            rates: dict[tuple[str, str], list[float]] = {s: [] for s in servers}
            cpu_ratios: dict[tuple[str, str], list[float]] = {s: [] for s in servers}
            per_cpu: dict[tuple[str, str], list[float]] = {s: [] for s in servers}
            losses: dict[tuple[str, str], int] = dict.fromkeys(servers, 0)
            for _ in range(rounds):
                results = {
                    s: run_one(udpgen, *s, transport, socks, size, seconds, workdir)
                    for s in servers
                }
                base, cpu_base, _ = results[BASE]
                for s, (rate, cpu_rate, lost) in results.items():
                    ratios[s].append(rate / base)
                    rates[s].append(rate)
                    per_cpu[s].append(cpu_rate)
                    cpu_ratios[s].append(cpu_rate / cpu_base)
                    losses[s] += lost
            print(f"\n## {name} ({rounds} rounds x {seconds:g}s)")
            print(
                "| server | msg/s | x bare uvloop DatagramProtocol (median, min-max) "
                "| msg per server CPU-s | x bare | lost |"
            )
            print("| --- | ---: | ---: | ---: | ---: | ---: |")
            for s in servers:
                r, c = ratios[s], cpu_ratios[s]
                print(
                    f"| {s[0]} {s[1]} | {statistics.median(rates[s]):,.0f} | "
                    f"{statistics.median(r):.2f} ({min(r):.2f}-{max(r):.2f}) | "
                    f"{statistics.median(per_cpu[s]):,.0f} | "
                    f"{statistics.median(c):.2f} ({min(c):.2f}-{max(c):.2f}) | "
                    f"{losses[s]} |"
                )


if __name__ == "__main__":
    main()
