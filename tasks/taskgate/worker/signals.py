"""Celery signal handlers that push the states Celery stores itself: retry and the end states
(of registered jobs, and of plain tasks started with ``taskgate.start``: worker/tracked.py).

``task_success``/``task_failure``/``task_retry`` fire after the state was stored (in the pool
child; a lost worker's failure and ``task_revoked`` fire in the worker's main process).

End states are also written to the job's database row here, right after the push: these
handlers run exactly once per end, wherever Celery stores it and whether or not anyone
watches. The push goes first so a slow or locked database never delays what watchers see
(the job list shows the live state from Redis over a row that has not caught up).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime
from typing import Any

from celery.signals import (
    task_failure,
    task_postrun,
    task_retry,
    task_revoked,
    task_success,
    worker_init,
    worker_process_init,
    worker_process_shutdown,
    worker_ready,
    worker_shutdown,
)

from taskgate.config import telemetry
from taskgate.config.celery_app import celery_app
from taskgate.contract.meta import error_from_exception_meta
from taskgate.contract.wire import JsonObject
from taskgate.events.emit import emit_stored, store_script
from taskgate.events.final_ends import take_refused
from taskgate.events.publisher import publisher
from taskgate.events.redis_client import result_redis
from taskgate.models import mark_finished, prepare_end_writes
from taskgate.worker import composite
from taskgate.worker.aggregate import PART_KWARG, PartLink
from taskgate.worker.artifacts import sweep
from taskgate.worker.lease import leases
from taskgate.worker.task import JobTask
from taskgate.worker.tracked import is_tracked

logger = logging.getLogger(__name__)


def _record_end(job_id: str, state: str) -> None:
    """Write the end to the job's row; a database problem must not hold the push back."""
    try:
        mark_finished(job_id, state)
    except Exception as exc:
        logger.warning("job %s: could not record its end (%s): %r", job_id, state, exc)


def _late(job_id: str) -> bool:
    """Celery's store of this end was refused: the job had already ended (final_ends.py)."""
    return take_refused(job_id)


def _part(kwargs: object) -> PartLink | None:
    return PartLink.from_kwargs(kwargs.get(PART_KWARG) if isinstance(kwargs, dict) else None)


def _part_ended(link: PartLink, state: str, error: JsonObject | None = None) -> None:
    """A part of a composite job ended: fold it in; it may start the merge or end the job."""
    if error is not None:
        what = "its worker died" if error.get("type") == "lost" else error.get("message", "")
        error = {**error, "message": f"part {link.name!r} failed: {what}", "part": link.name}
    try:
        update = link.report(state, error=error)
    except Exception:
        logger.exception("job=%s could not record the end of part %s", link.parent, link.name)
        return
    if update.outcome == "merge":
        composite.send_merge(update)
    elif update.outcome in ("failure", "cancelled"):
        fields = {"error": error} if update.outcome == "failure" else {}
        emit_stored(link.parent, update.outcome, terminal=True, **fields)
        _record_end(link.parent, update.outcome)
        composite.revoke_parts(update)


@task_success.connect
def _on_success(sender: object = None, result: Any = None, **_: Any) -> None:
    request: Any = getattr(sender, "request", None)
    if request is not None and is_tracked(sender, request.id) and not _late(request.id):
        link = _part(request.kwargs)
        if link is not None:
            _part_ended(link, "success")
            return
        emit_stored(str(request.id), "success", terminal=True, result=result)
        _record_end(str(request.id), "success")


@task_failure.connect
def _on_failure(
    sender: object = None,
    task_id: str | None = None,
    exception: BaseException | None = None,
    kwargs: object = None,
    **_: Any,
) -> None:
    if task_id and is_tracked(sender, task_id) and isinstance(exception, Exception):
        if _late(task_id):
            return
        backend: Any = getattr(sender, "backend", None)
        error = error_from_exception_meta(backend.prepare_exception(exception))
        link = _part(kwargs)
        if link is not None:
            _part_ended(link, "failure", error)
            return
        emit_stored(task_id, "failure", terminal=True, error=error)
        _record_end(task_id, "failure")


@task_retry.connect
def _on_retry(sender: object = None, request: Any = None, reason: Any = None, **_: Any) -> None:
    if request is not None and is_tracked(sender, getattr(request, "id", None)):
        if _late(str(request.id)):
            return
        exc = getattr(reason, "exc", None) or reason
        backend: Any = getattr(sender, "backend", None)
        error = error_from_exception_meta(backend.prepare_exception(exc))
        when = getattr(reason, "when", None)
        retry_in: float | None = None
        if isinstance(when, int | float):
            retry_in = float(when)
        elif isinstance(when, datetime):
            retry_in = max(0.0, (when - datetime.now(when.tzinfo)).total_seconds())
        link = _part(getattr(request, "kwargs", None))
        if link is not None:
            link.report("retrying", error=error)
            return
        emit_stored(str(request.id), "retrying", terminal=False, error=error, retry_in=retry_in)


@task_revoked.connect
def _on_revoked(sender: object = None, request: Any = None, **_: Any) -> None:
    if request is not None and is_tracked(sender, getattr(request, "id", None)):
        if _late(str(request.id)):
            return
        link = _part(getattr(request, "kwargs", None))
        if link is not None:
            _part_ended(link, "cancelled")
            return
        emit_stored(str(request.id), "cancelled", terminal=True)
        _record_end(str(request.id), "cancelled")


@task_postrun.connect
def _release_lease(sender: object = None, task_id: str | None = None, **_: Any) -> None:
    # The job is no longer ours: stop renewing its lease (it expires; see worker/lease.py).
    # (A tracked plain task's lease: worker/tracked.py.)
    if isinstance(sender, JobTask) and task_id:
        leases.release(task_id)


@worker_process_shutdown.connect  # a pool process exits (prefork, also when recycled)
@worker_shutdown.connect  # the worker stops (solo and threads pools run jobs in it)
def _flush_on_shutdown(**_: Any) -> None:
    publisher.flush(timeout=2.0)
    telemetry.flush()


@worker_process_init.connect  # a prefork pool process: where the jobs run
def _start_pool_process(**_: Any) -> None:
    telemetry.setup("taskgate-worker")
    publisher.warm()
    _open_connections()


def _ping_backend() -> None:
    backend: Any = celery_app().backend  # the Redis backend (final_ends.FinalEndsBackend)
    backend.client.ping()


def _open_connections() -> None:
    """Open, when the process starts, the Redis connections a job uses: the store script's
    (every state), the result client's (the end's seq) and Celery's backend client (its
    store of the end). Progress goes through the script's own connection, so the other two
    would otherwise be opened at the end of the process's first job, 1-2 ms of CPU each
    (redis-py reads its package metadata for each new connection), when 100 jobs that end
    together need the cores for the progress of those still running. Best effort: one that
    cannot be opened now is opened when it is used. (The database connection is opened when a
    job starts running, ``models.open_for_end_write``: Celery's Django fix-up closes what a
    pool process opens at its start.)"""
    openers: list[tuple[str, Callable[[], object]]] = [
        ("the store script's", store_script.connect),
        ("the result client's", result_redis().ping),
        ("Celery's backend", _ping_backend),
    ]
    for what, open_one in openers:
        try:
            open_one()
        except Exception as exc:
            logger.debug("%s connection not opened ahead: %r", what, exc)


@worker_init.connect
def _prepare_job_ends(**_: Any) -> None:
    """In the worker's own process, before it forks its pool: what every job's end uses the
    first time, done once here instead of in each pool process at its first end (shared
    after the fork): with 100 jobs that ended together, these first uses were 4 to 8 ms of
    the 17 ms of CPU each end took (docs/benchmarks.md, round 3)."""
    try:
        celery_app().now()  # Celery's timezone, worked out from its settings once
        prepare_end_writes()
    except Exception as exc:
        logger.debug("job ends not prepared ahead: %r", exc)


@worker_init.connect
def _trace_worker(sender: Any = None, **_: Any) -> None:
    # Solo and threads pools run jobs in the worker itself; a prefork worker's own process
    # stays untraced (a provider made before the fork would be shared by every child).
    if "prefork" not in str(getattr(sender, "pool_cls", "prefork")).lower():
        telemetry.setup("taskgate-worker")


@worker_ready.connect
def _sweep_artifacts(**_: Any) -> None:
    """Expired artifacts go when a worker starts (and before each new one is written)."""
    sweep()
