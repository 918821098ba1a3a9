"""Run the benchmark suite: ``python -m benchmarks [--quick] [--publish] ...``.

Each server runs in its own process pinned to core 0; a C load generator runs
pinned to core 1. Servers are measured interleaved (A B C ... A B C ...) for
several rounds, and every figure is reported as a ratio to the bare uvloop
``Protocol`` measured in the same round, so that machine noise cancels out.

The run installs the peers into an environment of its own first (see
``benchmarks/_env.py``), prints a markdown table per workload as it goes, and
writes ``benchmarks/results/<date>-<mode>.json`` (every round of every server),
a markdown report beside it and PNG charts. ``--publish`` then copies the run
into the docs (``benchmarks/report.py``).
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import sys
import tempfile
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any, TypeVar

from benchmarks import _env, catalog, memory, report
from benchmarks._harness import (
    HERE,
    ServerFailed,
    compile_c,
    cpu_seconds,
    drive,
    interpreter,
    raise_fd_limit,
    running_server,
    taskset,
)
from benchmarks.machine import describe

T = TypeVar("T")

__all__ = ["HERE", "cpu_seconds", "main", "taskset"]

RESULTS = HERE / "results"
QUICK = {"rounds": 1, "seconds": 0.3, "warmup": 0.1, "idle": 500}
FULL = {"rounds": 7, "seconds": 2.0, "warmup": 0.5, "idle": 10_000}


def parse_args(argv: list[str]) -> argparse.Namespace:
    names = [w.name for w in catalog.WORKLOADS]
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks",
        description="aiosock's benchmark suite against its peers (issue 8).",
    )
    parser.add_argument(
        "--quick",
        action="store_true",
        help="one short round of the quick set of servers (under a minute)",
    )
    parser.add_argument("--rounds", type=int, help="rounds (interleaved repeats)")
    parser.add_argument("--seconds", type=float, help="measured seconds per run")
    parser.add_argument("--warmup", type=float, help="seconds before measuring")
    parser.add_argument("--workload", action="append", choices=names)
    parser.add_argument(
        "--server",
        action="append",
        metavar="LOOP/KIND",
        help="servers to include (the base and the C server always are)",
    )
    parser.add_argument(
        "--all-servers", action="store_true", help="every server even with --quick"
    )
    parser.add_argument("--idle-connections", type=int, help="for idle-10k")
    parser.add_argument("--note", default="", help="a note on the machine's load")
    parser.add_argument("--out", type=Path, default=RESULTS, help="results folder")
    parser.add_argument(
        "--publish", action="store_true", help="publish the run into docs/ at the end"
    )
    parser.add_argument(
        "--no-env",
        action="store_true",
        help="run with this interpreter; skip the peers it lacks",
    )
    parser.add_argument("--list", action="store_true", help="list and exit")
    parser.add_argument(
        "--instructions",
        action="store_true",
        help="count instructions per message with callgrind instead (the same as "
        "python -m benchmarks.instructions; the options after it are its own: "
        "--instructions --help)",
    )
    return parser.parse_args(argv)


def choose_servers(
    workload: catalog.Workload, args: argparse.Namespace
) -> list[catalog.Server]:
    servers = catalog.servers_for(workload)
    keep = {workload.base, catalog.C_SERVER}
    if args.server:
        servers = [s for s in servers if s.id in keep or s.id in args.server]
    elif args.quick and not args.all_servers:
        servers = [s for s in servers if s.quick]
    return servers


def unavailable(server: catalog.Server, workload: catalog.Workload) -> str | None:
    """Why a server cannot run here, or None."""
    import importlib.util

    need = catalog.NEEDS.get(server.id)
    if need and importlib.util.find_spec(need) is None:
        return f"{need} is not installed in this environment"
    if server.module and not (HERE / f"{server.module.split('.')[-1]}.py").exists():
        return f"{server.module} is not in this checkout"
    if workload.generator and not (HERE / f"{workload.generator}.c").exists():
        return f"benchmarks/{workload.generator}.c is not in this checkout"
    return None


def endpoint_for(workload: catalog.Workload, workdir: Path, index: int) -> str:
    if workload.transport in {"unix", "unixgram"}:
        path = workdir / f"s{index}.sock"
        path.unlink(missing_ok=True)
        return f"{workload.transport}:{path}"
    return f"{workload.transport}://127.0.0.1:0"


def generator_argv(
    exe: Path, workload: catalog.Workload, where: str, settings: dict[str, Any]
) -> list[str]:
    target = (
        [where] if workload.transport in {"unix", "unixgram"} else ["127.0.0.1", where]
    )
    return [
        str(exe),
        workload.transport,
        *target,
        str(workload.clients),
        str(workload.size),
        str(settings["seconds"]),
        str(settings["warmup"]),
    ]


def in_round_order(items: Iterable[T], round_index: int) -> list[T]:
    """``items`` in order in even rounds and reversed in odd ones.

    A ratio is taken between two servers of one round. Measured always in one
    order, the later server of a pair would always meet whatever builds up over a
    round (a drift of the machine, what the servers before it left behind);
    alternating the direction makes that land on each side of a pair in turn.
    """
    ordered = list(items)
    return ordered if round_index % 2 == 0 else ordered[::-1]


def run_echo(
    workload: catalog.Workload,
    servers: list[catalog.Server],
    rounds: int,
    settings: dict[str, Any],
    workdir: Path,
    record: dict[str, Any],
) -> None:
    """Interleaved rounds of one echo or churn workload."""
    gen = compile_c(workload.generator, workdir)
    c_server = compile_c("echo_server", workdir)
    for round_index in range(rounds):
        this_round: dict[str, Any] = {}
        for index, server in in_round_order(enumerate(servers), round_index):
            if server.id in record["skipped"]:
                continue
            endpoint = endpoint_for(workload, workdir, index)
            argv = server.argv(interpreter(), endpoint, c_server)
            try:
                with running_server(argv, server.id, env=dict(server.env)) as (
                    pid,
                    where,
                ):
                    this_round[server.id] = drive(
                        generator_argv(gen, workload, where, settings),
                        pid,
                        settings["seconds"] + settings["warmup"],
                    )
            except ServerFailed as exc:
                this_round[server.id] = {"error": str(exc)}
                if "did not start" in str(exc):
                    record["skipped"][server.id] = str(exc)
        record["rounds"].append(this_round)


def run_idle(
    workload: catalog.Workload,
    servers: list[catalog.Server],
    rounds: int,
    settings: dict[str, Any],
    workdir: Path,
    record: dict[str, Any],
) -> None:
    """Memory per idle connection, each server in turn, interleaved rounds."""
    count = settings["idle"]
    c_server = compile_c("echo_server", workdir)
    for _ in range(rounds):
        this_round: dict[str, Any] = {}
        for index, server in enumerate(servers):
            if server.id in record["skipped"]:
                continue
            argv = server.argv(
                interpreter(), endpoint_for(workload, workdir, index), c_server
            )
            try:
                with running_server(argv, server.id) as (pid, where):
                    this_round[server.id] = memory.measure_idle(pid, int(where), count)
            except (ServerFailed, OSError) as exc:
                this_round[server.id] = {"error": str(exc)}
                if "did not start" in str(exc):
                    record["skipped"][server.id] = str(exc)
        record["rounds"].append(this_round)
    try:
        record["extra"]["aiosock_heap"] = memory.aiosock_heap(count, 300)
    except (ServerFailed, OSError, ValueError) as exc:
        record["extra"]["aiosock_heap_error"] = str(exc)


def run_inetd(
    workload: catalog.Workload,
    rounds: int,
    settings: dict[str, Any],
    workdir: Path,
    record: dict[str, Any],
) -> None:
    """Connections per second through each inetd, interleaved rounds."""
    from benchmarks import inetd_bench

    churngen = compile_c("churngen", workdir)
    service = workload.name.removeprefix("inetd-")
    ids = [s["id"] for s in record["servers"]]
    for sid in ids:
        why = inetd_bench.why_not(sid)
        if why:
            record["skipped"][sid] = why
            print(f"  skipping {sid}: {why}", flush=True)
    for round_index in range(rounds):
        this_round: dict[str, Any] = {}
        for sid in in_round_order(ids, round_index):
            if sid in record["skipped"]:
                continue
            try:
                this_round[sid] = inetd_bench.drive_inetd(
                    churngen,
                    sid,
                    service,
                    workload.clients,
                    workload.size,
                    settings["seconds"],
                    settings["warmup"],
                )
            except (ServerFailed, OSError) as exc:
                this_round[sid] = {"error": str(exc)}
                if "did not listen" in str(exc):
                    record["skipped"][sid] = str(exc)
        record["rounds"].append(this_round)


def new_record(
    workload: catalog.Workload, servers: list[dict[str, str]]
) -> dict[str, Any]:
    return {
        "name": workload.name,
        "title": workload.title,
        "style": workload.style,
        "transport": workload.transport,
        "clients": workload.clients,
        "size": workload.size,
        "unit": workload.unit,
        "metric": "rss_per_conn" if workload.style == "idle" else "rate",
        "latency": workload.latency,
        "base": workload.base,
        "notes": workload.notes,
        "servers": servers,
        "rounds": [],
        "skipped": {},
        "extra": {},
    }


def run_workload(
    workload: catalog.Workload,
    args: argparse.Namespace,
    settings: dict[str, Any],
    workdir: Path,
) -> dict[str, Any]:
    rounds = settings["rounds"]
    if workload.style == "inetd":
        from benchmarks.inetd_bench import INETDS

        servers = [
            {"id": k, "label": v[0], "group": "peer" if k == k0 else "aiosock"}
            for k0 in [workload.base]
            for k, v in INETDS.items()
        ]
        record = new_record(workload, servers)
        run_inetd(workload, rounds, settings, workdir, record)
        return record
    chosen = choose_servers(workload, args)
    record = new_record(
        workload, [{"id": s.id, "label": s.label, "group": s.group} for s in chosen]
    )
    for server in chosen:
        why = unavailable(server, workload)
        if why:
            record["skipped"][server.id] = why
            print(f"  skipping {server.id}: {why}", flush=True)
    if workload.style == "idle":
        idle_rounds = 1 if args.quick and not args.rounds else min(rounds, 3)
        run_idle(workload, chosen, idle_rounds, settings, workdir, record)
    else:
        run_echo(workload, chosen, rounds, settings, workdir, record)
    return record


def main(argv: list[str] | None = None) -> None:
    """Run the chosen workloads against the chosen servers; write the results."""
    argv = sys.argv[1:] if argv is None else argv
    if "--instructions" in argv:
        from benchmarks import instructions

        instructions.main([a for a in argv if a != "--instructions"])
        return
    args = parse_args(argv)
    if args.list:
        for w in catalog.WORKLOADS:
            print(f"{w.name:18} {w.title}")
        print()
        for s in catalog.SERVERS:
            print(f"{s.id:26} {'/'.join(sorted(s.styles)):16} {s.label}")
        from benchmarks.inetd_bench import INETDS

        for sid, (label, _) in INETDS.items():
            print(f"{sid:26} {'inetd':16} {label}")
        return
    if not args.no_env:
        _env.ensure(argv)
    base = QUICK if args.quick else FULL
    settings = {
        "rounds": args.rounds or base["rounds"],
        "seconds": args.seconds or base["seconds"],
        "warmup": args.warmup if args.warmup is not None else base["warmup"],
        "idle": args.idle_connections or base["idle"],
        "idle_batch": memory.BATCH,
    }
    raise_fd_limit()
    workloads = [
        w for w in catalog.WORKLOADS if not args.workload or w.name in args.workload
    ]
    started = datetime.datetime.now(datetime.UTC)
    t0 = time.monotonic()
    results: dict[str, Any] = {
        "schema": "aiosock-benchmarks/1",
        "started": started.strftime("%Y-%m-%d %H:%M"),
        "mode": "quick" if args.quick else "full",
        "command": "python -m benchmarks " + " ".join(argv),
        "settings": settings,
        "settings_text": (
            f"{settings['rounds']} round(s) x {settings['seconds']:g} s after "
            f"{settings['warmup']:g} s of warm-up; {settings['idle']:,} idle "
            "connections"
        ),
        "load": {"before": list(os.getloadavg()), "note": args.note},
        **describe(),
        "workloads": [],
    }
    with tempfile.TemporaryDirectory(prefix="aiosock-bench-") as tmp:
        for workload in workloads:
            print(f"\n{workload.name}: {workload.title}", flush=True)
            w0 = time.monotonic()
            record = run_workload(workload, args, settings, Path(tmp))
            record["duration_s"] = time.monotonic() - w0
            record["summary"] = report.summarize(record)
            record["headroom"] = report.headroom(record)
            results["workloads"].append(record)
            print(report.workload_markdown(record, settings), flush=True)
    results["load"]["after"] = list(os.getloadavg())
    results["duration_s"] = time.monotonic() - t0
    write_outputs(results, args)


def write_outputs(results: dict[str, Any], args: argparse.Namespace) -> None:
    args.out.mkdir(parents=True, exist_ok=True)
    stamp = results["started"].replace("-", "").replace(":", "").replace(" ", "-")
    stem = args.out / f"{stamp}-{results['mode']}"
    json_path = stem.with_suffix(".json")
    json_path.write_text(json.dumps(results, indent=1) + "\n")
    stem.with_suffix(".md").write_text(report.markdown(results))
    print(f"results: {json_path}\nreport:  {stem.with_suffix('.md')}")
    try:
        from benchmarks import charts

        stem.mkdir(exist_ok=True)
        charts.draw_all(results, stem)
        print(f"charts:  {stem}/")
    except ImportError:
        print("charts:  skipped (matplotlib is not installed here)")
    if args.publish:
        report.publish(json_path)


if __name__ == "__main__":
    main()
