"""The C library's netdb functions through ctypes, as a test oracle.

Python's ``socket`` module lacks ``getprotobynumber``, ``getnetbyname``,
``getnetbyaddr``, the ``get*ent`` iterators, ``strtoul`` and ``inet_network``;
this module reaches them through ctypes. :class:`NamespaceOracle` runs this file
as a child process in a private mount namespace (``unshare -m``) with test files
bind-mounted over ``/etc/services``, ``/etc/protocols``, ``/etc/networks``,
``/etc/hosts`` and ``/etc/nsswitch.conf`` ("files" only, so no name ever leaves
the machine), so that tests can ask the C library how it reads any text.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

DATABASES = ("services", "protocols", "networks", "hosts")
_NSSWITCH = "".join(f"{db}: files\n" for db in DATABASES)

libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
_char_pp = ctypes.POINTER(ctypes.c_char_p)


class servent(ctypes.Structure):
    _fields_ = [
        ("s_name", ctypes.c_char_p),
        ("s_aliases", _char_pp),
        ("s_port", ctypes.c_int),
        ("s_proto", ctypes.c_char_p),
    ]


class protoent(ctypes.Structure):
    _fields_ = [
        ("p_name", ctypes.c_char_p),
        ("p_aliases", _char_pp),
        ("p_proto", ctypes.c_int),
    ]


class netent(ctypes.Structure):
    _fields_ = [
        ("n_name", ctypes.c_char_p),
        ("n_aliases", _char_pp),
        ("n_addrtype", ctypes.c_int),
        ("n_net", ctypes.c_uint32),
    ]


class hostent(ctypes.Structure):
    _fields_ = [
        ("h_name", ctypes.c_char_p),
        ("h_aliases", _char_pp),
        ("h_addrtype", ctypes.c_int),
        ("h_length", ctypes.c_int),
        ("h_addr_list", ctypes.POINTER(ctypes.POINTER(ctypes.c_ubyte))),
    ]


def _sig(name: str, restype: Any, *argtypes: Any) -> Any:
    func = getattr(libc, name)
    func.restype = restype
    func.argtypes = argtypes
    return func


getservbyname = _sig(
    "getservbyname", ctypes.POINTER(servent), ctypes.c_char_p, ctypes.c_char_p
)
getservbyport = _sig(
    "getservbyport", ctypes.POINTER(servent), ctypes.c_int, ctypes.c_char_p
)
getprotobyname = _sig("getprotobyname", ctypes.POINTER(protoent), ctypes.c_char_p)
getprotobynumber = _sig("getprotobynumber", ctypes.POINTER(protoent), ctypes.c_int)
getnetbyname = _sig("getnetbyname", ctypes.POINTER(netent), ctypes.c_char_p)
getnetbyaddr = _sig(
    "getnetbyaddr", ctypes.POINTER(netent), ctypes.c_uint32, ctypes.c_int
)
setservent = _sig("setservent", None, ctypes.c_int)
getservent = _sig("getservent", ctypes.POINTER(servent))
endservent = _sig("endservent", None)
setprotoent = _sig("setprotoent", None, ctypes.c_int)
getprotoent = _sig("getprotoent", ctypes.POINTER(protoent))
endprotoent = _sig("endprotoent", None)
setnetent = _sig("setnetent", None, ctypes.c_int)
getnetent = _sig("getnetent", ctypes.POINTER(netent))
endnetent = _sig("endnetent", None)
sethostent = _sig("sethostent", None, ctypes.c_int)
gethostent = _sig("gethostent", ctypes.POINTER(hostent))
endhostent = _sig("endhostent", None)
c_strtoul = _sig(
    "strtoul",
    ctypes.c_ulong,
    ctypes.c_char_p,
    ctypes.POINTER(ctypes.c_char_p),
    ctypes.c_int,
)
c_inet_network = _sig("inet_network", ctypes.c_uint32, ctypes.c_char_p)


def _text(value: bytes | None) -> str | None:
    return None if value is None else os.fsdecode(value)


def _list(pointer: Any) -> list[str]:
    out = []
    i = 0
    while pointer[i] is not None:
        out.append(os.fsdecode(pointer[i]))
        i += 1
    return out


def servent_tuple(p: Any) -> tuple[str, int, str, list[str]] | None:
    """``(name, port, protocol, aliases)`` of a ``servent*``, or None for NULL."""
    if not p:
        return None
    s = p.contents
    return (
        _text(s.s_name),
        socket.ntohs(s.s_port & 0xFFFF),
        _text(s.s_proto),
        _list(s.s_aliases),
    )  # type: ignore[return-value]


def protoent_tuple(p: Any) -> tuple[str, int, list[str]] | None:
    """``(name, number, aliases)`` of a ``protoent*``, or None for NULL."""
    if not p:
        return None
    s = p.contents
    return (_text(s.p_name), s.p_proto, _list(s.p_aliases))  # type: ignore[return-value]


def netent_tuple(p: Any) -> tuple[str, int, list[str]] | None:
    """``(name, n_net, aliases)`` of a ``netent*``, or None for NULL."""
    if not p:
        return None
    s = p.contents
    return (_text(s.n_name), s.n_net, _list(s.n_aliases))  # type: ignore[return-value]


def hostent_tuple(p: Any) -> tuple[str, list[str], list[str]] | None:
    """``(name, addresses, aliases)`` of a ``hostent*``, or None for NULL."""
    if not p:
        return None
    s = p.contents
    family = socket.AF_INET if s.h_addrtype == socket.AF_INET else socket.AF_INET6
    addresses = []
    i = 0
    while s.h_addr_list[i]:
        raw = bytes(s.h_addr_list[i][: s.h_length])
        addresses.append(socket.inet_ntop(family, raw))
        i += 1
    return (_text(s.h_name), addresses, _list(s.h_aliases))  # type: ignore[return-value]


def _entries(setent: Any, getent: Any, endent: Any, convert: Any) -> list[Any]:
    setent(0)
    try:
        out = []
        while (entry := convert(getent())) is not None:
            out.append(entry)
        return out
    finally:
        endent()


def dump(db: str) -> list[Any]:
    """Every entry of ``db`` as the ``get*ent`` family returns them."""
    if db == "services":
        return _entries(setservent, getservent, endservent, servent_tuple)
    if db == "protocols":
        return _entries(setprotoent, getprotoent, endprotoent, protoent_tuple)
    if db == "networks":
        return _entries(setnetent, getnetent, endnetent, netent_tuple)
    return _entries(sethostent, gethostent, endhostent, hostent_tuple)


def strtoul(text: bytes, base: int) -> tuple[int, int]:
    """``(value, end)`` as C's ``strtoul`` gives them; end 0 when nothing was read."""
    buffer = ctypes.create_string_buffer(text)
    end = ctypes.c_char_p()
    value = c_strtoul(ctypes.cast(buffer, ctypes.c_char_p), ctypes.byref(end), base)
    start = ctypes.cast(buffer, ctypes.c_void_p).value or 0
    stop = ctypes.cast(end, ctypes.c_void_p).value or 0
    return value, stop - start


def _encode(value: str | None) -> bytes | None:
    return None if value is None else os.fsencode(value)


def query(request: dict[str, Any]) -> Any:
    """Answer one request (the child's side of :class:`NamespaceOracle`)."""
    op = request["op"]
    if op == "dump":
        return dump(request["db"])
    if op == "servbyname":
        return servent_tuple(
            getservbyname(_encode(request["name"]), _encode(request["proto"]))
        )
    if op == "servbyport":
        port = socket.htons(request["port"])
        return servent_tuple(getservbyport(port, _encode(request["proto"])))
    if op == "protobyname":
        return protoent_tuple(getprotobyname(_encode(request["name"])))
    if op == "protobynumber":
        return protoent_tuple(getprotobynumber(request["number"]))
    if op == "netbyname":
        return netent_tuple(getnetbyname(_encode(request["name"])))
    if op == "netbyaddr":
        return netent_tuple(getnetbyaddr(request["net"], socket.AF_INET))
    raise ValueError(f"unknown op {op!r}")


def _serve(directory: str) -> None:
    """Child: bind-mount the test files over /etc, then answer JSON requests."""
    for name in (*DATABASES, "nsswitch.conf"):
        subprocess.run(
            ["mount", "--bind", os.path.join(directory, name), f"/etc/{name}"],
            check=True,
        )
    print(json.dumps("ready"), flush=True)
    for line in sys.stdin:
        try:
            answer = {"ok": query(json.loads(line))}
        except Exception as exc:
            answer = {"error": repr(exc)}
        print(json.dumps(answer), flush=True)


class OracleUnavailable(Exception):
    """This host cannot run the C library on test files (no unshare or no root)."""


class NamespaceOracle:
    """The C library reading test files, in a child process of its own."""

    def __init__(self) -> None:
        if os.geteuid() != 0 or shutil.which("unshare") is None:
            raise OracleUnavailable("needs root and unshare(1) for a mount namespace")
        self.directory = tempfile.mkdtemp(prefix="libc-netdb-")
        self._copies = 0
        for name in DATABASES:
            Path(self.directory, name).write_bytes(b"")
        Path(self.directory, "nsswitch.conf").write_text(_NSSWITCH)
        self.process = subprocess.Popen(
            [
                "unshare",
                "--mount",
                "--propagation",
                "private",
                sys.executable,
                __file__,
                self.directory,
            ],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        assert self.process.stdout is not None
        first = self.process.stdout.readline()
        if first.strip() != '"ready"':
            self.close()
            raise OracleUnavailable(f"mount namespace refused: {first!r}")

    def write(self, db: str, text: str | bytes) -> None:
        """Replace the text of ``db`` in place (the bind mount follows the inode)."""
        data = text if isinstance(text, bytes) else os.fsencode(text)
        with open(os.path.join(self.directory, db), "r+b") as f:
            f.truncate(0)
            f.write(data)

    def copy(self, db: str, text: str) -> str:
        """Write ``text`` to a new file beside the mounted ones; return its path."""
        self._copies += 1
        path = os.path.join(self.directory, f"{db}.{self._copies}")
        Path(path).write_bytes(os.fsencode(text))
        return path

    def ask(self, op: str, **args: Any) -> Any:
        """Send one request and return the answer (JSON types: lists, not tuples)."""
        assert self.process.stdin is not None
        assert self.process.stdout is not None
        self.process.stdin.write(json.dumps({"op": op, **args}) + "\n")
        self.process.stdin.flush()
        answer = json.loads(self.process.stdout.readline())
        if "error" in answer:
            raise RuntimeError(answer["error"])
        return answer["ok"]

    def close(self) -> None:
        """Stop the child and remove the files."""
        if self.process.poll() is None:
            assert self.process.stdin is not None
            self.process.stdin.close()
            self.process.wait(10)
        for stream in (self.process.stdout, self.process.stderr):
            if stream is not None:
                stream.close()
        shutil.rmtree(self.directory, ignore_errors=True)


if __name__ == "__main__":
    _serve(sys.argv[1])
