"""Record a job's state change in the result backend, then signal its watchers.

Order matters: the state is stored first and pushed second, so a watcher that gets the push
and then reads a snapshot never sees an older state than the push announced.
"""

from __future__ import annotations

import logging
from typing import Any

from celery import Task
from celery.app.task import Context
from django.conf import settings

from tasks.publisher import publisher
from tasks.redis_client import result_redis
from tasks.state import JsonObject, dumps, now_ts, progress_key, seq_key

logger = logging.getLogger(__name__)


class SeqCounter:
    """The per-job sequence counter in Redis."""

    def next(self, job_id: str, progress: JsonObject | None = None) -> int:
        """Allocate the next seq of a non-terminal event (and remember the last progress)."""
        ttl = int(settings.CELERY_RESULT_EXPIRES)
        pipe = result_redis().pipeline(transaction=True)
        pipe.incr(seq_key(job_id))
        pipe.expire(seq_key(job_id), ttl)
        if progress is not None:
            pipe.set(progress_key(job_id), dumps(progress), ex=ttl)
        return int(pipe.execute()[0])

    def terminal(self, job_id: str) -> int:
        """The seq of the job's terminal event: one past the last non-terminal one."""
        raw = result_redis().get(seq_key(job_id))
        return (int(raw) if raw is not None else 0) + 1


counter = SeqCounter()


def store_and_emit(
    task: Task[Any, Any],
    request: Context,
    state: str,
    *,
    progress: JsonObject | None = None,
) -> int:
    """Store a running/progress state with its seq and ts, then push it. Returns the seq.

    ``request`` is the job's Celery request, captured on the job's own thread (Celery keeps
    it thread-local, and a coalescing timer may call this from another thread).
    """
    job_id = str(request.id)
    seq = counter.next(job_id, progress)
    ts = now_ts()
    worker = str(request.hostname) if getattr(request, "hostname", None) else None
    meta = {"seq": seq, "ts": ts, "worker": worker, "progress": progress}
    task.backend.store_result(job_id, meta, state, request=request)
    event: JsonObject = {"event": "progress" if progress is not None else "running"}
    event.update(job_id=job_id, seq=seq, ts=ts)
    if progress is not None:
        event["progress"] = progress
        logger.debug(
            "job=%s state=progress seq=%d percent=%s", job_id, seq, progress.get("percent")
        )
    else:
        if worker:
            event["worker"] = worker
        logger.info("job=%s state=running seq=%d worker=%s", job_id, seq, worker)
    publisher.publish(job_id, event)
    return seq


def emit_stored(job_id: str, name: str, *, terminal: bool, **fields: Any) -> int:
    """Push an event for a state Celery itself has already stored (retry, end states)."""
    seq = counter.terminal(job_id) if terminal else counter.next(job_id)
    event: JsonObject = {"event": name, "job_id": job_id, "seq": seq, "ts": now_ts(), **fields}
    logger.info("job=%s state=%s seq=%d", job_id, name, seq)
    # Not flushed here: the job's thread need not wait for Redis, and ends of jobs that
    # finish together go out in one round trip. A process that exits (recycled or stopped)
    # flushes first (tasks/signals.py); one killed outright leaves the stored end state to
    # the gateway's fallback poll.
    publisher.publish(job_id, event)
    return seq
