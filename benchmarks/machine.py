"""What a run was measured on: the machine, the versions, the source."""

from __future__ import annotations

import importlib.metadata
import os
import platform
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = (
    "aiosock",
    "uvloop",
    "twisted",
    "trio",
    "anyio",
    "tornado",
    "gevent",
    "matplotlib",
)


def _run(argv: list[str]) -> str:
    if not shutil.which(argv[0]):
        return ""
    done = subprocess.run(
        argv, capture_output=True, text=True, cwd=ROOT, timeout=30, check=False
    )
    return done.stdout.strip() if done.returncode == 0 else ""


def _cpu_model() -> str:
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return platform.processor() or "unknown"


def _os_name() -> str:
    try:
        for line in Path("/etc/os-release").read_text().splitlines():
            if line.startswith("PRETTY_NAME="):
                return line.split("=", 1)[1].strip('"')
    except OSError:
        pass
    return platform.system()


def _version(name: str) -> str:
    try:
        return importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
        return ""


def _libpython_shared() -> bool | None:
    """Whether this process runs the interpreter from a shared ``libpython``.

    Read from the process's own mappings (``Py_ENABLE_SHARED`` says how the
    library was configured, not how this executable was linked: Debian's
    ``python3.11`` has the interpreter built in beside a shared library).
    """
    try:
        maps = Path("/proc/self/maps").read_text()
    except OSError:
        return None
    return "/libpython" in maps


def python_build() -> str:
    """How the running interpreter was built, as far as it tells.

    Its speed on Python code depends on it: a shared ``libpython`` built
    without profile-guided and link-time optimisation (pyenv's default build)
    ran aiosock's stream path about 20% slower here than a build with them
    (Debian's), while the C of uvloop and the kernel stay as fast. The
    optimisation options are those ``sysconfig`` records, which not every
    distribution keeps: Debian builds with both and leaves them out.
    """
    base = os.path.realpath(getattr(sys, "_base_executable", sys.executable))
    config = str(sysconfig.get_config_var("CONFIG_ARGS") or "")
    flags = " ".join(
        str(sysconfig.get_config_var(name) or "")
        for name in ("PY_CFLAGS", "PY_CFLAGS_NODIST", "PY_LDFLAGS_NODIST")
    )
    recorded = [
        name
        for name, on in (
            ("PGO", "--enable-optimizations" in config or "-fprofile-use" in flags),
            ("LTO", "--with-lto" in config or "-flto" in flags),
        )
        if on
    ]
    linked = {
        True: "libpython shared",
        False: "libpython built in",
        None: "libpython: unknown",
    }[_libpython_shared()]
    options = (
        f"sysconfig records {' and '.join(recorded)}"
        if recorded
        else "sysconfig records neither PGO nor LTO (some distributions, "
        "Debian's among them, build with both and do not record them)"
    )
    return f"{base}; {linked}; {options}"


def describe() -> dict[str, Any]:
    """``machine``, ``versions`` and ``git`` entries of a results file."""
    memory = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    versions = {name: _version(name) for name in PACKAGES}
    versions["cc"] = _run(["cc", "--version"]).splitlines()[0:1]
    versions["cc"] = versions["cc"][0] if versions["cc"] else ""
    versions["openbsd-inetd"] = _run(
        ["dpkg-query", "-W", "-f=${Version}", "openbsd-inetd"]
    )
    status = _run(["git", "status", "--porcelain", "--", "aiosock", "benchmarks"])
    return {
        "machine": {
            "cpu": _cpu_model(),
            "cores": os.cpu_count(),
            "memory_gib": memory / 2**30,
            "kernel": platform.release(),
            "os": _os_name(),
            "python": f"{platform.python_implementation()} {platform.python_version()}",
            "python_build": python_build(),
        },
        "versions": versions,
        "git": {
            "commit": _run(["git", "rev-parse", "--short", "HEAD"]),
            "dirty": bool(status),
        },
    }


def python_text(machine: dict[str, Any]) -> str:
    """The interpreter line of a report: version, and its build where recorded."""
    build = machine.get("python_build")
    return f"{machine['python']} ({build})" if build else str(machine["python"])
