"""The shop's Celery app, in the usual Django layout (``celery -A shop worker``)."""

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "shop.settings")

app = Celery("shop")
# Every CELERY_* name in shop/settings.py configures this app.
app.config_from_object("django.conf:settings", namespace="CELERY")
# <app>/tasks.py of every installed app; the project's own root tasks.py is in CELERY_IMPORTS.
app.autodiscover_tasks()
