"""HTTP URL routes."""

from __future__ import annotations

from django.urls import path

from gateway import downloads, health, views

urlpatterns = [
    path("", views.index, name="index"),
    path("api/job-types", views.job_types, name="job-types"),
    path("api/jobs/<str:job_id>/artifact", downloads.artifact, name="job-artifact"),
    path("healthz", health.healthz, name="healthz"),
    path("readyz", health.readyz, name="readyz"),
]
