"""Refusals of the HTTP API: the socket's error codes as JSON bodies with an HTTP status.

The body is the socket's ``error`` event without ``event`` and ``ref``: ``code``,
``message`` and, where they apply, ``details``, ``job_id`` and ``retry_after``.
"""

from __future__ import annotations

import logging
import math
from typing import Any

from django.http import HttpRequest, JsonResponse
from ninja.parser import Parser

from taskgate.config import get_config
from taskgate.counters import count_refusal
from taskgate.protocol.codes import ErrorCode
from taskgate.protocol.errors import ProtocolError, Unauthenticated
from taskgate.protocol.requests import decode_frame

logger = logging.getLogger(__name__)

STATUS: dict[ErrorCode, int] = {
    ErrorCode.INVALID_JSON: 400,
    ErrorCode.INVALID_MESSAGE: 400,
    ErrorCode.UNKNOWN_JOB: 400,
    ErrorCode.INVALID_PARAMS: 400,
    ErrorCode.NOT_FOUND: 404,
    ErrorCode.UNAUTHORIZED: 401,
    ErrorCode.FORBIDDEN: 403,
    ErrorCode.RATE_LIMITED: 429,
    ErrorCode.LIMIT_EXCEEDED: 429,
    ErrorCode.UNAVAILABLE: 503,
    ErrorCode.TOO_LARGE: 413,
}


def error_response(error: ProtocolError) -> JsonResponse:
    count_refusal(error.code)
    body = error.event(None)
    del body["event"], body["ref"]
    status = STATUS[error.code]
    response = JsonResponse(body, status=status)
    if isinstance(error, Unauthenticated):
        response["WWW-Authenticate"] = 'Bearer realm="taskgate"'
    if error.retry_after is not None:
        response["Retry-After"] = str(max(1, math.ceil(error.retry_after)))
    return response


def invalid(message: str, details: Any = None) -> ProtocolError:
    return ProtocolError(ErrorCode.INVALID_MESSAGE, message, details=details)


class JsonBodyParser(Parser):
    """Bodies are parsed like socket frames: same size limit, same JSON rules."""

    def parse_body(self, request: HttpRequest) -> dict[str, Any]:
        limit = get_config().max_frame_bytes
        if len(request.body) > limit:
            raise ProtocolError(ErrorCode.TOO_LARGE, f"bodies are limited to {limit} bytes")
        try:
            text = request.body.decode("utf-8")
        except UnicodeDecodeError:
            raise ProtocolError(ErrorCode.INVALID_JSON, "the body is not UTF-8") from None
        payload = decode_frame(text)
        if not isinstance(payload, dict):
            raise invalid("the body must be a JSON object")
        return payload
