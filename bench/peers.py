"""The peers' virtualenvs: made by the run from the package registry, removed after it.

Each peer gets its own venv (nothing of it leaks into taskgate's): celery-progress 0.5 with
channels + channels-redis for both of its modes, plain Celery for the article's loop, and
matplotlib for the plots. Pins: what the peers' own docs install, bounded to the majors of
the day so a later run installs the same thing.
"""

from __future__ import annotations

import logging
import shutil
import subprocess
import venv
from pathlib import Path

logger = logging.getLogger("bench")

PEER_APPS = Path(__file__).resolve().parent / "peer_apps"

REQUIREMENTS: dict[str, list[str]] = {
    "celery-progress": [
        "celery-progress[websockets]==0.5",
        "channels>=4,<5",
        "channels-redis>=4,<5",
        "django>=5.2,<5.3",
        "celery[redis]>=5.3,<6",
        "uvicorn[standard]>=0.30,<1",
    ],
    "article": ["celery[redis]>=5.3,<6"],
    "plots": ["matplotlib>=3.8,<4"],
}


class PeerVenvs:
    """``get(name)``: the Python of the venv ``name``, made on first use; ``close()`` removes
    them all."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.made: dict[str, Path] = {}

    def get(self, name: str) -> Path:
        if name in self.made:
            return self.made[name]
        where = self.root / f"venv-{name}"
        logger.info("installing %s into %s", ", ".join(REQUIREMENTS[name]), where)
        venv.EnvBuilder(with_pip=True, clear=True).create(where)
        python = where / "bin" / "python"
        done = subprocess.run(
            [str(python), "-m", "pip", "install", "--quiet", *REQUIREMENTS[name]],
            capture_output=True,
            text=True,
            timeout=600,
        )
        if done.returncode != 0:
            raise RuntimeError(f"pip could not install {name}: {done.stderr[-2000:]}")
        self.made[name] = python
        return python

    def version(self, name: str, package: str) -> str:
        python = self.get(name)
        out = subprocess.run(
            [str(python), "-c", f"import importlib.metadata as m; print(m.version({package!r}))"],
            capture_output=True,
            text=True,
            check=True,
        )
        return out.stdout.strip()

    def close(self) -> None:
        for python in self.made.values():
            shutil.rmtree(python.parent.parent, ignore_errors=True)
        self.made.clear()
