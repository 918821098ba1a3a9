"""Server programs for the inetd tests, written out as scripts by the tests.

Each is run by a Python that the configured user can execute (the system's
/usr/bin/python3 when the daemon switches to ``nobody``).
"""

from __future__ import annotations

import os
import pwd
import stat
import sys
from pathlib import Path

# Reports how it was started, as JSON on its stdout (the socket).
REPORT = r"""
import json, os, socket, stat, sys
fds = []
for fd in range(1024):
    try:
        os.fstat(fd)
    except OSError:
        continue
    fds.append(fd)
ino = [os.fstat(fd).st_ino for fd in (0, 1, 2)]
peer = socket.socket(fileno=os.dup(0)).getpeername()
print(json.dumps({
    "fds": fds,
    "same_socket": len(set(ino)) == 1,
    "is_socket": stat.S_ISSOCK(os.fstat(0).st_mode),
    "argv": sys.orig_argv,
    "uid": os.getuid(), "euid": os.geteuid(),
    "gid": os.getgid(), "egid": os.getegid(),
    "groups": sorted(os.getgroups()),
    "env": dict(os.environ),
    "cwd": os.getcwd(),
    "session_leader": os.getsid(0) == os.getpid(),
    "peer": list(peer),
}), flush=True)
"""

# A stream ``wait`` server: accepts one connection on the listening fd 0 and
# reports what systemd-style variables it got.
WAITER = r"""
import json, os, socket
listener = socket.socket(fileno=0)
conn, _ = listener.accept()
accepting = listener.getsockopt(socket.SOL_SOCKET, socket.SO_ACCEPTCONN)
fd3 = os.fstat(3).st_ino == os.fstat(0).st_ino
conn.sendall(json.dumps({
    "accepting": accepting,
    "listen_fds": os.environ.get("LISTEN_FDS"),
    "listen_pid_is_me": os.environ.get("LISTEN_PID") == str(os.getpid()),
    "names": os.environ.get("LISTEN_FDNAMES"),
    "fd3_is_fd0": fd3,
    "pid": os.getpid(),
}).encode())
conn.close()
listener.detach()
"""

# A datagram ``wait`` server: answers every datagram until idle for 2 seconds.
DGRAM_WAIT = r"""
import os, socket
sock = socket.socket(fileno=0)
sock.settimeout(2)
try:
    while True:
        data, peer = sock.recvfrom(65536)
        sock.sendto(b"wait:%d:" % os.getpid() + data, peer)
except TimeoutError:
    pass
sock.detach()
"""

# A datagram ``nowait`` server: answers the one datagram it was started for.
DGRAM_NOWAIT = r"""
import os, socket
sock = socket.socket(fileno=0)
data, peer = sock.recvfrom(65536)
sock.sendto(b"nowait:%d:" % os.getpid() + data, peer)
sock.detach()
"""

# A datagram ``nowait`` server that answers its datagram, then stays until the
# FIFO named by argv[1] has no writer left (opened first: the test holds it open).
DGRAM_LINGER = r"""
import os, socket, sys
release = open(sys.argv[1], "rb")
sock = socket.socket(fileno=0)
data, peer = sock.recvfrom(65536)
sock.sendto(b"linger:%d:" % os.getpid() + data, peer)
sock.detach()
release.read()
"""

# Exits at once, failing (a crash-looping server).
CRASH = "import sys; sys.exit(3)\n"

# Holds the connection open until the client ends it (for SIGHUP tests).
HOLD = r"""
import os, sys
os.write(1, b"held:%d\n" % os.getpid())
while True:
    data = os.read(0, 65536)
    if not data:
        break
    os.write(1, data)
"""


def child_user() -> str:
    """The user the test services run as: nobody when the tests run as root and
    a Python nobody can run exists, else the tests' own user."""
    if os.geteuid() == 0 and os.path.exists("/usr/bin/python3"):
        return "nobody"
    return pwd.getpwuid(os.geteuid()).pw_name


def python_for_children() -> str:
    """A Python that the children's user can run."""
    if os.geteuid() == 0 and os.path.exists("/usr/bin/python3"):
        return "/usr/bin/python3"
    return sys.executable


def write_programs(directory: Path) -> dict[str, str]:
    """Write the programs as scripts in ``directory``; return their paths by name."""
    directory.chmod(0o755)
    paths = {}
    programs = {
        "report": REPORT,
        "waiter": WAITER,
        "dgram_wait": DGRAM_WAIT,
        "dgram_nowait": DGRAM_NOWAIT,
        "dgram_linger": DGRAM_LINGER,
        "crash": CRASH,
        "hold": HOLD,
    }
    for name, text in programs.items():
        path = directory / f"{name}.py"
        path.write_text(text)
        path.chmod(stat.S_IRUSR | stat.S_IWUSR | stat.S_IRGRP | stat.S_IROTH)
        paths[name] = str(path)
    return paths
