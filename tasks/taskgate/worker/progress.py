"""The one API job authors use to report progress: ``report_progress(current, total, message)``.

Calls closer together than ``TASKGATE_PROGRESS_MIN_INTERVAL`` are coalesced: the newest
values wait for the interval to pass (a timer sends them if no later call does), and when
the job returns, whatever is pending is stored and pushed before the job's end state. Each
progress that is sent carries its ``rate``, ``eta`` and ``interval``, computed here once
(:mod:`taskgate.worker.rate`), so every watcher and snapshot gets the same numbers.
"""

from __future__ import annotations

import contextvars
import logging
import threading
import time
from collections.abc import Callable
from typing import Any

from celery import Task
from celery.app.task import Context

from taskgate.contract.wire import JsonObject, make_progress, now_ts
from taskgate.events import stats
from taskgate.events.emit import store_and_emit, wait_stored
from taskgate.worker.rate import RateEstimator

logger = logging.getLogger(__name__)

_current: contextvars.ContextVar[ProgressReporter | None] = contextvars.ContextVar(
    "taskgate_progress", default=None
)


class ProgressReporter:
    """Coalesces one job's progress reports; thread-safe (a timer may flush)."""

    def __init__(
        self,
        task: Task[Any, Any],
        request: Context,
        min_interval: float,
        send: Callable[[JsonObject, str], object] | None = None,
    ) -> None:
        self._task = task
        self._request = request
        self._send = send
        self._job_id = str(request.id)
        self._min_interval = min_interval
        self._lock = threading.Lock()
        # The newest progress not sent yet, and when the job reported it (its event's ts,
        # and monotonic time).
        self._pending: tuple[JsonObject, str, float] | None = None
        self._rates = RateEstimator(time.monotonic())
        self._last_sent = float("-inf")
        self._timer: threading.Timer | None = None
        self._closed = False
        self.coalesced = 0

    def report(
        self, current: float, total: float | None, message: str = "", unit: str | None = None
    ) -> None:
        reported = now_ts()  # the moment the job reported it (PROTOCOL.md: ``ts``)
        now = time.monotonic()
        progress = make_progress(current, total, message)  # a bad value fails here, the caller's
        if unit:
            progress["unit"] = unit
        with self._lock:
            if self._closed:
                return
            if self._pending is not None:
                self.coalesced += 1
            self._pending = (progress, reported, now)
            wait = self._last_sent + self._min_interval - now
            if wait <= 0:
                self._send_locked(now)
            elif self._timer is None:
                self._timer = threading.Timer(wait, self._on_timer)
                self._timer.daemon = True
                self._timer.start()

    def close(self) -> None:
        """Send what is pending and wait until it (and the running state) is stored; later
        reports are ignored."""
        with self._lock:
            if self._timer is not None:
                self._timer.cancel()
                self._timer = None
            if self._pending is not None:
                self._send_locked(time.monotonic())
            self._closed = True
            coalesced = self.coalesced
        try:
            wait_stored()
        except Exception:
            logger.warning("job=%s progress not confirmed stored", self._job_id, exc_info=True)
        stats.add(stats.COALESCED, coalesced)

    def _on_timer(self) -> None:
        with self._lock:
            self._timer = None
            if self._pending is not None and not self._closed:
                self._send_locked(time.monotonic())

    def _send_locked(self, now: float) -> None:
        pending, self._pending = self._pending, None
        self._last_sent = now
        if pending is None:
            return
        progress, reported, at = pending
        progress["rate"], progress["eta"], progress["interval"] = self._rates.update(
            at, progress["current"], progress["total"]
        )
        try:
            if self._send is not None:
                self._send(progress, reported)
            else:
                store_and_emit(
                    self._task, self._request, "PROGRESS", progress=progress, ts=reported
                )
        except Exception:
            # Progress is advisory: a Redis hiccup must not fail the job itself.
            logger.warning("job=%s progress report failed", self._job_id, exc_info=True)


def report_progress(
    current: float, total: float | None = None, message: str = "", *, unit: str | None = None
) -> None:
    """Report that the running job has done ``current`` of ``total`` units of work.

    ``unit`` names what ``current`` counts (``"rows"``): watchers show the rate in it.

    Works in a registered job and in any Celery task started with ``taskgate.start``
    (``total`` None: the amount of work is not known). Where no watcher can exist (the task
    called directly, run eagerly, or sent with a plain ``.delay()``) it does nothing, and it
    never fails the task.
    """
    reporter = _current.get()
    if reporter is not None:
        reporter.report(current, total, message, unit)


def bind_reporter(reporter: ProgressReporter) -> contextvars.Token[ProgressReporter | None]:
    return _current.set(reporter)


def unbind_reporter(token: contextvars.Token[ProgressReporter | None]) -> None:
    _current.reset(token)
