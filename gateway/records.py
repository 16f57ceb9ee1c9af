"""Job records and the one ownership check every transport goes through.

Each dispatched job has a row in the database (:class:`gateway.models.Job`) and, while its
state lives, a record in Redis (:class:`gateway.jobstore.JobRecord`). The Redis record is
the fast path: the check on every watch, snapshot, cancel and event stream is one Redis
read on the event loop. The database is asked only when Redis has no record, to tell a job
that expired from one that never existed, and for lists. Database calls run in a thread
(``database_sync_to_async``), never on the event loop.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from channels.db import database_sync_to_async
from django.conf import settings
from django.db import DatabaseError
from django.utils import timezone

from gateway.identity import Principal
from gateway.jobstore import JobRecord, StoreUnavailable
from gateway.models import Job, mark_finished
from gateway.protocol import ErrorCode, ProtocolError
from tasks.state import JsonObject, format_ts

logger = logging.getLogger(__name__)


class DatabaseUnavailable(Exception):
    """The database could not be reached or written."""


def _create(job_id: str, job: str, owner: str, params: JsonObject) -> None:
    Job.objects.create(id=job_id, job=job, owner=owner, params=params)


async def create(job_id: str, job: str, owner: str, params: JsonObject) -> None:
    try:
        await database_sync_to_async(_create)(job_id, job, owner, params)
    except DatabaseError as exc:
        raise DatabaseUnavailable(str(exc)) from exc


async def forget(job_id: str) -> None:
    """Drop the row of a job whose dispatch failed (best effort)."""
    try:
        await database_sync_to_async(lambda: Job.objects.filter(id=job_id).delete())()
    except DatabaseError:
        logger.warning("could not delete the row of undispatched job %s", job_id)


async def finish(job_id: str, state: str, when: datetime | None = None) -> None:
    """Record an end state the gateway learned or stored itself (first writer wins)."""
    try:
        await database_sync_to_async(mark_finished)(job_id, state, when)
    except DatabaseError as exc:
        logger.warning("job %s: could not record its end (%s): %r", job_id, state, exc)


def _lookup(job_id: str) -> Job | None:
    return Job.objects.filter(id=job_id).first()


async def lookup(job_id: str) -> Job | None:
    try:
        row: Job | None = await database_sync_to_async(_lookup)(job_id)
    except DatabaseError as exc:
        raise DatabaseUnavailable(str(exc)) from exc
    return row


@dataclass(frozen=True, slots=True)
class Page:
    rows: list[Job]
    more: bool


def _page(owner: str | None, limit: int, offset: int) -> Page:
    rows = Job.objects.order_by("-created", "-id")
    if owner is not None:
        rows = rows.filter(owner=owner)
    found = list(rows[offset : offset + limit + 1])
    return Page(found[:limit], len(found) > limit)


async def page(owner: str | None, limit: int, offset: int) -> Page:
    """One page of jobs, newest first (``owner`` None: everyone's)."""
    try:
        result: Page = await database_sync_to_async(_page)(owner, limit, offset)
    except DatabaseError as exc:
        raise DatabaseUnavailable(str(exc)) from exc
    return result


def expired(row: Job) -> bool:
    """Whether the job's state has outlived the result expiry (it can no longer be read)."""
    age = timezone.now() - row.created
    return age > timedelta(seconds=int(settings.CELERY_RESULT_EXPIRES))


async def owned_record(principal: Principal, job_id: str) -> JobRecord:
    """The job's live record if ``principal`` may see it; else ``forbidden``/``not_found``.

    Every way to reach a job (watch, cancel, snapshot, events, artifact) goes through here.
    Someone else's job is ``forbidden`` even once expired, so ids do not leak; a job that
    expired is ``not_found`` with ``details.reason == "expired"``, one that never existed
    has ``"unknown"``.
    """
    try:
        from gateway.runtime import get_runtime  # runtime -> fallback -> lost -> here

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
