"""What the gateway keeps in its database: every dispatched job, and API tokens.

Live state stays in Redis (the result backend and the gateway's record there, both expiring
with the results); these rows outlive it, so the gateway can tell a job that expired from
one that never existed, and list a principal's jobs.
"""

from __future__ import annotations

import logging
import time
from datetime import datetime
from typing import Any

from django.conf import settings
from django.db import InterfaceError, OperationalError, connection, models
from django.db.models.sql.subqueries import UpdateQuery
from django.utils import timezone

logger = logging.getLogger(__name__)

# Writing a job's end rides out a database that is away for a few seconds (a restart, a
# failover): 0.2 + 0.4 + 0.8 + 1.6 + 3.2 s between six attempts, each on a new connection.
END_WRITE_ATTEMPTS = 6
END_WRITE_FIRST_DELAY = 0.2


class Job(models.Model):
    """One dispatched job. ``owner`` is the :class:`~taskgate.auth.principal.Principal`'s owner."""

    id = models.CharField(primary_key=True, max_length=64)
    job = models.CharField(max_length=200)
    params = models.JSONField(default=dict)
    owner = models.CharField(max_length=200)
    created = models.DateTimeField(default=timezone.now)
    finished = models.DateTimeField(null=True, blank=True)
    state = models.CharField(max_length=16, blank=True, default="")

    class Meta:
        indexes = [models.Index(fields=["owner", "-created"], name="job_owner_created")]
        ordering = ["-created"]

    def __str__(self) -> str:
        return f"{self.job} {self.id}"


def mark_finished(job_id: str, state: str, when: datetime | None = None) -> bool:
    """Record a job's end state once (the first writer wins). Sync: for workers and threads.

    Nothing else would write this end later, so a database that cannot be reached is tried
    again (:data:`END_WRITE_ATTEMPTS`, backing off) before the error is raised."""
    when = when or timezone.now()
    delay = END_WRITE_FIRST_DELAY
    for attempt in range(1, END_WRITE_ATTEMPTS + 1):
        try:
            updated = _unfinished(job_id).update(**_end_values(when, state))
        except (OperationalError, InterfaceError) as exc:
            if attempt == END_WRITE_ATTEMPTS:
                raise
            logger.warning(
                "job=%s could not record its end (%s), attempt %d: %s", job_id, state, attempt, exc
            )
            connection.close()  # a cut connection is never usable again
            time.sleep(delay)
            delay *= 2
        else:
            return updated > 0
    raise AssertionError("unreachable")


def _unfinished(job_id: str) -> models.QuerySet[Job]:
    return Job.objects.filter(id=job_id, finished__isnull=True)


def _end_values(when: datetime, state: str) -> dict[str, object]:
    return {"finished": when, "state": state}


def open_for_end_write() -> None:
    """Open this thread's database connection now, if it is not open (best effort): a job
    calls this once it runs, so its end writes its row on a connection that is there. A
    worker keeps it from job to job (``CELERY_DB_REUSE_MAX``); where Celery's Django fix-up
    closes it around every job, the end opens it again, as before."""
    try:
        connection.ensure_connection()
    except (OperationalError, InterfaceError) as exc:
        logger.debug("database connection not opened ahead: %r", exc)


def prepare_end_writes() -> None:
    """Import and compile what :func:`mark_finished` uses the first time it runs, without
    touching the database: a worker does this once before it forks its pool, where each
    process would otherwise do it at the end of its first job (the ORM's SQL compiler module
    and its lookups: 4 to 8 ms of CPU per process when 100 jobs ended together)."""
    query: Any = _unfinished("").query.chain(UpdateQuery)
    query.add_update_values(_end_values(timezone.now(), ""))
    query.get_compiler(connection=connection).as_sql()


class ApiToken(models.Model):
    """An API token for scripts. Only a SHA-256 digest of the secret is stored."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE)
    name = models.CharField(max_length=100, blank=True, default="")
    prefix = models.CharField(max_length=16)
    digest = models.CharField(max_length=64, unique=True)
    created = models.DateTimeField(default=timezone.now)
    revoked = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"{self.prefix}… ({self.name or 'unnamed'})"
