"""Where ``taskgate up`` leaves the addresses of the stack it runs: ``<data dir>/stack.json``.

``doctor``, ``token``, ``manage``, ``submit`` and ``watch`` run from a second terminal next
to ``taskgate up`` read it (from ``$TASKGATE_DATA_DIR``, else ``./.taskgate``) when
``REDIS_URL`` / ``TASKGATE_URL`` are not set, so they use the stack's embedded Redis and
gateway rather than whatever listens on the default ports, and they say which they use.
The file is removed when the stack stops.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any

from taskgate.config import Config

NAME = "stack.json"


def data_dir() -> Path:
    return Config.from_environ(os.environ).data_dir.resolve()


def write(directory: Path, **addresses: str) -> Path:
    path = directory / NAME
    path.write_text(json.dumps({**addresses, "pid": os.getpid()}, indent=2) + "\n")
    return path


def remove(directory: Path) -> None:
    (directory / NAME).unlink(missing_ok=True)


def read() -> dict[str, Any] | None:
    """The running stack's addresses, if ``taskgate up`` runs on this data dir."""
    path = data_dir() / NAME
    try:
        found = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    if not isinstance(found, dict) or not _alive(found.get("pid")):
        return None  # left behind by a stack that was killed
    return found


def use_for_redis() -> None:
    """Point this process at the stack's Redis unless REDIS_URL says otherwise."""
    if Config.from_environ(os.environ).redis_url != Config.from_environ({}).redis_url:
        return  # REDIS_URL is set
    stack = read()
    if stack and isinstance(stack.get("redis_url"), str):
        url = os.environ["REDIS_URL"] = stack["redis_url"]
        # On stderr: stdout stays the command's own output (a pipe may read it).
        sys.stderr.write(f"using the stack of `taskgate up` in {data_dir()}: Redis at {url}\n")


def default_url(configured: str) -> str:
    """The gateway ``submit`` and ``watch`` talk to: ``TASKGATE_URL`` when set, else the
    stack's, else the default."""
    if configured != Config.from_environ({}).client_url:
        return configured
    stack = read()
    return str(stack["ws_url"]) if stack and isinstance(stack.get("ws_url"), str) else configured


def _alive(pid: object) -> bool:
    if not isinstance(pid, int):
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
