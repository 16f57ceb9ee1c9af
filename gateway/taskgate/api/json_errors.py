"""Every answer under ``api/`` is JSON, the refusals Django makes itself included.

The API's own refusals are already its JSON error body (taskgate.api.errors); this
middleware turns the ones Django's machinery answers before or around the API's views
into the same shape: a method the route does not have (405, keeping ``Allow``), a ``Host``
we do not serve (400), a CSRF failure (403). Add it to a project's ``MIDDLEWARE`` (before
``CommonMiddleware``) to get the same under any prefix; taskgate's own project has it.
"""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable
from inspect import iscoroutinefunction
from typing import Any

from django.http import HttpRequest, HttpResponse
from django.urls import NoReverseMatch, reverse
from django.utils.decorators import sync_and_async_middleware

from taskgate.api.errors import error_response
from taskgate.protocol.codes import ErrorCode
from taskgate.protocol.errors import ProtocolError

_CODES = {
    400: ErrorCode.INVALID_MESSAGE,
    401: ErrorCode.UNAUTHORIZED,
    403: ErrorCode.FORBIDDEN,
    404: ErrorCode.NOT_FOUND,
    405: ErrorCode.INVALID_MESSAGE,
    413: ErrorCode.TOO_LARGE,
    429: ErrorCode.RATE_LIMITED,
}


@functools.cache
def api_prefix() -> str:
    try:
        return reverse("taskgate:index") + "api/"
    except NoReverseMatch:
        return "/api/"


def as_json(request: HttpRequest, response: HttpResponse) -> HttpResponse:
    """``response`` itself, unless it is a non-JSON refusal under the API's prefix."""
    if response.status_code < 400 or response.get("Content-Type", "").startswith(
        "application/json"
    ):
        return response
    if not request.path.startswith(api_prefix()):
        return response
    status = response.status_code
    code = _CODES.get(status, ErrorCode.UNAVAILABLE)
    message = {
        400: "bad request (a host this server does not answer to?)",
        403: "forbidden (CSRF: send the csrftoken cookie's value as X-CSRFToken)",
        405: f"method {request.method} is not allowed here",
    }.get(status, response.reason_phrase or "refused")
    answer = error_response(ProtocolError(code, message))
    answer.status_code = status
    if response.has_header("Allow"):
        answer["Allow"] = response["Allow"]
    return answer


@sync_and_async_middleware
def JsonApiErrors(get_response: Callable[[HttpRequest], Any]) -> Any:
    if iscoroutinefunction(get_response):

        async def middleware(request: HttpRequest) -> HttpResponse:
            handler: Callable[[HttpRequest], Awaitable[HttpResponse]] = get_response
            return as_json(request, await handler(request))

        return middleware

    def sync_middleware(request: HttpRequest) -> HttpResponse:
        return as_json(request, get_response(request))

    return sync_middleware
