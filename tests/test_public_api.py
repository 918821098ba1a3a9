"""The public facade: names from DESIGN.md, docstrings, py.typed, error classes."""

from __future__ import annotations

import ast
import importlib
import inspect
import pickle
from pathlib import Path

import pytest

import aiosock
from aiosock._foundation import _errors as errors

# The foundation's public names from DESIGN.md (later layers add their own).
FOUNDATION_NAMES = {
    "Namespace",
    "Style",
    "InetAddress",
    "Inet6Address",
    "LocalAddress",
    "HostAddress",
    "from_sockaddr",
    "Endpoint",
    "parse_endpoint",
    "as_endpoint",
    "AiosockError",
    "AddressError",
    "ResolutionError",
    "OptionError",
    "ConfigError",
    "ClosedResourceError",
    "BrokenResourceError",
    "BusyResourceError",
    "IncompleteReadError",
    "run",
}


def test_design_names_are_public() -> None:
    """Every foundation name of DESIGN.md is in aiosock.__all__."""
    assert not FOUNDATION_NAMES - set(aiosock.__all__)


def test_all_is_unique() -> None:
    """__all__ lists each name once."""
    assert len(aiosock.__all__) == len(set(aiosock.__all__))


@pytest.mark.parametrize("name", sorted(aiosock.__all__))
def test_public_name_importable_and_documented(name: str) -> None:
    """Each public name imports from aiosock and has a docstring."""
    module = importlib.import_module("aiosock")
    value = getattr(module, name)
    if name == "__version__":
        assert isinstance(value, str)
        return
    assert inspect.getdoc(value), f"aiosock.{name} has no docstring"


def test_facade_only_reexports() -> None:
    """aiosock/__init__.py holds only its docstring, imports and __all__."""
    tree = ast.parse(Path(aiosock.__file__).read_text())
    for node in tree.body[1:]:
        if isinstance(node, ast.Assign):
            assert [t.id for t in node.targets if isinstance(t, ast.Name)] == [
                "__all__"
            ]
        else:
            assert isinstance(node, ast.Import | ast.ImportFrom), ast.dump(node)


@pytest.mark.parametrize("name", errors.__all__)
def test_errors_are_named_by_their_public_path(name: str) -> None:
    """Errors print as aiosock.<Name> in tracebacks and survive pickling."""
    cls = getattr(errors, name)
    assert getattr(aiosock, name) is cls
    assert name in aiosock.__all__
    assert f"{cls.__module__}.{cls.__qualname__}" == f"aiosock.{name}"
    assert pickle.loads(pickle.dumps(cls)) is cls


def test_py_typed_marker() -> None:
    """The package ships py.typed for type checkers."""
    assert (Path(aiosock.__file__).parent / "py.typed").is_file()


def test_version_string() -> None:
    """__version__ is a PEP 440 style version string."""
    assert aiosock.__version__[0].isdigit()
    assert aiosock.__version__.count(".") >= 2


@pytest.mark.parametrize(
    ("error", "bases"),
    [
        (aiosock.AddressError, (aiosock.AiosockError, ValueError)),
        (aiosock.ResolutionError, (aiosock.AddressError, OSError)),
        (aiosock.OptionError, (aiosock.AiosockError,)),
        (aiosock.ConfigError, (aiosock.AiosockError, ValueError)),
        (aiosock.ClosedResourceError, (aiosock.AiosockError,)),
        (aiosock.BrokenResourceError, (aiosock.AiosockError,)),
        (aiosock.BusyResourceError, (aiosock.AiosockError,)),
        (aiosock.IncompleteReadError, (aiosock.AiosockError, EOFError)),
    ],
)
def test_error_hierarchy(error: type[Exception], bases: tuple[type, ...]) -> None:
    """Each error has the documented bases, under one root."""
    for base in bases:
        assert issubclass(error, base)
    assert issubclass(error, aiosock.AiosockError)


def test_state_errors_are_not_os_errors() -> None:
    """Closed and broken resources are aiosock states, not OSErrors."""
    assert not issubclass(aiosock.ClosedResourceError, OSError)
    assert not issubclass(aiosock.BrokenResourceError, OSError)


def test_address_error_carries_where() -> None:
    """AddressError keeps the text, position and reason it was given."""
    error = aiosock.AddressError("expected a port", text="tcp://h:", position=8)
    assert (error.text, error.position, error.reason) == (
        "tcp://h:",
        8,
        "expected a port",
    )
    assert str(error) == "expected a port at position 8 in 'tcp://h:'"
    assert str(aiosock.AddressError("bad")) == "bad"
    assert str(aiosock.AddressError("bad", text="x")) == "bad in 'x'"


def test_resolution_error_keeps_errno() -> None:
    """ResolutionError is an OSError with the resolver's errno and the text."""
    error = aiosock.ResolutionError("cannot resolve h", text="tcp://h:1", errno_=-2)
    assert error.errno == -2
    assert str(error) == "[Errno -2] cannot resolve h in 'tcp://h:1'"
    bare = aiosock.ResolutionError("nothing", text="tcp://h:1")
    assert bare.errno is None
    assert str(bare) == "nothing in 'tcp://h:1'"


def test_config_error_carries_file_line_field() -> None:
    """ConfigError names the file, line and field at fault."""
    error = aiosock.ConfigError(
        "expected wait or nowait, got 'sometimes'",
        file="/etc/inetd.conf",
        line=12,
        field="wait",
    )
    assert (error.file, error.line, error.field) == ("/etc/inetd.conf", 12, "wait")
    assert str(error) == (
        "/etc/inetd.conf:12: expected wait or nowait, got 'sometimes' (field 'wait')"
    )
    assert isinstance(error, ValueError)
    whole = aiosock.ConfigError("empty file")
    assert (whole.file, whole.line, whole.field) == ("<string>", None, None)
    assert str(whole) == "<string>: empty file"


def test_option_error_names_the_option() -> None:
    """OptionError names the option, the reason and the kernel's errno."""
    error = aiosock.OptionError("no_delay", "not supported on this platform", errno_=92)
    assert (error.option, error.errno) == ("no_delay", 92)
    assert str(error) == "option 'no_delay': not supported on this platform"


def test_incomplete_read_error() -> None:
    """IncompleteReadError keeps the partial data and what was expected."""
    error = aiosock.IncompleteReadError(b"ab", 5)
    assert (error.partial, error.expected) == (b"ab", 5)
    assert str(error) == "end of stream after 2 bytes, expected 5 bytes"
    assert "the delimiter" in str(aiosock.IncompleteReadError(b"", None))


@pytest.mark.parametrize(
    "error",
    [
        aiosock.AddressError("expected a port", text="tcp://h:", position=8),
        aiosock.ResolutionError("cannot resolve h", text="tcp://h:1", errno_=-2),
        aiosock.ResolutionError("nothing", text="tcp://h:1"),
        aiosock.OptionError("no_delay", "not supported", errno_=92),
        aiosock.ConfigError("bad", file="/etc/inetd.conf", line=3, field="wait"),
        aiosock.IncompleteReadError(b"ab", 5),
        aiosock.ClosedResourceError("the stream is closed"),
        aiosock.BrokenResourceError("reset by peer"),
    ],
    ids=lambda e: type(e).__name__,
)
def test_error_instances_pickle(error: Exception) -> None:
    """Errors cross process boundaries with their message and attributes intact."""
    again = pickle.loads(pickle.dumps(error))
    assert type(again) is type(error)
    assert str(again) == str(error)
    assert again.args == error.args
    assert vars(again) == vars(error)
    assert getattr(again, "errno", None) == getattr(error, "errno", None)
