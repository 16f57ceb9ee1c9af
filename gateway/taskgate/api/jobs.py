"""``/api/jobs``: submit, list, snapshot and cancel, through the socket's own operations."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from django.http import HttpRequest
from ninja import Path, Query, Router
from ninja.responses import Status

from taskgate.api.schemas import ERRORS, Accepted, ApiError, JobItem, JobPage, Snapshot, SubmitIn
from taskgate.auth.http import is_sessionless, open_session, request_principal
from taskgate.backends import rows
from taskgate.backends.state_store import StoreUnavailable
from taskgate.contract.states import JobState
from taskgate.contract.wire import JsonObject, format_ts
from taskgate.delivery.runtime import get_runtime
from taskgate.jobs import cancel as cancelling
from taskgate.jobs import submit as submitting
from taskgate.jobs.access import owned_record
from taskgate.jobs.rate_limit import admit_new_session
from taskgate.jobs.snapshot import snapshot
from taskgate.models import Job
from taskgate.protocol.codes import ErrorCode
from taskgate.protocol.errors import ProtocolError
from taskgate.protocol.requests import MAX_JOB_ID_LENGTH

router = Router(tags=["jobs"])

JobId = Annotated[str, Path(min_length=1, max_length=MAX_JOB_ID_LENGTH)]


def without_ref(event: JsonObject) -> JsonObject:
    return {key: value for key, value in event.items() if key != "ref"}


@router.post(
    "/jobs",
    response={202: Accepted, 413: ApiError, 429: ApiError, **ERRORS},
    summary="Submit a job",
)
async def submit(request: HttpRequest, payload: SubmitIn) -> Status[JsonObject]:
    """Validate and dispatch a job; watch it with ``GET /api/jobs/{job_id}/events``."""
    principal = await request_principal(request, write=True)
    if is_sessionless(principal):  # an anonymous client: give it a session, within limits
        await admit_new_session(principal.address)
        principal = await open_session(request, principal)
    spec, params = submitting.validate(payload.job, payload.params or {})
    submission = await submitting.prepare(principal, spec, params)
    await submitting.dispatch(submission, principal)
    return Status(202, without_ref(submission.accepted()))


@router.get("/jobs", response={200: JobPage, **ERRORS}, summary="List your jobs")
async def list_jobs(
    request: HttpRequest,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
    offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
    scope: Annotated[Literal["own", "all"], Query(description="all: staff only")] = "own",
) -> JsonObject:
    """The caller's jobs, newest first; staff may ask for everyone's with ``scope=all``."""
    principal = await request_principal(request)
    if scope == "all" and not principal.staff:
        raise ProtocolError(ErrorCode.FORBIDDEN, "only staff may list everyone's jobs")
    try:
        page = await rows.page(None if scope == "all" else principal.owner, limit, offset)
    except rows.DatabaseUnavailable:
        raise ProtocolError(ErrorCode.UNAVAILABLE, "the database is unreachable") from None
    live = [row.id for row in page.rows if row.finished is None and not rows.expired(row)]
    try:
        states = await get_runtime().store.states(live) if live else {}
    except StoreUnavailable:
        raise ProtocolError(ErrorCode.UNAVAILABLE, "Redis is unreachable") from None
    items = [_item(row, states.get(row.id)) for row in page.rows]
    return {
        "items": items,
        "limit": limit,
        "offset": offset,
        "next_offset": offset + limit if page.more else None,
    }


def _item(row: Job, state: JobState | None) -> JsonObject:
    """A job's list entry: its row, with the live state from Redis while that lasts."""
    item: dict[str, Any] = {
        "job_id": row.id,
        "job": row.job,
        "params": row.params if isinstance(row.params, dict) else {},
        "created": format_ts(row.created),
        "finished": format_ts(row.finished) if row.finished else None,
        "state": row.state or None,
        "expired": rows.expired(row),
    }
    if state is not None:
        item["state"] = state.state.value
        if state.state.terminal and item["finished"] is None:
            item["finished"] = state.ts  # ended; the row learns it from whoever stored the end
    return JobItem.model_validate(item).model_dump()


@router.get("/jobs/{job_id}", response={200: Snapshot, **ERRORS}, summary="A job's snapshot")
async def job_snapshot(request: HttpRequest, job_id: JobId) -> JsonObject:
    """The same fields as the socket's ``snapshot`` event."""
    principal = await request_principal(request)
    record = await owned_record(principal, job_id)
    return without_ref(await snapshot(record))


@router.post(
    "/jobs/{job_id}/cancel",
    response={202: Snapshot, **ERRORS},
    summary="Cancel a job",
)
async def cancel(request: HttpRequest, job_id: JobId) -> Status[JsonObject]:
    """Revoke the job (owner or staff). Answers its snapshot: a job that had not started is
    already ``cancelled``; a running one ends ``cancelled`` once its worker stops it."""
    principal = await request_principal(request, write=True)
    record = await cancelling.cancel(principal, job_id)
    return Status(202, without_ref(await snapshot(record)))
