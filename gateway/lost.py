"""Settling jobs whose worker died: the gateway's side of job leases (see tasks/lease.py).

A job that the result backend calls running but whose lease has expired was running on a
worker that is gone (a SIGKILL, a crashed host, a lost network). Left alone it would stay
"running" until its key expires: the bar would hang. The fallback poll and every ``watch``
check for this; the first to see it records the end atomically and announces it.
"""

from __future__ import annotations

import logging

from django.conf import settings

from gateway import records
from gateway.dispatch import DispatchError, revoke
from gateway.hub import Hub
from gateway.jobstore import JobStore
from gateway.partstore import settle_lost_part
from tasks.state import JobState, State

logger = logging.getLogger(__name__)


async def settle_if_lost(store: JobStore, hub: Hub, state: JobState) -> JobState:
    """Return the job's state, first recording it as lost (or re-queued) if its worker died.

    With acks-late (``TASKGATE_ACKS_LATE``) the broker delivers the job again, so the job is
    announced as ``retrying`` instead of failed.
    """
    if state.state is not State.RUNNING or state.leased:
        return state
    if state.lost_part is not None:
        return await _settle_composite(store, hub, state)
    requeue = bool(settings.CELERY_TASK_ACKS_LATE)
    if await store.settle_lost(state.job_id, requeue=requeue):
        logger.warning(
            "job=%s state=%s reason=lost: its worker stopped renewing the lease",
            state.job_id,
            "retrying" if requeue else "failure",
        )
        # The job's database row learns the end from the job list, which fills in the ends
        # it finds in Redis.
        settled = await store.state(state.job_id)
        await hub.announce(state.job_id, settled.event(), "lost")
        return settled
    return await store.state(state.job_id)


async def _settle_composite(store: JobStore, hub: Hub, state: JobState) -> JobState:
    """A part's worker died: the composite job fails (naming the part), the rest is revoked.

    Parts are not re-queued even with acks-late: the broker redelivers the part itself,
    but the job it belonged to has already been announced as failed.
    """
    revoke_ids = await settle_lost_part(store, state)
    settled = await store.state(state.job_id)
    if not settled.state.terminal:
        return settled
    logger.warning(
        "job=%s state=failure reason=lost: part %s stopped renewing its lease",
        state.job_id,
        state.lost_part,
    )
    try:
        await records.finish(state.job_id, settled.state.value)
    except records.DatabaseUnavailable as exc:
        logger.warning("job=%s could not record the end in the database: %r", state.job_id, exc)
    await hub.announce(state.job_id, settled.event(), "lost")
    if revoke_ids:
        try:
            await revoke(*revoke_ids)
        except DispatchError as exc:
            logger.warning("job=%s could not revoke its parts: %r", state.job_id, exc)
    return settled
