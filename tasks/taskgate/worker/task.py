""":class:`JobTask`, the Celery task base of every registered job: it announces ``running``,
holds the job's lease while it runs and gives ``report_progress`` its reporter."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from celery import Task
from celery.exceptions import Ignore

from taskgate.config import get_config
from taskgate.contract.wire import JsonObject
from taskgate.events.emit import store_and_emit
from taskgate.worker.aggregate import PART_KWARG, PartLink
from taskgate.worker.lease import leases
from taskgate.worker.progress import ProgressReporter, bind_reporter, unbind_reporter

logger = logging.getLogger(__name__)


# Sends one progress (and its ts: when the job reported it).
ProgressSend = Callable[[JsonObject, str], object]


class JobTask(Task):  # type: ignore[type-arg]
    """Base of every registered job's Celery task: announces ``running`` and owns progress."""

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        request = self.request
        if request.id is None or request.is_eager:
            # Called directly, or run eagerly: no watcher can exist, nothing is tracked.
            kwargs.pop(PART_KWARG, None)
            return super().__call__(*args, **kwargs)
        job_id = str(request.id)
        # A part of a composite job carries its link to the parent (never a parameter).
        link = PartLink.from_kwargs(kwargs.pop(PART_KWARG, None))
        if self.backend.get_state(job_id) == "REVOKED":
            # Cancelled while queued (the gateway recorded it); a worker that was not
            # running at the time never got the revoke broadcast.
            logger.info("job=%s state=cancelled skipped: cancelled before it started", job_id)
            raise Ignore()
        leases.hold(job_id)
        send = self.begin(request, link)
        reporter = ProgressReporter(self, request, get_config().progress_min_interval, send=send)
        token = bind_reporter(reporter)
        try:
            return super().__call__(*args, **kwargs)
        finally:
            unbind_reporter(token)
            # Pending progress goes out before Celery stores the end state.
            reporter.close()

    def begin(self, request: Any, link: PartLink | None) -> ProgressSend | None:
        """Announce ``running``; returns how progress is sent (``None``: the usual way)."""
        job_id = str(request.id)
        if link is not None and self._report_part(link) in ("ended", "missing"):
            # Its composite job already ended (a sibling failed, or it was cancelled).
            logger.info("job=%s state=cancelled skipped: job %s ended", job_id, link.parent)
            self.backend.mark_as_revoked(job_id, "its composite job ended", request=request)
            raise Ignore()
        try:
            store_and_emit(self, request, "STARTED")
        except Exception:
            logger.warning("job=%s could not record the running state", job_id, exc_info=True)
        # Imported here: ``taskgate`` is imported before Django is set up, the models after.
        from taskgate.models import open_for_end_write

        open_for_end_write()  # now, not while jobs that end together need the cores
        if link is None:
            return None
        part = link

        def send(progress: JsonObject, ts: str) -> None:
            store_and_emit(self, request, "PROGRESS", progress=progress, ts=ts)
            part.report("running", progress=progress)

        return send

    @staticmethod
    def _report_part(link: PartLink) -> str:
        """Tell the parent this part runs; a Redis hiccup must not fail the part itself."""
        try:
            return link.report("running").outcome
        except Exception:
            logger.warning("job=%s could not report part %s", link.parent, link.name, exc_info=True)
            return "unknown"
