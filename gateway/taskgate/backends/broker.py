"""The broker, from the event loop: putting a job on its queue, and revoking jobs.

``apply_async`` and ``revoke`` are blocking kombu I/O; they run in worker threads, with the
short publish retry policy from the settings, so a dead broker answers within a few seconds
and the job is either on the queue or not dispatched at all (we never give up on a publish
that may still complete). Only the errors of an unreachable broker become
:class:`BrokerUnavailable`; anything else a job's own code raises while it is put on the
queue (a composite's plan) is that job's error and passes through.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from kombu.exceptions import OperationalError
from redis.exceptions import RedisError

from taskgate.config.celery_app import celery_app
from taskgate.contract.wire import JsonObject
from taskgate.worker.registry import JobSpec

logger = logging.getLogger(__name__)

# What kombu and the Redis transport raise when the broker cannot be reached in time.
UNREACHABLE = (OperationalError, RedisError, ConnectionError, TimeoutError, OSError)


class BrokerUnavailable(Exception):
    """The broker did not take the job (or the revoke): it could not be reached."""


async def send(spec: JobSpec[Any], job_id: str, params: JsonObject) -> None:
    """Put the job on the broker under ``job_id``."""
    try:
        await asyncio.to_thread(spec.enqueue, job_id, params)
    except UNREACHABLE as exc:
        logger.warning("dispatch of job %s (%s) failed: %r", job_id, spec.name, exc)
        raise BrokerUnavailable(str(exc)) from exc


async def revoke(*job_ids: str) -> None:
    """Tell every worker to drop or terminate the jobs (a composite's parts, too)."""
    try:
        await asyncio.to_thread(celery_app().control.revoke, list(job_ids), terminate=True)
    except UNREACHABLE as exc:
        raise BrokerUnavailable(str(exc)) from exc
