"""What a run measures: the servers, the workloads, and which server runs where.

A server is named ``LOOP/KIND`` as on the command line (``--server
uvloop/stream``). Every figure of a workload is a ratio to its base server
measured in the same round: the bare uvloop ``Protocol`` (or
``DatagramProtocol``) for the echo workloads, openbsd-inetd for the inetd ones.
The C epoll server is the physical reference and the proof that the load
generator is not the bottleneck.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

BASE = "uvloop/protocol"
C_SERVER = "c/epoll"


@dataclass(frozen=True)
class Server:
    """One echo server design, run as a process of its own."""

    id: str
    label: str
    group: str  # "aiosock", "baseline", "asyncio", "peer", "reference"
    module: str | None  # ``python -m MODULE KIND LOOP ENDPOINT``; None for C
    styles: frozenset[str] = frozenset({"stream"})
    quick: bool = False  # part of the quick set
    # Environment variables of the server process; ``kind`` then names the
    # design it runs (the id's second part names the variant).
    env: tuple[tuple[str, str], ...] = ()
    runs: str = ""

    @property
    def loop(self) -> str:
        return self.id.split("/")[0]

    @property
    def kind(self) -> str:
        return self.runs or self.id.split("/")[1]

    @property
    def variant(self) -> bool:
        """A design run a second time under different conditions (``env``)."""
        return bool(self.env)

    def argv(self, python: str, endpoint: str, c_server: Path) -> list[str]:
        """The command that starts this server on endpoint."""
        if self.module is None:
            scheme, _, rest = endpoint.partition(":")
            if scheme in {"unix", "unixgram"}:
                return [str(c_server), scheme, rest]
            host, _, port = rest.removeprefix("//").rpartition(":")
            return [str(c_server), scheme, host.strip("[]"), port]
        return [python, "-m", self.module, self.kind, self.loop, endpoint]


# The default loop's plain-Protocol read path asks recv() for 256 KiB each time
# and shrinks the bytes object to what arrived. glibc serves that from a fresh
# mmap (and the shrink unmaps it: two page faults per read) while its mmap
# threshold is the initial 128 KiB; it raises the threshold the first time a
# program free()s a block that large, after which the reads come from the heap.
# Which state a fresh server process is in varies from process to process, so
# the designs that read this way run twice: as they start, and with the
# threshold held at its initial value (the state the faults/msg column shows).
# Holding it makes that state likelier, not certain: glibc serves a large block
# from a free one of the heap, if there is one, before it maps a new one, and
# whether there is one varies too (a run at 766928f: 5 to 9 of 21 rounds of
# the held servers read from the heap). So the goals set against that state
# count only the rounds whose reference made page faults (goals.Goal.mapped_reads).
MMAP_PER_READ = (("MALLOC_MMAP_THRESHOLD_", "131072"),)

STREAM = frozenset({"stream"})
DATAGRAM = frozenset({"datagram"})
BOTH = frozenset({"stream", "datagram"})

SERVERS: tuple[Server, ...] = (
    Server(C_SERVER, "C epoll echo server", "reference", None, BOTH, quick=True),
    Server(BASE, "bare uvloop Protocol", "baseline", "benchmarks.servers", quick=True),
    Server(
        "uvloop/serve_protocol",
        "aiosock serve_protocol (uvloop)",
        "aiosock",
        "benchmarks.servers",
        quick=True,
    ),
    Server(
        "uvloop/stream",
        "aiosock serve + Stream (uvloop)",
        "aiosock",
        "benchmarks.servers",
        quick=True,
    ),
    Server(
        "uvloop/asyncio_streams",
        "asyncio streams (uvloop)",
        "asyncio",
        "benchmarks.servers",
    ),
    Server(
        "asyncio/protocol",
        "asyncio Protocol (default loop)",
        "asyncio",
        "benchmarks.servers",
    ),
    Server(
        "asyncio/protocol_mmap",
        "asyncio Protocol (default loop, glibc mmap per read)",
        "asyncio",
        "benchmarks.servers",
        env=MMAP_PER_READ,
        runs="protocol",
    ),
    Server(
        "asyncio/buffered_protocol",
        "asyncio BufferedProtocol (default loop)",
        "asyncio",
        "benchmarks.servers",
    ),
    Server(
        "asyncio/serve_protocol",
        "aiosock serve_protocol (default loop)",
        "aiosock",
        "benchmarks.servers",
        quick=True,
    ),
    Server(
        "asyncio/stream",
        "aiosock serve + Stream (default loop)",
        "aiosock",
        "benchmarks.servers",
        quick=True,
    ),
    Server(
        "asyncio/asyncio_streams",
        "asyncio streams (default loop)",
        "asyncio",
        "benchmarks.servers",
    ),
    Server(
        "asyncio/asyncio_streams_mmap",
        "asyncio streams (default loop, glibc mmap per read)",
        "asyncio",
        "benchmarks.servers",
        env=MMAP_PER_READ,
        runs="asyncio_streams",
    ),
    # Datagram designs (benchmarks/udp_servers.py).
    Server(
        "uvloop/protocol",
        "bare uvloop DatagramProtocol",
        "baseline",
        "benchmarks.udp_servers",
        DATAGRAM,
        quick=True,
    ),
    Server(
        "uvloop/serve_datagram",
        "aiosock serve_datagram (uvloop)",
        "aiosock",
        "benchmarks.udp_servers",
        DATAGRAM,
        quick=True,
    ),
    Server(
        "uvloop/open_datagram",
        "aiosock open_datagram (uvloop)",
        "aiosock",
        "benchmarks.udp_servers",
        DATAGRAM,
        quick=True,
    ),
    Server(
        "asyncio/protocol",
        "asyncio DatagramProtocol (default loop)",
        "asyncio",
        "benchmarks.udp_servers",
        DATAGRAM,
    ),
    Server(
        "asyncio/protocol_mmap",
        "asyncio DatagramProtocol (default loop, glibc mmap per read)",
        "asyncio",
        "benchmarks.udp_servers",
        DATAGRAM,
        env=MMAP_PER_READ,
        runs="protocol",
    ),
    Server(
        "asyncio/serve_datagram",
        "aiosock serve_datagram (default loop)",
        "aiosock",
        "benchmarks.udp_servers",
        DATAGRAM,
        quick=True,
    ),
    Server(
        "asyncio/open_datagram",
        "aiosock open_datagram (default loop)",
        "aiosock",
        "benchmarks.udp_servers",
        DATAGRAM,
        quick=True,
    ),
    # The peers (benchmarks/peers.py), streams and datagrams.
    Server(
        "twisted/protocol", "Twisted (epoll reactor)", "peer", "benchmarks.peers", BOTH
    ),
    Server("trio/trio", "trio", "peer", "benchmarks.peers", BOTH),
    Server(
        "uvloop/anyio",
        "anyio (asyncio backend, uvloop)",
        "peer",
        "benchmarks.peers",
        BOTH,
    ),
    Server("trio/anyio", "anyio (trio backend)", "peer", "benchmarks.peers", BOTH),
    Server("asyncio/tornado", "tornado (default loop)", "peer", "benchmarks.peers"),
    Server("gevent/server", "gevent", "peer", "benchmarks.peers", BOTH),
)

# The import each peer needs, to skip it with a reason when it is missing.
NEEDS = {
    "twisted/protocol": "twisted",
    "trio/trio": "trio",
    "uvloop/anyio": "anyio",
    "trio/anyio": "anyio",
    "asyncio/tornado": "tornado",
    "gevent/server": "gevent",
}


@dataclass(frozen=True)
class Workload:
    """One load: a transport, a generator and its shape."""

    name: str
    title: str
    style: str  # "stream", "datagram", "idle" or "inetd"
    transport: str  # "tcp", "unix", "udp", "unixgram"
    generator: str  # "loadgen", "udpgen", "churngen"; "" where not a C tool
    clients: int
    size: int
    unit: str = "msg/s"
    latency: bool = False
    notes: str = ""
    base: str = BASE


LOST = "lost: datagrams not echoed within 200 ms (sent again), summed over rounds."
INETD = (
    "Each round starts the inetd afresh; its CPU time includes its reaped "
    "children. The ratio is to openbsd-inetd in the same round."
)

WORKLOADS: tuple[Workload, ...] = (
    Workload(
        "tcp-1k-x50",
        "TCP, 1 KiB ping-pong, 50 connections",
        "stream",
        "tcp",
        "loadgen",
        clients=50,
        size=1024,
    ),
    Workload(
        "tcp-64k-x10",
        "TCP, 64 KiB ping-pong, 10 connections",
        "stream",
        "tcp",
        "loadgen",
        clients=10,
        size=65536,
    ),
    Workload(
        "tcp-100-x1",
        "TCP, 100 B ping-pong, 1 connection (latency)",
        "stream",
        "tcp",
        "loadgen",
        clients=1,
        size=100,
        latency=True,
        notes="p50 and p99: round-trip times seen by the client.",
    ),
    Workload(
        "unix-1k-x50",
        "Unix stream, 1 KiB ping-pong, 50 connections",
        "stream",
        "unix",
        "loadgen",
        clients=50,
        size=1024,
    ),
    Workload(
        "udp-100-x20",
        "UDP, 100 B ping-pong, 20 sockets",
        "datagram",
        "udp",
        "udpgen",
        clients=20,
        size=100,
        notes=LOST,
    ),
    Workload(
        "unixgram-100-x20",
        "Unix datagram, 100 B ping-pong, 20 sockets",
        "datagram",
        "unixgram",
        "udpgen",
        clients=20,
        size=100,
        notes=LOST,
    ),
    Workload(
        "tcp-churn-x10",
        "TCP connection churn: connect, 100 B exchange, close; 10 clients at once",
        "stream",
        "tcp",
        "churngen",
        clients=10,
        size=100,
        unit="conn/s",
        latency=True,
        notes="conn/s counts whole connect-exchange-close cycles; p50 and p99 are "
        "their durations; failed: cycles abandoned (refused, reset, or over 2 s).",
    ),
    Workload(
        "idle-10k",
        "10,000 idle TCP connections: memory per connection",
        "idle",
        "tcp",
        "",
        clients=10_000,
        size=0,
        unit="KiB/conn",
        notes="Each connection exchanges one byte, then stays idle. The figure is "
        "the growth of the server's resident set divided by the connections held; "
        "kernel socket buffers are in no process's RSS.",
    ),
    Workload(
        "inetd-echo",
        "inetd, internal echo: connections per second (10 clients, 100 B)",
        "inetd",
        "tcp",
        "churngen",
        clients=10,
        size=100,
        unit="conn/s",
        base="openbsd/inetd",
        notes=INETD,
    ),
    Workload(
        "inetd-cat",
        "inetd, a spawned /bin/cat per connection: connections per second "
        "(10 clients, 100 B)",
        "inetd",
        "tcp",
        "churngen",
        clients=10,
        size=100,
        unit="conn/s",
        base="openbsd/inetd",
        notes=INETD,
    ),
)


def servers_for(workload: Workload) -> list[Server]:
    """The servers that can run a workload, in catalogue order."""
    style = "datagram" if workload.style == "datagram" else "stream"
    return [
        s
        for s in SERVERS
        if style in s.styles and not (s.variant and workload.style == "idle")
    ]


def workload(name: str) -> Workload:
    return next(w for w in WORKLOADS if w.name == name)
