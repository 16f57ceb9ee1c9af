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
from tasks.state import JsonObject

logger = logging.getLogger(__name__)


class DispatchError(Exception):
    """The broker did not take the job."""


async def send_job(spec: JobSpec[Any], job_id: str, params: JsonObject) -> None:
    try:
        await asyncio.to_thread(_apply, spec, job_id, params)
    except Exception as exc:
        logger.warning("dispatch of job %s (%s) failed: %r", job_id, spec.name, exc)
        raise DispatchError(str(exc)) from exc


def _apply(spec: JobSpec[Any], job_id: str, params: JsonObject) -> None:
    spec.dispatch(job_id, params)


async def revoke(*job_ids: str) -> None:
    """Tell every worker to drop or terminate the jobs (a composite's parts, too)."""
    try:
        await asyncio.to_thread(app.control.revoke, list(job_ids), terminate=True)
    except Exception as exc:
        raise DispatchError(str(exc)) from exc
