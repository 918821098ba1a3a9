"""Write docs/benchmarks.rst from a results file (see ``benchmarks.report``)."""

from __future__ import annotations

import re
from typing import Any

from benchmarks import report
from benchmarks.machine import python_text

INTRO = """\
How fast is aiosock next to what you would pick instead? This page shows the
latest published run of the benchmark suite in ``benchmarks/``: echo servers
over TCP, Unix stream, UDP and Unix datagram sockets, connection churn, memory
per idle connection, and ``aiosock inetd`` against openbsd-inetd. Every figure
is a ratio to a bare uvloop ``asyncio.Protocol`` echo server measured in the same
round, so that machine noise cancels out, and the small C epoll server in
``benchmarks/echo_server.c`` shows what the machine itself can do.

Running it
----------

One command builds the C tools, installs the peers (Twisted, trio, anyio,
tornado, gevent) and matplotlib into an environment of its own
(``benchmarks/.venv``, or tox's), runs every workload and writes a results file,
a markdown report and charts under ``benchmarks/results/``:

.. code-block:: console

   $ tox -e bench                          # the full suite
   $ tox -e bench -- --quick               # a quick pass, under a minute
   $ python -m benchmarks --quick          # the same without tox
   $ python -m benchmarks --publish        # full suite, then regenerate this page
   $ python -m benchmarks.report benchmarks/results/RUN.json --publish
   $ python -m benchmarks.instructions --publish   # callgrind counts, below

``--workload NAME`` and ``--server LOOP/KIND`` (repeatable) narrow a run;
``--list`` names them all; ``--note TEXT`` records how busy the machine was.
Run it on a quiet machine with two cores or more: the server gets core 0 and the
load generator core 1.

How it measures
---------------

- Each server is a process of its own pinned to core 0 (``taskset``); a load
  generator written in C (``loadgen.c``, ``udpgen.c``, ``churngen.c``) pinned to
  core 1 drives it over loopback (127.0.0.1 and Unix paths only) for a fixed
  time after a warm-up.
- Servers are measured interleaved, for several rounds that alternate their
  order (A B C, then C B A, …), so that a drift over a round lands on each side
  of a pair in turn; a ratio is always taken within a round, and the tables
  show the median over the rounds with the smallest and largest round in
  brackets.
- *per server CPU-s* divides the messages a server echoed by the CPU time it
  used, against the base's figure: it is steadier than a rate when something
  else shares the machine.
- *server user µs/msg* is the server's user-mode CPU time per message: the work
  of its own code (interpreter, event loop, framework), without the kernel's.
  *server faults/msg* counts its minor page faults per message.
- The default loop's plain ``asyncio.Protocol`` read path asks ``recv()`` for
  256 KiB at a time and shrinks the result. glibc serves that from a fresh
  ``mmap`` (two page faults per read) until the program first frees a block
  that large, when it raises its mmap threshold and serves the reads from the
  heap; whether a fresh server process has reached that point varies from
  process to process (the default loop's ``DatagramProtocol`` reads the same
  way). So asyncio's ``Protocol``, streams and ``DatagramProtocol`` on the
  default loop run twice: as they start, and with
  ``MALLOC_MMAP_THRESHOLD_=131072`` holding the threshold at its initial value
  (the rows "glibc mmap per read"). aiosock and uvloop read into buffers they
  keep, so this does not touch them.
- The interpreter's build counts: the Python code of every server (aiosock's,
  asyncio's streams, the peers') runs slower on a CPython built as a shared
  ``libpython`` without profile-guided and link-time optimisation (pyenv's
  default build) than on one built with them (Debian's ``python3``, as its
  changelog says; python.org's and the official container images are built
  so too), while uvloop's C and the kernel do not change. In two focused runs
  here (2026-11-27 02:20 and 02:33, one commit), aiosock's ``Stream`` server
  on uvloop used 2-13% less user time per message on Debian's Python 3.11
  than on pyenv's 3.11.7, asyncio's streams 5-20% less, the bare uvloop
  server about the same; the stream's per-message Python path alone ran 19%
  faster (a loop of ``data_received`` calls). The *Python* line above names
  the interpreter; ``python -m benchmarks`` runs (and makes its venv with) the
  one it was started with.
- The load generator is not the bottleneck when the C server outruns every
  Python server: each workload says whether it did, in every round. On
  loopback the kernel's TCP work is most of a message's cost and the generator
  does as much of it as the C server, so the two can come out even at TCP; the
  table also gives the cost view (CPU per message, C server against the
  cheapest Python server) and how busy the Python servers kept their core.
- Memory: a client process opens {idle:,} connections to the server, {batch}
  at a time, exchanges one byte on each and holds them idle; the growth of the
  server's resident set size is divided by the number held.
- inetd: connections per second (connect, 100 bytes each way, close) through
  the internal echo service and through a ``/bin/cat`` spawned per connection.
"""


def _table(heads: list[str], body: list[list[str]]) -> str:
    lines = [".. list-table::", "   :header-rows: 1", ""]
    for row in [heads, *body]:
        first = True
        for cell in row:
            text = cell.replace("*", "\\*") or " "
            lines.append(("   * - " if first else "     - ") + text)
            first = False
    return "\n".join(lines) + "\n"


def _heading(text: str, char: str) -> str:
    return f"{text}\n{char * len(text)}\n"


def page(
    results: dict[str, Any],
    images: dict[str, str],
    instructions: dict[str, Any] | None = None,
    goals: dict[str, Any] | None = None,
) -> str:
    """The whole page, from a summarized results file and the chart names.

    ``instructions`` is a published ``benchmarks.instructions`` run: when given,
    its tables close the page. ``goals`` is a focused run published by
    ``benchmarks.goals --publish``: its figures join the goals section.
    """
    date = results["started"][:10]
    out = [
        ".. This page is generated by ``python -m benchmarks.report --publish`` from",
        "   docs/benchmarks/results.json (and instructions.json, written by",
        "   ``python -m benchmarks.instructions --publish``, and goals.json, by",
        "   ``python -m benchmarks.goals RUN.json --publish``): change",
        "   benchmarks/rst.py, not this file.",
        "",
        _heading("Benchmarks", "="),
        INTRO.format(
            idle=results["settings"]["idle"],
            batch=results["settings"].get("idle_batch", 1),
        ),
        _heading(f"Latest published run: {date}", "-"),
    ]
    out += [
        f":{k}: {v.replace('*', chr(92) + '*')}"
        for k, v in report.machine_lines(results, with_note=False)
    ]
    out += [
        "",
        "The files of this run: :download:`results.json <benchmarks/results.json>`"
        " (machine-readable, every round) and "
        ":download:`report.md <benchmarks/report.md>`.",
        "",
    ]
    note = results["load"].get("note")
    if note:
        out += [".. note::", "", f"   {note}", ""]
    out += [
        _heading("At a glance", "-"),
        "The best aiosock design and the best peer on each workload, as a ratio "
        "to the workload's base (the bare uvloop protocol; openbsd-inetd for "
        "inetd), and the C server; memory in KiB per idle connection, lower is "
        "better.\n",
        _table(*report.glance(results)),
    ]
    if "overview" in images:
        out += [
            f".. image:: benchmarks/{images['overview']}",
            "   :alt: every server against every echo workload, as a ratio to the "
            "bare uvloop Protocol",
            "",
        ]
    out += goals_section(results, goals)
    out += headroom_section(results)
    for workload in results["workloads"]:
        out.append(_heading(workload["title"], "-"))
        shape = report.shape(workload, results["settings"])
        out.append(f"``{workload['name']}``: {shape}\n")
        if workload["name"] in images:
            out += [
                f".. image:: benchmarks/{images[workload['name']]}",
                f"   :alt: {workload['title']}",
                "",
            ]
        out.append(_table(report.columns(workload), report.rows(workload)))
        heap = workload.get("extra", {}).get("aiosock_heap")
        if heap:
            out.append(
                "aiosock's own Python heap per connection (tracemalloc, "
                "``benchmarks/idle.py``):\n"
            )
            out.append(
                _table(
                    [
                        "server",
                        "connections held",
                        "Python heap per connection",
                        "RSS per connection",
                    ],
                    [
                        [
                            f"aiosock serve + Stream ({r['loop']})",
                            f"{r['held']:,}",
                            f"{r['heap'] / 1024:.1f} KiB",
                            f"{r['rss'] / 1024:.1f} KiB",
                        ]
                        for r in heap
                    ],
                )
            )
    if instructions:
        out += instructions_section(instructions)
    return "\n".join(out).rstrip() + "\n"


INSTRUCTIONS = """\
The throughput figures above move with whatever else the machine is doing; this
count does not. It is the number of machine instructions each server executes in
user space per echoed message, counted by valgrind's callgrind
(``python -m benchmarks.instructions``): how much work a design asks of the
interpreter, the event loop and aiosock. Kernel time, system calls and what
makes an instruction cheap or dear (cache misses, branch prediction) are not in
it, so the throughput tables above remain the headline. A count can go up while
the time goes down: on Python 3.11, ``asyncio.Future()`` finds the running loop
with a ``getpid()`` system call, so aiosock's streams make their futures with the
loop given instead, about 800 instructions more per message and 130-270 ns less
(a system call costs more than those instructions here).

Each server runs under callgrind, pinned to core 0, and is warmed up
uninstrumented; then, per load, the instructions of a timed drive minus those of
a zero-second drive (connect, one message, close) are divided by the messages
the C load generator exchanged. With many connections the slowed-down server
finds more messages ready at each wake-up than it would at full speed, which
shares the cost of a wake-up among them. Each cell gives instructions per
message and, in brackets, the ratio to the bare uvloop ``Protocol``
(``DatagramProtocol`` for datagrams); lower is better.
"""


def instructions_section(run: dict[str, Any]) -> list[str]:
    """The callgrind counts of a ``benchmarks.instructions`` run."""
    from benchmarks import instructions

    out = [_heading("Instructions per message (callgrind)", "-"), INSTRUCTIONS]
    out += [f":{k}: {v}" for k, v in instructions.facts(run, with_command=False)]
    out += [
        "",
        "The file of this run: :download:`instructions.json "
        "<benchmarks/instructions.json>`.",
        "",
    ]
    for title, heads, body in instructions.tables(run):
        out += [_heading(title, "~"), _table(heads, body)]
    return out


GOALS = """\
aiosock's own throughput goals, each a ratio of one of its servers to a
reference server measured in the same round, checked by
``python -m benchmarks.goals RESULTS.json``. A cell gives the median of the
in-round ratios and, in brackets, its interquartile range: on this machine one
server's rate moves by tens of per cent from one round to the next, so a goal
within about 10% of a median is met in some runs and missed in others. The
default loop's goals are checked against asyncio's servers twice: as their
processes start, and held in the state the goals were set against, where glibc
serves each of their 256 KiB read buffers from a fresh ``mmap`` (the servers
"glibc mmap per read", see above). A process may be in that state (about two
page faults per message) or read from the heap, several times faster, even with
the threshold held (glibc takes a large block from a free one of the heap
before it maps one, and whether the heap has one varies): only the rounds where
the reference was in that state count ("7 of 21 rounds"), and where none was
the goal "does not apply".

``serve`` + ``Stream`` on uvloop is built on uvloop's ``Protocol`` and cannot
run faster than the bare ``Protocol`` does alone. Against uvloop's own streams,
its goal of 1.4x restates 0.75x the bare ``Protocol`` for streams that run at
0.55x of it, where the goals were set; on this machine they run at 0.5x to 0.7x
of it, and the goal asks accordingly more or less of ``Stream``. Its verdict
says what it asks, as a ratio to the bare ``Protocol`` in the same rounds
("asks 0.95x"): at 1 KiB over TCP, nearly what the bare ``Protocol`` does,
since the kernel's share of each message there leaves a layer above it little
room. A goal that the bare ``Protocol`` itself does not reach in a run is
"out of reach" there, for any design.
"""


def goals_section(results: dict[str, Any], focused: dict[str, Any] | None) -> list[str]:
    """The goals, checked on the published run and on a focused run if any."""
    from benchmarks import goals

    published = {(g, name): f for g, name, f in goals.rows(results)}
    extra = {(g, name): f for g, name, f in goals.rows(focused)} if focused else {}
    keys = list(published) + [k for k in extra if k not in published]
    if not keys:
        return []
    heads = ["goal", "workload", "published run: " + _run_label(results)]
    text = [_heading("Throughput goals", "-"), GOALS]
    if extra:
        assert focused is not None
        heads.append("focused run: " + _run_label(focused))
        text.append(
            "The focused run measures just the goals' servers, in more and "
            "shorter rounds (:download:`goals.json <benchmarks/goals.json>`):\n"
        )
        command = focused.get("command")
        if command:
            # (where the run wrote its files is of no use to a reader)
            command = re.sub(r" --out \S+", "", command)
            text.append(f"``{command}``\n")
        text.append(
            "Interpreters: the published run on "
            f"{python_text(results['machine'])}; the focused run on "
            f"{python_text(focused['machine'])}.\n"
        )
    heads.append("goal met (median)")
    body = []
    for goal, name in keys:
        cells = [goals.describe(goal), name]
        verdicts = []
        for source in (published, extra) if extra else (published,):
            figures = source.get((goal, name))
            cells.append("-" if figures is None else goals.median_with_iqr(figures))
            if figures is not None:
                verdicts.append(goals.verdict(goal, figures, brief=True))
        cells.append(" / ".join(verdicts))
        body.append(cells)
    return [*text, _table(heads, body)]


def _run_label(run: dict[str, Any]) -> str:
    settings = run["settings"]
    git = run.get("git", {})
    commit = git.get("commit", "?")
    if git.get("dirty"):
        commit += " with local changes"
    return (
        f"{run['started'][:16]}, aiosock {commit}, "
        f"{settings['rounds']} rounds x {settings['seconds']:g} s"
    )


def headroom_section(results: dict[str, Any]) -> list[str]:
    body = []
    for w in results["workloads"]:
        room = w.get("headroom")
        if not room:
            continue
        label = {s["id"]: s["label"] for s in w["servers"]}
        median = room.get("median_ratio")
        body.append(
            [
                w["name"],
                label.get(room.get("best_median_python", room["fastest_python"]), "?"),
                "-" if median is None else f"{median:.2f}",
                report.fmt_ratio(room["ratio"]),
                f"{room['rounds_faster']} of {room['rounds']}"
                if "rounds" in room
                else ("all" if room["c_always_faster"] else "not all"),
                "-"
                if room.get("generator_util") is None
                else f"{room['generator_util']:.0%}",
                report.fmt_ratio(room.get("cost_ratio")),
                "-"
                if room.get("python_busy") is None
                else f"{room['python_busy']:.0%}",
            ]
        )
    if not body:
        return []
    return [
        _heading("Is the load generator the bottleneck?", "-"),
        "No, wherever the C echo server drives faster than the fastest Python "
        "server: the same load generator on the same core then had room to "
        "spare. The comparison that counts is of medians over the rounds; round "
        "by round, one C figure meets the best of a dozen Python figures taken "
        "at other moments, and on a noisy machine that best one is often a "
        "lucky one, so the table gives both. Over loopback TCP the two can come "
        "out even: most of a message's cost is the kernel's TCP work, and the "
        "generator does as much of it as the C server (a busy-polling generator "
        "measured no faster; batching its system calls could save about 5%, at "
        "2.6 system calls per message and 0.27 µs each on this machine). Two "
        "more columns show where the limit is then: the C server's CPU per "
        "message against that of the Python server that used the least (above "
        "1: the C server is cheaper, so a faster generator would widen the "
        "gap), and how busy the Python servers kept their core (near 100%: "
        "they, not the generator, set their rates).\n",
        _table(
            [
                "workload",
                "fastest Python server (median rate)",
                "C server's median rate, x that",
                "C server, x the fastest Python server of each round",
                "rounds the C server was faster",
                "load generator's core use (C server)",
                "C server's CPU per message, x less than the cheapest Python server's",
                "Python servers' core use (median)",
            ],
            body,
        ),
    ]
