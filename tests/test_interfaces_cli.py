"""The ``aiosock interfaces`` command."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

from aiosock import interfaces
from aiosock._cli import main

if TYPE_CHECKING:
    import pytest


def _run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    status = main(["interfaces", *argv])
    out, err = capsys.readouterr()
    return status, out, err


def test_ip_addr_layout(capsys: pytest.CaptureFixture[str]) -> None:
    """The default layout shows each interface as ip addr does, lo with 127.0.0.1/8."""
    status, out, _ = _run(capsys)
    assert status == 0
    lo = interfaces.get("lo")
    assert f"{lo.index}: lo: <" in out
    assert f"mtu {lo.mtu} state " in out
    assert "    inet 127.0.0.1/8 scope host lo" in out
    for interface in interfaces.list():
        assert f"{interface.index}: {interface.name}: " in out


def test_brief_table(capsys: pytest.CaptureFixture[str]) -> None:
    """--brief prints a header and one row per interface."""
    status, out, _ = _run(capsys, "--brief")
    lines = out.splitlines()
    assert status == 0
    assert lines[0].split() == ["INDEX", "NAME", "STATE", "MTU", "ADDRESSES"]
    assert len(lines) == 1 + len(interfaces.list())
    row = next(line for line in lines if line.split()[1] == "lo")
    assert "127.0.0.1/8" in row.split()


def test_json_for_one_interface(capsys: pytest.CaptureFixture[str]) -> None:
    """--json with a name prints that interface's fields as an object in a list."""
    status, out, _ = _run(capsys, "lo", "--json")
    assert status == 0
    (lo,) = json.loads(out)
    assert lo["name"] == "lo"
    assert "LOOPBACK" in lo["flags"]
    assert {
        "address": "127.0.0.1",
        "prefix_length": 8,
        "scope": "host",
        "broadcast": None,
        "peer": None,
        "label": "lo",
    } in lo["addresses"]


def test_unknown_interface_exits_2(capsys: pytest.CaptureFixture[str]) -> None:
    """An unknown name is an error on stderr and status 2."""
    status, out, err = _run(capsys, "aiosock-none0")
    assert (status, out) == (2, "")
    assert "expected the name of a network interface, got 'aiosock-none0'" in err
