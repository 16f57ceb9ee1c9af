"""What the gateway keeps in its database: every dispatched job, and API tokens.

Live state stays in Redis (the result backend and the gateway's record there, both expiring
with the results); these rows outlive it, so the gateway can tell a job that expired from
one that never existed, and list a principal's jobs.
"""

from __future__ import annotations

from datetime import datetime

from django.conf import settings
from django.db import models
from django.utils import timezone


class Job(models.Model):
    """One dispatched job. ``owner`` is the :class:`~gateway.identity.Principal`'s owner."""

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
    """Record a job's end state once (the first writer wins). Sync: for workers and threads."""
    updated = Job.objects.filter(id=job_id, finished__isnull=True).update(
        finished=when or timezone.now(), state=state
    )
    return updated > 0


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
