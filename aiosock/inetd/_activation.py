"""systemd's protocols: sockets passed in ``LISTEN_FDS``, and ``sd_notify``.

Strategy: the same checks as ``sd_listen_fds(3)`` and ``sd_notify(3)``, without
libsystemd. Passed sockets start at fd 3; they are taken only when ``LISTEN_PID``
is this process, are made close-on-exec, and the variables are removed from the
environment so that no child takes them again. A notification is one datagram to
the ``AF_UNIX`` socket named by ``NOTIFY_SOCKET`` (``@`` for an abstract name);
with no such variable it is silently not sent.
"""

from __future__ import annotations

import contextlib
import logging
import os
import socket
import time
from collections.abc import MutableMapping

import attrs

__all__ = ["SD_LISTEN_FDS_START", "PassedSocket", "notify", "take_listen_fds"]

#: The first descriptor systemd passes.
SD_LISTEN_FDS_START = 3

logger = logging.getLogger("aiosock.inetd")


@attrs.define(eq=False)
class PassedSocket:
    """A socket passed by a service manager, and its name (``LISTEN_FDNAMES``)."""

    sock: socket.socket
    name: str

    def matches(self, family: int, type_: int, sockaddr: object) -> bool:
        """Whether this socket is of ``family`` and ``type_`` and bound there."""
        sock = self.sock
        if sock.family != family or sock.type != type_:
            return False
        try:
            bound = sock.getsockname()
        except OSError:
            return False
        if family == socket.AF_INET6 and isinstance(sockaddr, tuple):
            return bool(bound[:2] == sockaddr[:2] and bound[3] == sockaddr[3])
        if family == socket.AF_UNIX and isinstance(bound, bytes):
            bound = bound.decode("utf-8", "surrogateescape")
        return bool(bound == sockaddr)


def take_listen_fds(
    environ: MutableMapping[str, str] | None = None,
) -> list[PassedSocket]:
    """Take the sockets a service manager passed (``sd_listen_fds``).

    Args:
        environ: The environment to read and clean (default ``os.environ``).

    Returns:
        One :class:`PassedSocket` per passed descriptor that is a socket,
        in order; empty when nothing was passed to this process.
    """
    env = os.environ if environ is None else environ
    pid, count = env.get("LISTEN_PID", ""), env.get("LISTEN_FDS", "")
    names = env.get("LISTEN_FDNAMES", "").split(":")
    for key in ("LISTEN_PID", "LISTEN_FDS", "LISTEN_FDNAMES"):
        env.pop(key, None)
    if not (pid.isdecimal() and int(pid) == os.getpid() and count.isdecimal()):
        return []
    taken: list[PassedSocket] = []
    for index in range(int(count)):
        fd = SD_LISTEN_FDS_START + index
        name = names[index] if index < len(names) and names[index] else "unknown"
        try:
            os.set_inheritable(fd, False)
            sock = socket.socket(fileno=fd)
        except OSError as exc:
            logger.warning(
                "passed descriptor %d (%s) is not a socket: %s", fd, name, exc
            )
            continue
        taken.append(PassedSocket(sock, name))
    return taken


def notify(state: str, environ: MutableMapping[str, str] | None = None) -> bool:
    """Send ``state`` (``"READY=1"``, ...) to the service manager, if any.

    Returns:
        Whether a notification was sent.
    """
    env = os.environ if environ is None else environ
    path = env.get("NOTIFY_SOCKET", "")
    if not path or path[0] not in "/@":
        return False
    address = "\0" + path[1:] if path[0] == "@" else path
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC) as s:
        try:
            s.sendto(state.encode(), address)
        except OSError as exc:
            logger.warning("cannot notify %s: %s", path, exc.strerror or exc)
            return False
    return True


def reloading_message() -> str:
    """``RELOADING=1`` with the ``MONOTONIC_USEC`` that ``Type=notify-reload`` wants."""
    usec = time.clock_gettime_ns(time.CLOCK_MONOTONIC) // 1000
    return f"RELOADING=1\nMONOTONIC_USEC={usec}"


def close_all(sockets: list[PassedSocket]) -> None:
    """Close inherited sockets nobody took."""
    for item in sockets:
        with contextlib.suppress(OSError):
            item.sock.close()
