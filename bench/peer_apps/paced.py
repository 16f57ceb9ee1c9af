"""The pace every benchmark job keeps, taskgate's and the peers' alike (plain Python: it is
imported in the peers' virtualenvs too, through ``PYTHONPATH``).

A job waits until ``start_at`` (unix time) plus its phase, so every watcher is in place
before the first report and jobs report spread over the interval rather than all at once;
then it reports every ``interval`` seconds on a fixed pace.
"""

from __future__ import annotations

import time
import zlib
from collections.abc import Iterator


def phase(job_id: str, interval: float) -> float:
    """Where in the interval this job reports: jobs spread evenly over it, not in lockstep."""
    return zlib.crc32(job_id.encode()) % 1000 / 1000 * interval


def paced_steps(job_id: str, steps: int, interval: float, start_at: float) -> Iterator[int]:
    """Steps 1 to ``steps``, each at its time (the sleeps stand in for work)."""
    pause = start_at + phase(job_id, interval) - time.time()
    if pause > 0:
        time.sleep(pause)  # every watcher is in place by then
    due = time.monotonic()
    for step in range(1, steps + 1):
        due += interval
        time.sleep(max(0.0, due - time.monotonic()))
        yield step
