"""Starting server programs and reaping them.

Strategy: ``subprocess.Popen`` (CPython's C ``fork_exec``), watched with a pidfd.

- Popen does in C, between fork and exec, everything an inetd child needs: the
  socket duplicated onto fds 0, 1 and 2, every other descriptor closed
  (``close_fds``), ``setsid``, ``setgroups`` (the user's supplementary groups from
  ``os.getgrouplist``, what ``initgroups`` sets), ``setgid`` then ``setuid``, the
  signal dispositions Python changed put back (``SIGPIPE``), a clean environment.
  When the child's user, group and groups are the daemon's own, nothing is
  switched and Popen uses ``vfork`` (a full ``fork`` of a process the daemon's
  size costs several times more). An exec that fails (missing program, not
  executable, unknown interpreter) is
  reported to the parent as an ``OSError`` before Popen returns, so the daemon
  logs it with the service's name. ``os.posix_spawn`` cannot change user or
  groups; asyncio's ``create_subprocess_exec`` differs per loop (uvloop spawns
  through libuv, which has no supplementary groups) and on the default loop of
  Python 3.11 waits for each child in a thread of its own.
- Each child is reaped through ``os.pidfd_open`` and ``loop.add_reader``: the same
  on both loops, no thread and no ``SIGCHLD`` handler that could reap another
  library's children. Where pidfds are missing (Linux before 5.3), one thread
  per child waits instead.
- ``wait`` children also get the socket as fd 3 with ``LISTEN_FDS=1`` and
  ``LISTEN_PID`` (systemd's protocol). ``LISTEN_PID`` must be the child's own pid,
  known only after fork, so they start through a one-line bash shim that sets
  it, duplicates fd 0 onto fd 3 and execs the program in place (same pid, argv[0]
  as configured); without bash, a Python one does the same.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import grp
import os
import pwd
import stat
import subprocess
import sys
import threading
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

import attrs

if TYPE_CHECKING:
    from ._records import ServiceEntry

__all__ = [
    "DEFAULT_PATH",
    "ChildWatch",
    "RunAs",
    "child_environment",
    "describe_status",
    "resolve_user",
    "spawn",
    "watch_child",
]

#: ``PATH`` in a child's environment.
DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

# LISTEN_PID must be the child's own pid, known only once it runs: a shell sets it
# and execs the program in place (same pid), with fd 0 also on fd 3 and argv[0]
# as configured (bash's ``exec -a``).
_BASH = "/bin/bash"
_BASH_SHIM = 'export LISTEN_PID=$$; exec -a "$0" "$@" 3<&0'
_PYTHON_SHIM = (
    "import os,sys;os.dup2(0,3);os.environ['LISTEN_PID']=str(os.getpid());"
    "os.execv(sys.argv[1],sys.argv[2:])"
)


@attrs.frozen
class RunAs:
    """Who a child runs as: ``None`` fields leave the daemon's own in place.

    Attributes:
        name: The user's name (for ``USER``, ``LOGNAME``).
        home: The user's home directory (for ``HOME``).
        uid: The user id to switch to.
        gid: The group id to switch to.
        groups: The supplementary groups.
    """

    name: str
    home: str
    uid: int | None = None
    gid: int | None = None
    groups: tuple[int, ...] | None = None


def resolve_user(user: str, group: str | None) -> RunAs:
    """Look up a service's user and group in the password and group databases.

    As root, the child switches to the user, to the group (the user's primary
    group when none is given) and to the user's supplementary groups. Not as root,
    only the daemon's own user can run servers (as with openbsd-inetd), unswitched.

    Raises:
        LookupError: The user or the group does not exist, or the daemon cannot
            switch to them (the message says which).
    """
    try:
        entry = pwd.getpwnam(user)
    except KeyError:
        raise LookupError(f"unknown user {user!r}") from None
    gid = entry.pw_gid
    if group is not None:
        try:
            gid = grp.getgrnam(group).gr_gid
        except KeyError:
            raise LookupError(f"unknown group {group!r}") from None
    if os.geteuid() != 0:
        if entry.pw_uid != os.geteuid():
            raise LookupError(
                f"cannot run as user {user!r}: aiosock inetd runs as uid "
                f"{os.geteuid()}, not as root"
            )
        if gid not in (os.getegid(), *os.getgroups()):
            raise LookupError(f"cannot run as group {group!r}: not root")
        return RunAs(user, entry.pw_dir)
    groups = tuple(os.getgrouplist(user, gid))
    if _already(entry.pw_uid, gid, groups):
        # Nothing to switch: Popen may then use vfork, several times faster
        # than fork for a process of the daemon's size.
        return RunAs(user, entry.pw_dir)
    return RunAs(user, entry.pw_dir, entry.pw_uid, gid, groups)


def _already(uid: int, gid: int, groups: tuple[int, ...]) -> bool:
    """Whether this process already has these ids and exactly these groups."""
    return (
        os.getuid() == os.geteuid() == uid
        and os.getgid() == os.getegid() == gid
        # The primary group counts as a member whether listed or not.
        and set(os.getgroups()) | {gid} == set(groups) | {gid}
    )


def child_environment(
    run_as: RunAs, extra: dict[str, str] | None = None
) -> dict[str, str]:
    """Return the clean environment of a child: PATH, HOME, USER, LOGNAME."""
    env = {
        "PATH": DEFAULT_PATH,
        "HOME": run_as.home,
        "USER": run_as.name,
        "LOGNAME": run_as.name,
    }
    if extra:
        env.update(extra)
    return env


def unsafe_program(path: str) -> str | None:
    """Say why ``path`` is unsafe to run for a service, or ``None`` if it is safe.

    A program that anyone may rewrite, or that sits in a directory anyone may
    write into without the sticky bit, could be replaced by any local user and
    then run with the service's user (root, often). inetd refuses to run it, as
    sshd's StrictModes refuses such key files.
    """
    try:
        st = os.stat(path)
    except OSError:
        return None  # reported as missing or not executable instead
    if st.st_mode & stat.S_IWOTH:
        return "it is writable by every user"
    directory = os.path.dirname(os.path.abspath(path))
    while True:
        try:
            dst = os.stat(directory)
        except OSError:
            return None
        if dst.st_mode & stat.S_IWOTH and not dst.st_mode & stat.S_ISVTX:
            return f"directory {directory} is writable by every user"
        parent = os.path.dirname(directory)
        if parent == directory:
            return None
        directory = parent


def spawn(
    entry: ServiceEntry,
    fd: int,
    run_as: RunAs,
    *,
    listen_fds: bool = False,
    fd_name: str | None = None,
) -> subprocess.Popen[bytes]:
    """Start the server program of ``entry`` with ``fd`` as its fds 0, 1 and 2.

    Args:
        entry: The service (``server`` is the program, ``argv`` its arguments).
        fd: The connected socket (``nowait``) or the listening or bound socket
            (``wait``); the child gets its own copies, the caller keeps ``fd``.
        run_as: The user and groups from :func:`resolve_user`.
        listen_fds: Also pass ``fd`` as fd 3 with ``LISTEN_FDS=1`` (systemd).
        fd_name: ``LISTEN_FDNAMES`` for ``listen_fds``.

    Returns:
        The running child.

    Raises:
        OSError: fork or exec failed (``FileNotFoundError`` for a missing
            program, ``PermissionError`` for one that cannot be executed, ...).
    """
    unsafe = unsafe_program(entry.server)
    if unsafe is not None:
        raise PermissionError(errno.EPERM, f"refused to run: {unsafe}")
    argv: Sequence[str] = entry.argv
    executable = entry.server
    extra: dict[str, str] = {}
    if listen_fds:
        extra = {"LISTEN_FDS": "1", "LISTEN_FDNAMES": fd_name or entry.service}
        if not os.access(entry.server, os.X_OK):
            raise PermissionError(
                13 if os.path.exists(entry.server) else 2,
                os.strerror(13 if os.path.exists(entry.server) else 2),
                entry.server,
            )
        argv, executable = _shim(entry)
    return subprocess.Popen(
        argv,
        executable=executable,
        stdin=fd,
        stdout=fd,
        stderr=fd,
        close_fds=True,
        cwd="/",
        env=child_environment(run_as, extra),
        start_new_session=True,
        restore_signals=True,
        user=run_as.uid,
        group=run_as.gid,
        extra_groups=run_as.groups,
    )


def _shim(entry: ServiceEntry) -> tuple[list[str], str]:
    """The command that starts ``entry`` with ``LISTEN_PID`` set to its own pid."""
    if os.access(_BASH, os.X_OK):
        argv0 = entry.argv[0] if entry.argv else entry.server
        # --norc: bash reads ~/.bashrc when stdin is a socket (it takes itself
        # for rshd's child) unless told not to.
        command = [_BASH, "--norc", "--noprofile", "-c", _BASH_SHIM, argv0]
        command += [entry.server, *entry.argv[1:]]
        return command, _BASH
    # No bash: the daemon's Python (which the service's user must be able to run).
    command = [sys.executable, "-I", "-S", "-c", _PYTHON_SHIM, entry.server]
    return [*command, *entry.argv], sys.executable


def describe_status(returncode: int) -> str:
    """Return ``"status=N"`` or ``"signal=N"`` for a Popen return code."""
    return f"signal={-returncode}" if returncode < 0 else f"status={returncode}"


class ChildWatch:
    """Reaps one child on the loop (through a pidfd) and reports its exit.

    :meth:`detach` hands the child to a thread that reaps it without the loop,
    for when the loop is about to close and the child keeps running.
    """

    def __init__(
        self,
        proc: subprocess.Popen[bytes],
        on_exit: Callable[[int], None],
        loop: asyncio.AbstractEventLoop,
    ) -> None:
        self.proc = proc
        self._on_exit = on_exit
        self._loop = loop
        self._pidfd: int | None = None
        try:
            self._pidfd = os.pidfd_open(proc.pid)
        except (AttributeError, OSError):
            _reap_in_thread(proc, self._exited_threadsafe)
            return
        loop.add_reader(self._pidfd, self._ready)

    @property
    def pid(self) -> int:
        """The child's pid."""
        return self.proc.pid

    def _ready(self) -> None:
        code = self.proc.poll()
        if code is None:
            return
        self._close_pidfd()
        self._on_exit(code)

    def _exited_threadsafe(self, code: int) -> None:
        with contextlib.suppress(RuntimeError):  # the loop has closed
            self._loop.call_soon_threadsafe(self._on_exit, code)

    def _close_pidfd(self) -> None:
        if self._pidfd is not None:
            self._loop.remove_reader(self._pidfd)
            os.close(self._pidfd)
            self._pidfd = None

    def detach(self) -> None:
        """Stop watching on the loop; a thread reaps the child when it exits."""
        if self._pidfd is None:
            return
        self._close_pidfd()
        _reap_in_thread(self.proc, lambda _code: None)


def watch_child(
    proc: subprocess.Popen[bytes],
    on_exit: Callable[[int], None],
    loop: asyncio.AbstractEventLoop | None = None,
) -> ChildWatch:
    """Call ``on_exit(returncode)`` on the loop once ``proc`` has exited (reaped).

    The Popen object's ``returncode`` is set, so that it never warns about a
    child still running when it is collected.
    """
    return ChildWatch(proc, on_exit, loop or asyncio.get_running_loop())


def _reap_in_thread(
    proc: subprocess.Popen[bytes], on_exit: Callable[[int], None]
) -> None:
    def wait() -> None:
        on_exit(proc.wait())

    threading.Thread(target=wait, name=f"aiosock-reap-{proc.pid}", daemon=True).start()
