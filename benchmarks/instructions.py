"""Instructions per message by callgrind: ``python -m benchmarks.instructions``.

The throughput figures of ``python -m benchmarks`` move by tens of per cent when
something else runs on the machine. This counts instead the machine instructions
a server executes in user space per echoed message, with valgrind's callgrind: a
count that stays the same whatever else the machine is doing. Kernel time,
system calls and cache or branch effects are not in it, so it complements the
throughput tables rather than replaces them.

Strategy, per server and transport: start ``valgrind --tool=callgrind
--instr-atstart=no python -m benchmarks.servers KIND LOOP ENDPOINT`` (or
``benchmarks.udp_servers``) pinned to core 0 and wait for its READY line; warm it
up, uninstrumented, with each load it will get; turn the instrumentation on
(``callgrind_control -i on PID``). Then for each load, with the C generator
pinned to core 1:

1. a zero-second drive (each connection connects, sends one message, closes),
   wait until the server is idle, dump (``callgrind_control -d PID``);
2. a timed drive with no warm-up argument, so that the generator's ``total=``
   counts every exchange it completed; wait until idle; dump.

The figure is (Ir of the timed drive - Ir of the zero-second drive) / total: the
costs of connecting, of the message left in flight on each connection and of
closing are in both dumps and cancel out. Both dumps' totals are kept in the
results file. Every wait is bounded, and the server is killed at the end of its
session whatever happens.

``--publish`` copies the results into ``docs/benchmarks/instructions.json`` and
regenerates ``docs/benchmarks.rst`` from the files published there (the
throughput run is neither re-run nor redrawn).
"""

from __future__ import annotations

import argparse
import datetime
import json
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from benchmarks import _env, catalog
from benchmarks._harness import (
    HERE,
    ServerFailed,
    compile_c,
    cpu_seconds,
    interpreter,
    raise_fd_limit,
    running_server,
    taskset,
)
from benchmarks.machine import python_text

RESULTS = HERE / "results"
DOCS = HERE.parent / "docs"
SCHEMA = "aiosock-instructions/1"
READY_TIMEOUT = 180.0  # a Python server under valgrind starts in seconds, not ms
CONTROL_TIMEOUT = 60.0  # one callgrind_control command
SETTLE_LIMIT = 30.0  # for the server to go idle after a drive
FULL = {"seconds": 2.0, "warmup": 0.5}
QUICK = {"seconds": 1.0, "warmup": 0.3}
QUICK_WORKLOADS = ("tcp-1k-x1",)
QUICK_SERVERS = (
    "uvloop/protocol",
    "uvloop/serve_protocol",
    "uvloop/stream",
    "uvloop/asyncio_streams",
)
MODULES = {"stream": "benchmarks.servers", "datagram": "benchmarks.udp_servers"}
INSTALL = (
    "valgrind is not installed here: instructions are counted with its callgrind "
    "tool and callgrind_control. Install it (Debian, Ubuntu: apt-get install "
    "valgrind) and run this again."
)


@dataclass(frozen=True)
class Load:
    """One load: a transport, a generator, how many connections, what size."""

    name: str
    title: str
    style: str  # "stream" or "datagram"
    transport: str  # "tcp", "unix", "udp"
    clients: int
    size: int

    @property
    def generator(self) -> str:
        return "loadgen" if self.style == "stream" else "udpgen"


LOADS: tuple[Load, ...] = (
    Load("tcp-1k-x1", "TCP, 1 KiB ping-pong, 1 connection", "stream", "tcp", 1, 1024),
    Load(
        "tcp-1k-x50", "TCP, 1 KiB ping-pong, 50 connections", "stream", "tcp", 50, 1024
    ),
    Load(
        "unix-1k-x1",
        "Unix stream, 1 KiB ping-pong, 1 connection",
        "stream",
        "unix",
        1,
        1024,
    ),
    Load(
        "unix-1k-x50",
        "Unix stream, 1 KiB ping-pong, 50 connections",
        "stream",
        "unix",
        50,
        1024,
    ),
    Load("udp-100-x1", "UDP, 100 B ping-pong, 1 socket", "datagram", "udp", 1, 100),
    Load("udp-100-x20", "UDP, 100 B ping-pong, 20 sockets", "datagram", "udp", 20, 100),
)


def servers(style: str) -> list[catalog.Server]:
    """The servers of servers.py or udp_servers.py, in catalogue order."""
    return [s for s in catalog.SERVERS if s.module == MODULES[style] and not s.variant]


# Talking to callgrind ----------------------------------------------------------


def valgrind_version() -> str | None:
    """valgrind's version, or None when valgrind or callgrind_control is missing."""
    if not (shutil.which("valgrind") and shutil.which("callgrind_control")):
        return None
    done = subprocess.run(
        ["valgrind", "--version"],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    return done.stdout.strip() or "valgrind"


def control(pid: int, *options: str) -> None:
    """One ``callgrind_control`` command to a server; raise unless it says OK."""
    try:
        done = subprocess.run(
            ["callgrind_control", *options, str(pid)],
            capture_output=True,
            text=True,
            timeout=CONTROL_TIMEOUT,
            check=False,
        )
    except subprocess.TimeoutExpired as exc:
        raise ServerFailed(f"callgrind_control {' '.join(options)} timed out") from exc
    if done.returncode != 0 or "OK" not in done.stdout:
        why = (done.stdout + done.stderr).strip().splitlines()[:1] or ["no answer"]
        raise ServerFailed(f"callgrind_control {' '.join(options)}: {why[0]}")


def read_total(path: Path) -> int:
    """The Ir total of a callgrind output file (its ``totals:``/``summary:`` line)."""
    events = ["Ir"]
    total = None
    for line in path.read_text(errors="replace").splitlines():
        if line.startswith("events:"):
            events = line.split()[1:]
        elif line.startswith(("totals:", "summary:")):
            total = int(line.split()[1:][events.index("Ir")])
    if total is None:
        raise ValueError(f"{path} has no totals line")
    return total


def dump(pid: int, dumps: Path) -> int:
    """Dump the counters since the last dump (which zeroes them); return their Ir."""
    before = set(dumps.glob(f"cg.{pid}.*"))
    control(pid, "-d")
    deadline = time.monotonic() + CONTROL_TIMEOUT
    while time.monotonic() < deadline:
        new = sorted(
            set(dumps.glob(f"cg.{pid}.*")) - before,
            key=lambda p: int(p.suffix[1:]),
        )
        if new:
            try:
                return read_total(new[-1])
            except ValueError:
                pass  # still being written
        time.sleep(0.05)
    raise ServerFailed("callgrind wrote no dump")


def settle(pid: int) -> None:
    """Wait until the server has used no CPU for a moment (it is done echoing)."""
    deadline = time.monotonic() + SETTLE_LIMIT
    last = cpu_seconds(pid)
    while time.monotonic() < deadline:
        time.sleep(0.25)
        now = cpu_seconds(pid)
        if now == last:
            return
        last = now
    raise ServerFailed(f"the server was still busy {SETTLE_LIMIT:g}s after a drive")


# Driving -----------------------------------------------------------------------


def generate(exe: Path, load: Load, where: str, seconds: float) -> dict[str, float]:
    """Run the load generator pinned to core 1 for seconds (no warm-up)."""
    target = [where] if load.transport == "unix" else ["127.0.0.1", where]
    argv = [
        *taskset(1),
        str(exe),
        load.transport,
        *target,
        str(load.clients),
        str(load.size),
        f"{seconds:g}",
        "0",
    ]
    try:
        done = subprocess.run(
            argv, capture_output=True, text=True, timeout=seconds + 60, check=False
        )
    except subprocess.TimeoutExpired as exc:
        raise ServerFailed(f"the load generator timed out ({exc.timeout:g}s)") from exc
    if done.returncode != 0:
        why = done.stderr.strip().splitlines()[-1:] or [f"exit {done.returncode}"]
        raise ServerFailed(f"the load generator failed: {why[0]}")
    return {k: float(v) for k, v in (item.split("=") for item in done.stdout.split())}


def endpoint(load: Load, workdir: Path, index: int) -> str:
    if load.transport == "unix":
        path = workdir / f"i{index}.sock"
        path.unlink(missing_ok=True)
        return f"unix:{path}"
    return f"{load.transport}://127.0.0.1:0"


def session(
    server: catalog.Server,
    loads: list[Load],
    settings: dict[str, Any],
    workdir: Path,
    dumps: Path,
    index: int,
) -> dict[str, dict[str, Any]]:
    """One server under callgrind through every load of one transport."""
    gens = {load.name: compile_c(load.generator, workdir) for load in loads}
    argv = [
        "valgrind",
        "--tool=callgrind",
        "--instr-atstart=no",
        f"--callgrind-out-file={dumps}/cg.%p",
        *server.argv(interpreter(), endpoint(loads[0], workdir, index), Path()),
    ]
    out: dict[str, dict[str, Any]] = {}
    # Hash randomisation would move dict and set layouts between runs.
    with running_server(argv, server.id, READY_TIMEOUT, {"PYTHONHASHSEED": "0"}) as (
        pid,
        where,
    ):
        for load in loads:
            generate(gens[load.name], load, where, settings["warmup"])
        settle(pid)
        control(pid, "-i", "on")
        for load in loads:
            generate(gens[load.name], load, where, 0)
            settle(pid)
            fixed = dump(pid, dumps)
            drive = generate(gens[load.name], load, where, settings["seconds"])
            settle(pid)
            ir = dump(pid, dumps)
            total = int(drive["total"])
            if total <= 0:
                raise ServerFailed(f"{load.name}: no message was echoed")
            out[load.name] = {
                "ir": ir,
                "fixed_ir": fixed,
                "total": total,
                "seconds": drive["seconds"],
                "lost": int(drive.get("lost", 0)),
                "per_message": (ir - fixed) / total,
                "gross_per_message": ir / total,
            }
    return out


def run(
    loads: list[Load], chosen: set[str] | None, settings: dict[str, Any]
) -> list[dict[str, Any]]:
    """Every chosen server through every chosen load; one record per load."""
    records: dict[str, dict[str, Any]] = {
        load.name: {
            "name": load.name,
            "title": load.title,
            "style": load.style,
            "transport": load.transport,
            "clients": load.clients,
            "size": load.size,
            "base": catalog.BASE,
            "servers": [
                {"id": s.id, "label": s.label, "group": s.group}
                for s in servers(load.style)
                if chosen is None or s.id in chosen or s.id == catalog.BASE
            ],
            "results": {},
        }
        for load in loads
    }
    transports = dict.fromkeys(load.transport for load in loads)
    with tempfile.TemporaryDirectory(prefix="aiosock-callgrind-") as tmp:
        workdir = Path(tmp)
        dumps = settings.get("keep_dumps") or workdir
        for index, transport in enumerate(transports):
            group = [load for load in loads if load.transport == transport]
            style = group[0].style
            for server in servers(style):
                if chosen is not None and server.id not in chosen | {catalog.BASE}:
                    continue
                t0 = time.monotonic()
                print(f"  {server.id} ({server.label})", flush=True)
                try:
                    figures = session(server, group, settings, workdir, dumps, index)
                except (ServerFailed, OSError, ValueError) as exc:
                    figures = {load.name: {"error": str(exc)} for load in group}
                for name, row in figures.items():
                    records[name]["results"][server.id] = row
                    print(f"    {name}: {describe_row(row)}", flush=True)
                print(f"    ({time.monotonic() - t0:.0f} s)", flush=True)
    for record in records.values():
        add_ratios(record)
    return list(records.values())


def describe_row(row: dict[str, Any]) -> str:
    if "error" in row:
        return f"failed: {row['error']}"
    per = f"{row['per_message']:,.0f}"
    return f"{per} instructions per message ({row['total']:,} messages)"


def add_ratios(record: dict[str, Any]) -> None:
    base = record["results"].get(record["base"], {})
    for row in record["results"].values():
        if "error" not in row and base.get("per_message"):
            row["ratio"] = row["per_message"] / base["per_message"]


# Tables ------------------------------------------------------------------------


def column(record: dict[str, Any]) -> str:
    """A load's short heading in the combined tables: "TCP, 50 connections"."""
    transport = {"unix": "Unix"}.get(record["transport"], record["transport"].upper())
    what = "connection" if record["style"] == "stream" else "socket"
    plural = "" if record["clients"] == 1 else "s"
    return f"{transport}, {record['clients']} {what}{plural}"


def _cell(row: dict[str, Any] | None) -> str:
    if not row:
        return "-"
    if "error" in row:
        return "failed"
    ratio = row.get("ratio")
    return f"{row['per_message']:,.0f}" + (f" ({ratio:.2f})" if ratio else "")


def tables(results: dict[str, Any]) -> list[tuple[str, list[str], list[list[str]]]]:
    """(title, headings, rows) per style: a server per row, a load per column."""
    out = []
    for style, what in (("stream", "stream servers"), ("datagram", "datagram servers")):
        loads = [w for w in results["workloads"] if w["style"] == style]
        if not loads:
            continue
        rows: dict[str, list[str]] = {}
        for w in loads:
            for s in w["servers"]:
                rows.setdefault(s["id"], [s["label"]])
        for sid, row in rows.items():
            for w in loads:
                row.append(_cell(w["results"].get(sid)))
        size = loads[0]["size"]
        size_text = f"{size // 1024} KiB" if size >= 1024 else f"{size} B"
        out.append(
            (
                f"{what.capitalize()}, {size_text} messages",
                ["server", *(column(w) for w in loads)],
                list(rows.values()),
            )
        )
    return out


def facts(results: dict[str, Any], with_command: bool = True) -> list[tuple[str, str]]:
    """Date, versions and settings of an instructions run."""
    v, m, git = results["versions"], results["machine"], results.get("git", {})
    settings = results["settings"]
    return [
        ("Date", f"{results['started']} (UTC)"),
        ("Python", python_text(m)),
        ("uvloop", v.get("uvloop") or "not installed"),
        ("valgrind", results["valgrind"]),
        (
            "Source",
            f"aiosock {git.get('commit', '?')}"
            + (" with local changes" if git.get("dirty") else ""),
        ),
        (
            "Drives",
            f"{settings['seconds']:g} s per load under callgrind, after "
            f"{settings['warmup']:g} s of uninstrumented warm-up",
        ),
    ] + ([("Command", f"``{results['command']}``")] if with_command else [])


FIGURE = (
    "Each cell: user-space instructions per echoed message (Ir counted by "
    "callgrind, net of a zero-second drive's connect, first message and close), "
    "and in brackets the ratio to the bare uvloop `Protocol` (`DatagramProtocol` "
    "for datagrams); lower is better."
)


def markdown(results: dict[str, Any]) -> str:
    from benchmarks.report import _md_table

    lines = [
        f"# aiosock: instructions per message (callgrind), {results['started'][:10]}",
        "",
        *[f"- **{k}**: {v.replace('``', '`')}" for k, v in facts(results)],
        "",
        FIGURE,
        "",
    ]
    for title, heads, body in tables(results):
        lines += [f"## {title}", "", *_md_table(heads, body), ""]
    lines += ["## Details", ""]
    heads = [
        "load",
        "server",
        "messages",
        "Ir, timed drive",
        "Ir, zero-second drive",
        "instructions/message",
        "gross",
    ]
    body = []
    for w in results["workloads"]:
        for s in w["servers"]:
            row = w["results"].get(s["id"])
            if not row:
                continue
            if "error" in row:
                body.append(
                    [w["name"], s["label"], "failed: " + row["error"]] + [""] * 4
                )
                continue
            lost = f" ({row['lost']} lost)" if row.get("lost") else ""
            body.append(
                [
                    w["name"],
                    s["label"],
                    f"{row['total']:,}{lost}",
                    f"{row['ir']:,}",
                    f"{row['fixed_ir']:,}",
                    f"{row['per_message']:,.0f}",
                    f"{row['gross_per_message']:,.0f}",
                ]
            )
    lines += [*_md_table(heads, body), ""]
    return "\n".join(lines)


# Publishing --------------------------------------------------------------------


def publish(path: Path, docs: Path = DOCS) -> None:
    """Copy an instructions run into docs/benchmarks/; regenerate the page."""
    from benchmarks import report

    results = json.loads(path.read_text())
    if results.get("schema") != SCHEMA:
        raise SystemExit(f"{path} is not an instructions results file")
    assets = docs / "benchmarks"
    assets.mkdir(exist_ok=True)
    target = assets / "instructions.json"
    if path.resolve() != target.resolve():
        shutil.copyfile(path, target)
    (assets / "instructions.md").write_text(markdown(results))
    page = report.write_page(docs)
    print(f"published {path} to {target} and {page}")


# Command line ------------------------------------------------------------------


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.instructions",
        description="User-space instructions per echoed message, counted by "
        "valgrind's callgrind (also: python -m benchmarks --instructions).",
    )
    parser.add_argument(
        "--quick", action="store_true", help="one load, four servers, 1 s drives"
    )
    parser.add_argument("--workload", action="append", choices=[w.name for w in LOADS])
    parser.add_argument(
        "--server",
        action="append",
        metavar="LOOP/KIND",
        help="servers to include (the bare uvloop protocol always is)",
    )
    parser.add_argument("--seconds", type=float, help="seconds per instrumented drive")
    parser.add_argument(
        "--warmup", type=float, help="seconds of uninstrumented warm-up per load"
    )
    parser.add_argument("--out", type=Path, default=RESULTS, help="results folder")
    parser.add_argument(
        "--keep-dumps",
        type=Path,
        metavar="DIR",
        help="keep the callgrind files there (for callgrind_annotate)",
    )
    parser.add_argument(
        "--publish",
        action="store_true",
        help="put the table into docs/benchmarks.rst at the end",
    )
    parser.add_argument(
        "--from",
        dest="from_file",
        type=Path,
        metavar="RUN.json",
        help="no run: print (with --publish, publish) an earlier results file",
    )
    parser.add_argument(
        "--no-env", action="store_true", help="run with this interpreter"
    )
    parser.add_argument("--list", action="store_true", help="list and exit")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    """Count, write ``benchmarks/results/instructions-<date>.json`` and ``.md``."""
    argv = sys.argv[1:] if argv is None else argv
    args = parse_args(argv)
    if args.list:
        for w in LOADS:
            print(f"{w.name:14} {w.title}")
        print()
        for style in MODULES:
            for s in servers(style):
                print(f"{s.id:26} {style:9} {s.label}")
        return
    if args.from_file:
        if args.publish:
            publish(args.from_file)
        else:
            print(markdown(json.loads(args.from_file.read_text())))
        return
    valgrind = valgrind_version()
    if valgrind is None:
        raise SystemExit(INSTALL)
    if not args.no_env:
        _env.ensure(["--instructions", *argv])
    base = QUICK if args.quick else FULL
    settings: dict[str, Any] = {
        "seconds": args.seconds or base["seconds"],
        "warmup": args.warmup if args.warmup is not None else base["warmup"],
    }
    names = args.workload or (QUICK_WORKLOADS if args.quick else None)
    loads = [w for w in LOADS if names is None or w.name in names]
    chosen = set(args.server) if args.server else None
    if args.quick and chosen is None:
        chosen = set(QUICK_SERVERS)
    if args.keep_dumps:
        args.keep_dumps.mkdir(parents=True, exist_ok=True)
        settings["keep_dumps"] = args.keep_dumps.resolve()
    raise_fd_limit()
    from benchmarks.machine import describe

    started = datetime.datetime.now(datetime.UTC)
    t0 = time.monotonic()
    print(
        f"instructions per message under callgrind: {', '.join(w.name for w in loads)}",
        flush=True,
    )
    workloads = run(loads, chosen, settings)
    settings.pop("keep_dumps", None)
    results = {
        "schema": SCHEMA,
        "started": started.strftime("%Y-%m-%d %H:%M"),
        "command": "python -m benchmarks.instructions " + " ".join(argv),
        "settings": settings,
        "valgrind": valgrind,
        **describe(),
        "duration_s": time.monotonic() - t0,
        "workloads": workloads,
    }
    args.out.mkdir(parents=True, exist_ok=True)
    stamp = started.strftime("%Y%m%d-%H%M")
    stem = args.out / f"instructions-{stamp}"
    json_path = stem.with_suffix(".json")
    json_path.write_text(json.dumps(results, indent=1) + "\n")
    text = markdown(results)
    stem.with_suffix(".md").write_text(text)
    print(f"\n{text}\nresults: {json_path}\nreport:  {stem.with_suffix('.md')}")
    if args.publish:
        publish(json_path)


if __name__ == "__main__":
    main()
