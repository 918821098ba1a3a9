"""Sphinx configuration for the aiosock documentation."""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent / "_ext"))

from aiosock._version import __version__  # noqa: E402

project = "aiosock"
author = "The aiosock developers"
copyright = "2026, the aiosock developers"  # noqa: A001
release = __version__
version = ".".join(__version__.split(".")[:2])

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.doctest",
    "sphinx.ext.intersphinx",
    "sphinx.ext.napoleon",
    "sphinx.ext.viewcode",
    "aiosock_options",  # docs/_ext: the socket options tables, from the registry
]
intersphinx_mapping: dict[str, tuple[str, str | None]] = {}
autodoc_member_order = "bysource"
autodoc_typehints = "description"
autodoc_typehints_format = "short"
napoleon_google_docstring = True
napoleon_numpy_docstring = False
nitpicky = True
# Standard-library and attrs names, resolved by intersphinx where it is online; the
# docs build offline, so these references are allowed to stay unresolved.
nitpick_ignore_regex = [
    (r"py:.*", r"(socket|asyncio|ssl|os|enum|typing|collections\.abc|attrs|attr)\..*"),
    (r"py:.*", r"(ipaddress|struct)\..*"),
    (r"py:mod", r"(socket|asyncio|ipaddress|struct)"),
    (r"py:class", r"(str|int|bytes|float|bool|object|tuple|list|dict|None|Any|T)"),
    (r"py:class", r"(Callable|Coroutine|Awaitable|Iterable|Iterator|Mapping|Sequence|AsyncIterator)"),
    (r"py:class", r"(TimeoutError|OSError|ValueError|EOFError|Exception|BaseException)"),
    (r"py:class", r"(ConnectionRefusedError|FileNotFoundError|PermissionError|RuntimeError)"),
    (r"py:class", r"(PathLike|AddressFamily|SocketKind|AbstractEventLoop|Future|Task)"),
    (r"py:class", r"(BaseTransport|Transport|Protocol|BufferedProtocol|DatagramProtocol)"),
    (r"py:class", r"(SSLContext|Server|AbstractServer|TypeAlias|Literal|NoneType)"),
    (r"py:class", r"aiosock\._.*"),
    # Private names in signatures, shown short (autodoc_typehints_format = "short").
    (r"py:class", r"(EndpointLike|Listener|ssl_module\.SSLContext)"),
    (r"py:class", r"(ConcreteAddress|AddressLike|Handler)"),  # datagram type aliases
    (r"py:obj", r"aiosock\._.*"),
]
html_theme = "alabaster"
html_static_path: list[str] = []
exclude_patterns = ["_build"]
doctest_global_setup = "import aiosock"
