"""The Celery app of taskgate's own stack (``taskgate up``, ``gateway``, ``worker``).

Configured from taskgate's Django settings (:mod:`taskgate.serve.settings`, the ``CELERY_*``
names), and named by its default ``TASKGATE_CELERY_APP``. In a team's project their own app
serves instead (:mod:`taskgate.config.celery_app`). Nothing here sets Django up or connects.
"""

from __future__ import annotations

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "taskgate.serve.settings")

app = Celery("taskgate")
app.config_from_object("django.conf:settings", namespace="CELERY")
