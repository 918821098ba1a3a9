"""``aiosock inetd`` starting programs: nowait and wait, stream and datagram, the
exec wiring (fds, argv, user, groups, environment), ``python:`` handlers, and 200
concurrent clients of a spawned /bin/cat.
"""

from __future__ import annotations

import concurrent.futures
import grp
import json
import os
import pwd
import signal
import socket
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.inetd_helpers import (
    LOOPS,
    Daemon,
    tcp_exchange,
    udp_exchange,
    unix_exchange,
)
from tests.inetd_programs import child_user, python_for_children, write_programs

USER = child_user()
GROUP = grp.getgrgid(pwd.getpwnam(USER).pw_gid).gr_name


@pytest.fixture(scope="module", params=LOOPS)
def spawner(request: pytest.FixtureRequest) -> Iterator[Daemon]:
    """A daemon per loop with program, wait and python: services."""
    with tempfile.TemporaryDirectory(prefix="as-", dir="/tmp") as name:
        directory = Path(name)
        programs = write_programs(directory)
        py = python_for_children()
        lines = [
            "127.0.0.1:",
            f"0 stream tcp nowait {USER}:{GROUP} {py} reporter {programs['report']}"
            " one two",
            f"0 stream tcp nowait.1000 {USER} /bin/cat cat",
            f"0 stream tcp nowait {USER} /bin/grep sigign ^SigIgn /proc/self/status",
            f"0 stream tcp wait {USER} {py} waiter {programs['waiter']}",
            f"0 dgram udp wait {USER} {py} dgram_wait {programs['dgram_wait']}",
            f"0 dgram udp nowait {USER} {py} dgram_nowait {programs['dgram_nowait']}",
            f"0 dgram udp nowait {USER} {py} dgram_linger {programs['dgram_linger']}"
            f" {directory}/release.fifo",
            f"0 stream tcp nowait {USER} python:tests.inetd_handlers:upper",
            f"0 dgram udp nowait {USER} python:tests.inetd_handlers:reverse",
            f"0 stream tcp nowait {USER} python:tests.inetd_handlers:broken",
            f"{directory}/cat.sock stream unix nowait {USER} /bin/cat cat",
        ]
        config = directory / "inetd.conf"
        config.write_text("\n".join(lines) + "\n")
        os.mkfifo(directory / "release.fifo", 0o666)
        (directory / "release.fifo").chmod(0o666)
        process = Daemon(config, loop=request.param)
        yield process
        assert process.stop() == 0


def _report(spawner: Daemon) -> dict[str, object]:
    address = spawner.address("reporter/tcp", "tcp://")
    text = tcp_exchange(address)
    result: dict[str, object] = json.loads(text)
    return result


def test_child_gets_the_connection_on_fds_0_1_2_only(spawner: Daemon) -> None:
    """The connection is fds 0, 1 and 2 (one socket) and nothing else is inherited."""
    report = _report(spawner)
    assert report["fds"] == [0, 1, 2]
    assert report["same_socket"] is True
    assert report["is_socket"] is True
    assert report["peer"][0] == "127.0.0.1"  # type: ignore[index]


def test_child_argv_as_configured(spawner: Daemon) -> None:
    """argv is the configured one, argv[0] included."""
    report = _report(spawner)
    argv = report["argv"]
    assert isinstance(argv, list)
    assert argv[0] == "reporter"
    assert argv[2:] == ["one", "two"]


def test_child_user_group_and_groups(spawner: Daemon) -> None:
    """The child runs as the configured user and group, with initgroups' groups."""
    report = _report(spawner)
    entry = pwd.getpwnam(USER)
    gid = grp.getgrnam(GROUP).gr_gid
    assert report["uid"] == report["euid"] == entry.pw_uid
    assert report["gid"] == report["egid"] == gid
    assert report["groups"] == sorted(set(os.getgrouplist(USER, gid)))


def test_child_environment_is_clean(spawner: Daemon) -> None:
    """The environment holds PATH, HOME, USER and LOGNAME only; cwd is /."""
    report = _report(spawner)
    env = report["env"]
    assert isinstance(env, dict)
    assert set(env) <= {"PATH", "HOME", "USER", "LOGNAME", "LC_CTYPE"}
    assert env["USER"] == env["LOGNAME"] == USER
    assert env["HOME"] == pwd.getpwnam(USER).pw_dir
    assert "LISTEN_FDS" not in env
    assert report["cwd"] == "/"
    assert report["session_leader"] is True


def _ignored(pid: int) -> int:
    """The SigIgn mask of a process."""
    status = Path(f"/proc/{pid}/status").read_text()
    return int(status.split("SigIgn:")[1].split()[0], 16)


def _bit(signum: int) -> int:
    return 1 << (signum - 1)


def test_child_signals_are_not_ignored(spawner: Daemon) -> None:
    """The child ignores no signal the daemon chose to ignore (SIGPIPE, SIGXFSZ).

    What the daemon itself was started with stays as it was given: started by
    Python 3.13's ``subprocess`` (this test, on 3.13), it gets glibc's internal
    signals 32 and 33 ignored (seen here; a Python 3.13 child of a Python 3.13
    parent shows the same), which no Python code can set back; where the daemon
    got nothing ignored (Python 3.11 and 3.12), its children get nothing
    ignored either.
    """
    python_ignores = _bit(signal.SIGPIPE) | _bit(signal.SIGXFSZ)
    given = _ignored(spawner.proc.pid) & ~python_ignores
    answer = tcp_exchange(spawner.address("sigign/tcp", "tcp://"))
    label, mask = answer.split()
    assert label == b"SigIgn:"
    child = int(mask, 16)
    assert child & python_ignores == 0
    assert child & ~given == 0
    if given == 0:
        assert child == 0


def test_child_exit_is_logged(spawner: Daemon) -> None:
    """Each child's exit is logged with service, peer, pid, status and duration."""
    start = spawner.out.count()
    _report(spawner)
    spawner.out.wait_for(
        r"EXIT: reporter/tcp from=127\.0\.0\.1:\d+ pid=\d+ status=0 "
        r"duration=\d+\.\d+s",
        start=start,
    )


def test_cat_echoes(spawner: Daemon) -> None:
    """A spawned /bin/cat echoes over TCP and over a Unix socket."""
    payload = os.urandom(300_000)
    assert tcp_exchange(spawner.address("cat/tcp", "tcp://"), payload) == payload
    name = next(n for n in spawner.endpoints if n.endswith("cat.sock/unix"))
    assert unix_exchange(spawner.path(name), b"unix cat") == b"unix cat"


def test_200_concurrent_clients_of_cat(spawner: Daemon) -> None:
    """200 clients at once each get their own /bin/cat and their own bytes back."""
    address = spawner.address("cat/tcp", "tcp://")

    def one(index: int) -> bool:
        payload = f"client {index}\n".encode() * 100
        return tcp_exchange(address, payload, timeout=60) == payload

    with concurrent.futures.ThreadPoolExecutor(max_workers=200) as pool:
        results = list(pool.map(one, range(200)))
    assert all(results)


def test_stream_wait_child_gets_the_listener(spawner: Daemon) -> None:
    """wait: the child gets the listening socket (fd 0 and fd 3, LISTEN_FDS=1)."""
    address = spawner.address("waiter/tcp", "tcp://")
    first = json.loads(tcp_exchange(address))
    assert first["accepting"] == 1
    assert first["listen_fds"] == "1"
    assert first["listen_pid_is_me"] is True
    assert first["fd3_is_fd0"] is True
    assert first["names"] == "0"
    # The next connection gets the next child, once the first has exited.
    second = json.loads(tcp_exchange(address))
    assert second["pid"] != first["pid"]


def test_datagram_wait_child_takes_the_socket(spawner: Daemon) -> None:
    """dgram wait: one child answers every datagram while it runs."""
    address = spawner.address("dgram_wait/udp", "udp://")
    first = udp_exchange(address, b"a", timeout=10)
    second = udp_exchange(address, b"b", timeout=10)
    assert first is not None
    assert second is not None
    assert first.startswith(b"wait:")
    assert first.endswith(b":a")
    assert first.split(b":")[1] == second.split(b":")[1]  # the same child


def test_datagram_nowait_child_per_datagram(spawner: Daemon) -> None:
    """dgram nowait: each datagram gets a child of its own, which reads it."""
    address = spawner.address("dgram_nowait/udp", "udp://")
    replies = [udp_exchange(address, b"%d" % i, timeout=10) for i in range(3)]
    assert all(r is not None and r.startswith(b"nowait:") for r in replies)
    pids = {r.split(b":")[1] for r in replies if r}
    assert len(pids) == 3
    assert [r.split(b":")[2] for r in replies if r] == [b"0", b"1", b"2"]


def test_datagram_nowait_retransmission_gets_its_own_child(spawner: Daemon) -> None:
    """dgram nowait: a client's identical second datagram is served, not dropped.

    The first child has read its datagram once it answers; the same bytes from
    the same socket right behind it are a new datagram: the service goes on (a
    third client is answered while the first child still runs) and the second copy
    gets a child of its own. No datagram is reported unread.
    """
    address = spawner.address("dgram_linger/udp", "udp://")
    # The children wait until the last writer of the FIFO closes it.
    release = os.open(_fifo(spawner), os.O_RDWR)
    start = spawner.out.count()
    try:
        with (
            socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as client,
            socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as other,
        ):
            client.settimeout(10)
            other.settimeout(10)
            client.sendto(b"req", address)
            client.sendto(b"req", address)
            first = client.recv(100)
            other.sendto(b"other", address)
            assert other.recv(100).endswith(b":other")  # while the first child runs
            second = client.recv(100)
        assert first.startswith(b"linger:")
        assert first.endswith(b":req")
        assert second.endswith(b":req")
        assert first.split(b":")[1] != second.split(b":")[1]
    finally:
        os.close(release)
    spawner.out.wait_count(r"EXIT: dgram_linger/udp from=", 3)
    assert "without reading" not in "\n".join(spawner.out.lines[start:])


def _fifo(spawner: Daemon) -> Path:
    args = list(spawner.proc.args)  # type: ignore[arg-type]
    return Path(args[args.index("--config") + 1]).parent / "release.fifo"


def test_python_stream_handler(spawner: Daemon) -> None:
    """python:module:function runs in-process as a stream handler."""
    address = spawner.address("tests.inetd_handlers:upper/tcp", "tcp://")
    assert tcp_exchange(address, b"shout") == b"SHOUT"


def test_python_datagram_handler(spawner: Daemon) -> None:
    """python: handlers serve datagrams too: handler(data, address, sock)."""
    address = spawner.address("tests.inetd_handlers:reverse/udp", "udp://")
    assert udp_exchange(address, b"abc", timeout=10) == b"cba"


def test_python_handler_failure_is_logged(spawner: Daemon) -> None:
    """A handler that raises is logged with the service; the daemon goes on."""
    start = spawner.out.count()
    address = spawner.address("tests.inetd_handlers:broken/tcp", "tcp://")
    assert tcp_exchange(address) == b""
    spawner.out.wait_for(
        r"broken/tcp: handler for 127\.0\.0\.1:\d+ raised", start=start
    )
    assert tcp_exchange(spawner.address("cat/tcp", "tcp://"), b"ok") == b"ok"


def test_peer_address_reaches_the_child(spawner: Daemon) -> None:
    """The child can getpeername() its fd 0 (the client's address)."""
    with socket.socket() as sock:
        sock.settimeout(10)
        sock.connect(spawner.address("reporter/tcp", "tcp://"))
        here = sock.getsockname()
        sock.shutdown(socket.SHUT_WR)
        data = b""
        while chunk := sock.recv(65536):
            data += chunk
    assert json.loads(data)["peer"] == list(here)
