"""The HTTP API (django-ninja): ``/api/jobs…`` and its OpenAPI document.

Every refusal is a :class:`~gateway.protocol.ProtocolError`, answered as a JSON body with
the matching status (see :mod:`gateway.api.errors`); ninja's own validation errors become
``invalid_message`` (400) like a malformed socket frame.
"""

from __future__ import annotations

import logging

from django.core.exceptions import RequestDataTooBig
from django.http import Http404, HttpRequest, HttpResponse
from django.views.defaults import page_not_found
from ninja import NinjaAPI
from ninja.errors import HttpError, ValidationError

from gateway.api import artifacts, jobs, sse
from gateway.api.errors import JsonBodyParser, error_response, invalid
from gateway.protocol import ErrorCode, ProtocolError, validation_details

logger = logging.getLogger(__name__)

api = NinjaAPI(
    title="taskgate",
    version="1",
    description=(
        "Submit Celery jobs and follow them. Authenticate with `Authorization: Bearer "
        "<token>` (or `?token=`), or the Django session cookie (writes then need the "
        "`X-CSRFToken` header). Errors carry the socket protocol's codes."
    ),
    parser=JsonBodyParser(),
    urls_namespace="api",
    openapi_extra={
        "components": {
            "securitySchemes": {
                "token": {"type": "http", "scheme": "bearer", "description": "API token"},
                "session": {"type": "apiKey", "in": "cookie", "name": "sessionid"},
            }
        },
        # Either, or neither where anonymous use is switched on.
        "security": [{"token": []}, {"session": []}, {}],
    },
)
api.add_router("/", jobs.router)
api.add_router("/", sse.router)
api.add_router("/", artifacts.router)


@api.exception_handler(ProtocolError)
def _protocol_error(request: HttpRequest, exc: ProtocolError) -> HttpResponse:
    return error_response(exc)


@api.exception_handler(ValidationError)
def _validation_error(request: HttpRequest, exc: ValidationError) -> HttpResponse:
    return error_response(invalid("the request is invalid", validation_details(exc.errors)))


@api.exception_handler(HttpError)
def _http_error(request: HttpRequest, exc: HttpError) -> HttpResponse:
    if isinstance(exc.__cause__, ProtocolError):  # our body parser's refusal
        return error_response(exc.__cause__)
    if exc.status_code == 400:
        return error_response(ProtocolError(ErrorCode.INVALID_JSON, "the body is not valid JSON"))
    return error_response(invalid(str(exc)))


@api.exception_handler(RequestDataTooBig)
def _too_big(request: HttpRequest, exc: RequestDataTooBig) -> HttpResponse:
    return error_response(ProtocolError(ErrorCode.TOO_LARGE, "the body is too large"))


def not_found(request: HttpRequest, exception: Exception) -> HttpResponse:
    """Django's 404 for URLs no route matches: JSON under ``/api/``, Django's page elsewhere."""
    if request.path.startswith("/api/"):
        return error_response(ProtocolError(ErrorCode.NOT_FOUND, "no such resource"))
    return page_not_found(request, exception)


@api.exception_handler(Http404)
def _not_found(request: HttpRequest, exc: Http404) -> HttpResponse:
    return not_found(request, exc)


@api.exception_handler(Exception)
def _bug(request: HttpRequest, exc: Exception) -> HttpResponse:
    # A bug costs one request, as on the socket; it is logged with its traceback.
    logger.error("request %s %s failed", request.method, request.path, exc_info=exc)
    return error_response(
        ProtocolError(ErrorCode.UNAVAILABLE, "the server could not handle the request")
    )
