"""Rate and time left for a job's progress: computed once per sent event, on the worker.

The rate is an exponentially weighted moving average of the speed between two sent reports,
weighted by time (a step that took twice as long counts twice as much; its weight is
``1 - exp(-dt / TAU)``), and corrected for its zero start the way Adam's moments are: while
the job is young (less than ``TAU`` seconds) it is close to ``current / elapsed``, later it
is the speed of the last ``TAU`` seconds or so. One slow step thus moves it by that step's
share of the window, not by its own speed. ``interval`` is the usual time between two sent
reports (a plain moving average); the gateway's stalled check compares silence against it.
"""

from __future__ import annotations

import math
from typing import NamedTuple

from taskgate.contract.wire import round_to

# Seconds of history the rate mostly reflects.
TAU = 10.0
# Weight of the newest gap in ``interval``.
INTERVAL_WEIGHT = 0.3


class Estimate(NamedTuple):
    """A named tuple: made on every sent report (a frozen dataclass's ``__init__`` sets each
    field through ``object.__setattr__``)."""

    rate: float | None  # units of ``current`` per second
    eta: float | None  # seconds until ``current`` reaches ``total``
    interval: float | None  # usual seconds between two reports


class RateEstimator:
    """One job's smoothed rate; feed it every progress that is sent, in order."""

    def __init__(self, started: float, current: float = 0.0) -> None:
        self._last_time = started
        self._last_current = current
        self._moment = 0.0  # the EWMA of the speed, before bias correction
        self._weight = 0.0  # 1 - exp(-elapsed / TAU): the correction
        self._interval: float | None = None

    def update(self, now: float, current: float, total: float | None) -> Estimate:
        dt = now - self._last_time
        done = current - self._last_current
        if done < 0:
            # The job counts from a lower number again (a new stage that starts over): what
            # was measured says nothing about the new count.
            self._moment = self._weight = 0.0
        elif dt > 0:
            alpha = 1.0 - math.exp(-dt / TAU)
            self._moment = (1.0 - alpha) * self._moment + alpha * (done / dt)
            self._weight = (1.0 - alpha) * self._weight + alpha
        if dt > 0:
            self._interval = (
                dt
                if self._interval is None
                else (1.0 - INTERVAL_WEIGHT) * self._interval + INTERVAL_WEIGHT * dt
            )
        self._last_time, self._last_current = now, current
        rate = self._moment / self._weight if self._weight > 0 else None
        eta: float | None = None
        if rate is not None and rate > 0 and total is not None:
            eta = max(0.0, total - current) / rate
        return Estimate(_round(rate, 3), _round(eta, 1), _round(self._interval, 3))


def _round(value: float | None, digits: int) -> float | None:
    if value is None or not math.isfinite(value):
        return None
    return round_to(value, digits)
