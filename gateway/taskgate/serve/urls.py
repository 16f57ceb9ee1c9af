"""The root URLconf of taskgate's own project: taskgate's URLs at the root."""

from __future__ import annotations

from django.urls import include, path

urlpatterns = [path("", include("taskgate.urls"))]
