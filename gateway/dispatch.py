"""Talking to Celery from the event loop: dispatch and revoke run in worker threads.

``apply_async`` is blocking kombu I/O; it runs in a thread with the short publish retry
policy from the settings, so a dead broker answers within a few seconds and the job is
either on the queue or not dispatched at all (we never give up on a publish that may
still complete).
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from tasks.celery_app import app
from tasks.registry import JobSpec
from tasks.state import JsonObject, now_ts

logger = logging.getLogger(__name__)

# Stores REVOKED only if the job has stored no state yet (a job not started).
_REVOKE_IF_PENDING = """
if redis.call('EXISTS', KEYS[1]) == 0 then
  redis.call('SET', KEYS[1], ARGV[1], 'EX', ARGV[2])
  return 1
end
return 0
"""


class DispatchError(Exception):
    """The broker did not take the job."""


async def send_job(spec: JobSpec[Any], job_id: str, params: JsonObject) -> None:
    try:
        await asyncio.to_thread(_apply, spec, job_id, params)
    except Exception as exc:
        logger.warning("dispatch of job %s (%s) failed: %r", job_id, spec.name, exc)
        raise DispatchError(str(exc)) from exc


def _apply(spec: JobSpec[Any], job_id: str, params: JsonObject) -> None:
    spec.task.apply_async(kwargs=params, task_id=job_id, retry=True)


async def revoke(job_id: str) -> None:
    """Tell every worker to drop or terminate the job."""
    try:
        await asyncio.to_thread(app.control.revoke, job_id, terminate=True)
    except Exception as exc:
        raise DispatchError(str(exc)) from exc


async def mark_revoked_if_pending(client: Any, job_id: str, ttl: int) -> bool:
    """Record a not-yet-started job as REVOKED, so a worker that starts later skips it."""
    backend: Any = app.backend
    meta: JsonObject = {
        "status": "REVOKED",
        "result": {
            "exc_type": "TaskRevokedError",
            "exc_message": ["cancelled before it started"],
            "exc_module": "celery.exceptions",
        },
        "traceback": None,
        "children": [],
        "date_done": now_ts(),
        "task_id": job_id,
    }
    key = backend.get_key_for_task(job_id)
    stored = await client.eval(_REVOKE_IF_PENDING, 1, key, backend.encode(meta), ttl)
    return bool(stored)
