"""Settling jobs whose worker died: the gateway's side of job leases (see worker/lease.py).

A job that the result backend calls running but whose lease has expired was running on a
worker that is gone (a SIGKILL, a crashed host, a lost network). Left alone it would stay
"running" until its key expires: the bar would hang. The fallback poll and every ``watch``
check for this; the first to see it records the end atomically in Redis, writes it to the
job's database row and announces it.
"""

from __future__ import annotations

import logging
from typing import Any

from taskgate.backends import broker, rows
from taskgate.backends.state_store import StateStore, meta_key, text, ttl
from taskgate.config.celery_app import acks_late
from taskgate.contract.keys import parts_key, progress_key, seq_key
from taskgate.contract.states import JobState, State
from taskgate.contract.wire import dumps, now_ts
from taskgate.delivery.hub import Hub
from taskgate.worker.aggregate import UPDATE_SCRIPT, decode_ids, end_meta

logger = logging.getLogger(__name__)


async def _fail_lost_part(store: StateStore, state: JobState) -> list[str]:
    """Fail a composite whose running part lost its worker; returns the parts to revoke.

    Nothing happens if the job ended meanwhile (the script ignores updates after the end).
    """
    index = state.lost_part
    if index is None or not state.parts:
        return []
    part = state.parts[index - 1]
    name = str(part.get("name"))
    error = {"type": "lost", "message": f"part {name!r} failed: its worker died", "part": name}
    job_id = state.job_id
    keys = [parts_key(job_id), meta_key(job_id), seq_key(job_id), progress_key(job_id)]
    args: list[Any] = [str(index), "failure", "", now_ts(), ttl()]
    args += [end_meta(job_id, "FAILURE", error), dumps(error)]
    raw = await store.eval(UPDATE_SCRIPT, keys, args)
    if text(raw[0]) != "failure":
        return []
    # The part's own state, too: no worker will ever store one for it.
    await store.settle_lost(str(part.get("job_id")), requeue=False)
    return decode_ids(raw[4])


async def sweep_lost(store: StateStore, hub: Hub) -> dict[str, JobState]:
    """Settle every job of the running set whose worker died, whether anyone watches it.

    Run once per lease period by each gateway process's fallback loop (the settling itself
    is atomic: when several processes see the same job, one records it). Jobs that ended,
    or whose state expired, leave the set. Returns the states read (for the stalled check).
    """
    job_ids = await store.running()
    if not job_ids:
        return {}
    states = await store.states(job_ids, with_progress=True)
    gone = [job_id for job_id, state in states.items() if state.state is not State.RUNNING]
    await store.unlist(*gone)
    for state in states.values():
        if state.state is State.RUNNING and not state.leased:
            await settle_if_lost(store, hub, state)
    return states


async def settle_if_lost(store: StateStore, hub: Hub, state: JobState) -> JobState:
    """Return the job's state, first recording it as lost (or re-queued) if its worker died.

    With acks-late (``TASKGATE_ACKS_LATE``) the broker delivers the job again, so the job is
    announced as ``retrying`` instead of failed.
    """
    if state.state is not State.RUNNING or state.leased:
        return state
    if state.lost_part is not None:
        return await _settle_composite(store, hub, state)
    requeue = acks_late()
    if await store.settle_lost(state.job_id, requeue=requeue):
        logger.warning(
            "job=%s state=%s reason=lost: its worker stopped renewing the lease",
            state.job_id,
            "retrying" if requeue else "failure",
        )
        settled = await store.state(state.job_id)
        if settled.state.terminal:
            await rows.finish(state.job_id, settled.state.value)
        await hub.announce(state.job_id, settled.event(), "lost")
        await store.unlist(state.job_id)
        return settled
    return await store.state(state.job_id)


async def _settle_composite(store: StateStore, hub: Hub, state: JobState) -> JobState:
    """A part's worker died: the composite job fails (naming the part), the rest is revoked.

    Parts are not re-queued even with acks-late: the broker redelivers the part itself,
    but the job it belonged to has already been announced as failed.
    """
    revoke_ids = await _fail_lost_part(store, state)
    settled = await store.state(state.job_id)
    if not settled.state.terminal:
        return settled
    logger.warning(
        "job=%s state=failure reason=lost: part %s stopped renewing its lease",
        state.job_id,
        state.lost_part,
    )
    await rows.finish(state.job_id, settled.state.value)
    await hub.announce(state.job_id, settled.event(), "lost")
    await store.unlist(state.job_id)
    if revoke_ids:
        try:
            await broker.revoke(*revoke_ids)
        except broker.BrokerUnavailable as exc:
            logger.warning("job=%s could not revoke its parts: %r", state.job_id, exc)
    return settled
