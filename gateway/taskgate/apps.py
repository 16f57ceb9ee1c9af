"""The Django app ``taskgate``: its models, and the modules loaded once Django is ready."""

from __future__ import annotations

from importlib import import_module

from django.apps import AppConfig

from taskgate.config import get_config
from taskgate.config.celery_app import celery_app
from taskgate.events.final_ends import guard


class TaskgateConfig(AppConfig):
    name = "taskgate"
    verbose_name = "taskgate"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        # The Celery app first: registered jobs are shared tasks, bound to the current app.
        # Its backend then never writes over a job's end state (events/final_ends.py).
        guard(celery_app())
        for module in get_config().job_modules:  # imported for their @job declarations
            import_module(module)
        # The worker's hooks (state pushes, leases, end states): connected wherever Django is
        # set up; they fire only in worker processes.
        import_module("taskgate.worker.signals")
