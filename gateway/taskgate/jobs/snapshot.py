"""A job's ``snapshot`` event: its whole current state, as a watch starts or a client asks.

:func:`snapshot` only reads. :func:`watch_snapshot` is the watch path's read: a job whose
worker died is settled (as lost) first, so a watcher never starts on a bar that would hang.
"""

from __future__ import annotations

from taskgate.backends.state_store import JobRecord, StoreUnavailable
from taskgate.contract.states import JobState
from taskgate.contract.wire import JsonObject, now_ts
from taskgate.delivery.lost import settle_if_lost
from taskgate.delivery.runtime import get_runtime
from taskgate.protocol.codes import ErrorCode
from taskgate.protocol.errors import ProtocolError


async def snapshot(record: JobRecord, ref: str | None = None) -> JsonObject:
    """The ``snapshot`` event of a job whose record the caller may see (a read, no writes)."""
    return snapshot_event(record, await _read(record.job_id), ref)


async def watch_snapshot(record: JobRecord, ref: str | None = None) -> JsonObject:
    """The first frame of a watch: the snapshot, after settling the job if its worker died."""
    runtime = get_runtime()
    state = await _read(record.job_id)
    try:
        state = await settle_if_lost(runtime.store, runtime.hub, state)
    except StoreUnavailable:
        raise _unavailable(record.job_id) from None
    return snapshot_event(record, state, ref)


def snapshot_event(record: JobRecord, state: JobState, ref: str | None = None) -> JsonObject:
    return {
        "event": "snapshot",
        "job_id": record.job_id,
        "seq": state.seq,
        "ts": state.ts or record.created or now_ts(),
        "job": record.job,
        "state": state.state.value,
        "progress": state.progress,
        "result": state.result,
        "error": state.error,
        "parts": state.parts,
        "stalled_since": state.stalled_since,
        "ref": ref,
    }


async def _read(job_id: str) -> JobState:
    try:
        return await get_runtime().store.state(job_id)
    except StoreUnavailable:
        raise _unavailable(job_id) from None


def _unavailable(job_id: str) -> ProtocolError:
    return ProtocolError(ErrorCode.UNAVAILABLE, "Redis is unreachable", job_id=job_id)
