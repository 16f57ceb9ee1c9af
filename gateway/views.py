"""HTTP pages of the gateway: the live page at ``/`` and the job catalogue it is built from."""

from __future__ import annotations

from django.conf import settings
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.middleware.csrf import get_token
from django.shortcuts import render
from django.views.decorators.http import require_safe

from tasks.registry import all_jobs


@require_safe
def index(request: HttpRequest) -> HttpResponse:
    # Anonymous use is owned by the Django session: make sure the browser has one.
    if not request.session.get("taskgate"):
        request.session["taskgate"] = True
    get_token(request)  # the csrftoken cookie, for the page's writes to the HTTP API
    context = {"flower_url": settings.TASKGATE_FLOWER_URL}
    response = render(request, "taskgate/index.html", context)
    response["Cache-Control"] = "no-store"
    return response


@require_safe
def job_types(request: HttpRequest) -> JsonResponse:
    """Every registered job: its name, description and the JSON schema of its parameters."""
    return JsonResponse({"job_types": [spec.describe() for spec in all_jobs()]})
