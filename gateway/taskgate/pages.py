"""HTTP pages of the gateway: the live page (at the prefix taskgate's URLs are mounted
under) and the job catalogue it is built from."""

from __future__ import annotations

import math

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.middleware.csrf import get_token
from django.shortcuts import render
from django.urls import reverse
from django.views.decorators.http import require_safe

from taskgate.config import get_config
from taskgate.jobs.rate_limit import admit_new_session
from taskgate.protocol.errors import ProtocolError
from taskgate.worker.registry import all_jobs

# The page runs only its own modules and styles, talks only to its own origin (HTTP and the
# socket), and is never framed.
PAGE_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'; "
    "object-src 'none'"
)


@require_safe
async def index(request: HttpRequest) -> HttpResponse:
    config = get_config()
    # Anonymous use is owned by the Django session: make sure the browser has one (each new
    # one is a database row: their rate per client address is limited).
    if config.allow_anonymous and await request.session.aget("taskgate") is None:
        if request.session.session_key is None:
            try:
                await admit_new_session(str(request.META.get("REMOTE_ADDR") or ""))
            except ProtocolError as refusal:
                return _too_many(refusal)
        await request.session.aset("taskgate", True)
    get_token(request)  # the csrftoken cookie, for the page's writes to the HTTP API
    user = await request.auser()
    context = {
        # Signed in: the page shows the user's jobs from every device (GET api/jobs).
        "signed_in": user.is_authenticated,
        "flower_url": config.flower_url,
        "api_base": reverse("taskgate:index"),
        "socket_path": config.socket_path,
    }
    response = render(request, "taskgate/index.html", context)
    response["Cache-Control"] = "no-store"
    response["Content-Security-Policy"] = PAGE_POLICY
    response["X-Frame-Options"] = "DENY"
    return response


def _too_many(refusal: ProtocolError) -> HttpResponse:
    response = HttpResponse(refusal.message + "\n", status=429, content_type="text/plain")
    if refusal.retry_after is not None:
        response["Retry-After"] = str(max(1, math.ceil(refusal.retry_after)))
    return response


@require_safe
def job_types(request: HttpRequest) -> JsonResponse:
    """Every registered job: its name, description and the JSON schema of its parameters."""
    return JsonResponse({"job_types": [spec.describe() for spec in all_jobs()]})
