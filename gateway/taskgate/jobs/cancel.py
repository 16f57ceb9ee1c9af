"""Cancelling a job (owner or staff only), for the sockets and the HTTP API alike.

A job that has not started is stored as ``REVOKED`` here and announced at once; a running one
is revoked on its worker, which stores and pushes ``cancelled``; a composite job's end is
stored here (through the aggregate's script) before its parts are revoked.
"""

from __future__ import annotations

import logging

from taskgate.auth.principal import Principal
from taskgate.backends import broker, rows
from taskgate.backends.state_store import (
    JobRecord,
    StateStore,
    StoreUnavailable,
    celery_meta,
    meta_key,
    text,
    ttl,
)
from taskgate.contract.keys import parts_key
from taskgate.delivery.runtime import get_runtime
from taskgate.jobs.access import owned_record
from taskgate.protocol.codes import ErrorCode
from taskgate.protocol.errors import ProtocolError
from taskgate.worker.aggregate import CANCEL_SCRIPT, decode_ids

logger = logging.getLogger(__name__)


async def cancel(principal: Principal, job_id: str) -> JobRecord:
    """Revoke the job; its watchers get ``cancelled`` (owner or staff only)."""
    record = await owned_record(principal, job_id)
    runtime = get_runtime()
    try:
        # A composite job: its end is stored here, before its parts are revoked.
        outcome, parts = await _cancel_composite(runtime.store, job_id)
        await broker.revoke(job_id, *parts)
    except StoreUnavailable:
        raise ProtocolError(ErrorCode.UNAVAILABLE, "Redis is unreachable", job_id=job_id) from None
    except broker.BrokerUnavailable:
        raise ProtocolError(
            ErrorCode.UNAVAILABLE, "the broker is unreachable", job_id=job_id
        ) from None
    try:
        if outcome == "cancelled" or (
            outcome == "none" and await runtime.store.revoke_if_pending(job_id)
        ):
            # Nobody else will announce it: a worker would only skip the job later.
            event = (await runtime.store.state(job_id)).event()
            await rows.finish(job_id, "cancelled")
            await runtime.hub.announce(job_id, event, "cancel")
        else:
            state = await runtime.store.state(job_id)
            if state.state.terminal:
                # Already ended: by a worker in a race with this cancel (a revoke that reached
                # a job as it was handed to a pool process stores REVOKED with no push). The
                # end is final, so announcing what is stored is always right; watchers drop
                # what they already have (by seq).
                await runtime.hub.announce(job_id, state.event(), "cancel")
    except StoreUnavailable:
        raise ProtocolError(ErrorCode.UNAVAILABLE, "Redis is unreachable", job_id=job_id) from None
    except rows.DatabaseUnavailable as exc:
        logger.warning("job=%s could not record the cancel in the database: %r", job_id, exc)
    logger.info("job=%s cancel requested owner=%s", job_id, principal.log_id)
    return record


async def _cancel_composite(store: StateStore, job_id: str) -> tuple[str, list[str]]:
    """Cancel a composite job while its parts run: stores its end, returns the parts to
    revoke. ``none``: not a composite; ``ended``; ``merging``: only its merge step is left
    (revoke it like any job)."""
    payload = celery_meta(job_id, "REVOKED", "TaskRevokedError", "cancelled")
    keys = [parts_key(job_id), meta_key(job_id)]
    outcome, ids = await store.eval(CANCEL_SCRIPT, keys, [payload, ttl()])
    return text(outcome) or "none", decode_ids(ids)
