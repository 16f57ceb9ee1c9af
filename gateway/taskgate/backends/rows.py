"""Job rows in the database (:class:`taskgate.models.Job`): they outlive the state in Redis.

A row tells a job that expired from one that never existed, and lists a principal's jobs.
Every call runs in a thread (``database_sync_to_async``), never on the event loop, and a
database that cannot be reached raises :class:`DatabaseUnavailable`.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from channels.db import database_sync_to_async
from django.db import DatabaseError
from django.utils import timezone

from taskgate.config.celery_app import result_ttl
from taskgate.contract.wire import JsonObject
from taskgate.models import Job, mark_finished

logger = logging.getLogger(__name__)


class DatabaseUnavailable(Exception):
    """The database could not be reached or written."""


def create_now(job_id: str, job: str, owner: str, params: JsonObject) -> None:
    """:func:`create`, from sync code (``taskgate.start`` in a view)."""
    try:
        Job.objects.create(id=job_id, job=job, owner=owner, params=params)
    except DatabaseError as exc:
        raise DatabaseUnavailable(str(exc)) from exc


async def create(job_id: str, job: str, owner: str, params: JsonObject) -> None:
    await database_sync_to_async(create_now)(job_id, job, owner, params)


def forget_now(job_id: str) -> None:
    """Drop the row of a job whose dispatch failed (best effort; from sync code)."""
    try:
        Job.objects.filter(id=job_id).delete()
    except DatabaseError:
        logger.warning("could not delete the row of undispatched job %s", job_id)


async def forget(job_id: str) -> None:
    await database_sync_to_async(forget_now)(job_id)


def finish_now(job_id: str, state: str, when: datetime | None = None) -> None:
    """Record an end state the gateway learned or stored itself (first writer wins)."""
    try:
        mark_finished(job_id, state, when)
    except DatabaseError as exc:
        logger.warning("job %s: could not record its end (%s): %r", job_id, state, exc)


async def finish(job_id: str, state: str, when: datetime | None = None) -> None:
    await database_sync_to_async(finish_now)(job_id, state, when)


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
    return age > timedelta(seconds=result_ttl())
