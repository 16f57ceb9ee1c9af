"""The HTTP API (django-ninja): ``/api/jobs…`` and its OpenAPI document.

Every refusal is a :class:`~taskgate.protocol.errors.ProtocolError`, answered as a JSON body with
the matching status (see :mod:`taskgate.api.errors`); ninja's own validation errors become
``invalid_message`` (400) like a malformed socket frame.
"""

from __future__ import annotations

import logging

from django.core.exceptions import RequestDataTooBig
from django.http import Http404, HttpRequest, HttpResponse
from ninja import NinjaAPI
from ninja.errors import HttpError, ValidationError

from taskgate.api import artifacts, jobs, stream
from taskgate.api.errors import JsonBodyParser, error_response, invalid
from taskgate.config import get_config
from taskgate.protocol.codes import ErrorCode
from taskgate.protocol.errors import ProtocolError, validation_details

logger = logging.getLogger(__name__)

api = NinjaAPI(
    # The interactive docs load Swagger UI from a CDN: not in production (the OpenAPI
    # document at api/openapi.json stays).
    docs_url=None if get_config().production else "/docs",
    title="taskgate",
    version="1",
    description=(
        "Submit Celery jobs and follow them. Authenticate with `Authorization: Bearer "
        "<token>` (or `?token=`), or the Django session cookie (writes then need the "
        "`X-CSRFToken` header). Errors carry the socket protocol's codes."
    ),
    parser=JsonBodyParser(),
    urls_namespace="taskgate:api",  # inside the app namespace of taskgate.urls
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
api.add_router("/", stream.router)
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


def not_found(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    """The API's 404: its JSON error body (``not_found``), for any URL under ``api/``."""
    return error_response(ProtocolError(ErrorCode.NOT_FOUND, "no such resource"))


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
