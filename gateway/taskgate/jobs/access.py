"""The one ownership check every way to reach a job goes through: :func:`owned_record`.

Each dispatched job has a row in the database (:mod:`taskgate.backends.rows`) and, while its
state lives, a record in Redis (:class:`taskgate.backends.state_store.JobRecord`). The Redis
record is the fast path: the check on every watch, snapshot, cancel and event stream is one
Redis read on the event loop. The database is asked only when Redis has no record, to tell a
job that expired from one that never existed.
"""

from __future__ import annotations

from taskgate.auth.principal import Principal
from taskgate.backends.rows import (
    DatabaseUnavailable,
    lookup,
)
from taskgate.backends.state_store import JobRecord, StoreUnavailable
from taskgate.contract.wire import JsonObject, format_ts
from taskgate.delivery.runtime import get_runtime
from taskgate.protocol.codes import ErrorCode
from taskgate.protocol.errors import ProtocolError


async def owned_record(principal: Principal, job_id: str) -> JobRecord:
    """The job's live record if ``principal`` may see it; else ``forbidden``/``not_found``.

    Every way to reach a job (watch, cancel, snapshot, events, artifact) goes through here.
    Someone else's job is ``forbidden`` even once expired, so ids do not leak; a job that
    expired is ``not_found`` with ``details.reason == "expired"``, one that never existed
    has ``"unknown"``.
    """
    try:
        record = await get_runtime().store.record(job_id)
    except StoreUnavailable:
        raise ProtocolError(ErrorCode.UNAVAILABLE, "Redis is unreachable", job_id=job_id) from None
    if record is not None:
        if not principal.may_access(record.owner):
            raise _forbidden(job_id)
        return record
    try:
        row = await lookup(job_id)
    except DatabaseUnavailable:
        raise ProtocolError(
            ErrorCode.UNAVAILABLE, "the database is unreachable", job_id=job_id
        ) from None
    if row is None:
        raise ProtocolError(
            ErrorCode.NOT_FOUND, "no such job", details={"reason": "unknown"}, job_id=job_id
        )
    if not principal.may_access(row.owner):
        raise _forbidden(job_id)
    details: JsonObject = {"reason": "expired", "created": format_ts(row.created)}
    if row.finished is not None:
        details.update(state=row.state, finished=format_ts(row.finished))
    raise ProtocolError(
        ErrorCode.NOT_FOUND, "the job expired: its state is gone", details=details, job_id=job_id
    )


def _forbidden(job_id: str) -> ProtocolError:
    return ProtocolError(ErrorCode.FORBIDDEN, "this job belongs to someone else", job_id=job_id)
