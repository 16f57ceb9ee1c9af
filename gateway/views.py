"""HTTP pages of the gateway (the live page comes with the frontend)."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.middleware.csrf import get_token

_INDEX = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>taskgate</title></head>
<body><h1>taskgate</h1>
<p>Job progress over WebSockets: connect to <code>/ws/jobs/</code> (v1 protocol) or
<code>/async_task/</code> (classic). Health: <a href="/healthz">/healthz</a>,
<a href="/readyz">/readyz</a>.</p></body></html>
"""


def index(request: HttpRequest) -> HttpResponse:
    # Anonymous use is owned by the Django session: make sure the browser has one.
    if not request.session.get("taskgate"):
        request.session["taskgate"] = True
    get_token(request)  # the csrftoken cookie, for the page's writes to the HTTP API
    return HttpResponse(_INDEX)
