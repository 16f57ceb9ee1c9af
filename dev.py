#!/usr/bin/env python3
"""Set up and run taskgate from a fresh clone with nothing but Python 3.11+.

    python3 dev.py up      # create .venv, install, start the whole stack
    python3 dev.py test    # create .venv, install with test extras, run every check and test

Extra arguments go to the command (``python3 dev.py up --port 9000``, ``python3 dev.py
test -k classic``). Dependencies come from the lock, ``requirements/dev.txt`` (exact versions,
with hashes; requirements/README.md says how to refresh it). The virtualenv is re-installed
only when pyproject.toml or the lock changes, or a source file is added or removed.

The project is installed in setuptools' strict editable mode: ``build/__editable__.*`` holds a
tree of links to the checkout's files laid out exactly as the wheel lays them out (one
package, ``taskgate``, from gateway/, tasks/ and frontend/), so the checkout runs as the
installed package does. Edits show at once; a new or removed file needs the re-install,
which the stamp below notices.
"""

from __future__ import annotations

import hashlib
import logging
import os
import shutil
import subprocess
import sys
import venv
from pathlib import Path

log = logging.getLogger("dev")
ROOT = Path(__file__).resolve().parent
VENV = ROOT / ".venv"
BIN = VENV / ("Scripts" if os.name == "nt" else "bin")
PYTHON = BIN / "python"


def _run(*argv: str | Path) -> None:
    subprocess.run([str(a) for a in argv], cwd=ROOT, check=True)


LOCK = ROOT / "requirements" / "dev.txt"


def _install_digest() -> str:
    """Changes with pyproject.toml or the lock, or when a packaged file is added or removed."""
    digest = hashlib.sha256((ROOT / "pyproject.toml").read_bytes() + LOCK.read_bytes())
    for root in ("gateway", "tasks", "frontend/src", "frontend/templates"):
        for path in sorted((ROOT / root).rglob("*")):
            if path.is_file() and "__pycache__" not in path.parts:
                digest.update(str(path.relative_to(ROOT)).encode())
    return digest.hexdigest()


def ensure_venv() -> None:
    """Create .venv and install the lock and the project (editable) unless already done."""
    if sys.version_info < (3, 11):  # noqa: UP036 (this script may run on an older Python)
        sys.exit("taskgate needs Python 3.11 or newer")
    stamp = VENV / ".installed"
    digest = _install_digest()
    if stamp.exists() and stamp.read_text() == digest and PYTHON.exists():
        return
    if not PYTHON.exists():
        venv.EnvBuilder(with_pip=True).create(VENV)
    _run(PYTHON, "-m", "pip", "install", "--quiet", "--upgrade", "pip")
    shutil.rmtree(ROOT / "build", ignore_errors=True)  # a stale link tree of removed files
    _run(PYTHON, "-m", "pip", "install", "--quiet", "--require-hashes", "-r", LOCK)
    # Built with the lock's setuptools (no isolated build environment to fetch).
    _run(
        PYTHON, "-m", "pip", "install", "--quiet", "--no-deps", "--no-build-isolation",
        "--config-settings", "editable_mode=strict", "-e", ".",
    )  # fmt: skip
    stamp.write_text(digest)


def cmd_up(args: list[str]) -> int:
    ensure_venv()
    os.execv(PYTHON, [str(PYTHON), "-m", "taskgate", "up", *args])  # noqa: S606


def cmd_test(args: list[str]) -> int:
    ensure_venv()
    steps: list[list[str | Path]] = [
        [PYTHON, "-m", "ruff", "check", "."],
        [PYTHON, "-m", "ruff", "format", "--check", "."],
        [PYTHON, "-m", "mypy"],
        [BIN / "lint-imports"],
    ]
    if (ROOT / "frontend" / "tests").is_dir():
        if shutil.which("node"):
            steps.append(["node", "--test", "frontend/tests/"])
        elif os.environ.get("CI"):
            log.error("node is missing: the JS client's tests cannot run")
            return 1
        else:
            log.warning("node is missing: skipping the JS client's tests (frontend/tests)")
    steps.append([PYTHON, "-m", "pytest", *args])
    for step in steps:
        log.info("==> %s", " ".join(str(part) for part in step))
        result = subprocess.run([str(part) for part in step], cwd=ROOT)
        if result.returncode != 0:
            return result.returncode
    return 0


def main() -> int:
    logging.basicConfig(level=logging.INFO, format="%(message)s", stream=sys.stdout)
    commands = {"up": cmd_up, "test": cmd_test}
    if len(sys.argv) < 2 or sys.argv[1] not in commands:
        sys.exit(__doc__)
    return commands[sys.argv[1]](sys.argv[2:])


if __name__ == "__main__":
    sys.exit(main())
