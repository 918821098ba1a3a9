"""Multicast and broadcast: argument checks anywhere, traffic in a netns only."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import aiosock

from .conftest import HAVE_IPV6

ROOT = Path(__file__).resolve().parent.parent
# In the namespace, lo gets a multicast route and a broadcast-capable address.
# Linux does not loop IPv6 multicast back on lo, so IPv6 uses a veth pair made
# inside the namespace (where the kernel has veth). Nothing else exists there:
# nothing can leave the machine.
SETUP = (
    "ip link set lo up && ip link set lo multicast on && "
    "ip route add 224.0.0.0/4 dev lo && "
    "ip addr add 10.77.0.1/24 brd 10.77.0.255 dev lo && "
    "if ip link add mc0 type veth peer name mc1 2>/dev/null; then "
    "ip -6 addr add fd00:77::1/64 dev mc0 nodad && "
    "ip link set mc0 up && ip link set mc1 up && export MC6_IF=mc0; fi && "
    'exec "$0" -m tests._multicast_netns "$1"'
)


def _netns_unavailable() -> str | None:
    if shutil.which("unshare") is None or shutil.which("ip") is None:
        return "unshare(1) or ip(8) is missing"
    probe = subprocess.run(
        ["unshare", "-n", "true"], capture_output=True, text=True, check=False
    )
    if probe.returncode != 0:
        return f"cannot make a network namespace: {probe.stderr.strip()}"
    return None


@pytest.mark.parametrize("loop", ["asyncio", "uvloop"])
def test_multicast_and_broadcast_in_own_network_namespace(loop: str) -> None:
    """Groups (v4, v6, source-specific) and broadcast work, in a private netns."""
    reason = _netns_unavailable()
    if reason is not None:
        print(f"skipped: {reason}")
        pytest.skip(reason)
    result = subprocess.run(
        ["unshare", "-n", "sh", "-c", SETUP, sys.executable, loop],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=ROOT,
        env=dict(os.environ, PYTHONPATH=str(ROOT)),
        check=False,
    )
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    for line in lines:
        if line.startswith("skipped"):
            print(line)  # a part the namespace could not host, with its reason
    assert lines[-1] == "OK"


async def test_join_group_checks_its_arguments() -> None:
    """Non-multicast groups, wrong families and unknown interfaces are refused."""
    async with await aiosock.open_datagram("udp4://127.0.0.1:0") as sock:
        with pytest.raises(aiosock.AddressError, match="multicast group address"):
            sock.join_group("127.0.0.1")
        with pytest.raises(aiosock.AddressError, match="IPv4"):
            sock.join_group("ff02::1")
        with pytest.raises(aiosock.AddressError, match="IP address"):
            sock.join_group("not-an-address")
        with pytest.raises(aiosock.InterfaceError):
            sock.join_group("239.1.2.3", "no-such-if0")
        with pytest.raises(aiosock.AddressError, match="multicast source"):
            sock.join_group("239.1.2.3", source="bogus")


async def test_leave_without_join_is_an_os_error() -> None:
    """Leaving a group never joined is the kernel's EADDRNOTAVAIL, as an OSError."""
    async with await aiosock.open_datagram("udp4://127.0.0.1:0") as sock:
        with pytest.raises(OSError, match="leave multicast group"):
            sock.leave_group("239.1.2.3", "lo")


@pytest.mark.skipif(not HAVE_IPV6, reason="IPv6 loopback (::1) cannot be bound")
async def test_join_group_ipv6_checks() -> None:
    """An IPv6 socket refuses an IPv4 group."""
    async with await aiosock.open_datagram("udp6://[::1]:0") as sock:
        with pytest.raises(aiosock.AddressError, match="IPv6"):
            sock.join_group("239.1.2.3")


async def test_multicast_on_a_unix_socket_is_refused(short_tmp: Path) -> None:
    """join_group on a unixgram socket is an AddressError."""
    async with await aiosock.open_datagram(f"unixgram:{short_tmp}/m.sock") as sock:
        with pytest.raises(aiosock.AddressError, match="UDP socket"):
            sock.join_group("239.1.2.3")
