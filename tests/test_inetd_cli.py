"""``aiosock inetd`` from the command line: the default, signals, bad arguments."""

from __future__ import annotations

import signal
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from tests.inetd_helpers import LOOPS, Daemon, child_env, tcp_exchange, udp_exchange

DEFAULT_PORTS = {"echo": 17007, "discard": 17009, "daytime": 17013, "chargen": 17019}


def _ports_free() -> bool:
    for port in (17007, 17009, 17013, 17019, 17037):
        with socket.socket() as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                probe.bind(("127.0.0.1", port))
            except OSError:
                return False
    return True


@pytest.mark.parametrize("loop", LOOPS)
def test_default_configuration(loop: str) -> None:
    """With no --config the internal services listen on loopback high ports."""
    if not _ports_free():
        pytest.skip("the default ports 17007..17037 are in use here")
    process = Daemon(None, loop=loop)
    try:
        assert "serving the internal services on loopback" in process.out.lines[0]
        assert process.endpoint("echo/tcp", "tcp://127.0.0.1:17007")
        assert process.endpoint("echo/tcp", "tcp://[::1]:17007")
        assert process.endpoint("time/udp", "udp://[::1]:17037")
        assert tcp_exchange(("127.0.0.1", 17007), b"hi\n") == b"hi\n"
        assert tcp_exchange(("::1", 17007), b"hi6\n") == b"hi6\n"
        assert udp_exchange(("::1", 17007), b"u") == b"u"
        assert process.stop() == 0
        assert "stopped" in process.out.lines[-1]
    finally:
        process.kill()


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_signals_stop_cleanly(tmp_path: Path, signum: int) -> None:
    """SIGTERM and SIGINT stop listening and exit 0, after STOPPING."""
    config = tmp_path / "inetd.conf"
    config.write_text("127.0.0.1:0 stream tcp nowait nobody internal echo\n")
    process = Daemon(config)
    try:
        host, port = process.address("echo/tcp", "tcp://")
        process.proc.send_signal(signum)
        assert process.proc.wait(20) == 0
        with pytest.raises(ConnectionRefusedError), socket.socket() as sock:
            sock.connect((host, port))
    finally:
        process.kill()
    assert "stopping" in process.out.text()


def test_missing_config_file() -> None:
    """A --config that cannot be read is an error naming it, exit status 1."""
    result = subprocess.run(
        [sys.executable, "-m", "aiosock", "inetd", "--config", "/nonexistent.conf"],
        capture_output=True,
        text=True,
        timeout=30,
        env=child_env(),
        check=False,
    )
    assert result.returncode == 1
    assert "/nonexistent.conf: cannot read the file" in result.stderr


def test_bad_lines_are_logged_and_skipped(tmp_path: Path) -> None:
    """Problems are logged with file, line and field; the good lines serve."""
    config = tmp_path / "inetd.conf"
    config.write_text(
        "127.0.0.1:0 stream tcp nowait nobody internal echo\n"
        "127.0.0.1:0 stream tcp sometimes nobody internal daytime\n"
    )
    process = Daemon(config)
    try:
        text = process.out.text()
        assert f"{config}:2: expected wait or nowait" in text
        assert "(field 'wait')" in text
        assert tcp_exchange(process.address("echo/tcp", "tcp://"), b"ok") == b"ok"
    finally:
        process.stop()


def test_help_lists_the_options() -> None:
    """aiosock inetd --help documents the options."""
    result = subprocess.run(
        [sys.executable, "-m", "aiosock", "inetd", "--help"],
        capture_output=True,
        text=True,
        timeout=30,
        env=child_env(),
        check=False,
    )
    assert result.returncode == 0, result.stderr
    for option in (
        "--config",
        "--check",
        "--foreground",
        "--rate",
        "--retry-time",
        "--verbose",
    ):
        assert option in result.stdout


@pytest.mark.parametrize("loop", LOOPS)
@pytest.mark.parametrize("where", ["after", "split"])
def test_verbose_after_the_subcommand(tmp_path: Path, loop: str, where: str) -> None:
    """-vv works after 'inetd' too (or split around it): debug lines are logged."""
    config = tmp_path / "inetd.conf"
    config.write_text(
        "127.0.0.1:0 dgram udp wait nobody internal echo\n"
        "127.0.0.1:0 dgram udp wait nobody internal chargen\n"
    )
    before, after = (("-v",), ("-v",)) if where == "split" else ((), ("-vv",))
    process = Daemon(config, *after, loop=loop, global_args=before)
    try:
        chargen_port = process.address("chargen/udp", "udp://")[1]
        start = process.out.count()
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind(("127.0.0.1", chargen_port))
            sock.sendto(b"x", process.address("echo/udp", "udp://"))
        process.out.wait_for(
            rf"echo/udp: no reply: source port {chargen_port} is an internal",
            start=start,
        )
    finally:
        process.stop()


def test_verbose_after_the_subcommand_with_check(tmp_path: Path) -> None:
    """aiosock inetd -v --check, as the docs list -v among inetd's options."""
    config = tmp_path / "inetd.conf"
    config.write_text("127.0.0.1:0 stream tcp nowait nobody internal echo\n")
    for args in (["-vv", "--check"], ["--check", "-v"]):
        result = subprocess.run(
            [sys.executable, "-m", "aiosock", "inetd", *args, "--config", str(config)],
            capture_output=True,
            text=True,
            timeout=30,
            env=child_env(),
            check=False,
        )
        assert result.returncode == 0, result.stderr
        assert "1 services, 0 problems" in result.stdout


def test_check_refuses_programs_anyone_can_replace(tmp_path: Path) -> None:
    """--check reports a world-writable program, or one in a world-writable dir."""
    import os
    import subprocess
    import sys

    open_dir = tmp_path / "open"
    open_dir.mkdir()
    open_dir.chmod(0o777)
    in_open_dir = open_dir / "prog.sh"
    in_open_dir.write_text("#!/bin/sh\n")
    in_open_dir.chmod(0o755)
    writable = tmp_path / "writable.sh"
    writable.write_text("#!/bin/sh\n")
    writable.chmod(0o777)
    user = "nobody" if os.geteuid() == 0 else os.environ.get("USER", "root")
    config = tmp_path / "inetd.conf"
    config.write_text(
        f"127.0.0.1:0 stream tcp nowait {user} {writable} one\n"
        f"127.0.0.1:0 stream tcp nowait {user} {in_open_dir} two\n"
    )
    result = subprocess.run(
        [sys.executable, "-m", "aiosock", "inetd", "--check", "--config", str(config)],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert result.returncode == 1
    assert f"refused to run {writable}: it is writable by every user" in result.stderr
    assert f"directory {open_dir} is writable by every user" in result.stderr
