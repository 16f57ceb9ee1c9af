"""Submitting a job, for the sockets and the HTTP API alike: validate, admit, prepare, dispatch.

Nothing here knows about a socket. Every refusal is a :class:`ProtocolError`, which the
socket sends as an ``error`` event and the HTTP API as a JSON body with the matching status.
A job is either on the broker with its row and record written, or refused with nothing left
behind.
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError

from taskgate.auth.principal import Principal
from taskgate.backends import broker, rows
from taskgate.backends.state_store import StoreUnavailable
from taskgate.config import get_config, telemetry
from taskgate.contract.wire import JsonObject, dumps, now_ts
from taskgate.delivery.runtime import get_runtime
from taskgate.jobs.rate_limit import admit_submit
from taskgate.protocol.codes import ErrorCode
from taskgate.protocol.errors import ProtocolError, validation_details
from taskgate.worker.composite import CompositeError
from taskgate.worker.registry import JobSpec, get_job

logger = logging.getLogger(__name__)


def _unavailable(what: str, job_id: str | None = None) -> ProtocolError:
    return ProtocolError(
        ErrorCode.UNAVAILABLE, f"{what}: the job was not dispatched; try again", job_id=job_id
    )


@dataclass(frozen=True, slots=True)
class Submission:
    """A validated job with its id, recorded but not yet dispatched."""

    spec: JobSpec[Any]
    job_id: str
    params: JsonObject
    span: Any = None  # the job's root span (tracing on), ended by dispatch

    def accepted(self, ref: str | None = None) -> JsonObject:
        event: JsonObject = {
            "event": "accepted",
            "job_id": self.job_id,
            "seq": 0,
            "ts": now_ts(),
            "job": self.spec.name,
            "ref": ref,
        }
        trace_id = telemetry.trace_id(self.span)
        if trace_id is not None:
            event["trace_id"] = trace_id
        return event


def validate(job_name: str, raw_params: JsonObject) -> tuple[JobSpec[Any], JsonObject]:
    """The job's spec and its normalised parameters, or ``unknown_job``/``invalid_params``."""
    limit = get_config().max_params_bytes
    if len(dumps(raw_params)) > limit:
        raise ProtocolError(
            ErrorCode.INVALID_PARAMS,
            f"params are limited to {limit} bytes of JSON",
            details=[{"field": "params", "message": f"larger than {limit} bytes"}],
        )
    spec = get_job(job_name)
    if spec is None:
        raise ProtocolError(ErrorCode.UNKNOWN_JOB, f"no job named {job_name[:80]!r} is registered")
    try:
        return spec, spec.validate(raw_params)
    except ValidationError as exc:
        raise ProtocolError(
            ErrorCode.INVALID_PARAMS,
            f"the parameters of {spec.name} are invalid",
            details=validation_details(exc.errors()),
        ) from None


async def prepare(principal: Principal, spec: JobSpec[Any], params: JsonObject) -> Submission:
    """Admit the submit and record the job (database, then Redis). Nothing is dispatched."""
    get_runtime()  # this process's pieces (and its tracing) exist before the first span
    await admit_submit(principal)
    job_id = str(uuid.uuid4())
    # The job's root span: open from here until dispatch ends it (or a refusal here).
    span = telemetry.start_span("taskgate.submit", job=spec.name, job_id=job_id)
    submission = Submission(spec, job_id, params, span)
    try:
        await _record(submission, principal)
    except BaseException as exc:
        telemetry.end_span(span, exc)
        raise
    return submission


async def _record(submission: Submission, principal: Principal) -> None:
    name, params = submission.spec.name, submission.params
    try:
        await rows.create(submission.job_id, name, principal.owner, params)
    except rows.DatabaseUnavailable:
        raise _unavailable("the database is unreachable") from None
    try:
        await get_runtime().store.create(submission.job_id, name, principal.owner, params)
    except StoreUnavailable:
        await rows.forget(submission.job_id)
        raise _unavailable("Redis is unreachable") from None


async def dispatch(submission: Submission, principal: Principal) -> None:
    """Put the job on the broker; if the broker is unreachable, forget the job and refuse.

    A composite job whose plan cannot run is accepted and ends at once as ``failure``, with
    the plan's error: that is an error of this job, not an outage of the broker.
    """
    with telemetry.use_span(submission.span):
        await _dispatch(submission, principal)


async def _dispatch(submission: Submission, principal: Principal) -> None:
    job_id = submission.job_id
    runtime = get_runtime()
    try:
        with telemetry.span("taskgate.dispatch", job=submission.spec.name, job_id=job_id):
            await broker.send(submission.spec, job_id, submission.params)
    except broker.BrokerUnavailable:
        await runtime.store.forget(job_id)
        await rows.forget(job_id)
        raise _unavailable("the broker is unreachable") from None
    except CompositeError as exc:
        plan_error: CompositeError | None = exc
    else:
        plan_error = None
    name, owner = submission.spec.name, principal.log_id
    logger.info("job=%s state=accepted seq=0 name=%s owner=%s", job_id, name, owner)
    if plan_error is not None:
        await _fail_at_once(job_id, plan_error)


async def _fail_at_once(job_id: str, error: CompositeError) -> None:
    """End a job that could not be put on the broker because of its own plan."""
    runtime = get_runtime()
    logger.warning("job=%s state=failure reason=plan: %s", job_id, error)
    try:
        await runtime.store.fail_if_pending(job_id, type(error).__name__, str(error))
        state = await runtime.store.state(job_id)
    except StoreUnavailable:
        await runtime.store.forget(job_id)
        await rows.forget(job_id)
        raise _unavailable("Redis is unreachable") from None
    await rows.finish(job_id, state.state.value)
    await runtime.hub.announce(job_id, state.event(), "submit")
