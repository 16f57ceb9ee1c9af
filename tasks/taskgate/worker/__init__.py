"""The worker side: the Celery app, the job registry and task base, progress, leases,
composite jobs, artifacts, the signal handlers."""
