"""taskgate's HTTP URLs: the page, the job catalogue, the HTTP API, health and metrics.

A project mounts them under any prefix (``path("taskgate/", include("taskgate.urls"))``);
taskgate's own project mounts them at the root (:mod:`taskgate.serve.urls`). The page and
the template tag find the prefix by reversing ``taskgate:index``.
"""

from __future__ import annotations

from django.urls import path, re_path

from taskgate import pages
from taskgate.api import api, not_found
from taskgate.monitoring import health, metrics

app_name = "taskgate"

urlpatterns = [
    path("", pages.index, name="index"),
    path("api/job-types", pages.job_types, name="job-types"),
    path("healthz", health.healthz, name="healthz"),
    path("readyz", health.readyz, name="readyz"),
    path("metrics", metrics.metrics, name="metrics"),
    path("api/", api.urls),
    # Anything else under api/ is the API's own JSON not_found, whatever the project's 404.
    re_path(r"^api/", not_found, name="api-not-found"),
]
