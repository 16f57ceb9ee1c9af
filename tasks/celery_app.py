"""The one Celery app, configured from the Django settings (``CELERY_*`` names)."""

from __future__ import annotations

import os

import django
from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "gateway.settings")
django.setup()

app = Celery("taskgate")
app.config_from_object("django.conf:settings", namespace="CELERY")
# Importing the job modules registers them; the signal handlers ride along.
app.conf.imports = ("tasks.jobs", "tasks.signals")
