"""taskgate's worker side: the Celery app, the job registry, progress reporting and the jobs."""
