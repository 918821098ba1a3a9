"""The ``aiosock`` command line: version, help, the global --loop option."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import pytest

import aiosock
from aiosock._cli import main
from aiosock._foundation._loop import LOOP_ENV

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(autouse=True)
def _no_loop_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """Start every test here with AIOSOCK_LOOP unset."""
    monkeypatch.delenv(LOOP_ENV, raising=False)


def _env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != LOOP_ENV}
    env["PYTHONPATH"] = os.pathsep.join(
        filter(None, [str(ROOT), env.get("PYTHONPATH")])
    )
    return env


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    """--version prints the package version and exits 0."""
    with pytest.raises(SystemExit) as info:
        main(["--version"])
    assert info.value.code == 0
    assert capsys.readouterr().out.strip() == f"aiosock {aiosock.__version__}"


def test_help(capsys: pytest.CaptureFixture[str]) -> None:
    """--help prints usage with the global --loop choices and exits 0."""
    with pytest.raises(SystemExit) as info:
        main(["--help"])
    assert info.value.code == 0
    out = capsys.readouterr().out
    assert out.startswith("usage: aiosock")
    assert "--loop {auto,asyncio,uvloop}" in out
    assert "--version" in out


def test_bad_loop_option(capsys: pytest.CaptureFixture[str]) -> None:
    """An unknown --loop is a usage error (status 2) naming the choices."""
    with pytest.raises(SystemExit) as info:
        main(["--loop", "tokio"])
    assert info.value.code == 2
    err = capsys.readouterr().err
    assert "invalid choice: 'tokio'" in err
    assert "asyncio" in err


def test_bad_loop_env(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """A bad AIOSOCK_LOOP is a usage error naming the variable."""
    monkeypatch.setenv(LOOP_ENV, "tokio")
    with pytest.raises(SystemExit) as info:
        main([])
    assert info.value.code == 2
    assert "AIOSOCK_LOOP" in capsys.readouterr().err


def test_no_command_prints_help(capsys: pytest.CaptureFixture[str]) -> None:
    """With no subcommand the usage goes to stderr and the status is 2."""
    assert main(["--loop", "asyncio"]) == 2
    assert "usage: aiosock" in capsys.readouterr().err


def test_unknown_option(capsys: pytest.CaptureFixture[str]) -> None:
    """An unknown option is a usage error."""
    with pytest.raises(SystemExit) as info:
        main(["--no-such-option"])
    assert info.value.code == 2
    assert "unrecognized arguments" in capsys.readouterr().err


def test_python_m_aiosock_version() -> None:
    """python -m aiosock --version works in a fresh interpreter."""
    result = subprocess.run(
        [sys.executable, "-m", "aiosock", "--version"],
        capture_output=True,
        text=True,
        env=_env(),
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == f"aiosock {aiosock.__version__}"


def test_python_m_aiosock_help() -> None:
    """python -m aiosock --help lists the global options."""
    result = subprocess.run(
        [sys.executable, "-m", "aiosock", "--help"],
        capture_output=True,
        text=True,
        env=_env(),
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert "--loop" in result.stdout


def test_console_script_version() -> None:
    """The installed aiosock console script prints the version."""
    script = Path(sys.executable).parent / "aiosock"
    if not script.exists():
        found = shutil.which("aiosock")
        if found is None:
            pytest.skip("the aiosock console script is not installed")
        script = Path(found)
    result = subprocess.run(
        [str(script), "--version"],
        capture_output=True,
        text=True,
        env=_env(),
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == f"aiosock {aiosock.__version__}"


def test_a_closed_pipe_ends_the_output_quietly() -> None:
    """``aiosock netdb services | head``: no traceback, the status of SIGPIPE."""
    read_end, write_end = os.pipe()
    os.close(read_end)  # the reader has gone before the first line
    try:
        result = subprocess.run(
            [sys.executable, "-m", "aiosock", "netdb", "protocols"],
            stdout=write_end,
            stderr=subprocess.PIPE,
            text=True,
            env=_env(),
            timeout=30,
            check=False,
        )
    finally:
        os.close(write_end)
    assert (result.returncode, result.stderr) == (141, "")


@pytest.mark.parametrize("loop", ["asyncio", "uvloop"])
def test_closed_standard_input_is_an_empty_one(loop: str) -> None:
    """``aiosock connect ... <&-``: uvloop aborted when the socket became fd 0.

    With standard input closed, nothing is sent (end of input at once) and
    what the server sends is printed.
    """
    with socket.create_server(("127.0.0.1", 0)) as server:
        port = server.getsockname()[1]
        argv = ["-m", "aiosock", "--loop", loop, "connect", f"tcp://127.0.0.1:{port}"]
        child = subprocess.Popen(
            [sys.executable, *argv],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=_env(),
            preexec_fn=lambda: os.close(0),  # noqa: PLW1509
        )
        try:
            server.settimeout(30)
            conn, _ = server.accept()
            with conn:
                conn.settimeout(30)
                assert conn.recv(100) == b""  # its end of input: a half-close
                conn.sendall(b"hello\n")
            out, err = child.communicate(timeout=30)
        finally:
            child.kill()
            child.wait(timeout=30)
    assert (child.returncode, out, err) == (0, b"hello\n", b"")
