"""What a run was measured on: the machine, the versions, the source."""

from __future__ import annotations

import importlib.metadata
import os
import platform
import shutil
import subprocess
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
        },
        "versions": versions,
        "git": {
            "commit": _run(["git", "rev-parse", "--short", "HEAD"]),
            "dirty": bool(status),
        },
    }
