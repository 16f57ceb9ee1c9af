"""HTTP URL routes."""

from __future__ import annotations

from django.urls import path

from gateway import health, metrics, views
from gateway.api import api

handler404 = "gateway.api.not_found"

urlpatterns = [
    path("", views.index, name="index"),
    path("api/job-types", views.job_types, name="job-types"),
    path("healthz", health.healthz, name="healthz"),
    path("readyz", health.readyz, name="readyz"),
    path("metrics", metrics.metrics, name="metrics"),
    path("api/", api.urls),
]
