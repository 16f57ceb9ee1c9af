"""The pace every benchmark job keeps, taskgate's and the peers' alike (plain Python: it is
imported in the peers' virtualenvs too, through ``PYTHONPATH``).

A job waits until ``start_at`` (unix time) plus its phase, so every watcher is in place
before the first report and jobs report spread evenly over the interval rather than all at
once (job ``slot`` of ``slots`` at ``slot / slots`` of it: the same phases in every run and
variant, where phases drawn from job ids made two jobs' reports anywhere from together to
half an interval apart, and the light load's figures with them); then it reports every
``interval`` seconds on a fixed pace.
"""

from __future__ import annotations

import time
from collections.abc import Iterator


def paced_steps(
    steps: int, interval: float, start_at: float, slot: int = 0, slots: int = 1
) -> Iterator[int]:
    """Steps 1 to ``steps``, each at its time (the sleeps stand in for work)."""
    pause = start_at + slot / max(1, slots) * interval - time.time()
    if pause > 0:
        time.sleep(pause)  # every watcher is in place by then
    due = time.monotonic()
    for step in range(1, steps + 1):
        due += interval
        time.sleep(max(0.0, due - time.monotonic()))
        yield step
