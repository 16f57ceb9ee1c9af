"""Request and response bodies of the HTTP API (they make the OpenAPI document)."""

from __future__ import annotations

from typing import Any, Literal

from ninja import Field, Schema

StateName = Literal["queued", "running", "retrying", "success", "failure", "cancelled"]


class ApiError(Schema):
    """A refusal: the socket's ``error`` event without ``event`` and ``ref``."""

    code: str = Field(description="One of the protocol's error codes.")
    message: str
    details: Any = None
    job_id: str | None = None
    retry_after: float | None = Field(None, description="Seconds to wait (rate_limited).")


class SubmitIn(Schema):
    job: str = Field(min_length=1, description="A registered job's name.")
    params: dict[str, Any] | None = Field(None, description="The job's parameters.")


class Accepted(Schema):
    event: Literal["accepted"]
    job_id: str
    seq: int
    ts: str
    job: str
    trace_id: str | None = Field(
        None, description="The job's OpenTelemetry trace id, when tracing is on."
    )


class Snapshot(Schema):
    event: Literal["snapshot"]
    job_id: str
    seq: int
    ts: str
    job: str
    state: StateName
    progress: dict[str, Any] | None
    result: Any = None
    error: dict[str, Any] | None
    parts: list[dict[str, Any]] | None = Field(
        None,
        description="A composite job's parts: name, job, job_id, weight, state, progress, done.",
    )
    stalled_since: str | None = Field(
        None,
        description="Running but silent: when it last reported progress (null otherwise).",
    )


class JobItem(Schema):
    job_id: str
    job: str
    params: dict[str, Any]
    created: str
    finished: str | None = Field(description="When it ended, once known.")
    state: StateName | None = Field(description="Current or final state; null once expired.")
    expired: bool = Field(description="Its state and result are gone (results expired).")


class JobPage(Schema):
    items: list[JobItem]
    limit: int
    offset: int
    next_offset: int | None = Field(description="The offset of the next page, if any.")


ERRORS: dict[int, type[Schema]] = {
    400: ApiError,
    401: ApiError,
    403: ApiError,
    404: ApiError,
    503: ApiError,
}
