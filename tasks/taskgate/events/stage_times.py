"""Bench-only stage times: when each event passed each stage, one line per stage (not an
OpenTelemetry trace: those are taskgate.config.telemetry).

Off unless ``TASKGATE_BENCH_STAGES_DIR`` names a directory (the benchmark sets it); then
each process appends ``<stage> <job id> <seq> <unix time>...`` lines to its own file there
and the benchmark joins them with what its clients received (docs/benchmarks.md, "the
delay split"). Off, a stage costs one call that returns at once.
"""

from __future__ import annotations

import os
import threading
from pathlib import Path
from typing import TextIO

from taskgate.config import get_config

_lock = threading.Lock()
_pid: int | None = None
_file: TextIO | None = None


def active() -> bool:
    """Whether this process traces (read once per process)."""
    global _pid, _file
    if _pid == os.getpid():
        return _file is not None
    with _lock:
        if _pid != os.getpid():
            directory = get_config().bench_stages_dir
            _file = None
            if directory:
                path = Path(directory) / f"{os.getpid()}.trace"
                _file = path.open("a", buffering=1, encoding="ascii")
            _pid = os.getpid()
    return _file is not None


def mark(stage: str, job_id: str, seq: int, *times: float) -> None:
    """Log that the event ``seq`` of ``job_id`` passed ``stage`` at ``times``."""
    if active() and _file is not None:
        stamps = " ".join(f"{t:.6f}" for t in times)
        with _lock:
            _file.write(f"{stage} {job_id} {seq} {stamps}\n")
