"""Listening sockets: resolve, create, set options, bind, listen.

Strategy: aiosock makes its listening sockets itself instead of letting the loop's
``create_server`` do it, so that options go on before ``bind`` and socket files get
the handling the manual's "Local Namespace" section asks for:

- a socket file is created with the mode asked for (default ``0o600``): the
  socket gets that mode before ``bind`` (the kernel makes the file with it, less
  the umask), so the file never exists with a wider mode, and it is widened to
  the mode after ``bind`` if the umask took bits away; the process's umask is
  left alone;
- a stale file left by a dead server is replaced; a file with a live server behind
  it (a ``connect`` to it succeeds) is never stolen; a path that is not a socket is
  an error;
- the file is removed when the listener closes, unless another socket has since
  taken its place. A relative path is made absolute when the socket is bound (the
  kernel reads it relative to the working directory of that moment), so the right
  file is removed even if the working directory changed in between.

Internet listeners get ``SO_REUSEADDR`` (as asyncio's ``create_server`` does) and
IPv6 ones ``IPV6_V6ONLY``, so ``tcp://:PORT`` can bind both families side by side.
"""

from __future__ import annotations

import contextlib
import errno
import os
import socket
import stat
from typing import TYPE_CHECKING, Any

import attrs

from .._foundation._addresses import (
    HostAddress,
    Inet6Address,
    InetAddress,
    LocalAddress,
    from_sockaddr,
)
from .._foundation._concepts import Style
from .._foundation._endpoints import Endpoint
from .._foundation._errors import AddressError, translate_os_error
from ._options import (
    Phase,
    accepted_options,
    apply_accepted,
    apply_phase,
    check_applicable,
    checked_options,
    listener_defaults,
)

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

__all__ = [
    "DEFAULT_SOCKET_MODE",
    "Listener",
    "SocketFile",
    "adopt_listener",
    "bind_listeners",
]

#: The mode of socket files aiosock creates, unless told otherwise.
DEFAULT_SOCKET_MODE = 0o600
#: Tries at one kernel-chosen port for every family of a ``tcp://:0`` endpoint.
_SHARED_PORT_ATTEMPTS = 5


@attrs.frozen
class SocketFile:
    """A socket file made by ``bind``: where it is and which file it is.

    ``path`` is absolute, taken when the socket was bound, so a later change of
    the working directory does not send the removal to another file. ``device``
    and ``inode`` tell the file from one that has since taken its place.
    """

    path: str
    device: int
    inode: int

    @classmethod
    def made_at(cls, path: str) -> SocketFile:
        """Identify the socket file just bound at ``path`` (relative to the cwd)."""
        st = os.lstat(path)
        return cls(_absolute(path), st.st_dev, st.st_ino)

    def remove(self) -> None:
        """Remove the file if it is still the socket this one names."""
        with contextlib.suppress(OSError):
            st = os.lstat(self.path)
            if (st.st_dev, st.st_ino) == (self.device, self.inode) and stat.S_ISSOCK(
                st.st_mode
            ):
                os.unlink(self.path)


def _absolute(path: str) -> str:
    """Return ``path`` joined to the working directory, as the kernel reads it.

    Unlike ``os.path.abspath`` this does not fold ``..`` (which would be wrong
    after a symbolic link). With no working directory left (it was removed), the
    path stays as it is.
    """
    if os.path.isabs(path):
        return path
    try:
        return os.path.join(os.getcwd(), path)
    except OSError:
        return path


@attrs.define(eq=False)
class Listener:
    """A bound, listening socket and what is needed to close it cleanly."""

    sock: socket.socket
    endpoint: Endpoint
    #: The socket file we created, to remove it on close.
    file: SocketFile | None = None

    def close(self) -> None:
        """Close the socket and remove its file if it is still ours."""
        self.sock.close()
        if self.file is not None:
            self.file.remove()
            self.file = None


def _bound_endpoint(sock: socket.socket, style: Style) -> Endpoint:
    address = from_sockaddr(sock.family, sock.getsockname())
    return Endpoint(style, address.namespace, address)


def _prepare_local_path(path: str) -> None:
    """Remove a stale socket file at ``path``; refuse a live one or a non-socket."""
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        return
    if not stat.S_ISSOCK(st.st_mode):
        raise OSError(
            errno.EADDRINUSE,
            f"cannot listen on {path!r}: the path exists and is not a socket",
        )
    probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        probe.setblocking(False)
        probe.connect(path)
    except ConnectionRefusedError:
        # Nobody listens: a stale file from a dead server. Replace it.
        with contextlib.suppress(FileNotFoundError):
            os.unlink(path)
        return
    except BlockingIOError:
        pass  # a live server with a full backlog
    except OSError as exc:
        if exc.errno == errno.EPROTOTYPE:
            # A socket of another type (datagram, seqpacket) is bound there.
            probe.close()
            probe = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
            try:
                probe.connect(path)
            except ConnectionRefusedError:
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(path)
                return
            except OSError:
                pass
    finally:
        probe.close()
    raise OSError(
        errno.EADDRINUSE,
        f"cannot bind {path!r}: a live server's socket is bound there",
    )


def _bind_local(
    sock: socket.socket, address: LocalAddress, mode: int
) -> SocketFile | None:
    """Bind ``sock`` to ``address`` (a file made with ``mode``); return the file."""
    if address.is_abstract:
        sock.bind(address.to_sockaddr())
        return None
    path = address.path
    # The kernel makes the file with the socket's own mode less the umask:
    # set that mode first, so the file never exists with a wider one, then
    # widen it to ``mode`` (below) if the umask took bits away. (Not a umask
    # tightened around bind: the umask is the whole process's, and another
    # thread would make its files under it meanwhile.)
    try:
        os.fchmod(sock.fileno(), mode)
    except OSError:
        old_umask = os.umask(0o777 & ~mode)  # (a kernel that refuses it)
        try:
            sock.bind(path)
        finally:
            os.umask(old_umask)
    else:
        sock.bind(path)
    made = SocketFile.made_at(path)
    try:
        os.chmod(made.path, mode)
    except BaseException:
        made.remove()
        raise
    return made


def make_bound_socket(
    endpoint: Endpoint,
    *,
    options: Mapping[str, Any] | None = None,
    mode: int = DEFAULT_SOCKET_MODE,
    listening: bool = True,
) -> tuple[socket.socket, SocketFile | None]:
    """Create a non-blocking socket for a concrete ``endpoint``, set options, bind.

    Returns:
        The socket and, for a socket file, the :class:`SocketFile` to remove when
        the socket closes.
    """
    namespace, address = endpoint.namespace, endpoint.address
    if namespace is None or address is None or isinstance(address, HostAddress):
        raise AddressError(f"expected a resolved endpoint, got {endpoint}")
    values = checked_options(options)
    if listening:
        values = listener_defaults(namespace.family, values)
    if isinstance(address, LocalAddress) and not address.is_abstract:
        # Its errors say what is at the path; they need no translation.
        _prepare_local_path(address.path)
    sock = socket.socket(namespace.family, endpoint.style.type)
    made = None
    try:
        sock.setblocking(False)
        apply_phase(sock, values, Phase.BEFORE_BIND)
        if isinstance(address, LocalAddress):
            made = _bind_local(sock, address, mode)
        else:
            sock.bind(address.to_sockaddr())
        apply_phase(sock, values, Phase.BEFORE_CONNECT)
        if listening:
            apply_phase(sock, values, Phase.CONNECTED)
    except BaseException as exc:
        sock.close()
        if made is not None:
            made.remove()
        if isinstance(exc, OSError):
            raise translate_os_error(exc, f"bind {endpoint}") from exc
        raise
    return sock, made


async def bind_listeners(
    endpoints: Sequence[Endpoint],
    *,
    backlog: int,
    options: Mapping[str, Any] | None = None,
    mode: int = DEFAULT_SOCKET_MODE,
    adopted: Sequence[Listener] = (),
) -> list[Listener]:
    """Resolve ``endpoints`` (passively) and return a listener for each address.

    ``adopted``: listeners the server also serves (``sock=``): ``options``
    must apply to one of all of them (:func:`check_applicable`), and those
    for accepted sockets are tried on each adopted one first, so that a value
    the kernel refuses (``priority`` 7 without ``CAP_NET_ADMIN``) fails here,
    not on every connection.

    All or nothing: if one bind fails, the sockets already made are closed.
    A ``tcp://:PORT`` endpoint binds every family the host has; with port 0 the
    later families reuse the port the kernel chose for the first.
    """
    check_applicable(
        options, [*endpoints, *(listener.endpoint for listener in adopted)]
    )
    accepted = accepted_options(options)
    for listener in adopted:
        apply_accepted(listener.sock, accepted)
    resolved = [await endpoint.resolve(passive=True) for endpoint in endpoints]
    listeners: list[Listener] = []
    try:
        for concrete in resolved:
            listeners += _listen_all(
                concrete, backlog=backlog, options=options, mode=mode
            )
    except BaseException:
        for listener in listeners:
            listener.close()
        raise
    return listeners


def _listen_all(
    concrete: Sequence[Endpoint],
    *,
    backlog: int,
    options: Mapping[str, Any] | None,
    mode: int,
) -> list[Listener]:
    """Listen on every address one endpoint resolved to.

    With port 0 the later addresses take the port the kernel chose for the first;
    when that port is already taken in another family, start again with a new
    one (a few times) rather than fail at random.
    """
    for attempt in range(_SHARED_PORT_ATTEMPTS):
        group: list[Listener] = []
        try:
            chosen_port: int | None = None
            for item in concrete:
                if chosen_port is not None:
                    item = _with_port(item, chosen_port)  # noqa: PLW2901
                listener = _listen(item, backlog=backlog, options=options, mode=mode)
                group.append(listener)
                bound = listener.endpoint.address
                if len(concrete) > 1 and isinstance(bound, InetAddress | Inet6Address):
                    chosen_port = bound.port
        except OSError as exc:
            for listener in group:
                listener.close()
            retry = (
                exc.errno == errno.EADDRINUSE
                and group
                and attempt + 1 < _SHARED_PORT_ATTEMPTS
                and any(_any_port(item) for item in concrete)
            )
            if not retry:
                raise
        except BaseException:
            for listener in group:
                listener.close()
            raise
        else:
            return group
    raise AssertionError("unreachable")  # pragma: no cover


def _any_port(endpoint: Endpoint) -> bool:
    address = endpoint.address
    return isinstance(address, InetAddress | Inet6Address) and address.port == 0


def _with_port(endpoint: Endpoint, port: int) -> Endpoint:
    """Give an any-port internet endpoint the port chosen for its sibling."""
    address = endpoint.address
    if isinstance(address, InetAddress | Inet6Address) and address.port == 0:
        return attrs.evolve(endpoint, address=attrs.evolve(address, port=port))
    return endpoint


def _listen(
    endpoint: Endpoint,
    *,
    backlog: int,
    options: Mapping[str, Any] | None,
    mode: int,
) -> Listener:
    sock, made = make_bound_socket(endpoint, options=options, mode=mode)
    listener = Listener(sock, _bound_endpoint(sock, endpoint.style), made)
    try:
        sock.listen(backlog)
    except OSError as exc:
        listener.close()
        raise translate_os_error(exc, f"listen on {endpoint}") from exc
    return listener


def adopt_listener(sock: socket.socket) -> Listener:
    """Wrap an already bound and listening socket (systemd socket activation).

    Raises:
        AddressError: The socket is not a listening stream socket.
    """
    if sock.type not in (socket.SOCK_STREAM, socket.SOCK_SEQPACKET):
        raise AddressError(f"expected a stream socket to listen on, got {sock!r}")
    try:
        accepting = sock.getsockopt(socket.SOL_SOCKET, socket.SO_ACCEPTCONN)
    except OSError:
        accepting = 1
    if not accepting:
        raise AddressError(f"expected a listening socket, got {sock!r}")
    sock.setblocking(False)
    return Listener(sock, _bound_endpoint(sock, Style.from_type(sock.type)))
