"""Refusals: :class:`ProtocolError` carries one of the protocol's error codes.

Sockets send it as an ``error`` event, the HTTP API as a JSON body with the matching status.
"""

from __future__ import annotations

from typing import Any

from taskgate.contract.wire import JsonObject
from taskgate.protocol.codes import ErrorCode


class ProtocolError(Exception):
    """A request is refused; becomes an ``error`` event with ``code``."""

    def __init__(
        self,
        code: ErrorCode,
        message: str,
        *,
        details: Any = None,
        job_id: str | None = None,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.details = details
        self.job_id = job_id
        self.retry_after = retry_after

    def event(self, ref: str | None) -> JsonObject:
        """The ``error`` event (socket) or body (HTTP) of this refusal."""
        body: JsonObject = {"event": "error", "code": self.code.value, "message": self.message}
        if self.details is not None:
            body["details"] = self.details
        if self.job_id is not None:
            body["job_id"] = self.job_id
        if self.retry_after is not None:
            body["retry_after"] = self.retry_after
        body["ref"] = ref
        return body


class Unauthenticated(ProtocolError):
    """No usable identity: an unknown or revoked token, or anonymous use switched off.

    Answered with 401 and ``WWW-Authenticate: Bearer`` (code ``unauthorized``).
    """

    def __init__(self, message: str) -> None:
        super().__init__(ErrorCode.UNAUTHORIZED, message)


def validation_details(errors: list[Any]) -> list[JsonObject]:
    """Pydantic's errors as the ``details`` of ``invalid_params``: one entry per field."""
    details: list[JsonObject] = []
    for error in errors:
        location = ".".join(str(part) for part in error.get("loc", ())) or "params"
        details.append({"field": location, "message": str(error.get("msg", "invalid"))})
    return details
