"""The benchmark's own environment: the peers and matplotlib, never the project's.

``python -m benchmarks`` run from an interpreter that lacks some peer creates
``benchmarks/.venv`` (gitignored), installs aiosock from this checkout
(editable) and ``benchmarks/requirements.txt`` into it, and runs itself again
there. It makes it again when either file or the interpreter changes: the
venv runs the interpreter ``python -m benchmarks`` was started with, whose
build counts (``machine.python_build``). ``tox -e bench`` installs the
same requirements into its own environment, where nothing is missing, so the
run stays in place. ``--no-env`` runs with whatever this interpreter has and
skips, with the reason, each peer it lacks.
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
VENV = HERE / ".venv"
REQUIREMENTS = HERE / "requirements.txt"
MARK = "AIOSOCK_BENCH_ENV"
MODULES = ("uvloop", "twisted", "trio", "anyio", "tornado", "gevent", "matplotlib")


def missing_modules() -> list[str]:
    """The bench environment's modules this interpreter cannot import."""
    return [m for m in MODULES if importlib.util.find_spec(m) is None]


def _stamp() -> str:
    digest = hashlib.sha256()
    for path in (REQUIREMENTS, ROOT / "pyproject.toml"):
        digest.update(path.read_bytes())
    digest.update(sys.version.encode())
    digest.update(os.path.realpath(sys.executable).encode())
    return digest.hexdigest()


def _python() -> Path:
    return VENV / "bin" / "python"


def ensure(argv: list[str]) -> None:
    """Re-run in the bench environment unless this interpreter already has it all.

    Returns only when the run should go on in this process.
    """
    if os.environ.get(MARK) or not missing_modules():
        return
    print(
        f"benchmarks: this interpreter lacks {', '.join(missing_modules())}; "
        f"using the bench environment {VENV.relative_to(ROOT)} "
        "(--no-env to run here and skip what is missing)",
        flush=True,
    )
    stamp_file = VENV / ".aiosock-bench-stamp"
    stamp = _stamp()
    if not stamp_file.exists() or stamp_file.read_text() != stamp:
        # Made again from scratch: a venv keeps the interpreter it was made
        # with, and the run must use the one it was started with.
        subprocess.run(
            [sys.executable, "-m", "venv", "--clear", str(VENV)],
            check=True,
            timeout=300,
        )
        subprocess.run(
            [str(_python()), "-m", "pip", "install", "--quiet", "--upgrade", "pip"],
            check=True,
            timeout=600,
        )
        subprocess.run(
            [
                str(_python()),
                "-m",
                "pip",
                "install",
                "--quiet",
                "-e",
                str(ROOT),
                "-r",
                str(REQUIREMENTS),
            ],
            check=True,
            timeout=1200,
        )
        stamp_file.write_text(stamp)
    path = os.environ.get("PYTHONPATH")
    env = dict(
        os.environ, PYTHONPATH=f"{ROOT}{os.pathsep}{path}" if path else str(ROOT)
    )
    env[MARK] = "1"
    os.execve(str(_python()), [str(_python()), "-m", "benchmarks", *argv], env)
