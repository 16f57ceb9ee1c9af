"""Plain Celery tasks started with ``taskgate.start``: the promises of a registered job.

A task of the project's own app (a plain ``@shared_task``) knows nothing of taskgate. What
``taskgate.start`` sends carries the message header :data:`TRACK_HEADER`; in the pool
process, ``task_prerun`` sees it and does what :class:`~taskgate.worker.task.JobTask` does
for a registered job: it holds the job's lease, stores and pushes ``running``, and binds the
reporter ``report_progress`` uses; ``task_postrun`` closes the reporter and stops renewing
the lease. The end states go through the handlers of :mod:`taskgate.worker.signals`, which
ask :func:`is_tracked`. A task sent with a plain ``.delay()`` carries no header: nothing
here touches it, and its ``report_progress`` calls do nothing.

One difference from a registered job: Celery stores a plain task's end before any signal
can flush progress still waiting to be coalesced, so that last progress is dropped (the
store refuses to write over an end state); the end itself always gets through.
"""

from __future__ import annotations

import contextvars
import logging
from typing import Any

from celery import Task
from celery.signals import task_postrun, task_prerun

from taskgate.config import get_config
from taskgate.contract.keys import record_key
from taskgate.events.emit import store_and_emit
from taskgate.events.redis_client import result_redis
from taskgate.worker.lease import leases
from taskgate.worker.progress import ProgressReporter, bind_reporter, unbind_reporter
from taskgate.worker.task import JobTask

logger = logging.getLogger(__name__)

TRACK_HEADER = "taskgate"

# The reporters of the tracked tasks running in this process, by job id.
_running: dict[str, tuple[ProgressReporter, contextvars.Token[ProgressReporter | None]]] = {}


def is_tracked(sender: object, task_id: str | None) -> bool:
    """Whether the task ``task_id`` is one of taskgate's jobs (registered or started)."""
    if isinstance(sender, JobTask):
        return True
    if not isinstance(sender, Task) or not task_id:
        return False
    request: Any = sender.request
    if request.id == task_id:  # in the pool process, running it: its own message says
        return bool(request.get(TRACK_HEADER))
    # In the worker's main process (a revoke, a pool process that died): taskgate keeps a
    # record of every job it started.
    return bool(result_redis().exists(record_key(task_id)))


@task_prerun.connect
def _begin(sender: object = None, task_id: str | None = None, task: Any = None, **_: Any) -> None:
    if isinstance(task, JobTask) or not isinstance(task, Task) or not task_id:
        return  # a registered job does all this in JobTask.__call__
    request: Any = task.request
    if request.is_eager or not request.get(TRACK_HEADER):
        return
    leases.hold(task_id)
    try:
        store_and_emit(task, request, "STARTED")
    except Exception:
        logger.warning("job=%s could not record the running state", task_id, exc_info=True)
    reporter = ProgressReporter(task, request, get_config().progress_min_interval)
    _running[task_id] = (reporter, bind_reporter(reporter))


@task_postrun.connect
def _end(sender: object = None, task_id: str | None = None, **_: Any) -> None:
    entry = _running.pop(task_id or "", None)
    if entry is None:
        return
    reporter, token = entry
    unbind_reporter(token)
    reporter.close()
    leases.release(str(task_id))
