"""Celery signal handlers that push the states Celery stores itself: retry and the end states.

``task_success``/``task_failure``/``task_retry`` fire after the state was stored (in the pool
child; a lost worker's failure and ``task_revoked`` fire in the worker's main process).

End states are also written to the job's database row here, before the push: these
handlers run exactly once per end, wherever Celery stores it and whether or not anyone
watches, so a client that received the terminal event finds the row finished too.
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

from celery.signals import (
    task_failure,
    task_postrun,
    task_retry,
    task_revoked,
    task_success,
    worker_process_shutdown,
    worker_ready,
)

from tasks.artifacts import sweep
from tasks.emit import emit_stored
from tasks.lease import leases
from tasks.publisher import publisher
from tasks.registry import JobTask
from tasks.state import error_from_exception_meta

logger = logging.getLogger(__name__)

# Outcomes the pool child itself has stored when task_postrun fires.
_STORED_ENDS = frozenset({"SUCCESS", "FAILURE", "RETRY", "IGNORED"})


def _record_end(job_id: str, state: str) -> None:
    """Write the end to the job's row; a database problem must not hold the push back."""
    from gateway.models import mark_finished  # needs the app registry, ready in workers

    try:
        mark_finished(job_id, state)
    except Exception as exc:
        logger.warning("job %s: could not record its end (%s): %r", job_id, state, exc)


@task_success.connect
def _on_success(sender: object = None, result: Any = None, **_: Any) -> None:
    if isinstance(sender, JobTask):
        _record_end(str(sender.request.id), "success")
        emit_stored(str(sender.request.id), "success", terminal=True, result=result)


@task_failure.connect
def _on_failure(
    sender: object = None,
    task_id: str | None = None,
    exception: BaseException | None = None,
    **_: Any,
) -> None:
    if isinstance(sender, JobTask) and task_id and isinstance(exception, Exception):
        error = error_from_exception_meta(sender.backend.prepare_exception(exception))
        _record_end(task_id, "failure")
        emit_stored(task_id, "failure", terminal=True, error=error)


@task_retry.connect
def _on_retry(sender: object = None, request: Any = None, reason: Any = None, **_: Any) -> None:
    if isinstance(sender, JobTask) and request is not None:
        exc = getattr(reason, "exc", None) or reason
        error = error_from_exception_meta(sender.backend.prepare_exception(exc))
        when = getattr(reason, "when", None)
        retry_in: float | None = None
        if isinstance(when, int | float):
            retry_in = float(when)
        elif isinstance(when, datetime):
            retry_in = max(0.0, (when - datetime.now(when.tzinfo)).total_seconds())
        emit_stored(str(request.id), "retrying", terminal=False, error=error, retry_in=retry_in)


@task_revoked.connect
def _on_revoked(sender: object = None, request: Any = None, **_: Any) -> None:
    if isinstance(sender, JobTask) and request is not None:
        _record_end(str(request.id), "cancelled")
        emit_stored(str(request.id), "cancelled", terminal=True)


@task_postrun.connect
def _release_lease(
    sender: object = None, task_id: str | None = None, state: str | None = None, **_: Any
) -> None:
    # After Celery stored the outcome (success, failure or retry): the job is no longer ours.
    # A job terminated by a revoke also passes here, before the worker's main process has
    # stored REVOKED: releasing then would let a gateway call it lost in between. Its lease
    # simply expires instead.
    if isinstance(sender, JobTask) and task_id and state in _STORED_ENDS:
        leases.release(task_id)
    elif isinstance(sender, JobTask) and task_id:
        logger.debug("job=%s lease kept until it expires (postrun state %s)", task_id, state)


@worker_process_shutdown.connect
def _flush_on_shutdown(**_: Any) -> None:
    publisher.flush(timeout=2.0)


@worker_ready.connect
def _sweep_artifacts(**_: Any) -> None:
    """Expired artifacts go when a worker starts (and before each new one is written)."""
    sweep()
